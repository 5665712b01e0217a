"""The training recipe on a CUDA GPU: the loss networks follow the batch to the device, and bf16 runs end to end.

These run only where torch sees a CUDA device (they skip with that reason elsewhere); the same code is tested on
the CPU by the other training tests.
"""

from __future__ import annotations

import pytest
import torch

from artrestore.config import AutoencoderTrainConfig, DataPackConfig, RefinerTrainConfig
from artrestore.data.pack import build_data_pack
from artrestore.hub import ExemplarRefiner
from artrestore.training.autoencoder import train_autoencoder
from artrestore.training.refiner import refiner_loss

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_autoencoder_trains_from_a_pack_in_bf16_on_the_gpu(painting_folder, tmp_path):
    pack = tmp_path / "pack"
    build_data_pack(
        DataPackConfig(out=str(pack), data=str(painting_folder), style_per_class=0, max_side=64), progress=False
    )
    cfg = AutoencoderTrainConfig(
        out=str(tmp_path / "vae"),
        source="paintings",
        data=str(pack / "paintings"),
        steps=2,
        batch_size=2,
        crop=32,
        channels="8,16",
        lpips_weight=1.0,
        mixed_precision="bf16",
        warmup=1,
        log_every=1,
    )
    summary = train_autoencoder(cfg)
    assert summary["steps"] == 2 and "CPU" not in summary["distributed_type"]


def test_refiner_loss_runs_on_the_gpu(tmp_path):
    device = torch.device("cuda")
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(2, 3, 48, 48, generator=g)
    mask = torch.zeros(2, 1, 48, 48)
    mask[:, :, 12:36, 12:36] = 1
    batch = {
        "clean": clean,
        "exemplar": clean.roll(5, -1) * mask + clean * (1 - mask),
        "mask": mask,
        "style": torch.zeros(2, 8),
        "swap": torch.zeros(2),
    }
    batch = {k: v.to(device) for k, v in batch.items()}
    config = RefinerTrainConfig(out=str(tmp_path / "run"), dists_weight=1.0)
    model = ExemplarRefiner(channels=(8, 16), style_dim=8).to(device)
    loss, logs = refiner_loss(config)(model, batch)
    loss.backward()
    assert loss.device.type == "cuda" and logs["dists"] > 0

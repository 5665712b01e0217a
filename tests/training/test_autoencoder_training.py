"""Autoencoder training: data, loss and a short resumable run."""

from __future__ import annotations

import torch

from artrestore.config import AutoencoderTrainConfig
from artrestore.data import PaintingCollection
from artrestore.models.autoencoder import build_autoencoder
from artrestore.training.autoencoder import CleanCrops, autoencoder_loss, train_autoencoder


def test_clean_crops_are_deterministic(painting_folder):
    ds = CleanCrops(PaintingCollection.scan(painting_folder).records, crop=32, length=4, seed=3)
    assert ds[2]["image"].shape == (3, 32, 32) and torch.equal(ds[2]["image"], ds[2]["image"])


def test_loss_backpropagates_through_lpips(painting_folder):
    ds = CleanCrops(PaintingCollection.scan(painting_folder).records, crop=32, length=2)
    batch = torch.utils.data.default_collate([ds[0], ds[1]])
    vae = build_autoencoder((8, 16))
    loss, logs = autoencoder_loss(0.5, 1e-6)(vae, batch)
    loss.backward()
    assert set(logs) == {"l1", "kl", "lpips_vgg"}
    assert vae.encoder.conv_in.weight.grad is not None


def test_short_run_on_paintings(painting_folder, tmp_path):
    cfg = AutoencoderTrainConfig(
        out=str(tmp_path / "vae"),
        source="paintings",
        data=str(painting_folder),
        steps=2,
        batch_size=2,
        crop=32,
        channels="8,16",
        threads=1,
        warmup=1,
        log_every=1,
    )
    summary = train_autoencoder(cfg)
    assert summary["steps"] == 2 and (tmp_path / "vae" / "final" / "config.json").exists()

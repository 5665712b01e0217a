"""`artrestore bench-vae`: reconstruction PSNR and LPIPS of an autoencoder on held-out paintings."""

from __future__ import annotations

import json

import pytest
import torch

from artrestore.bench.autoencoder import run_vae_bench
from artrestore.config import VaeBenchConfig
from artrestore.models.autoencoder import build_autoencoder


def test_vae_bench_scores_a_tiny_autoencoder(painting_folder, tmp_path):
    torch.manual_seed(0)
    build_autoencoder((8, 16)).save_pretrained(tmp_path / "vae")
    cfg = VaeBenchConfig(
        vae=str(tmp_path / "vae"),
        data=str(painting_folder),
        split="all",
        size=64,
        limit=2,
        out=str(tmp_path / "r.json"),
        threads=1,
    )
    result = run_vae_bench(cfg)
    assert result["paintings"] == 2 and 0 < result["psnr_db"] < 30 and 0 < result["lpips_alex"] < 1
    assert json.loads((tmp_path / "r.json").read_text()) == result


def test_vae_bench_needs_a_model(painting_folder, tmp_path):
    with pytest.raises(ValueError, match="vae: no autoencoder"):
        run_vae_bench(VaeBenchConfig(vae=str(tmp_path), data=str(painting_folder)))

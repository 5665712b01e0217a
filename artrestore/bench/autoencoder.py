"""Autoencoder reconstruction quality on the validation paintings: PSNR and LPIPS-alex per painting."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import VaeBenchConfig
from ..data import PaintingCollection, center_square, split_collection
from ..io import load_image
from ..metrics import lpips, masked_psnr
from ..models.autoencoder import load_autoencoder


@torch.no_grad()
def reconstruct(vae, image: torch.Tensor) -> torch.Tensor:
    """(b, 3, H, W) in [0, 1] -> the autoencoder's reconstruction, clamped to [0, 1]."""
    z = vae.encode(image * 2 - 1).latent_dist.mean
    return ((vae.decode(z).sample + 1) / 2).clamp(0, 1)


def run_vae_bench(config: VaeBenchConfig) -> dict:
    """Reconstruct ``config.split`` paintings at ``config.size`` px and write ``vae_bench.json``.

    Args:
        config: :class:`~artrestore.config.VaeBenchConfig`.

    Returns:
        ``{"psnr_db", "lpips_alex", "paintings", "seconds_per_image", ...}`` (means over paintings).
    """
    vae = load_autoencoder(config.vae)
    torch.set_num_threads(config.threads)
    paintings = split_collection(PaintingCollection.scan(config.data), config.split).records
    if config.limit:
        paintings = paintings[: config.limit]
    psnrs, lps, secs = [], [], []
    for p in tqdm(paintings, desc="vae bench"):
        img = center_square(load_image(p.path).to_uint8(), config.size)
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255  # (1, 3, s, s)
        t0 = time.perf_counter()
        rec = reconstruct(vae, x)
        secs.append(time.perf_counter() - t0)
        psnrs.append(float(masked_psnr(rec, x)[0]))
        lps.append(float(lpips(rec, x)[0]))
    result = {
        "vae": config.vae,
        "split": config.split,
        "size": config.size,
        "paintings": len(paintings),
        "psnr_db": float(np.mean(psnrs)),
        "lpips_alex": float(np.mean(lps)),
        "seconds_per_image": float(np.median(secs)),
    }
    Path(config.out).parent.mkdir(parents=True, exist_ok=True)
    Path(config.out).write_text(json.dumps(result, indent=1))
    return result

"""Tiled, overlapping inference so the detector runs on full-resolution scans of any size."""

from __future__ import annotations

import numpy as np
import torch

from .detector import DamageDetector


def _feather(size: int, overlap: int) -> torch.Tensor:
    """(size,) weights ramping up over ``overlap`` pixels at both ends (never exactly 0)."""
    w = torch.ones(size)
    if overlap > 0:
        ramp = torch.linspace(0, 1, overlap + 2)[1:-1]
        w[:overlap] = ramp
        w[-overlap:] = ramp.flip(0)
    return w


def _starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


@torch.no_grad()
def predict_tiled(
    model: DamageDetector, image: np.ndarray, tile: int = 1024, overlap: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and fade strength for an image of any size.

    Args:
        model: the detector (eval mode is set here).
        image: (h, w, 3) uint8 RGB.
        tile: tile side (rounded up to the model's multiple).
        overlap: overlap between neighbouring tiles, blended with linear feathering.

    Returns:
        ``probs`` (h, w, 4) float32 class probabilities (none, crack, scratch, loss) and ``fade`` (h, w) float32.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image: expected an (h, w, 3) uint8 array, got {image.shape} {image.dtype}")
    if not 0 <= overlap < tile // 2:
        raise ValueError(f"overlap: expected 0 <= overlap < tile / 2, got {overlap} for tile {tile}")
    model.eval()
    m = model.multiple
    tile = -(-tile // m) * m
    h, w = image.shape[:2]
    ph, pw = max(h, -(-h // m) * m), max(w, -(-w // m) * m)
    x = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255.0  # (1, 3, h, w)
    x = torch.nn.functional.pad(x, (0, pw - w, 0, ph - h), mode="reflect" if min(h, w) > 1 else "constant")
    th, tw = min(tile, ph), min(tile, pw)
    acc = torch.zeros(5, ph, pw)
    weight = torch.zeros(1, ph, pw)
    stride_h, stride_w = max(1, th - overlap), max(1, tw - overlap)
    win = _feather(th, overlap if ph > th else 0)[:, None] * _feather(tw, overlap if pw > tw else 0)[None, :]
    for y0 in _starts(ph, th, stride_h):
        for x0 in _starts(pw, tw, stride_w):
            logits = model(x[:, :, y0 : y0 + th, x0 : x0 + tw])[0]  # (5, th, tw)
            out = torch.cat([logits[:4].softmax(0), logits[4:].sigmoid()], dim=0)
            acc[:, y0 : y0 + th, x0 : x0 + tw] += out * win
            weight[:, y0 : y0 + th, x0 : x0 + tw] += win
    result = (acc / weight)[:, :h, :w]
    return result[:4].permute(1, 2, 0).numpy().astype(np.float32), result[4].numpy().astype(np.float32)

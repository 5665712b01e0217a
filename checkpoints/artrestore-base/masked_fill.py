"""Filling damaged pixels before encoding, and the per-step edit masks of differential (fade) restoration.

The denoiser sees the damaged image with its holes filled by a smooth push-pull fill (the mean of the surrounding
colours at the coarsest scale that has any), so the masked-image latents carry colour context into the hole
instead of the black of SD-inpaint. Training uses the same function, so train and inference inputs match.

Self-contained (torch only): this file ships with exported checkpoints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pushpull_fill(image: torch.Tensor, hole: torch.Tensor, levels: int = 12) -> torch.Tensor:
    """Fill ``hole`` pixels by pull (masked downsampling) then push (upsampling into the holes).

    Args:
        image: (b, c, H, W).
        hole: (b, 1, H, W), 1 where pixels are unknown (values in [0, 1] are treated as > 0.5 = unknown).
        levels: pyramid depth.

    Returns:
        (b, c, H, W): ``image`` outside the holes, a smooth fill inside.
    """
    known = (hole < 0.5).to(image.dtype)  # (b, 1, H, W)
    pyramid = [(image * known, known)]
    for _ in range(levels):
        val, w = pyramid[-1]
        if min(val.shape[-2:]) < 2:
            break
        val = F.avg_pool2d(val, 2, ceil_mode=True)
        w = F.avg_pool2d(w, 2, ceil_mode=True)
        pyramid.append((val, w))
    val, w = pyramid[-1]
    filled = val / w.clamp_min(1e-8)
    if (w <= 0).any():  # nothing known at all in some image: fill with mid-grey
        filled = torch.where(w > 0, filled, torch.full_like(filled, 0.5))
    for val, w in reversed(pyramid[:-1]):
        up = F.interpolate(filled, size=val.shape[-2:], mode="bilinear", align_corners=False)
        here = val / w.clamp_min(1e-8)
        alpha = w.clamp(0, 1)  # partly known coarse pixels keep their own mean
        filled = alpha * here + (1 - alpha) * up
    return image * known + filled * (1 - known)


def edit_mask(strength: torch.Tensor, step: int, num_steps: int) -> torch.Tensor:
    """Which latent pixels may change at denoising step ``step`` of ``num_steps`` (differential diffusion).

    A pixel of change strength ``s`` is edited during the last ``s`` share of the steps: before that, it is reset
    to the input's latent noised to the current level. Binary damage has strength 1 (edited at every step).

    Args:
        strength: (b, 1, h, w) in [0, 1].
        step: 0-based step index.
        num_steps: number of steps.

    Returns:
        (b, 1, h, w) float in {0, 1}.
    """
    threshold = 1.0 - (step + 1) / num_steps
    return (strength > threshold).to(strength.dtype)

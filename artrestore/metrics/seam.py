"""Seam metric: colour and perceptual error on a ring around the mask boundary, where fills show their edges."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .color import delta_e2000
from .lpips import lpips_map


def boundary_ring(mask: torch.Tensor, width: int = 4) -> torch.Tensor:
    """The band of ``width`` px on both sides of the mask boundary.

    Args:
        mask: (b, 1, h, w) or (b, h, w), non-zero = damaged.
        width: half-width of the ring in pixels.

    Returns:
        (b, h, w) bool ring (dilation minus erosion).
    """
    m = (mask if mask.ndim == 4 else mask[:, None]).float()
    k = 2 * width + 1
    dilated = F.max_pool2d(m, k, stride=1, padding=width)
    eroded = -F.max_pool2d(-m, k, stride=1, padding=width)
    return (dilated - eroded)[:, 0] > 0


def seam_error(
    restored: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor, width: int = 4, net: str = "alex"
) -> dict[str, torch.Tensor]:
    """ΔE2000 and LPIPS averaged over the boundary ring.

    Args:
        restored: (b, 3, h, w) in [0, 1].
        reference: (b, 3, h, w) clean painting in [0, 1].
        mask: (b, [1,] h, w) damage mask.
        width: ring half-width in pixels.
        net: LPIPS backbone.

    Returns:
        ``{"delta_e": (b,), "lpips": (b,)}``; NaN where the mask is empty.
    """
    ring = boundary_ring(mask, width).float()  # (b, h, w)
    area = ring.sum((1, 2))
    de = (delta_e2000(restored, reference) * ring).sum((1, 2)) / area
    lp = (lpips_map(restored, reference, net) * ring).sum((1, 2)) / area
    return {"delta_e": de, "lpips": lp}

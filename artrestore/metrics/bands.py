"""Spatial bands of a restoration: swap one band of the restored hole for the ground truth's.

A diagnostic, not a method: it needs the clean painting. It tells where a fill's error lies, in its layout (colours
and shapes above a scale) or in its detail (below it).
"""

from __future__ import annotations

import torch

from ..hub import membrane_layout

BANDS = ("layout", "detail")


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with mirrored borders (:func:`artrestore.hub.membrane_layout.gaussian_blur`).

    Args:
        x: (b, c, h, w).
        sigma: standard deviation in pixels, > 0. The kernel reaches 3 sigma, at most to the image's border.

    Returns:
        (b, c, h, w).
    """
    if not sigma > 0:
        raise ValueError(f"sigma: expected a positive number of pixels, got {sigma}")
    return membrane_layout.gaussian_blur(x, sigma, border="reflect")


def swap_band(
    restored: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor, sigma: float, *, band: str
) -> torch.Tensor:
    """The restoration with one spatial band of its hole taken from the clean painting.

    ``band="layout"``: the clean painting's blur (sigma) with the restoration's own detail (itself minus its blur);
    ``band="detail"``: the restoration's blur with the clean painting's detail. Outside ``mask`` the restoration is
    returned unchanged.

    Args:
        restored: (b, 3, h, w) in [0, 1].
        clean: (b, 3, h, w) in [0, 1], the ground truth.
        mask: (b, 1, h, w), 1 in the hole.
        sigma: the Gaussian scale that separates the bands, in pixels.
        band: ``"layout"`` or ``"detail"``: the band taken from ``clean``.

    Returns:
        (b, 3, h, w) in [0, 1].
    """
    if band not in BANDS:
        raise ValueError(f"band: expected one of {BANDS}, got {band!r}")
    if restored.ndim != 4 or restored.shape != clean.shape or mask.shape != (len(restored), 1, *restored.shape[2:]):
        raise ValueError(
            f"restored, clean, mask: expected (b, 3, h, w) twice and (b, 1, h, w), got {tuple(restored.shape)}, "
            f"{tuple(clean.shape)} and {tuple(mask.shape)}"
        )
    low_r, low_c = gaussian_blur(restored, sigma), gaussian_blur(clean, sigma)  # (b, 3, h, w) each
    if band == "layout":
        swapped = restored - low_r + low_c
    else:
        swapped = low_r + clean - low_c
    return torch.where(mask > 0, swapped.clamp(0, 1), restored)

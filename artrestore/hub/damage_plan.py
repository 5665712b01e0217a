"""Stage 3 of a restoration: one painting's damage split into what is restored in pixel space and what is denoised.

The binary damage's pixels are first replaced by a smooth fill of their surroundings (``blank_damage``), so that
nothing downstream reads what the holes held. Thin binary damage (cracks, scratches) gets a biharmonic fill of its
surroundings; faded colour is restored by inverting the painting's ageing transform (the varnish estimator), also
inside a first fill's faded holes; the rest is left to the denoiser.

Self-contained (numpy, PIL, torch): this file ships with exported checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import PIL.Image
import torch

from .masked_fill import blank_damage, fill_thin_damage, split_pixel_space_damage


@dataclass
class DamagePlan:
    """One painting's damage after the split of stage 3: what the denoiser restores and what is already done.

    Attributes:
        image: (H, W, 3) uint8, the painting the denoiser sees (holes blanked, faded colour inverted, thin damage
            filled).
        mask: (H, W) bool, binary damage to denoise.
        fade: (H, W) float32 in [0, 1], fading to denoise (zero once inverted).
        thin: (H, W) bool, thin damage filled in pixel space.
        changed: (H, W) bool, every pixel the call may change.
        init: (H, W, 3) uint8 first fill of the holes (``init_image``, colour-restored where faded), or None.
        fading: how the painting's fading is restored (``"invert"`` or ``"diffuse"``), or None without fading.
    """

    image: np.ndarray
    mask: np.ndarray
    fade: np.ndarray
    thin: np.ndarray
    changed: np.ndarray
    init: np.ndarray | None
    fading: str | None

    @property
    def region(self) -> np.ndarray:
        """(H, W) bool, the pixels the denoiser restores."""
        return self.mask | (self.fade > 0)


def plan_damage(
    image: np.ndarray,
    mask_image: PIL.Image.Image | None,
    fade_map: PIL.Image.Image | None,
    init_image: PIL.Image.Image | None,
    *,
    fading: str,
    thin_damage_px: int,
    hairline_px: int,
    varnish_estimator: Any | None,
) -> DamagePlan:
    """Split one painting's damage into a :class:`DamagePlan`.

    Args:
        image: (H, W, 3) uint8 painting.
        mask_image: L mask (white >= 128 = damaged), or None.
        fade_map: L fading strength (0..255), or None; ignored under the mask.
        init_image: RGB first fill of the holes, or None.
        fading: ``"invert"`` (needs ``varnish_estimator``) or ``"diffuse"`` (faded areas are denoised).
        thin_damage_px: binary damage thin everywhere below this width is filled in pixel space (0: none).
        hairline_px: of the thin damage, only stretches narrower than this keep the pixel-space fill; wider ones
            join the losses (0: all of it keeps it).
        varnish_estimator: the pipeline's ``VarnishEstimator``, or None.
    """
    mask = np.asarray(mask_image) >= 128 if mask_image is not None else np.zeros(image.shape[:2], bool)
    arr = blank_damage(image, mask)  # what the holes hold is never read: every hole is restored from its surroundings
    given = (
        np.asarray(fade_map).astype(np.float32) / 255.0
        if fade_map is not None
        else np.zeros(arr.shape[:2], np.float32)
    )
    fade = np.where(mask, 0.0, given).astype(np.float32)
    # (H, W) bool each: the thin parts, and their hairlines that keep the pixel-space fill (the rest joins the losses)
    thin_parts, thin = split_pixel_space_damage(mask, thin_damage_px, hairline_px)
    mask = mask & ~thin
    faded = bool((fade > 0).any())
    changed = mask | thin | (fade > 0)  # every pixel this call may change
    init = np.asarray(init_image) if init_image is not None else None
    if fading == "invert" and faded:  # faded colour restored in pixel space; not denoised
        rgb = arr.astype(np.float32) / 255.0
        params = varnish_estimator.estimate(rgb, fade, mask | thin)  # (1, 5) the painting's ageing
        colour = varnish_estimator.invert(rgb, fade, params)
        if init is not None and (mask & (given > 0)).any():
            init = _restore_faded_fill(varnish_estimator, np.array(init), mask, given, params)
        arr = np.where(fade[..., None] > 0, np.round(colour * 255.0), arr).astype(np.uint8)
        fade = np.zeros_like(fade)
    if thin.any():  # before denoising, so that the denoiser sees them restored in its context
        # over whole thin parts; their wider stretches, filled here too, are in the mask and never read downstream
        arr = fill_thin_damage(arr, thin_parts)
    return DamagePlan(arr, mask, fade, thin, changed, init, fading if faded else None)


def _restore_faded_fill(
    varnish_estimator: Any, init: np.ndarray, mask: np.ndarray, given: np.ndarray, params: torch.Tensor
) -> np.ndarray:
    """A first fill copies faded paint into the holes too: the painting's transform brings its colour back (on
    the faded holes' bounding box, with the fading given there). (H, W, 3) uint8, changed in place."""
    ys, xs = np.nonzero(mask & (given > 0))
    box = np.s_[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    hole_fade = np.where(mask[box], given[box], 0.0).astype(np.float32)
    fill = varnish_estimator.invert(init[box].astype(np.float32) / 255.0, hole_fade, params)
    init[box] = np.where(hole_fade[..., None] > 0, np.round(fill * 255.0), init[box])
    return init

"""Classical inpainting baselines: none, Telea and Navier-Stokes (OpenCV), biharmonic (scikit-image), PatchMatch.

None of them can undo colour fading, so they leave faded pixels as they are; they only fill the binary mask.
"""

from __future__ import annotations

import cv2
import numpy as np

from .registry import composite, register_method


@register_method("none", "identity: returns the damaged input")
def restore_none(image: np.ndarray, mask: np.ndarray, fade: np.ndarray) -> np.ndarray:
    return image.copy()


def _opencv_inpaint(image: np.ndarray, mask: np.ndarray, flag: int) -> np.ndarray:
    if not mask.any():
        return image.copy()
    filled = cv2.inpaint(image, mask.astype(np.uint8) * 255, 3, flag)
    return composite(filled, image, mask)


@register_method("telea", "OpenCV fast marching (Telea 2004), radius 3")
def restore_telea(image: np.ndarray, mask: np.ndarray, fade: np.ndarray) -> np.ndarray:
    return _opencv_inpaint(image, mask, cv2.INPAINT_TELEA)


@register_method("ns", "OpenCV Navier-Stokes (Bertalmio 2001), radius 3")
def restore_ns(image: np.ndarray, mask: np.ndarray, fade: np.ndarray) -> np.ndarray:
    return _opencv_inpaint(image, mask, cv2.INPAINT_NS)


@register_method("biharmonic", "scikit-image biharmonic inpainting, per connected region")
def restore_biharmonic(image: np.ndarray, mask: np.ndarray, fade: np.ndarray) -> np.ndarray:
    if not mask.any():
        return image.copy()
    from skimage.restoration import inpaint_biharmonic

    filled = inpaint_biharmonic(image, mask, split_into_regions=True, channel_axis=-1)  # float in [0, 1]
    filled = np.clip(np.round(filled * 255), 0, 255).astype(np.uint8)
    return composite(filled, image, mask)


@register_method("patchmatch", "PatchMatch exemplar fill (Barnes 2009, pypatchmatch), patch 3, seed 0")
def restore_patchmatch(image: np.ndarray, mask: np.ndarray, fade: np.ndarray) -> np.ndarray:
    if not mask.any():
        return image.copy()
    from patchmatch import patch_match

    if not patch_match.patchmatch_available:
        raise RuntimeError("patchmatch: the native PatchMatch library failed to load")
    patch_match.set_random_seed(0)
    filled = patch_match.inpaint(image, mask.astype(np.uint8) * 255, patch_size=3)
    return composite(np.asarray(filled), image, mask)

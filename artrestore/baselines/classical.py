"""Classical inpainting baselines: none, Telea and Navier-Stokes (OpenCV), biharmonic (scikit-image), PatchMatch
(patch 3, and ``patchmatch5``, ``patchmatch7``, ``patchmatch11``), G'MIC.

None of them can undo colour fading, so they leave faded pixels as they are; they only fill the binary mask.
"""

from __future__ import annotations

import cv2
import numpy as np

from .registry import composite, register_method

PATCHMATCH_SIZES = (5, 7, 11)  # registered as patchmatch5, ...; plain "patchmatch" is patch 3, the pipeline's own


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


def _patchmatch_of_size(patch_size: int):
    def restore(image: np.ndarray, mask: np.ndarray, fade: np.ndarray) -> np.ndarray:
        from ..hub.exemplar_fill import patchmatch_fill

        return patchmatch_fill(image, mask, patch_size=patch_size, min_margin=None)

    restore.__doc__ = f"PatchMatch over the whole image, {patch_size} px patches (the exemplar fill without a window)."
    return restore


register_method("patchmatch", "PatchMatch exemplar fill (Barnes 2009, pypatchmatch), patch 3, seed 0")(
    _patchmatch_of_size(3)
)
# other patch sizes, so a bench can compare against PatchMatch at its best patch size for each kind of damage
for _size in PATCHMATCH_SIZES:
    register_method(f"patchmatch{_size}", f"PatchMatch, patch {_size}, seed 0")(_patchmatch_of_size(_size))


@register_method("gmic", "G'MIC patch-based inpainting (Daisy et al. 2013/2014; Debian gmic), patch 7, lookup 16")
def restore_gmic(image: np.ndarray, mask: np.ndarray, fade: np.ndarray) -> np.ndarray:
    """The patch-based inpainting a conservator may reach for in GIMP, through G'MIC's command line."""
    if not mask.any():
        return image.copy()
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    binary = shutil.which("gmic")
    if binary is None:
        raise RuntimeError("gmic: the G'MIC command line is not installed (Debian: apt-get install gmic)")
    with tempfile.TemporaryDirectory(prefix="artrestore-gmic-") as tmp:
        src, hole, out = (str(Path(tmp) / name) for name in ("image.png", "mask.png", "out.png"))
        cv2.imwrite(src, image[:, :, ::-1])
        cv2.imwrite(hole, mask.astype(np.uint8) * 255)
        # patch 7, lookup 16, lookup factor 0.1, increment 1, blend size 1.2, threshold 0, decay 0.05, 10 scales,
        # outer blending on: the defaults of G'MIC's "Inpaint [patch-based]" filter
        settings = "[1],7,16,0.1,1,1.2,0,0.05,10,1"
        command = [binary, "-v", "-", src, hole, "-inpaint[0]", settings, "-keep[0]", "-o", out]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        filled = cv2.imread(out, cv2.IMREAD_COLOR)
        if done.returncode != 0 or filled is None:
            raise RuntimeError(f"gmic: inpainting failed: {done.stderr.strip()[-300:]}")
    return composite(filled[:, :, ::-1], image, mask)

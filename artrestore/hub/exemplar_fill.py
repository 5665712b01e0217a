"""The exemplar fill: a first fill of the holes with texture copied from the painting itself (PatchMatch).

A painting's own brushwork is the best source of texture for its holes: PatchMatch (Barnes et al. 2009, through
``pypatchmatch``) fills each hole with patches of the undamaged paint around it, sharp where a learned generator
blurs. The pipeline makes this fill when no ``init_image`` is given and denoising does not start from pure noise;
the exemplar refiner then corrects it. PatchMatch runs on a window around the holes (their bounding box grown by
its own size, at least ``min_margin`` pixels on every side), so a small loss on a large scan stays cheap, and the
fill is deterministic (seed 0).

Self-contained (numpy, and pypatchmatch when it is installed): this file ships with exported checkpoints.
"""

from __future__ import annotations

import numpy as np

EXEMPLAR_FILLS = ("patchmatch", "none")


def _patch_match():
    """pypatchmatch's ``patch_match`` module, or None when it or its native library is missing."""
    try:
        from patchmatch import patch_match
    except ImportError:
        return None
    return patch_match if patch_match.patchmatch_available else None


def patchmatch_available() -> bool:
    """Whether ``pypatchmatch`` and its native library load."""
    return _patch_match() is not None


def fill_window(mask: np.ndarray, min_margin: int) -> tuple[slice, slice]:
    """The (rows, columns) slices of the window PatchMatch copies from: ``mask``'s bounding box grown by its own
    longer side, at least ``min_margin`` pixels, on every side, clipped to the image."""
    ys, xs = np.nonzero(mask)
    margin = max(min_margin, int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1))
    h, w = mask.shape
    return (
        slice(max(0, int(ys.min()) - margin), min(h, int(ys.max()) + 1 + margin)),
        slice(max(0, int(xs.min()) - margin), min(w, int(xs.max()) + 1 + margin)),
    )


def patchmatch_fill(
    image: np.ndarray, mask: np.ndarray, *, patch_size: int = 3, min_margin: int | None = 256
) -> np.ndarray:
    """``image`` with the pixels of ``mask`` filled by PatchMatch from the rest of the window around them.

    Args:
        image: (H, W, 3) uint8 painting (its pixels under ``mask`` are never read).
        mask: (H, W) bool, True = fill.
        patch_size: PatchMatch patch side in pixels.
        min_margin: smallest margin of the window around the holes (see :func:`fill_window`); None = the whole
            image.

    Returns:
        (H, W, 3) uint8: ``image`` outside ``mask`` bit for bit, the fill inside.

    Raises:
        RuntimeError: pypatchmatch or its native library is missing.
    """
    out = np.array(image, dtype=np.uint8, copy=True)
    if not mask.any():
        return out
    patch_match = _patch_match()
    if patch_match is None:
        raise RuntimeError("the exemplar fill needs pypatchmatch and its native library (pip install pypatchmatch)")

    rows, cols = (slice(None), slice(None)) if min_margin is None else fill_window(mask, min_margin)
    window = np.ascontiguousarray(out[rows, cols])  # (h, w, 3)
    hole = mask[rows, cols]  # (h, w)
    patch_match.set_random_seed(0)
    filled = np.asarray(patch_match.inpaint(window, hole.astype(np.uint8) * 255, patch_size=patch_size))
    window[hole] = filled[hole]
    out[rows, cols] = window
    return out

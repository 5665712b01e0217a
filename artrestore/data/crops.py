"""Multi-scale random crops: downscale the painting by a random factor, then crop.

Small models see both the brushwork (scale close to 1) and the composition (strong downscale) this way.
"""

from __future__ import annotations

import cv2
import numpy as np


def multiscale_random_crop(
    image: np.ndarray, size: int, rng: np.random.Generator, min_scale: float | None = None, max_scale: float = 1.0
) -> tuple[np.ndarray, dict[str, float]]:
    """Random crop of ``size`` x ``size`` after a random downscale, log-uniform in [min_scale, max_scale].

    Args:
        image: (h, w, 3) uint8.
        size: crop side in pixels.
        rng: random generator.
        min_scale: smallest scale; default: the scale at which the shorter side equals ``size`` (whole-painting
            composition). Clamped so the image always covers the crop.
        max_scale: largest scale (1 = native brushwork).

    Returns:
        The (size, size, 3) uint8 crop and its provenance ``{"scale", "x", "y"}`` (x, y in scaled pixels).
    """
    h, w = image.shape[:2]
    fit = size / min(h, w)  # scale at which the short side equals the crop
    lo = max(fit, min_scale if min_scale is not None else fit)
    hi = max(lo, max_scale, fit)
    scale = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else lo
    nh, nw = max(size, int(round(h * scale))), max(size, int(round(w * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    scaled = cv2.resize(image, (nw, nh), interpolation=interp) if (nh, nw) != (h, w) else image
    y = int(rng.integers(0, nh - size + 1))
    x = int(rng.integers(0, nw - size + 1))
    return np.ascontiguousarray(scaled[y : y + size, x : x + size]), {"scale": scale, "x": x, "y": y}


def center_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize so the shorter side is ``size`` (area interpolation when shrinking), then centre-crop a square.

    Args:
        image: (h, w, 3) uint8.
        size: output side.

    Returns:
        (size, size, 3) uint8.
    """
    h, w = image.shape[:2]
    scale = size / min(h, w)
    nh, nw = max(size, int(round(h * scale))), max(size, int(round(w * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(image, (nw, nh), interpolation=interp)
    y, x = (nh - size) // 2, (nw - size) // 2
    return np.ascontiguousarray(resized[y : y + size, x : x + size])

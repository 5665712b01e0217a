"""Scratches: thin curved strokes, 1-6 px wide, light (abraded varnish) or dark (dirt-filled)."""

from __future__ import annotations

import cv2
import numpy as np

from .types import stain


def _bezier(p: np.ndarray, n: int) -> np.ndarray:
    """(n, 2) points of the cubic Bezier with control points ``p`` (4, 2)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 3 * p[0] + 3 * (1 - t) ** 2 * t * p[1] + 3 * (1 - t) * t**2 * p[2] + t**3 * p[3]


def scratches(shape: tuple[int, int], rng: np.random.Generator, count: int | None = None) -> np.ndarray:
    """Draw 1-5 curved scratches.

    Args:
        shape: (h, w) of the mask.
        rng: random generator.
        count: number of strokes (random 1-5 when None).

    Returns:
        (h, w) bool, True = scratch.
    """
    h, w = shape
    mask = np.zeros((h, w), np.uint8)
    count = int(rng.integers(1, 6)) if count is None else count
    diag = float(np.hypot(h, w))
    for _ in range(count):
        length = rng.uniform(0.2, 0.9) * diag
        start = rng.uniform([0, 0], [w, h])
        to_centre = np.array([w / 2, h / 2]) - start
        angle = np.arctan2(to_centre[1], to_centre[0]) + rng.normal(0, 0.7)  # keeps most of the stroke inside
        direction = np.array([np.cos(angle), np.sin(angle)])
        normal = np.array([-direction[1], direction[0]])
        bend = rng.normal(0, 0.15, 2) * length
        p = np.stack(
            [
                start,
                start + direction * length / 3 + normal * bend[0],
                start + direction * 2 * length / 3 + normal * bend[1],
                start + direction * length,
            ]
        )
        pts = _bezier(p, max(16, int(length / 4)))
        width = int(rng.integers(1, 7))  # 1-6 px, absolute: scratches do not scale with the scan
        stroke = np.zeros((h, w), np.uint8)
        # Scratches often skip: split into a few segments with gaps.
        cuts = np.sort(rng.integers(0, len(pts), size=int(rng.integers(0, 3)) * 2))
        for i, seg in enumerate(np.split(pts, cuts)):
            if i % 2 == 0 and len(seg) >= 2:
                cv2.polylines(stroke, [np.round(seg).astype(np.int32)], False, 1, thickness=1, lineType=cv2.LINE_8)
        if width > 1:  # cv2's own thickness only gives odd widths; a w x w disk gives exactly w
            stroke = cv2.dilate(stroke, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width)))
        mask |= stroke
    return mask.astype(bool)


def paint_scratches(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Render scratches onto ``image`` (float32 (h, w, 3) in [0, 1]); changes only pixels in ``mask``."""
    light = rng.random() < 0.65
    colour = (
        rng.uniform(0.78, 0.95) * np.array([1.0, 0.97, 0.9], np.float32)
        if light
        else rng.uniform(0.08, 0.25) * np.array([1.0, 0.9, 0.75], np.float32)
    )
    return stain(image, mask, colour, rng.uniform(0.7, 1.0), 0.03, rng)

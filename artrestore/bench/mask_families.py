"""Damage masks the training simulator never draws, for judging how restorations generalise.

Users draw damage with a brush or a polygon tool, and other benchmarks use polygons and long straight lines; the
training simulator draws craquelure, Bézier scratches and LaMa-style flaked losses. These families are the bench's
held-out masks: no training code imports this module.

- ``polygon``: 1-3 filled polygons with hard edges (5-10 vertices at random radii), 3-12 % of the image each.
- ``lines``: 2-5 straight lines from border to border, 3-12 px wide at 512 px.
- ``strokes``: 1-3 freehand brush strokes (a smooth curve through a random walk), 10-30 px wide at 512 px.
- ``polygon_lines``: a polygon family mask plus a lines family mask, as in mixed-damage benchmarks.

The damaged pixels are painted white, as such benchmarks hand them over; a restoration may use none of them.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..damage import DamageSample, DamageSimulator, DamageType

MASK_FAMILIES = ("polygon", "lines", "strokes", "polygon_lines")


def _scale(shape: tuple[int, int]) -> float:
    return min(shape) / 512.0


def polygon_mask(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """1-3 filled polygons, each covering about 3-12 % of the image. (h, w) bool."""
    h, w = shape
    mask = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        area = rng.uniform(0.03, 0.12) * h * w
        radius = np.sqrt(area / np.pi) * 1.15  # the vertices' radii average below the circumradius
        cy, cx = rng.uniform(radius * 0.5, h - radius * 0.5), rng.uniform(radius * 0.5, w - radius * 0.5)
        n = int(rng.integers(5, 11))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = radius * rng.uniform(0.5, 1.0, n)
        points = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)  # (n, 2) x, y
        cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask > 0


def _border_point(h: int, w: int, rng: np.random.Generator) -> tuple[float, float]:
    side = int(rng.integers(4))
    t = rng.uniform(0, 1)
    return [(t * (w - 1), 0.0), (t * (w - 1), h - 1.0), (0.0, t * (h - 1)), (w - 1.0, t * (h - 1))][side]


def lines_mask(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """2-5 straight lines from one border to another, 3-12 px wide at 512 px. (h, w) bool."""
    h, w = shape
    mask = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(2, 6))):
        a = _border_point(h, w, rng)
        b = _border_point(h, w, rng)
        while abs(a[0] - b[0]) + abs(a[1] - b[1]) < 0.5 * min(h, w):  # long lines only
            b = _border_point(h, w, rng)
        width = max(1, int(round(rng.uniform(3, 12) * _scale(shape))))
        cv2.line(mask, tuple(int(round(v)) for v in a), tuple(int(round(v)) for v in b), 1, width)
    return mask > 0


def strokes_mask(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """1-3 freehand brush strokes: a smooth curve through a random walk, with round ends. (h, w) bool."""
    h, w = shape
    mask = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        n = int(rng.integers(4, 8))
        step = 0.15 * min(h, w)
        start = np.array([rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h])
        heading = rng.uniform(0, 2 * np.pi)
        points = [start]
        for _ in range(n - 1):
            heading += rng.normal(0, 0.6)
            nxt = points[-1] + step * rng.uniform(0.6, 1.2) * np.array([np.cos(heading), np.sin(heading)])
            points.append(np.clip(nxt, [0, 0], [w - 1, h - 1]))
        knots = np.array(points)  # (n, 2)
        t = np.linspace(0, n - 1, 24 * n)
        curve = np.stack([np.interp(t, np.arange(n), knots[:, i]) for i in (0, 1)], 1)
        kernel = np.ones(9) / 9  # smooth the polyline into a brush path
        curve = np.stack([np.convolve(np.pad(curve[:, i], 4, mode="edge"), kernel, "valid") for i in (0, 1)], 1)
        width = max(2, int(round(rng.uniform(10, 30) * _scale(shape))))
        cv2.polylines(mask, [np.round(curve).astype(np.int32)], False, 1, width)
        for x, y in (curve[0], curve[-1]):
            cv2.circle(mask, (int(round(x)), int(round(y))), width // 2, 1, -1)
    return mask > 0


def family_mask(family: str, shape: tuple[int, int], seed: int) -> np.ndarray:
    """The (h, w) bool mask of ``family`` (one of :data:`MASK_FAMILIES`) for ``seed``; deterministic."""
    rng = np.random.default_rng(seed)
    if family == "polygon":
        return polygon_mask(shape, rng)
    if family == "lines":
        return lines_mask(shape, rng)
    if family == "strokes":
        return strokes_mask(shape, rng)
    if family == "polygon_lines":
        return polygon_mask(shape, rng) | lines_mask(shape, rng)
    raise ValueError(f"kinds: unknown mask family {family!r}; accepted: {', '.join(MASK_FAMILIES)}")


def family_sample(clean: np.ndarray, family: str, seed: int) -> DamageSample:
    """A bench case: ``clean`` (h, w, 3) uint8 with the family's mask painted white."""
    mask = family_mask(family, clean.shape[:2], seed)
    image = clean.copy()
    image[mask] = 255
    types = np.where(mask, DamageType.LOSS, DamageType.NONE).astype(np.uint8)
    return DamageSample(image, mask, np.zeros(mask.shape, np.float32), types, family, seed)


def bench_sample(clean: np.ndarray, kind: str, seed: int, simulator: DamageSimulator) -> DamageSample:
    """The damage of one bench case: a mask family's (see :func:`family_sample`), or else the simulator's kind.

    Args:
        clean: (h, w, 3) uint8 painting.
        kind: a mask family or a simulated damage kind.
        seed: the case's seed.
        simulator: the :class:`~artrestore.damage.DamageSimulator` for the simulated kinds.
    """
    return family_sample(clean, kind, seed) if kind in MASK_FAMILIES else simulator.simulate(clean, kind, seed)

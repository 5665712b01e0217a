"""Paint loss: irregular holes down to the ground, small (flakes) or large (losses), in the spirit of LaMa's masks.

Shapes are random-walk thick strokes plus boxes (as LaMa's irregular and box masks), with their edges roughened by
noise so that they look like flaked paint rather than brush strokes.
"""

from __future__ import annotations

import cv2
import numpy as np

from .types import low_frequency_noise, scale_of


def _random_walk(mask: np.ndarray, rng: np.random.Generator, steps: int, step_len: float, width: float) -> None:
    h, w = mask.shape
    x, y = rng.uniform(0, w), rng.uniform(0, h)
    angle = rng.uniform(0, 2 * np.pi)
    for _ in range(steps):
        angle += rng.normal(0, 0.9)
        length = rng.uniform(0.5, 1.0) * step_len
        nx = float(np.clip(x + length * np.cos(angle), 0, w - 1))
        ny = float(np.clip(y + length * np.sin(angle), 0, h - 1))
        thickness = max(1, int(round(width * rng.uniform(0.7, 1.2))))
        cv2.line(mask, (int(x), int(y)), (int(nx), int(ny)), 1, thickness=thickness)
        cv2.circle(mask, (int(nx), int(ny)), thickness // 2, 1, thickness=-1)
        x, y = nx, ny


def _roughen(mask: np.ndarray, rng: np.random.Generator, radius: float) -> np.ndarray:
    """Irregular, flaky edges: threshold a blurred mask against noise."""
    if radius < 1:
        return mask.astype(bool)
    ksize = int(2 * round(radius) + 1)
    soft = cv2.GaussianBlur(mask.astype(np.float32), (ksize, ksize), radius / 2)
    noise = low_frequency_noise(mask.shape, max(mask.shape) / (radius * 1.5), rng)
    return soft > 0.25 + 0.5 * noise


def paint_loss(shape: tuple[int, int], rng: np.random.Generator, size: str = "small") -> np.ndarray:
    """Irregular holes.

    Args:
        shape: (h, w) of the mask.
        rng: random generator.
        size: ``"small"`` (flakes, about 0.5-6 % of the area) or ``"large"`` (about 8-35 %).

    Returns:
        (h, w) bool, True = lost paint.
    """
    if size not in ("small", "large"):
        raise ValueError(f"size: expected 'small' or 'large', got {size!r}")
    h, w = shape
    k = scale_of(shape)
    mask = np.zeros((h, w), np.uint8)
    if size == "small":
        for _ in range(int(rng.integers(2, 9))):
            _random_walk(mask, rng, int(rng.integers(1, 5)), rng.uniform(6, 30) * k, rng.uniform(5, 18) * k)
        radius = 3 * k
    else:
        for _ in range(int(rng.integers(1, 4))):
            _random_walk(mask, rng, int(rng.integers(3, 9)), rng.uniform(30, 90) * k, rng.uniform(25, 70) * k)
        if rng.random() < 0.5:  # a box-like loss, e.g. along a fold
            bw, bh = rng.uniform(0.15, 0.4) * w, rng.uniform(0.15, 0.4) * h
            x0, y0 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            cv2.rectangle(mask, (int(x0), int(y0)), (int(x0 + bw), int(y0 + bh)), 1, thickness=-1)
        radius = 8 * k
    return _roughen(mask, rng, radius)


def paint_ground(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Render exposed ground (white gesso, brown canvas or red bole) with texture inside ``mask``.

    Args:
        image: (h, w, 3) float32 in [0, 1].
        mask: (h, w) bool.
        rng: random generator.

    Returns:
        (h, w, 3) float32, changed only where ``mask``.
    """
    grounds = np.array(
        [[0.92, 0.89, 0.80], [0.83, 0.78, 0.66], [0.55, 0.45, 0.32], [0.50, 0.28, 0.20]], np.float32
    )  # gesso, chalk, canvas, bole
    colour = grounds[rng.choice(len(grounds), p=[0.45, 0.25, 0.2, 0.1])]
    texture = low_frequency_noise(mask.shape, max(mask.shape) / 6.0, rng)[..., None] - 0.5  # (h, w, 1)
    fill = np.clip(colour[None, None] + 0.12 * texture, 0, 1)  # (h, w, 3)
    out = image.copy()
    out[mask] = fill[mask]
    return out

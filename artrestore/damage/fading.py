"""Colour fading: a continuous, low-frequency map of aged varnish (desaturation, yellowing, lightening)."""

from __future__ import annotations

import numpy as np

from .types import low_frequency_noise

# Aged varnish tint (multiplicative), a warm yellow-brown.
VARNISH = np.array([1.0, 0.86, 0.58], np.float32)


def fade_map(shape: tuple[int, int], rng: np.random.Generator, coverage: float | None = None) -> np.ndarray:
    """A smooth fading-strength map, exactly 0 outside the faded areas.

    Args:
        shape: (h, w).
        rng: random generator.
        coverage: approximate share of faded pixels (random 0.2-0.7 when None).

    Returns:
        (h, w) float32 in [0, 1].
    """
    coverage = rng.uniform(0.2, 0.7) if coverage is None else coverage
    noise = low_frequency_noise(shape, rng.uniform(1.5, 4.0), rng)  # (h, w)
    threshold = float(np.quantile(noise, 1.0 - coverage))
    strength = rng.uniform(0.45, 0.95)
    ramp = np.clip((noise - threshold) / max(1e-6, (1.0 - threshold) * 0.6), 0.0, 1.0)
    fade = (ramp * ramp * (3 - 2 * ramp) * strength).astype(np.float32)  # smoothstep
    fade[fade < 1.0 / 255] = 0.0  # keep 'untouched' exact: tiny strengths are not fading
    return fade


def apply_fading(image: np.ndarray, fade: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Age ``image`` with strength ``fade``.

    Args:
        image: (h, w, 3) float32 in [0, 1].
        fade: (h, w) float32 in [0, 1].
        rng: random generator (picks the mix of desaturation, yellowing and lightening).

    Returns:
        (h, w, 3) float32, equal to ``image`` where ``fade`` == 0.
    """
    desaturate, yellow, lighten = rng.uniform(0.5, 0.9), rng.uniform(0.3, 0.8), rng.uniform(0.15, 0.45)
    luma = image @ np.array([0.299, 0.587, 0.114], np.float32)  # (h, w)
    aged = image + desaturate * (luma[..., None] - image)
    aged = aged * (1 - yellow + yellow * VARNISH[None, None])
    aged = aged + lighten * (1.0 - aged)
    f = fade[..., None]  # (h, w, 1)
    out = (1 - f) * image + f * np.clip(aged, 0, 1)
    out[fade == 0] = image[fade == 0]
    return out

"""Damage kinds, per-pixel damage-type codes and the simulator's output record."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# The per-pixel damage-type codes live with the pipeline (they ship with exported models); one definition.
from ..hub.damage_detection import DamageType

__all__ = ["KINDS", "DamageSample", "DamageType"]


# Damage kinds the simulator and the bench know, in table order.
KINDS: tuple[str, ...] = ("scratch", "crack", "small_loss", "large_loss", "fading", "mixed")


@dataclass
class DamageSample:
    """One simulated damage.

    Attributes:
        image: (h, w, 3) uint8, the damaged painting. Equal to the clean input wherever ``mask`` is False
            and ``fade`` is 0.
        mask: (h, w) bool, True = binary damage (crack, scratch, paint loss) to be inpainted.
        fade: (h, w) float32 in [0, 1], continuous fading strength; exactly 0 where not faded.
        types: (h, w) uint8 :class:`DamageType` codes.
        kind: the requested damage kind, one of :data:`KINDS`.
        seed: the seed that reproduces this sample.
    """

    image: np.ndarray
    mask: np.ndarray
    fade: np.ndarray
    types: np.ndarray
    kind: str
    seed: int

    @property
    def touched(self) -> np.ndarray:
        """(h, w) bool, pixels a restoration is allowed to change."""
        return self.mask | (self.fade > 0)


def low_frequency_noise(shape: tuple[int, int], cells: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth noise in [0, 1] with roughly ``cells`` blobs along the shorter side.

    Args:
        shape: (h, w) of the output.
        cells: spatial frequency; larger = finer structure.
        rng: the random generator (determinism comes from it).

    Returns:
        (h, w) float32 in [0, 1].
    """
    h, w = shape
    short = min(h, w)
    gh = max(2, int(round(cells * h / short)) + 2)
    gw = max(2, int(round(cells * w / short)) + 2)
    grid = rng.random((gh, gw)).astype(np.float32)
    noise = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)  # (h, w)
    lo, hi = float(noise.min()), float(noise.max())
    return (noise - lo) / max(hi - lo, 1e-6)


def scale_of(shape: tuple[int, int], reference: int = 512) -> float:
    """Size factor of an image against the 512 px reference the generators' defaults are tuned for."""
    return min(shape) / float(reference)


def stain(
    image: np.ndarray, mask: np.ndarray, colour: np.ndarray, strength: float, jitter: float, rng: np.random.Generator
) -> np.ndarray:
    """Blend a noisy flat ``colour`` into ``image`` inside ``mask`` (dirt in cracks, abraded scratches).

    Args:
        image: (h, w, 3) float32 in [0, 1].
        mask: (h, w) bool.
        colour: (3,) float32 target colour.
        strength: blend weight of the colour, in [0, 1].
        jitter: standard deviation of the per-pixel brightness noise.
        rng: random generator.

    Returns:
        (h, w, 3) float32, changed only where ``mask``.
    """
    out = image.copy()
    noise = rng.normal(0.0, jitter, (int(mask.sum()), 1)).astype(np.float32)  # (n, 1)
    out[mask] = (1 - strength) * image[mask] + strength * np.clip(colour[None] + noise, 0, 1)
    return out

"""From detector probabilities to the masks the restoration pipeline takes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..damage.types import DamageType

# detector class index -> damage-type code
_CLASS_TO_TYPE = np.array([DamageType.NONE, DamageType.CRACK, DamageType.SCRATCH, DamageType.LOSS], np.uint8)


@dataclass
class DetectedDamage:
    """Detected damage, ready for editing and restoration.

    Attributes:
        mask: (h, w) bool, binary damage (crack, scratch, loss).
        fade: (h, w) float32 in [0, 1], quantised to 1/255 and exactly 0 below the fade threshold.
        types: (h, w) uint8 :class:`~artrestore.damage.DamageType` codes.
        probs: (h, w, 4) float32 class probabilities (none, crack, scratch, loss).
    """

    mask: np.ndarray
    fade: np.ndarray
    types: np.ndarray
    probs: np.ndarray

    def mask_image(self) -> Image.Image:
        """The binary mask as an L image, white = damaged (the pipeline's ``mask_image``)."""
        return Image.fromarray(self.mask.astype(np.uint8) * 255, "L")

    def fade_map(self) -> Image.Image:
        """The fade strengths as an L image, 0..255 (the pipeline's ``fade_map``)."""
        return Image.fromarray(np.round(self.fade * 255).astype(np.uint8), "L")

    def class_mask(self, name: str) -> np.ndarray:
        """(h, w) bool mask of one class: ``"crack"``, ``"scratch"`` or ``"loss"``."""
        codes = {"crack": DamageType.CRACK, "scratch": DamageType.SCRATCH, "loss": DamageType.LOSS}
        if name not in codes:
            raise ValueError(f"name: expected one of {tuple(codes)}, got {name!r}")
        return self.types == codes[name]


def decide(
    probs: np.ndarray, fade: np.ndarray, damage_threshold: float = 0.5, fade_threshold: float = 0.08
) -> DetectedDamage:
    """Threshold detector outputs.

    A pixel is damaged when the probability of "none" falls below ``1 - damage_threshold``; its type is the most
    probable damage class. Fading strengths below ``fade_threshold`` become exactly 0.

    Args:
        probs: (h, w, 4) class probabilities.
        fade: (h, w) fade strength in [0, 1].
        damage_threshold: probability of any damage needed to mark a pixel.
        fade_threshold: weakest fading that is reported.

    Returns:
        The :class:`DetectedDamage`.
    """
    if not 0 < damage_threshold < 1 or not 0 <= fade_threshold < 1:
        raise ValueError("damage_threshold must be in (0, 1) and fade_threshold in [0, 1)")
    damaged = probs[..., 0] < 1 - damage_threshold  # (h, w)
    cls = probs[..., 1:].argmax(-1) + 1  # (h, w) in 1..3
    types = np.where(damaged, _CLASS_TO_TYPE[cls], DamageType.NONE).astype(np.uint8)
    f = np.where(fade >= fade_threshold, np.round(np.clip(fade, 0, 1) * 255) / 255, 0).astype(np.float32)
    types[(types == DamageType.NONE) & (f > 0)] = DamageType.FADE
    return DetectedDamage(damaged, f, types, probs)

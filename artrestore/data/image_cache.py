"""Decoded training images, loaded once per process and capped in size."""

from __future__ import annotations

import cv2
import numpy as np

from ..io import load_image
from .paintings import PaintingRecord
from .wikiart import StyleRecord, load_style_image


def load_training_image(source: PaintingRecord | StyleRecord, max_side: int = 1024) -> np.ndarray:
    """(h, w, 3) uint8 RGB of a painting or style-set record, downscaled (area) so its longer side <= max_side.

    Args:
        source: a :class:`PaintingRecord` (full image) or :class:`StyleRecord` (letterbox removed).
        max_side: cap on the longer side; larger images are shrunk, smaller ones untouched.
    """
    img = load_style_image(source) if isinstance(source, StyleRecord) else load_image(source.path).to_uint8()
    scale = max_side / max(img.shape[:2])
    if scale < 1:
        size = (round(img.shape[1] * scale), round(img.shape[0] * scale))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    return img


class ImageCache:
    """Index -> decoded image, each source decoded at most once (per DataLoader worker).

    Args:
        sources: painting or style-set records.
        max_side: see :func:`load_training_image`.
    """

    def __init__(self, sources: list, max_side: int = 1024) -> None:
        if not sources:
            raise ValueError("sources: no images to crop from")
        self.sources, self.max_side = list(sources), max_side
        self._images: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: int) -> np.ndarray:
        if i not in self._images:
            self._images[i] = load_training_image(self.sources[i], self.max_side)
        return self._images[i]

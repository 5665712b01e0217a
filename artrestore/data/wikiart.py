"""The 224 px style-labelled set (``wikiart224/<Style>/*.jpg``), with its letterbox borders removed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


def letterbox_box(image: np.ndarray, threshold: float = 12.0, min_content: float = 0.3) -> tuple[int, int, int, int]:
    """The content box of a letterboxed image: black (JPEG-noisy) rows and columns at the edges are borders.

    Args:
        image: (h, w, 3) uint8.
        threshold: a row/column whose mean and 95th percentile are below this (and 3x this) is border.
        min_content: never cut below this share of a side (dark paintings are not borders).

    Returns:
        (x0, y0, x1, y1), exclusive ends.
    """
    gray = image.astype(np.float32).mean(axis=2)  # (h, w)
    h, w = gray.shape

    def is_border(line: np.ndarray) -> bool:
        return float(line.mean()) < threshold and float(np.percentile(line, 95)) < 3 * threshold

    y0, y1, x0, x1 = 0, h, 0, w
    while y0 < h and is_border(gray[y0]):
        y0 += 1
    while y1 > y0 and is_border(gray[y1 - 1]):
        y1 -= 1
    if y1 - y0 < min_content * h:
        return 0, 0, w, h
    while x0 < w and is_border(gray[y0:y1, x0]):
        x0 += 1
    while x1 > x0 and is_border(gray[y0:y1, x1 - 1]):
        x1 -= 1
    if (y1 - y0) < min_content * h or (x1 - x0) < min_content * w:
        return 0, 0, w, h
    return x0, y0, x1, y1


def remove_letterbox(image: np.ndarray) -> np.ndarray:
    """Crop the black letterbox borders off ``image`` ((h, w, 3) uint8)."""
    x0, y0, x1, y1 = letterbox_box(image)
    return np.ascontiguousarray(image[y0:y1, x0:x1])


@dataclass(frozen=True)
class StyleRecord:
    path: Path
    style: str


def scan_style_set(root: str | Path) -> list[StyleRecord]:
    """Index ``<root>/<Style>/*.jpg`` in a stable order.

    Raises:
        ValueError: ``root`` is missing or empty.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"data: {root} is not a folder (expected <root>/<Style>/*.jpg)")
    records = [
        StyleRecord(p, d.name)
        for d in sorted(x for x in root.iterdir() if x.is_dir())
        for p in sorted(d.glob("*.jpg"), key=lambda q: (len(q.stem), q.stem))
    ]
    if not records:
        raise ValueError(f"data: no images in style subfolders of {root}")
    return records


def load_style_image(record: StyleRecord) -> np.ndarray:
    """(h, w, 3) uint8 RGB of a style-set image with the letterbox removed."""
    bgr = cv2.imread(str(record.path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"data: cannot read {record.path}")
    return remove_letterbox(bgr[:, :, ::-1])

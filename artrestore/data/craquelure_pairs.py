"""Real craquelure close-ups with their crack maps (``craquelure/images`` + ``craquelure/masks``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..damage.craquelure import read_crack_map

HOLDOUT_SHARE = 0.2


@dataclass(frozen=True)
class CrackPair:
    image: Path
    mask: Path
    school: str


def _held_out(name: str) -> bool:
    digest = hashlib.sha1(f"craquelure-v1|{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2.0**64 < HOLDOUT_SHARE


def crack_pairs(root: str | Path, split: str = "train") -> list[CrackPair]:
    """Close-ups with crack maps, split by file: a fixed 20 % (salted hash of the file name) is held out.

    Args:
        root: the ``craquelure`` folder (with ``images/<School>/*.jpg`` and ``masks/<School>/*.png``).
        split: ``"train"``, ``"val"`` (the held-out files) or ``"all"``.

    Returns:
        The pairs, in a stable order.
    """
    if split not in ("train", "val", "all"):
        raise ValueError(f"split: expected 'train', 'val' or 'all', got {split!r}")
    root = Path(root)
    if not (root / "images").is_dir():
        raise ValueError(f"craquelure: {root} has no images/ folder")
    pairs = []
    for img in sorted((root / "images").glob("*/*.jpg")):
        mask = root / "masks" / img.parent.name / (img.stem + ".png")
        if not mask.exists():
            continue
        held = _held_out(f"{img.parent.name}/{img.stem}")
        if split == "all" or (split == "val") == held:
            pairs.append(CrackPair(img, mask, img.parent.name))
    return pairs


def load_pair(pair: CrackPair) -> tuple[np.ndarray, np.ndarray]:
    """(h, w, 3) uint8 RGB close-up and (h, w) bool crack map."""
    bgr = cv2.imread(str(pair.image), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"craquelure: cannot read {pair.image}")
    mask = read_crack_map(pair.mask)
    if mask.shape != bgr.shape[:2]:
        mask = cv2.resize(mask.astype(np.uint8), (bgr.shape[1], bgr.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    return bgr[:, :, ::-1].copy(), mask

"""Handlers behind the preview app: simulate damage on an uploaded painting and fill it with a classical baseline.

Until the ArtRestore-Diffusion model is trained, the app shows only what exists: the damage simulator, the
classical baselines and the metrics. It never presents a baseline fill as an ArtRestore restoration.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .baselines import available_methods, get_method
from .bench.harness import score_outputs
from .damage import KINDS, DamageSample, DamageSimulator, type_map_to_rgb

MAX_WORK_SIDE = 1024
MAX_UPLOAD_MEGAPIXELS = 64.0


def prepare_painting(image: np.ndarray | None, work_side: int) -> np.ndarray:
    """Check an uploaded painting and resize it so its longer side is at most ``work_side``.

    Args:
        image: (h, w, 3) uint8 from the upload (None when nothing was uploaded).
        work_side: longest side of the working copy, 64..:data:`MAX_WORK_SIDE`.

    Returns:
        (h', w', 3) uint8 working copy.
    """
    if image is None:
        raise ValueError("image: upload a painting first")
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise ValueError(f"image: expected an 8-bit RGB picture, got shape {image.shape} {image.dtype}")
    if image.shape[0] * image.shape[1] / 1e6 > MAX_UPLOAD_MEGAPIXELS:
        raise ValueError(f"image: {image.shape[1]}x{image.shape[0]} is above the {MAX_UPLOAD_MEGAPIXELS:g} MP limit")
    if not 64 <= int(work_side) <= MAX_WORK_SIDE:
        raise ValueError(f"work_side: expected 64..{MAX_WORK_SIDE} px, got {work_side}")
    rgb = np.ascontiguousarray(image[:, :, :3])
    scale = int(work_side) / max(rgb.shape[:2])
    if scale < 1:
        size = (max(16, round(rgb.shape[1] * scale)), max(16, round(rgb.shape[0] * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    if min(rgb.shape[:2]) < 16:
        raise ValueError(f"image: {rgb.shape[1]}x{rgb.shape[0]} is too small (at least 16x16 px)")
    return rgb


def simulate(
    image: np.ndarray | None, kind: str, seed: int, work_side: int
) -> tuple[np.ndarray, np.ndarray, DamageSample, np.ndarray]:
    """Damage a working copy of the upload.

    Returns:
        (clean working copy, damaged image, the :class:`DamageSample`, colour-coded damage-type map).
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    clean = prepare_painting(image, work_side)
    sample = DamageSimulator().simulate(clean, kind, int(seed))
    return clean, sample.image, sample, type_map_to_rgb(sample.types, sample.fade)


def fill_with_baseline(
    clean: np.ndarray | None, sample: DamageSample | None, method: str
) -> tuple[np.ndarray, list[list]]:
    """Run a classical baseline on the simulated damage and score it against the clean painting.

    Returns:
        (the filled image, metric rows ``[[name, value], ...]``).
    """
    if clean is None or sample is None:
        raise ValueError("damage: simulate damage first")
    if method not in available_methods():
        raise ValueError(f"method: expected one of {', '.join(available_methods())}, got {method!r}")
    out = get_method(method).fn(sample.image, sample.mask, sample.fade)
    score = score_outputs(clean, sample, [out])[0]
    rows = [[k, round(v, 4) if isinstance(v, float) else v] for k, v in score.items()]
    return out, rows


def example_paintings(data_root: str | Path, limit: int = 4) -> list[str]:
    """A few validation paintings from the shared data (empty when the folder is absent)."""
    from .data import PaintingCollection, split_collection

    root = Path(data_root)
    if not root.is_dir():
        return []
    val = split_collection(PaintingCollection.scan(root), "val")
    return [str(r.path) for r in val.records[:: max(1, len(val) // limit)][:limit]]

"""Detection on a file: load, run the detector at full resolution, write the editable masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..config import DetectConfig
from ..damage.grid import type_map_to_rgb
from ..hub.damage_detection import DetectedDamage, decide, decision_settings, predict_tiled
from ..hub.detector import DamageDetector
from ..hub.settings import PipelineSettings
from ..io import load_image, save_png
from ..output_paths import check_outputs


def load_detector(path: str | Path) -> DamageDetector:
    """A saved :class:`DamageDetector` (its ``save_pretrained`` folder, or a model folder holding
    ``damage_detector/``), in eval mode."""
    if Path(path, "damage_detector", "config.json").exists():
        path = Path(path, "damage_detector")
    if not Path(path, "config.json").exists():
        raise ValueError(f"detector: no saved DamageDetector in {path} (nor in its damage_detector/ folder)")
    return DamageDetector.from_pretrained(str(path)).eval()


def detect_damage(
    model: DamageDetector,
    image: np.ndarray,
    tile: int = PipelineSettings.detector_tile,
    overlap: int = PipelineSettings.detector_overlap,
    damage_threshold: float | None = None,
    fade_threshold: float | None = None,
) -> DetectedDamage:
    """Detect damage in an (h, w, 3) uint8 painting of any size.

    Args:
        model: the detector.
        image: (h, w, 3) uint8 RGB.
        tile: tile side.
        overlap: tile overlap.
        damage_threshold: see :func:`~artrestore.hub.damage_detection.decide` (None: the detector's calibrated one).
        fade_threshold: see :func:`~artrestore.hub.damage_detection.decide` (None: the detector's calibrated one).

    Returns:
        The :class:`DetectedDamage` at the image's own size.
    """
    probs, fade = predict_tiled(model, image, tile, overlap)
    return decide(probs, fade, **decision_settings(model, damage_threshold, fade_threshold))


def detect_to_files(config: DetectConfig) -> list[Path]:
    """Run ``artrestore detect``: write the mask, the fade map and optionally the type map; return their paths."""
    torch.set_num_threads(config.threads)
    outputs = [config.out_mask, config.out_fade] + ([config.out_types] if config.out_types else [])
    check_outputs(outputs, inputs=[config.image], overwrite=config.overwrite, option="out_mask, out_fade, out_types")
    art = load_image(config.image)
    found = detect_damage(
        load_detector(config.detector),
        art.to_uint8(),
        config.tile,
        config.overlap,
        config.damage_threshold,
        config.fade_threshold,
    )
    written = [
        save_png(config.out_mask, found.mask.astype(np.uint8) * 255, protect=[config.image]),
        save_png(config.out_fade, np.round(found.fade * 255).astype(np.uint8), protect=[config.image]),
    ]
    if config.out_types:
        written.append(save_png(config.out_types, type_map_to_rgb(found.types, found.fade), protect=[config.image]))
    return written

"""Automatic damage detection: a small U-Net, tiled inference and classical crack detectors."""

from pipelines.damage_detection import DetectedDamage, decide, decision_settings, predict_tiled

from .classical import adaptive_cracks, tophat_cracks
from .detector import CLASSES, DamageDetector

__all__ = [
    "CLASSES",
    "DamageDetector",
    "DetectedDamage",
    "adaptive_cracks",
    "decide",
    "decision_settings",
    "predict_tiled",
    "tophat_cracks",
]

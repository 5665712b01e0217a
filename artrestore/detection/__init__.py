"""Automatic damage detection: a small U-Net, tiled inference and classical crack detectors."""

from ..hub.damage_detection import DetectedDamage, decide, decision_settings, predict_tiled
from ..hub.detector import CLASSES, DamageDetector
from .classical import adaptive_cracks, tophat_cracks

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

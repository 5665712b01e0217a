"""Automatic damage detection: a small U-Net, tiled inference and classical crack detectors."""

from .classical import adaptive_cracks, tophat_cracks
from .detector import CLASSES, DamageDetector
from .postprocess import DetectedDamage, decide
from .tiling import predict_tiled

__all__ = [
    "CLASSES",
    "DamageDetector",
    "DetectedDamage",
    "adaptive_cracks",
    "decide",
    "predict_tiled",
    "tophat_cracks",
]

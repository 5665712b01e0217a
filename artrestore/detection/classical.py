"""Classical crack detectors for comparison: morphological top-hat/black-hat and adaptive thresholding."""

from __future__ import annotations

import cv2
import numpy as np


def _gray(image: np.ndarray) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image: expected an (h, w, 3) uint8 array, got {image.shape} {image.dtype}")
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def tophat_cracks(image: np.ndarray, kernel: int = 9, quantile: float = 0.92) -> np.ndarray:
    """Thin dark or light lines: the stronger of the black-hat and white top-hat responses, thresholded.

    Args:
        image: (h, w, 3) uint8.
        kernel: structuring-element size; lines thinner than it respond.
        quantile: response quantile used as the threshold (Otsu is used when it is higher).

    Returns:
        (h, w) bool crack mask.
    """
    gray = _gray(image)
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
    response = np.maximum(cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, se), cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, se))
    otsu, _ = cv2.threshold(response, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    threshold = max(float(np.quantile(response, quantile)), float(otsu), 8.0)
    return response > threshold


def adaptive_cracks(image: np.ndarray, block: int = 15, offset: float = 12.0) -> np.ndarray:
    """Pixels much darker than their neighbourhood (Gaussian adaptive threshold), small specks removed.

    Args:
        image: (h, w, 3) uint8.
        block: neighbourhood size (odd).
        offset: how much darker than the local mean a crack pixel must be.

    Returns:
        (h, w) bool crack mask.
    """
    gray = _gray(image)
    dark = cv2.adaptiveThreshold(gray, 1, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY_INV, block | 1, offset)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= 8
    return keep[labels]

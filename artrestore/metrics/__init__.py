"""Metrics: pure functions on tensors. Images are (b, 3, h, w) in [0, 1]; masks (b, [1,] h, w)."""

from .color import delta_e2000, masked_delta_e, rgb_to_lab
from .dists import dists
from .lpips import lpips, lpips_map
from .pixel import masked_psnr, masked_ssim, ssim_map
from .seam import boundary_ring, seam_error
from .segmentation import boundary_f1, confusion_curve, f1, f1_curve, f1_from_counts, iou
from .untouched import untouched_changed

__all__ = [
    "boundary_f1",
    "boundary_ring",
    "delta_e2000",
    "dists",
    "f1",
    "confusion_curve",
    "f1_curve",
    "f1_from_counts",
    "iou",
    "lpips",
    "lpips_map",
    "masked_delta_e",
    "masked_psnr",
    "masked_ssim",
    "rgb_to_lab",
    "seam_error",
    "ssim_map",
    "untouched_changed",
]

"""Datasets: artist folders, the letterboxed style set, multi-scale crops and the train/validation split."""

from .crops import center_square, multiscale_random_crop
from .damaged_crops import DamagedCropDataset
from .paintings import PaintingCollection, PaintingRecord
from .split import split_collection, split_ids
from .wikiart import StyleRecord, letterbox_box, load_style_image, remove_letterbox, scan_style_set

__all__ = [
    "DamagedCropDataset",
    "PaintingCollection",
    "PaintingRecord",
    "StyleRecord",
    "center_square",
    "letterbox_box",
    "load_style_image",
    "multiscale_random_crop",
    "remove_letterbox",
    "scan_style_set",
    "split_collection",
    "split_ids",
]

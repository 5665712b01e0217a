"""Decoded, size-capped training images."""

from __future__ import annotations

import pytest

from artrestore.data import PaintingCollection
from artrestore.data.image_cache import ImageCache, load_training_image


def test_cap_and_decode_once(painting_folder):
    records = PaintingCollection.scan(painting_folder).records
    assert load_training_image(records[0], max_side=50).shape == (40, 50, 3)  # 80x100 shrunk to fit 50
    assert load_training_image(records[0]).shape == (80, 100, 3)  # small images are left alone
    cache = ImageCache(records)
    assert cache[3] is cache[3] and len(cache) == len(records)
    with pytest.raises(ValueError, match="no images"):
        ImageCache([])

"""Damaged multi-scale crops for training."""

from __future__ import annotations

import pytest
import torch

from artrestore.data import DamagedCropDataset, PaintingCollection


def test_items_are_tensors_with_consistent_damage(painting_folder):
    ds = DamagedCropDataset(PaintingCollection.scan(painting_folder), size=48, length=6, seed=1)
    item = ds[2]
    assert item["clean"].shape == (3, 48, 48) and item["mask"].shape == (1, 48, 48)
    assert item["types"].dtype == torch.long and 0 <= int(item["label"]) < 3
    touched = (item["mask"][0] > 0) | (item["fade"][0] > 0)
    changed = (item["damaged"] != item["clean"]).any(0)
    assert not (changed & ~touched).any()
    again = DamagedCropDataset(PaintingCollection.scan(painting_folder), size=48, length=6, seed=1)[2]
    assert torch.equal(item["damaged"], again["damaged"])


def test_rejects_unknown_kind(painting_folder):
    with pytest.raises(ValueError, match="kinds: unknown"):
        DamagedCropDataset(PaintingCollection.scan(painting_folder), kinds=["mould"])

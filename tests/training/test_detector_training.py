"""Detector training samples and loss."""

from __future__ import annotations

import pytest
import torch

from artrestore.data import PaintingCollection
from artrestore.data.craquelure_pairs import crack_pairs
from artrestore.detection import DamageDetector
from artrestore.training.detector import DetectorSamples, detector_loss


def test_synthetic_samples(painting_folder):
    ds = DetectorSamples(PaintingCollection.scan(painting_folder), [], crop=32, length=4, real_share=0.0)
    item = ds[1]
    assert item["image"].shape == (3, 32, 32) and item["classes"].shape == (32, 32)
    assert item["classes"].max() <= 3 and float(item["fade_weight"]) == 1.0
    assert torch.equal(ds[1]["image"], item["image"])


def test_loss_is_finite_and_differentiable(painting_folder):
    ds = DetectorSamples(PaintingCollection.scan(painting_folder), [], crop=32, length=4, real_share=0.0)
    batch = torch.utils.data.default_collate([ds[i] for i in range(4)])
    model = DamageDetector(channels=(4, 8))
    loss, logs = detector_loss(model, batch)
    loss.backward()
    assert torch.isfinite(loss) and set(logs) == {"ce", "dice", "fade_l1"}


def test_real_share_needs_pairs(painting_folder):
    with pytest.raises(ValueError, match="real"):
        DetectorSamples(PaintingCollection.scan(painting_folder), [], crop=32, length=4, real_share=0.5)


@pytest.mark.data
def test_real_pairs_held_out_by_file(shared_data):
    train = crack_pairs(shared_data / "craquelure", "train")
    val = crack_pairs(shared_data / "craquelure", "val")
    assert len(train) + len(val) == 600 and 90 <= len(val) <= 150
    assert not {p.image for p in train} & {p.image for p in val}
    ds = DetectorSamples(PaintingCollection.scan(shared_data / "paintings"), train, crop=64, length=8, real_share=1.0)
    item = ds[0]
    assert float(item["fade_weight"]) == 0.0 and set(item["classes"].unique().tolist()) <= {0, 1}

"""Detector training samples and loss."""

from __future__ import annotations

import pytest
import torch

from artrestore.config import DetectorTrainConfig
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
    weights = tuple(float(w) for w in DetectorTrainConfig().class_weights.split(","))
    loss, logs = detector_loss(model, batch, weights, DetectorTrainConfig().fade_loss)
    loss.backward()
    assert torch.isfinite(loss) and set(logs) == {"ce", "dice", "fade"}
    with pytest.raises(ValueError, match="fade_loss"):
        detector_loss(model, batch, weights, "l2")


def test_bce_fading_term_learns_the_mean_where_l1_learns_the_median(painting_folder):
    """Where one input is faded (strength 0.6) in a third of the samples and not faded otherwise, the L1 term is
    smallest for a prediction of 0 (the median), the BCE term for 0.2 (the mean): only BCE reports the fading."""
    ds = DetectorSamples(PaintingCollection.scan(painting_folder), [], crop=32, length=3, real_share=0.0)
    batch = torch.utils.data.default_collate([ds[i] for i in range(3)])
    batch["classes"] = torch.zeros_like(batch["classes"])
    batch["fade"] = torch.zeros_like(batch["fade"])
    batch["fade"][0] = 0.6

    class Constant(torch.nn.Module):
        def __init__(self, p: float) -> None:
            super().__init__()
            self.logit = torch.logit(torch.tensor(p))

        def forward(self, x):
            out = torch.zeros(x.shape[0], 5, *x.shape[-2:])
            out[:, 0] = 10.0  # confidently undamaged
            out[:, 4] = self.logit
            return out

    weights = (1.0, 1.0, 1.0, 1.0)
    strengths = [0.001, 0.1, 0.2, 0.3, 0.6]
    l1 = [detector_loss(Constant(p), batch, weights, "l1")[1]["fade"] for p in strengths]
    bce = [detector_loss(Constant(p), batch, weights, "bce")[1]["fade"] for p in strengths]
    assert strengths[l1.index(min(l1))] == 0.001 and strengths[bce.index(min(bce))] == 0.2


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

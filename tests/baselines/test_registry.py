"""The method registry and the classical baselines."""

from __future__ import annotations

import numpy as np
import pytest

from artrestore.baselines import available_methods, composite, get_method, register_method
from artrestore.damage import simulate_damage

from ..conftest import synthetic_painting

CLASSICAL = ["none", "telea", "ns", "biharmonic", "patchmatch", "patchmatch7", "gmic"]


def test_classical_baselines_registered():
    assert set(CLASSICAL) <= set(available_methods())


def test_patchmatch_patch_sizes_are_separate_methods():
    clean = synthetic_painting(96, 112)
    s = simulate_damage(clean, "large_loss", 1)
    outs = {n: get_method(n).fn(s.image, s.mask, s.fade) for n in ("patchmatch", "patchmatch5", "patchmatch11")}
    assert all(np.array_equal(o[~s.mask], s.image[~s.mask]) for o in outs.values())
    assert not np.array_equal(outs["patchmatch"], outs["patchmatch11"])  # the patch size is passed through
    assert "patch 11" in get_method("patchmatch11").description


def test_unknown_method_lists_known_ones():
    with pytest.raises(ValueError, match="unknown method 'lama'.*patchmatch"):
        get_method("lama")


def test_duplicate_name_refused():
    with pytest.raises(ValueError, match="already registered"):
        register_method("telea", "again")(lambda image, mask, fade: image)


@pytest.mark.parametrize("name", CLASSICAL)
@pytest.mark.parametrize("kind", ["crack", "large_loss", "mixed"])
def test_baselines_touch_only_the_mask(name, kind):
    clean = synthetic_painting(96, 112)
    s = simulate_damage(clean, kind, 0)
    out = get_method(name).fn(s.image, s.mask, s.fade)
    assert out.shape == clean.shape and out.dtype == np.uint8
    assert not ((out != s.image).any(2) & ~s.mask).any()


@pytest.mark.parametrize("name", CLASSICAL[1:])
def test_inpainting_improves_on_damage(name):
    clean = synthetic_painting(96, 112)
    s = simulate_damage(clean, "small_loss", 2)
    out = get_method(name).fn(s.image, s.mask, s.fade)
    err = lambda a: np.abs(a.astype(int) - clean)[s.mask].mean()  # noqa: E731
    assert err(out) < 0.5 * err(s.image)


def test_composite_keeps_outside_pixels():
    a, b = np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 200, np.uint8)
    region = np.zeros((4, 4), bool)
    region[1, 2] = True
    out = composite(b, a, region)
    assert out[1, 2, 0] == 200 and out.sum() == 600

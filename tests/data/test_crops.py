"""Multi-scale random crops."""

from __future__ import annotations

import numpy as np
import pytest

from artrestore.data import center_square, multiscale_random_crop

from ..conftest import synthetic_painting


def test_crop_size_and_determinism():
    img = synthetic_painting(300, 400)
    a, pa = multiscale_random_crop(img, 64, np.random.default_rng(3))
    b, pb = multiscale_random_crop(img, 64, np.random.default_rng(3))
    assert a.shape == (64, 64, 3) and np.array_equal(a, b) and pa == pb


def test_scales_span_composition_to_brushwork():
    img = synthetic_painting(300, 400)
    scales = [multiscale_random_crop(img, 64, np.random.default_rng(s))[1]["scale"] for s in range(200)]
    assert min(scales) == pytest.approx(64 / 300, rel=0.15) and max(scales) > 0.8
    assert np.median(scales) < 0.6, "log-uniform: half the crops below the geometric mean"


def test_native_scale_crop_is_exact_copy():
    img = synthetic_painting(100, 120)
    crop, p = multiscale_random_crop(img, 32, np.random.default_rng(0), min_scale=1.0, max_scale=1.0)
    assert p["scale"] == 1.0 and np.array_equal(crop, img[p["y"] : p["y"] + 32, p["x"] : p["x"] + 32])


def test_small_image_is_upscaled_to_cover_crop():
    crop, p = multiscale_random_crop(synthetic_painting(40, 50), 64, np.random.default_rng(0))
    assert crop.shape == (64, 64, 3) and p["scale"] >= 64 / 40


def test_center_square():
    assert center_square(synthetic_painting(100, 300), 50).shape == (50, 50, 3)

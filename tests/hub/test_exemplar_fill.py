"""The exemplar fill: PatchMatch on a window around the holes."""

from __future__ import annotations

import numpy as np
import pytest

from artrestore.hub.exemplar_fill import fill_window, patchmatch_available, patchmatch_fill

from ..conftest import synthetic_painting


def test_the_window_grows_the_holes_box_by_its_size_and_stops_at_the_border():
    mask = np.zeros((1000, 800), bool)
    mask[400:420, 300:360] = True  # 20 x 60 px
    rows, cols = fill_window(mask, min_margin=100)
    assert (rows.start, rows.stop, cols.start, cols.stop) == (300, 520, 200, 460)
    rows, cols = fill_window(mask, min_margin=10)  # the box's own longer side (60) wins
    assert (rows.start, rows.stop, cols.start, cols.stop) == (340, 480, 240, 420)
    rows, cols = fill_window(mask, min_margin=5000)
    assert (rows.start, rows.stop, cols.start, cols.stop) == (0, 1000, 0, 800)


@pytest.mark.skipif(not patchmatch_available(), reason="pypatchmatch is not installed")
def test_only_the_holes_change_and_the_fill_is_deterministic():
    image = synthetic_painting(160, 200, seed=4)
    mask = np.zeros((160, 200), bool)
    mask[60:90, 80:130] = True
    spoiled = image.copy()
    spoiled[mask] = 255  # hole pixels are never read
    a = patchmatch_fill(spoiled, mask, min_margin=32)
    assert np.array_equal(a[~mask], image[~mask]) and np.array_equal(a, patchmatch_fill(image, mask, min_margin=32))
    assert np.abs(a[mask].astype(int) - image[mask]).mean() < 40  # texture from around the hole, not white
    whole = patchmatch_fill(image, mask, min_margin=None)
    assert np.array_equal(whole[~mask], image[~mask])
    assert np.array_equal(patchmatch_fill(image, np.zeros_like(mask)), image)

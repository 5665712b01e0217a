"""Every ablation variant is a real change: it changes the restoration of the tiny model."""

from __future__ import annotations

import numpy as np
import pytest

from artrestore.bench.ablation import ABLATIONS, ablated
from artrestore.bench.model_method import _ablation_fn, wrong_artist
from artrestore.restore import restore_artwork
from tests.pipelines.conftest import ARTISTS, build_tiny_pipeline


@pytest.fixture(scope="module")
def pipe():
    p = build_tiny_pipeline(varnish=True)
    p.set_progress_bar_config(disable=True)
    return p


def _case():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)
    mask = np.zeros((64, 80), bool)
    mask[10:40, 10:40] = True
    fade = np.zeros((64, 80), np.float32)
    fade[40:60, 45:75] = 0.7
    return img, mask, fade


def _run(pipe, name):
    fn = _ablation_fn(pipe, name, pipe.scheduler, None, "none", 1.0, restore_artwork, ablated)
    img, mask, fade = _case()
    return fn(img, mask, fade, artist=ARTISTS[0])


def test_at_least_eleven_variants_besides_full():
    assert len([n for n in ABLATIONS if n != "full"]) >= 11


@pytest.mark.parametrize("name", [n for n in ABLATIONS if n != "full"])
def test_variant_changes_the_output(pipe, name):
    full = _run(pipe, "full")
    variant = _run(pipe, name)
    assert variant.shape == full.shape
    assert np.abs(variant.astype(int) - full.astype(int)).sum() > 0, f"{name} changes nothing"
    again = _run(pipe, "full")  # the change is undone after the variant
    np.testing.assert_array_equal(again, full)


def test_only_no_compositing_touches_undamaged_pixels(pipe):
    img, mask, fade = _case()
    untouched = ~(mask | (fade > 0))
    for name in ("full", "no_film", "no_compositing"):
        out = _run(pipe, name)
        changed = (out != img).any(-1) & untouched
        assert changed.any() == (name == "no_compositing")


def test_wrong_artist_is_another_bank_artist(pipe):
    assert wrong_artist(pipe, ARTISTS[0]) == ARTISTS[1]


def test_unknown_variant_is_rejected(pipe):
    with pytest.raises(ValueError, match="ablation"):
        with ablated(pipe, "no_such_thing"):
            pass

"""Detection inside the pipeline: ``pipe.detect_damage`` and ``pipe(..., detect=True)`` (tiny detector)."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch

from artrestore.damage import DamageType as LibraryDamageType
from artrestore.hub.damage_detection import DamageType

from .conftest import ARTISTS, build_tiny_pipeline


def _detector_says(pipe, damaged: bool) -> None:
    """Make the tiny detector answer "paint loss everywhere" (damaged) or "nothing" through its output bias."""
    head = pipe.damage_detector.head
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor([-5.0, -5.0, -5.0, 5.0, -5.0] if damaged else [5.0, -5.0, -5.0, -5.0, -5.0]))


@pytest.fixture
def pipe():
    p = build_tiny_pipeline(detector=True)
    p.set_progress_bar_config(disable=True)
    return p


def _image(h=40, w=56):
    return PIL.Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8))


def test_one_definition_of_the_type_codes():
    assert LibraryDamageType is DamageType and [int(t) for t in DamageType] == [0, 1, 2, 3, 4]


def test_detect_damage_returns_pipeline_ready_maps(pipe):
    _detector_says(pipe, damaged=True)
    found = pipe.detect_damage([_image(), _image(30, 20)])
    assert [f.mask.shape for f in found] == [(40, 56), (30, 20)]
    assert found[0].mask.all() and (found[0].types == DamageType.LOSS).all()
    assert found[0].mask_image().mode == "L" and found[0].fade_map().mode == "L"
    assert np.asarray(found[0].mask_image()).min() == 255 and np.asarray(found[0].fade_map()).max() == 0


def test_detect_damage_uses_the_detectors_calibrated_decisions(pipe):
    head = pipe.damage_detector.head
    with torch.no_grad():  # p(none) = p(crack) = p(scratch) = p(loss) = 0.25 everywhere, fade 0.5
        head.weight.zero_()
        head.bias.zero_()
    assert pipe.detect_damage(_image())[0].mask.all()  # default threshold 0.5 < p(damage) = 0.75
    pipe.damage_detector.register_to_config(damage_threshold=0.8, fade_threshold=0.6, type_weights=(1.0, 2.0, 1.0))
    strict = pipe.detect_damage(_image())[0]
    assert not strict.mask.any() and not (strict.fade > 0).any()  # both calibrated thresholds apply
    loose = pipe.detect_damage(_image(), damage_threshold=0.5, fade_threshold=0.4)[0]  # explicit values win
    assert loose.mask.all() and (loose.fade > 0).all() and (loose.types == DamageType.SCRATCH).all()


def test_restore_with_detected_masks(pipe):
    _detector_says(pipe, damaged=True)
    img = _image()
    # the detector marks every pixel, so no style can be inferred: the artist is named
    out = pipe(img, detect=True, artist=ARTISTS[0], generator=torch.Generator().manual_seed(0))
    d = out.records[0]
    assert d.mask_source == "detected" and d.fade_source is None
    assert np.asarray(d.mask_image).min() == 255  # the mask that was used is returned
    assert (np.asarray(out.images[0]) != np.asarray(img)).any()


def test_detected_damage_covering_everything_asks_for_an_artist(pipe):
    _detector_says(pipe, damaged=True)
    with pytest.raises(ValueError, match="artist: image 0 has no undamaged pixel"):
        pipe(_image(), detect=True)


def test_detect_errors(pipe):
    _detector_says(pipe, damaged=False)
    with pytest.raises(ValueError, match="detector found no damage"):
        pipe(_image(), detect=True)
    mask = PIL.Image.fromarray(np.full((40, 56), 255, np.uint8))
    with pytest.raises(ValueError, match="detect: pass either"):
        pipe(_image(), mask_image=mask, detect=True)
    no_detector = build_tiny_pipeline()
    with pytest.raises(ValueError, match="no damage_detector"):
        no_detector.detect_damage(_image())
    with pytest.raises(ValueError, match="image"):
        pipe.detect_damage(_image().convert("L"))


def test_decisions_in_row_strips_equal_the_whole_image(monkeypatch):
    """The full-resolution decisions run in row strips (flat memory on huge scans) with exactly the same result."""
    from artrestore.hub import damage_detection as dd

    rng = np.random.default_rng(3)
    h, w = 203, 157
    damaged = rng.random((h, w)) < 0.5
    damaged[40:120, 30:90] = True  # compact damage that the vote acts on
    probs = rng.random((h, w, 4)).astype(np.float32)
    probs[..., 0] = np.where(damaged, 0.05, 0.95)
    fade = rng.random((h, w)).astype(np.float32)
    monkeypatch.setattr(dd, "STRIP_ROWS", 10**6)
    whole = dd.decide(probs, fade, 0.5, 0.3, (1.2, 4.0, 1.0), 31)
    opened = dd.binary_opening(damaged, 3)
    monkeypatch.setattr(dd, "STRIP_ROWS", 17)
    strips = dd.decide(probs, fade, 0.5, 0.3, (1.2, 4.0, 1.0), 31)
    np.testing.assert_array_equal(dd.binary_opening(damaged, 3), opened)
    np.testing.assert_array_equal(strips.types, whole.types)
    np.testing.assert_array_equal(strips.mask, whole.mask)

"""precision: bfloat16 autocast where the device has it in hardware, float32 elsewhere, and what it costs."""

from __future__ import annotations

import contextlib

import pytest
import torch

from artrestore.hub import precision
from artrestore.hub.exemplar_refiner import ExemplarRefiner

from .test_exemplar_refiner import _inputs

CPU = torch.device("cpu")


def test_auto_follows_the_device_and_bad_names_are_refused(monkeypatch):
    with pytest.raises(ValueError, match="refiner_precision: expected one of .*'float32'"):
        precision.check_precision("half", "refiner_precision")
    with pytest.raises(ValueError, match="precision: expected one of"):
        precision.precision_autocast("half", CPU)
    assert isinstance(precision.precision_autocast("float32", CPU), contextlib.nullcontext)
    assert isinstance(precision.precision_autocast("bfloat16", CPU), torch.autocast)
    assert precision.native_bfloat16(torch.device("meta")) is False
    for native, kind in ((False, contextlib.nullcontext), (True, torch.autocast)):
        monkeypatch.setattr(precision, "native_bfloat16", lambda device, native=native: native)
        assert isinstance(precision.precision_autocast("auto", CPU), kind)


def test_a_bfloat16_refiner_stays_close_and_leaves_pixels_outside_the_hole_exact():
    torch.manual_seed(0)
    refiner = ExemplarRefiner(channels=(8, 16), style_dim=4, dilations=(2,)).eval()
    for p in refiner.parameters():  # a stand-in for a trained refiner
        p.data.normal_(0, 0.05)
    exemplar, image, mask = _inputs(4, 48)
    style = torch.randn(2, 4, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        full = refiner(exemplar, image, mask, style)
        with precision.precision_autocast("bfloat16", CPU):
            half = refiner(exemplar, image, mask, style)
    keep = mask.expand_as(image) == 0
    assert half.dtype == torch.float32 and torch.equal(half[keep], image[keep])
    assert not torch.equal(half, full)  # the autocast took effect
    assert (half - full).abs().max() < 0.05 * (full - exemplar).abs().max()  # bfloat16 keeps 8 significant bits

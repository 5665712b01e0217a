"""Classical crack detectors."""

from __future__ import annotations

import numpy as np
import pytest

from artrestore.damage import simulate_damage
from artrestore.detection import adaptive_cracks, tophat_cracks
from artrestore.metrics import f1

from ..conftest import synthetic_painting


@pytest.mark.parametrize("detector", [tophat_cracks, adaptive_cracks])
def test_finds_dark_cracks_better_than_chance(detector):
    import torch

    clean = synthetic_painting(192, 192)
    s = simulate_damage(clean, "crack", 1)
    found = detector(s.image)
    score = float(f1(torch.from_numpy(found)[None], torch.from_numpy(s.mask)[None]))
    chance = float(
        f1(
            torch.from_numpy(np.random.default_rng(0).random(s.mask.shape) < found.mean())[None],
            torch.from_numpy(s.mask)[None],
        )
    )
    assert found.shape == s.mask.shape and score > chance + 0.1


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="image"):
        tophat_cracks(np.zeros((8, 8), np.uint8))

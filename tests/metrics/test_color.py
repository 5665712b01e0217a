"""CIEDE2000 against Sharma et al.'s published test pairs and scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.color import deltaE_ciede2000, rgb2lab

from artrestore.metrics import delta_e2000, masked_delta_e, rgb_to_lab
from artrestore.metrics.color import ciede2000_lab

# (L1, a1, b1, L2, a2, b2, dE00) from Sharma, Wu & Dalal (2005), Table 1.
SHARMA = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


@pytest.mark.parametrize("row", SHARMA)
def test_sharma_pairs(row):
    lab1 = torch.tensor(row[:3], dtype=torch.float64).view(1, 3, 1, 1)
    lab2 = torch.tensor(row[3:6], dtype=torch.float64).view(1, 3, 1, 1)
    assert float(ciede2000_lab(lab1, lab2)) == pytest.approx(row[6], abs=1e-4)


def test_rgb_pipeline_matches_scikit_image():
    torch.manual_seed(0)
    x, y = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    ours = delta_e2000(x, y)[0].numpy()
    ref = deltaE_ciede2000(rgb2lab(x[0].permute(1, 2, 0).numpy()), rgb2lab(y[0].permute(1, 2, 0).numpy()))
    assert np.abs(ours - ref).max() < 1e-2
    assert np.abs(rgb_to_lab(x)[0].permute(1, 2, 0).numpy() - rgb2lab(x[0].permute(1, 2, 0).numpy())).max() < 1e-2


def test_masked_mean():
    x = torch.zeros(1, 3, 4, 4)
    y = x.clone()
    y[..., 0, 0] = 1.0
    m = torch.zeros(1, 4, 4)
    m[0, 0, 0] = 1
    assert float(masked_delta_e(x, y, m)) == pytest.approx(100.0, abs=0.5)  # black vs white
    assert float(masked_delta_e(x, y, 1 - m)) == 0.0

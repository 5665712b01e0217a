"""Masked PSNR and SSIM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from artrestore.metrics import masked_psnr, masked_ssim


def test_masked_psnr_counts_only_the_mask():
    x = torch.zeros(1, 3, 10, 10)
    y = x.clone()
    y[..., :5, :] = 0.1  # error only in the top half
    top = torch.zeros(1, 1, 10, 10)
    top[..., :5, :] = 1
    assert float(masked_psnr(x, y, top)) == pytest.approx(20.0, abs=1e-4)
    assert torch.isinf(masked_psnr(x, y, 1 - top)).all()
    assert float(masked_psnr(x, y)) == pytest.approx(10 * np.log10(1 / 0.005), abs=1e-3)


def test_ssim_matches_scikit_image():
    torch.manual_seed(1)
    x = torch.rand(1, 3, 48, 48)
    y = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    ours = float(masked_ssim(x, y))
    ref = structural_similarity(
        x[0].permute(1, 2, 0).numpy(),
        y[0].permute(1, 2, 0).numpy(),
        channel_axis=2,
        data_range=1.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    assert ours == pytest.approx(ref, abs=0.01)  # borders differ (reflect padding vs crop)


def test_mask_shape_is_validated():
    with pytest.raises(ValueError, match="mask"):
        masked_psnr(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8), torch.ones(1, 1, 8, 8))

"""Spatial bands: the Gaussian blur and the swap of one band of a hole for the ground truth's."""

from __future__ import annotations

import pytest
import torch

from artrestore.metrics.bands import gaussian_blur, swap_band


def _pair(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    restored, clean = torch.rand(2, 3, 40, 48, generator=g), torch.rand(2, 3, 40, 48, generator=g)
    mask = torch.zeros(2, 1, 40, 48)
    mask[:, :, 10:30, 12:36] = 1
    return restored, clean, mask


def test_blur_keeps_constants_and_sums_and_smooths_noise():
    flat = torch.full((1, 3, 20, 30), 0.3)
    assert torch.allclose(gaussian_blur(flat, 2.0), flat, atol=1e-6)
    noise = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(1))
    blurred = gaussian_blur(noise, 3.0)
    assert blurred.std() < 0.3 * noise.std() and abs(blurred.mean() - noise.mean()) < 0.01
    with pytest.raises(ValueError, match="sigma"):
        gaussian_blur(flat, 0.0)


def test_the_two_swaps_add_up_and_change_only_the_hole():
    restored, clean, mask = _pair()
    for sigma in (1.0, 4.0, 100.0):  # 100 px: the kernel stops at the border
        layout = swap_band(restored, clean, mask, sigma, band="layout")
        detail = swap_band(restored, clean, mask, sigma, band="detail")
        outside = mask == 0
        assert torch.equal(
            layout.expand_as(restored)[outside.expand_as(restored)], restored[outside.expand_as(restored)]
        )
        assert torch.equal(detail[outside.expand_as(restored)], restored[outside.expand_as(restored)])
        # before clamping, layout + detail = restored + clean inside the hole
        low_r, low_c = gaussian_blur(restored, sigma), gaussian_blur(clean, sigma)
        raw = (restored - low_r + low_c) + (low_r + clean - low_c)
        assert torch.allclose(raw, restored + clean, atol=1e-5)
    # the truth's own bands give the truth back, whatever the scale
    for band in ("layout", "detail"):
        same = swap_band(clean, clean, mask, 3.0, band=band)
        assert torch.allclose(same, clean, atol=1e-5)


def test_fine_scale_detail_is_almost_the_truth_and_coarse_layout_almost_the_restoration():
    restored, clean, mask = _pair(2)
    hole = mask.expand_as(restored) > 0
    near_truth = swap_band(restored, clean, mask, 0.3, band="layout")  # sigma 0.3: the "layout" is everything
    assert (near_truth[hole] - clean[hole]).abs().mean() < 0.02
    far = swap_band(restored, clean, mask, 0.3, band="detail")  # and the "detail" almost nothing
    assert (far[hole] - restored[hole]).abs().mean() < 0.02


def test_swap_rejects_bad_bands_and_shapes():
    restored, clean, mask = _pair()
    with pytest.raises(ValueError, match="band"):
        swap_band(restored, clean, mask, 2.0, band="texture")
    with pytest.raises(ValueError, match="restored, clean, mask"):
        swap_band(restored, clean[:, :, :-1], mask, 2.0, band="layout")
    with pytest.raises(ValueError, match="restored, clean, mask"):
        swap_band(restored, clean, mask[:, :, :-1], 2.0, band="detail")

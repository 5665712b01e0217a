from __future__ import annotations

import numpy as np
import pytest
import torch

from artrestore.hub.masked_fill import harmonic_fill
from artrestore.hub.membrane_layout import blend_membrane_layout, gaussian_blur, membrane_image


def _painting(h: int = 96, w: int = 96) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    ramp = np.stack([xx * 2, yy * 2, 255 - xx - yy], -1)  # smooth colours a membrane continues exactly
    return np.clip(ramp, 0, 255).astype(np.uint8)


def _hole(h: int = 96, w: int = 96) -> np.ndarray:
    hole = np.zeros((h, w), bool)
    hole[30:66, 24:70] = True
    return hole


def test_harmonic_fill_continues_a_linear_ramp_and_a_flat_border_exactly():
    image = torch.from_numpy(_painting()).permute(2, 0, 1)[None].float() / 255
    hole = torch.from_numpy(_hole())[None, None].float()
    filled = harmonic_fill(image, hole, max_iterations=2000)
    assert torch.allclose(filled, image, atol=2e-3)  # a linear ramp is harmonic
    flat = torch.full((1, 3, 40, 40), 0.3)
    edge = torch.zeros(1, 1, 40, 40)
    edge[..., 10:30, :12] = 1  # touches the image border: nothing beyond it may pull the fill
    assert torch.allclose(harmonic_fill(flat, edge, max_iterations=2000), flat, atol=1e-5)


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_the_fills_layout_moves_towards_the_membrane_and_its_detail_stays(scale):
    clean, hole = _painting(), _hole()
    fill = clean.astype(np.int16)
    fill[hole] += 60  # a layout error: the fill is too bright
    checker = ((np.indices(hole.shape).sum(0) % 2) * 40 - 20)[..., None]  # detail: a 1 px checkerboard
    fill = np.clip(fill + np.where(hole[..., None], checker, 0), 0, 255).astype(np.uint8)
    out = blend_membrane_layout(fill, hole, sigma=8, weight=1.0, scale=scale)
    assert np.array_equal(out[~hole], fill[~hole])  # only the hole changes
    inner = np.zeros_like(hole)
    inner[40:56, 34:60] = True  # away from the border, where the low-pass is all membrane
    error = np.abs(out[inner].astype(float) - clean[inner] - np.where(hole[..., None], checker, 0)[inner]).mean()
    assert error < 12  # the +60 layout error is mostly gone
    blurred = gaussian_blur(torch.from_numpy(out).permute(2, 0, 1)[None].float(), 1)[0].permute(1, 2, 0).numpy()
    detail = out[inner].astype(float) - blurred[inner]
    assert np.abs(detail).mean() > 10  # the checkerboard is still there


@pytest.mark.parametrize("offset", [0, 1, 2, 3])
def test_at_a_reduced_size_the_membrane_still_meets_the_holes_own_border(offset):
    """A loss outlined by a 2 px dark line: the reduced grid must keep the outline as the membrane's border, not the
    paint a few pixels further out (which a reduced pixel holding any hole pixel, counted as unknown, would give)."""
    image = _painting()
    hole = np.zeros((96, 96), bool)
    hole[29 + offset : 67, 23 + offset : 70] = True  # not aligned to the 4 px grid
    outline = np.zeros_like(hole)
    outline[27 + offset : 69, 21 + offset : 72] = True
    image[outline & ~hole] = (20, 20, 20)
    fill = image.copy()
    fill[hole] = (200, 200, 200)
    full = blend_membrane_layout(fill, hole, sigma=8, weight=1.0, scale=1).astype(float)
    quarter = blend_membrane_layout(fill, hole, sigma=8, weight=1.0, scale=4).astype(float)
    assert np.abs(quarter - full)[hole].mean() < 12  # 58-66 grey levels with the border moved outwards


def test_weight_zero_or_no_hole_leaves_the_image_as_it_is():
    fill, hole = _painting(), _hole()
    assert np.array_equal(blend_membrane_layout(fill, hole, sigma=8, weight=0.0), fill)
    assert np.array_equal(blend_membrane_layout(fill, np.zeros_like(hole), sigma=8, weight=0.5), fill)
    half = blend_membrane_layout(fill, hole, sigma=8, weight=0.5)
    assert np.abs(half.astype(int) - fill).max() <= 2  # a smooth painting is its own membrane


def test_parts_narrower_than_the_layout_scale_keep_their_fill():
    fill, hole = _painting(), _hole()
    stroke = np.zeros_like(hole)
    stroke[10:20, 5:90] = True  # 10 px wide: no 16 px square fits
    fill = fill.copy()
    fill[hole | stroke] = (250, 0, 0)
    out = blend_membrane_layout(fill, hole | stroke, sigma=8, weight=1.0)
    assert np.array_equal(out[stroke], fill[stroke]) and (out[hole] != fill[hole]).any()
    assert np.array_equal(blend_membrane_layout(fill, stroke, sigma=8, weight=1.0), fill)


def test_gaussian_blur_keeps_a_constant_away_from_the_border_and_its_mass():
    x = torch.zeros(1, 1, 41, 41)
    x[..., 20, 20] = 1
    y = gaussian_blur(x, 3.0)
    assert torch.isclose(y.sum(), torch.tensor(1.0), atol=1e-5) and y[..., 20, 20] == y.max()
    assert torch.equal(gaussian_blur(x, 0.0), x)


def test_membrane_image_keeps_the_known_pixels_and_continues_the_border_into_the_hole():
    clean = torch.from_numpy(_painting()).permute(2, 0, 1)[None].float() / 255  # (1, 3, 96, 96) a linear ramp
    hole = torch.from_numpy(_hole())[None, None].float()
    image = clean * (1 - hole) + torch.rand(1, 3, 96, 96) * hole  # the hole's values must not be read
    image = torch.cat([image, torch.rand(1, 3, 96, 96)])  # a second painting with nothing undamaged
    holes = torch.cat([hole, torch.ones(1, 1, 96, 96)])
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the solve stays in float32 under autocast
        out = membrane_image(image, holes)
    assert out.dtype == torch.float32 and out.shape == image.shape
    assert torch.equal(out[0][:, hole[0, 0] == 0], image[0][:, hole[0, 0] == 0])
    assert (out[0] - clean[0]).abs().max() < 0.02  # a ramp is harmonic: the membrane is the ramp itself
    assert torch.equal(out[1], torch.full_like(out[1], 0.5))  # no border to continue: mid-grey

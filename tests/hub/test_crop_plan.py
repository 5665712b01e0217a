"""Tiles around the damage and the mask-only blending (the basis of 'untouched pixels stay identical')."""

from __future__ import annotations

import numpy as np
import pytest

from artrestore.hub.crop_plan import TileBlender, feather_window, plan_tiles


def test_tiles_cover_every_damaged_pixel_with_context():
    rng = np.random.default_rng(0)
    damage = np.zeros((1017, 1531), bool)
    damage[rng.integers(0, 1017, 40), rng.integers(0, 1531, 40)] = True
    damage[300:700, 200:900] = True  # large loss: several overlapping tiles
    tiles = plan_tiles(damage, tile=256, core=192)
    cover = np.zeros_like(damage)
    for t in tiles:
        assert 0 <= t.y0 <= 1017 - 256 and 0 <= t.x0 <= 1531 - 256
        cover[t.slices] = True
    assert cover[damage].all()
    assert len(tiles) < (1017 // 192 + 1) * (1531 // 192 + 1)  # undamaged cells get no tile


def test_no_damage_no_tiles():
    assert plan_tiles(np.zeros((100, 100), bool), 64, 48) == []
    with pytest.raises(ValueError, match="core"):
        plan_tiles(np.zeros((10, 10), bool), 64, 80)


def test_small_image_gets_one_padded_tile():
    damage = np.zeros((40, 50), bool)
    damage[10, 10] = True
    assert [(t.y0, t.x0, t.size) for t in plan_tiles(damage, 64, 48)] == [(0, 0, 64)]


def test_window_is_positive_and_peaks_in_the_middle():
    w = feather_window(64, 16)
    assert w.min() > 0 and w[32, 32] == 1 and w[0, 0] < w[8, 8] < w[20, 20]


@pytest.mark.parametrize("shape", [(1017, 1531), (3000, 4000)])
def test_blending_writes_only_inside_the_region(shape):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    region = np.zeros(shape, bool)
    region[100:400, 150:700] = True
    region[rng.integers(0, shape[0], 200), rng.integers(0, shape[1], 200)] = True
    blender = TileBlender(image, region, ramp=32)
    for t in plan_tiles(region, 256, 192):
        blender.add(t, np.full((256, 256, 3), 17.0))
    out = blender.result()
    assert np.array_equal(out[~region], image[~region])
    assert (out[region] == 17).all()


def test_overlapping_tiles_blend_smoothly():
    image = np.zeros((64, 128, 1), np.float32)
    region = np.ones((64, 128), bool)
    blender = TileBlender(image, region, ramp=16)
    from artrestore.hub.crop_plan import Tile

    blender.add(Tile(0, 0, 80), np.zeros((80, 80, 1)))
    blender.add(Tile(0, 48, 80), np.ones((80, 80, 1)))
    row = blender.result()[32, :, 0]
    assert row[10] == 0 and row[120] == 1 and np.all(np.diff(row) >= -1e-6)  # monotone ramp across the overlap


def test_uncovered_damage_is_an_error():
    blender = TileBlender(np.zeros((8, 8, 3), np.uint8), np.ones((8, 8), bool), 2)
    with pytest.raises(RuntimeError, match="not covered"):
        blender.result()


def _dense_blend(image, region, tiles, outputs, ramp):
    """The blend with full-size sums (the definition the chunked blender must equal)."""
    h, w = image.shape[:2]
    acc, weight = np.zeros(image.shape, np.float64), np.zeros((h, w), np.float64)
    for t, o in zip(tiles, outputs):
        win = feather_window(t.size, ramp)
        y1, x1 = min(t.y0 + t.size, h), min(t.x0 + t.size, w)
        acc[t.y0 : y1, t.x0 : x1] += o[: y1 - t.y0, : x1 - t.x0] * win[: y1 - t.y0, : x1 - t.x0, None]
        weight[t.y0 : y1, t.x0 : x1] += win[: y1 - t.y0, : x1 - t.x0]
    out = image.copy()
    out[region] = np.clip(np.round(acc[region] / weight[region][:, None]), 0, 255).astype(np.uint8)
    return out


@pytest.mark.parametrize("chunk", [64, 100, 512])
def test_chunked_sums_equal_full_size_sums(chunk):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (300, 421, 3), dtype=np.uint8)
    region = np.zeros((300, 421), bool)
    region[20:140, 30:260] = True
    region[250:, 390:] = True  # a corner: tiles clamped at the border
    tiles = plan_tiles(region, tile=128, core=96)
    outputs = [rng.uniform(0, 255, (128, 128, 3)) for _ in tiles]
    blender = TileBlender(image, region, ramp=16, chunk=chunk)
    for t, o in zip(tiles, outputs):
        blender.add(t, o)
    np.testing.assert_array_equal(blender.result(), _dense_blend(image, region, tiles, outputs, 16))


def test_memory_follows_the_damage_not_the_painting():
    image = np.zeros((6000, 9000, 3), np.uint8)  # a 54 MP scan with one small loss
    region = np.zeros((6000, 9000), bool)
    region[3000:3100, 4000:4200] = True
    blender = TileBlender(image, region, ramp=16)
    for t in plan_tiles(region, tile=256, core=192):
        blender.add(t, np.full((256, 256, 3), 7.0))
    held = sum(a.nbytes + w.nbytes for a, w in blender._chunks.values())
    assert held <= 4 * 512 * 512 * 4 * 8  # at most four 512 px chunks, against 1.7 GB for full-size sums
    out = blender.result()
    assert (out[region] == 7).all() and not out[~region].any()

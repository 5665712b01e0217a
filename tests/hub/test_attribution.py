"""Block-wise attribution recorded through hooks on the denoiser's cross-attention (tiny model)."""

from __future__ import annotations

import json

import numpy as np
import PIL.Image
import pytest
import torch

from artrestore.hub.attribution import AttributionRecorder, BlockAttribution

from .conftest import ARTISTS, build_tiny_pipeline


def _case(size=(96, 80), box=(20, 60, 10, 50)):
    rng = np.random.default_rng(0)
    img = PIL.Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    m = np.zeros((size[1], size[0]), np.uint8)
    y0, y1, x0, x1 = box
    m[y0:y1, x0:x1] = 255
    return img, PIL.Image.fromarray(m), m > 0


def test_attribution_maps_cover_the_restored_blocks(tiny_pipe):
    img, mask, region = _case()
    out = tiny_pipe(img, mask, artist=ARTISTS[0], generator=torch.Generator().manual_seed(0))
    att = out.attributions[0]
    assert isinstance(att, BlockAttribution)
    b = att.block_size
    expected = np.zeros(att.source.shape, bool)
    ys, xs = np.nonzero(region)
    expected[ys // b, xs // b] = True
    np.testing.assert_array_equal(att.restored, expected)
    assert (att.source[~expected] == -1).all() and (att.source[expected] >= 0).all()
    retrieved = set(out.records[0].retrieved)
    assert set(att.source[expected].tolist()) <= retrieved
    # per block, the shares over sources sum to 1 and the top share is the largest
    sums = att.shares.sum(0)
    np.testing.assert_allclose(sums[expected], 1.0, rtol=1e-6)
    np.testing.assert_allclose(att.share[expected], att.shares.max(0)[expected], rtol=1e-6)
    assert ((att.retrieval_mass[expected] > 0) & (att.retrieval_mass[expected] < 1)).all()
    shares = [s.share for s in att.top_sources]
    assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 1 + 1e-6
    for s in att.top_sources:
        assert s.row in retrieved and s.artist == ARTISTS[0]  # filter retrieval: only the artist's patches
        assert isinstance(s.thumbnail, PIL.Image.Image)
    json.dumps(att.to_json())


def test_overlay_tints_only_the_restored_region(tiny_pipe):
    img, mask, region = _case()
    out = tiny_pipe(img, mask, artist=ARTISTS[0], generator=torch.Generator().manual_seed(0))
    overlay = np.asarray(out.attributions[0].overlay).astype(int)
    restored = np.asarray(out.images[0]).astype(int)
    assert overlay.shape == restored.shape
    assert np.abs(overlay - restored)[region].mean() > 5  # tinted
    np.testing.assert_allclose(overlay[~region], np.round(restored[~region] * 0.6), atol=1)  # dimmed, not tinted


def _token_contributions(module, tokens):
    """(heads, n) size of each token's per-head output, computed token by token."""
    c = module.out.weight.shape[0]
    d = c // module.heads
    v = module.kv(tokens)[:, c:]  # (n, c)
    rows = []
    for h in range(module.heads):
        w = module.out.weight[:, h * d : (h + 1) * d]  # (c, d)
        rows.append(torch.stack([(w @ v[j, h * d : (h + 1) * d]).norm() for j in range(v.shape[0])]))
    return torch.stack(rows)


@pytest.mark.parametrize(
    ("cells", "weighting", "routing"), [(1, "attention", 0), (1, "value", 0), (4, "value", 0), (4, "attention", 1)]
)
def test_attribution_is_the_recorded_attention(tiny_pipe, cells, weighting, routing):
    """Per source, the attributed mass is the retrieved-token attention of every layer, head and step (weighted by
    the size of each token's output through the head, or not), summed over the restored pixels and over the
    source's cell tokens (recomputed here from the attention probabilities; with routing, the routed ones)."""
    if cells > 1 or weighting != tiny_pipe.config.attribution_weighting or routing:
        tiny_pipe = build_tiny_pipeline(retrieval_cells=cells, retrieval_routing=routing)
        tiny_pipe.register_to_config(attribution_weighting=weighting)
        tiny_pipe.set_progress_bar_config(disable=True)
    img, mask, region = _case(size=(64, 64), box=(16, 48, 16, 48))  # one 64 px tile at (0, 0)
    seen = []

    def keep(mod, inputs, output):
        probs = mod.last_probs[0].clone()  # (heads, hw, n)
        if weighting == "value":
            probs = (probs * _token_contributions(mod, inputs[1][0])[:, None, :]).sum(0)
        else:
            probs = probs.mean(0)
        seen.append(probs)

    hooks = [m.register_forward_hook(keep) for m in tiny_pipe.unet.attention_modules()]
    try:
        with torch.no_grad():
            out = tiny_pipe(img, mask, artist=ARTISTS[1], generator=torch.Generator().manual_seed(1))
    finally:
        for h in hooks:
            h.remove()
    assert len(seen) == len(tiny_pipe.unet.attention_modules()) * 2  # every layer at each of the 2 steps
    k_style = tiny_pipe.unet.config.style_tokens
    finest = max(int(round(p.shape[0] ** 0.5)) for p in seen)  # summed on the finest attention grid, as recorded
    expected = 0
    for probs in seen:  # (hw, n)
        hw = probs.shape[0]
        grid = int(round(hw**0.5))
        per_source = probs[:, k_style:].reshape(hw, -1, cells * cells).sum(-1)  # (hw, k)
        maps = per_source.T.reshape(1, -1, grid, grid)  # (1, k, g, g)
        if grid != finest:
            maps = torch.nn.functional.interpolate(maps, size=(finest, finest), mode="bilinear", align_corners=False)
        expected = expected + maps[0]
    px = torch.nn.functional.interpolate(expected[None], size=(64, 64), mode="bilinear", align_corners=False)[0]
    per_token = (px.numpy() * region[None]).sum((1, 2))  # (k,)
    att = out.attributions[0]
    n_valid = len(out.records[0].retrieved)
    assert len(att.rows) == n_valid
    largest = sorted(per_token, reverse=True)[:n_valid]  # empty token slots receive no attention
    np.testing.assert_allclose(sorted(att.region_mass, reverse=True), largest, rtol=1e-4)


def test_unknown_weighting_is_refused(tiny_pipe):
    with pytest.raises(ValueError, match="weighting"):
        AttributionRecorder(tiny_pipe.unet, (64, 64), weighting="gradient")


def test_excluded_rows_are_never_retrieved_nor_attributed(tiny_pipe):
    img, mask, _ = _case()
    out = tiny_pipe(img, mask, artist=ARTISTS[0], generator=torch.Generator().manual_seed(0))
    top = out.attributions[0].top_sources[0].row
    with tiny_pipe.memory_bank.excluding([top]):
        again = tiny_pipe(img, mask, artist=ARTISTS[0], generator=torch.Generator().manual_seed(0))
    assert top not in again.records[0].retrieved
    assert top not in again.attributions[0].rows
    assert not tiny_pipe.memory_bank.excluded  # restored after the block
    assert not np.array_equal(np.asarray(out.images[0]), np.asarray(again.images[0]))


def test_attribution_can_be_switched_off_and_hooks_are_removed(tiny_pipe):
    img, mask, _ = _case()
    out = tiny_pipe(img, mask, attribution=False, generator=torch.Generator().manual_seed(0))
    assert out.attributions == [None]
    for m in tiny_pipe.unet.attention_modules():
        assert not m.keep_probs and not m._forward_hooks


def test_recorder_places_tiles_on_the_block_grid(tiny_pipe):
    """A tile at an odd offset lands on the right blocks; padding beyond the image is ignored."""
    rec = AttributionRecorder(tiny_pipe.unet, (50, 70), block_size=16)
    rec.begin_tile()
    rec._tile = torch.zeros(3, 8, 8)  # (k + 1, h, w): two retrieved tokens and the style mass
    rec._tile[0, :, :4] = 1.0  # token 0 on the left half of the tile
    rec._tile[1, :, 4:] = 1.0  # token 1 on the right half
    region = np.ones((32, 32), bool)
    rec.end_tile(30, 40, region, np.array([5, 9]))
    att = rec.result(np.zeros((50, 70, 3), np.uint8), np.ones((50, 70), bool), tiny_pipe.memory_bank)
    assert att.source.shape == (4, 5)
    assert att.source[2, 2] == 5 and att.source[2, 4] == 9  # x 40..55 -> left half, x 56..69 -> right half
    assert att.source[0, 0] == -1 and not att.restored[0, 0]
    assert att.restored[3, 4]  # the tile reaches the last rows and columns, clipped to the image


@pytest.mark.parametrize("k", [0])
def test_no_retrieval_no_attribution(tiny_pipe, k):
    img, mask, _ = _case()
    out = tiny_pipe(img, mask, top_k=k, generator=torch.Generator().manual_seed(0))
    assert out.attributions == [None]

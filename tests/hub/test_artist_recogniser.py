"""ArtistRecogniser: the gate on a named artist and the palette change, with a tiny random recogniser."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from artrestore.hub.artist_recogniser import ArtistRecogniser

from ..conftest import synthetic_painting
from .conftest import ARTISTS


def build_tiny_recogniser(image: np.ndarray | None = None, gate_gap: float = 1e-4) -> ArtistRecogniser:
    """A random recogniser knowing the test artists and one with too few paintings; when ``image`` is given, the
    first artist's centroid is that painting's own embedding, so the painting looks like that artist."""
    torch.manual_seed(0)
    rec = ArtistRecogniser(
        embed_dim=8,
        hidden_dim=16,
        n_heads=2,
        artists=[*ARTISTS, "Cy Few"],
        paintings=[6, 6, 2],
        gate_gap=gate_gap,
        block_size=32,
        working_side=64,
    ).eval()
    rec.centroids.copy_(torch.nn.functional.normalize(torch.randn(3, 16), dim=1))
    rec.palettes.copy_(torch.tensor([[0.6, 0.5, 0.4, 0.2, 0.2, 0.2], [0.2, 0.3, 0.5, 0.1, 0.1, 0.1], [0.5] * 6]))
    if image is not None:
        x, share = rec.working_view(image, np.zeros(image.shape[:2], bool))
        blocks = rec.undamaged_blocks(share)
        emb = rec.embed(torch.cat([x[:, :, y : y + s, x0 : x0 + s] for y, x0, s in blocks]))  # (n, 16)
        rec.centroids[0] = torch.nn.functional.normalize(emb.mean(0), dim=0)
    return rec


def test_the_gate_calls_an_artist_implausible_only_past_its_calibrated_gap():
    image = synthetic_painting(96, 128)
    region = np.zeros((96, 128), bool)
    region[30:60, 40:90] = True
    rec = build_tiny_recogniser(image)
    own = rec.match(image, region, ARTISTS[0])
    other = rec.match(image, region, ARTISTS[1])
    assert (own.nearest, own.rank, own.implausible) == (ARTISTS[0], 0, False) and own.gap == 0
    assert other.nearest == ARTISTS[0] and other.rank >= 1 and other.gap > 0 and other.implausible
    rec.register_to_config(gate_gap=other.gap + 0.01)  # a looser gate lets the same artist through
    assert not rec.match(image, region, ARTISTS[1]).implausible
    assert rec.match(image, region, "Nobody") is None  # unknown: not judged
    assert rec.match(image, region, "Cy Few") is None  # too few paintings to judge, and no pooled gate
    rec.register_to_config(pooled_gate_gap=1e-4)  # a pooled gate judges the artists with few paintings
    few = rec.match(image, region, "Cy Few")
    assert few.gap > 0 and few.implausible
    rec.register_to_config(pooled_gate_gap=few.gap + 0.01)
    assert not rec.match(image, region, "Cy Few").implausible


def test_the_recogniser_reads_the_undamaged_blocks_at_its_working_size():
    rec = build_tiny_recogniser()
    image = synthetic_painting(100, 200)
    region = np.zeros((100, 200), bool)
    region[:, :120] = True  # the left three fifths are damaged
    x, share = rec.working_view(image, region)
    assert x.shape == (1, 3, 32, 64) and share.shape == (1, 1, 32, 64)
    blocks = rec.undamaged_blocks(share)
    assert blocks == [(0, 32, 32)]  # the one block with at most a fifth damaged
    share[..., :, 32:] = 1  # all damaged: the least damaged block is read rather than none
    assert len(rec.undamaged_blocks(share)) == 1


def test_palette_shift_moves_only_the_region_from_one_palette_towards_the_other():
    rec = build_tiny_recogniser()
    image = np.full((8, 8, 3), (153, 128, 102), np.uint8)  # the first artist's mean colour (0.6, 0.5, 0.4)
    region = np.zeros((8, 8), bool)
    region[2:5, 3:7] = True
    rec.register_to_config(palette_strength=0.5)
    out = rec.shift_palette(image, region, ARTISTS[0], ARTISTS[1])
    assert np.array_equal(out[~region], image[~region])
    expected = np.round(((np.array([0.6, 0.5, 0.4]) + np.array([0.2, 0.3, 0.5])) / 2) * 255)  # half way
    assert np.abs(out[region].astype(float) - expected).max() <= 1
    rec.register_to_config(palette_strength=0.0)
    assert np.array_equal(rec.shift_palette(image, region, ARTISTS[0], ARTISTS[1]), image)


def test_saved_in_half_precision_and_loaded_back_in_float32(tmp_path):
    rec = build_tiny_recogniser()
    rec.save_pretrained(str(tmp_path / "rec"))
    stored = load_file(str(tmp_path / "rec" / "diffusion_pytorch_model.safetensors"))
    assert (
        stored["features.convs.0.weight"].dtype == torch.float16 and stored["heads.0.0.weight"].dtype == torch.float16
    )
    assert stored["centroids"].dtype == torch.float32
    assert next(rec.parameters()).dtype == torch.float32  # the live model keeps float32
    loaded = ArtistRecogniser.from_pretrained(str(tmp_path / "rec")).eval()
    assert next(loaded.parameters()).dtype == torch.float32 and loaded.artist_names == rec.artist_names
    patches = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(loaded.embed(patches), rec.embed(patches), atol=5e-3, rtol=0)
    assert loaded.config.paintings == [6, 6, 2]


@pytest.mark.parametrize("strength", [0.0, 1.0])
def test_palette_strength_bounds(strength):
    rec = build_tiny_recogniser()
    rec.register_to_config(palette_strength=strength)
    image = synthetic_painting(16, 16)
    region = np.ones((16, 16), bool)
    out = rec.shift_palette(image, region, ARTISTS[0], ARTISTS[1])
    if strength == 0:
        assert np.array_equal(out, image)
    else:  # the whole way: the source artist's mean colour becomes the target's
        src = np.full((1, 1, 3), (153, 128, 102), np.uint8)
        moved = rec.shift_palette(src, np.ones((1, 1), bool), ARTISTS[0], ARTISTS[1])
        assert np.abs(moved[0, 0].astype(float) - np.array([51, 76.5, 127.5])).max() <= 1

"""The attribution deletion test: per-block change when the top source or a random source is withdrawn."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import PIL.Image
import pytest

from artrestore.bench.attribution import block_change, run_deletion_test
from artrestore.config import AttributionBenchConfig
from tests.hub.conftest import ARTISTS, build_tiny_pipeline


def test_block_change_averages_only_the_restored_pixels_of_each_block():
    a = np.zeros((8, 8, 3), np.uint8)
    b = a.copy()
    b[0:4, 0:4] = 30  # block (0, 0): changed everywhere
    b[4:8, 4:8] = 90  # block (1, 1): changed, but not restored
    region = np.zeros((8, 8), bool)
    region[0:2, 0:4] = True  # half of block (0, 0)
    region[4:8, 0:4] = True  # block (1, 0), unchanged
    out = block_change(a, b, region, np.array([[0, 0], [1, 0], [1, 1]]), 4)
    np.testing.assert_allclose(out, [30.0, 0.0, 0.0])


@pytest.fixture
def tiny_setup(tmp_path, monkeypatch):
    """Two synthetic paintings as the validation split, and the tiny pipeline as the model."""
    import artrestore.bench.attribution as module
    import artrestore.restore as restore_module

    rng = np.random.default_rng(0)
    records = []
    for i, artist in enumerate(ARTISTS):
        path = tmp_path / f"p{i}.png"
        PIL.Image.fromarray(rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)).save(path)
        records.append(SimpleNamespace(path=path, artist=artist, painting_id=f"{artist}/p{i}"))
    pipe = build_tiny_pipeline(tile_size=128, context=16)
    pipe.set_progress_bar_config(disable=True)
    monkeypatch.setattr(module.PaintingCollection, "scan", staticmethod(lambda data: None))
    monkeypatch.setattr(module, "split_collection", lambda collection, split: SimpleNamespace(records=records))
    monkeypatch.setattr(restore_module, "load_pipeline", lambda model, threads: pipe)
    return pipe


def test_deletion_test_withdraws_top_and_random_sources_and_reports_their_ratio(tiny_setup, tmp_path):
    config = AttributionBenchConfig(data="unused", out=str(tmp_path / "out"), model="unused", size=64, limit=2)
    config.sources_per_painting = 2
    result = run_deletion_test(config)
    assert result["paintings"] == 2 and 1 <= result["sources_tested"] <= 4 and result["blocks"] > 0
    for r in result["records"]:
        assert r["source"] != r["random_source"] and r["blocks"] > 0
    top = np.mean([r["change_top"] * r["blocks"] for r in result["records"]]) / np.mean(
        [r["blocks"] for r in result["records"]]
    )
    assert result["mean_change_top"] == pytest.approx(top, rel=1e-5)  # pooled over blocks, not over sources
    assert result["ratio"] == pytest.approx(result["mean_change_top"] / result["mean_change_random"])
    assert result["mean_change_top"] > 0  # withdrawing a used source changes its blocks
    saved = json.loads((tmp_path / "out" / "deletion.json").read_text())
    assert saved["ratio"] == result["ratio"]
    assert f"{result['ratio']:.2f}x" in (tmp_path / "out" / "deletion.md").read_text()


def test_deletion_test_refuses_a_model_that_retrieves_nothing(tiny_setup, tmp_path):
    tiny_setup.register_to_config(top_k=0)
    config = AttributionBenchConfig(data="unused", out=str(tmp_path / "out"), model="unused", size=64, limit=2)
    with pytest.raises(ValueError, match="no attribution"):
        run_deletion_test(config)

"""The style-space bench: the own artist's rank in the style-vector and certificate spaces."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import PIL.Image
import pytest
import torch

from artrestore.bench.style_space import run_style_space_bench, space_summary, style_space_markdown
from artrestore.config import StyleSpaceBenchConfig
from artrestore.data import center_square
from tests.hub.conftest import ARTISTS, build_tiny_pipeline


def test_space_summary_counts_first_places_and_takes_the_median_rank():
    s = space_summary(np.array([0, 4, 1, 0]), np.array([0, 1, 0, 0]), 182, 10)
    assert s["top1"] == 0.5 and s["top3"] == 0.75 and s["top1_main"] == 0.75 and s["median_rank"] == 0.5
    assert s["chance_top1_main"] == 0.1 and s["candidates"] == 182
    text = style_space_markdown({"style_vector": s}, 4)
    assert "| style vector (generator conditioning) | 182 | 50% | 75% | 0.5 | 75% of 10 | 10% |" in text
    assert "certificate embedding" not in text


@pytest.fixture
def tiny_setup(tmp_path, monkeypatch):
    """Three synthetic paintings (two artists in the bank, one with too few works) and the tiny pipeline."""
    import artrestore.bench.style_space as module
    import artrestore.restore as restore_module

    rng = np.random.default_rng(0)
    records = []
    for i, artist in enumerate([*ARTISTS, "Rare Hand"]):
        path = tmp_path / f"p{i}.png"
        PIL.Image.fromarray(rng.integers(0, 255, (90, 70, 3), dtype=np.uint8)).save(path)
        records.append(SimpleNamespace(path=path, artist=artist, painting_id=f"{artist}/p{i}"))
    works = {ARTISTS[0]: 20, ARTISTS[1]: 16, "Rare Hand": 2}
    pipe = build_tiny_pipeline(certifier=True)
    collection = SimpleNamespace(works_per_artist=lambda: works)
    monkeypatch.setattr(module.PaintingCollection, "scan", staticmethod(lambda data: collection))
    monkeypatch.setattr(module, "split_collection", lambda collection, split: SimpleNamespace(records=records))
    monkeypatch.setattr(restore_module, "load_pipeline", lambda model, threads: pipe)
    return pipe


def test_ranks_each_painting_artist_in_both_spaces_and_writes_the_report(tiny_setup, tmp_path):
    pipe = tiny_setup
    out = tmp_path / "out"
    result = run_style_space_bench(StyleSpaceBenchConfig(data="unused", model="unused", out=str(out), size=64))
    rows = result["rows"]
    assert [r["artist"] for r in rows] == list(ARTISTS)  # the rare artist's painting is left out
    for r, image_path in zip(rows, ["p0.png", "p1.png"]):
        image = np.asarray(PIL.Image.open(tmp_path / image_path))
        square = center_square(image, 64)
        style, _ = pipe.encode_style(square, np.zeros((64, 64), bool), None)
        names = sorted(pipe.memory_bank.artist_vectors)
        sims = torch.stack([pipe.memory_bank.artist_vectors[a] for a in names]) @ style[0]
        assert r["style_vector"]["nearest"] == names[int(sims.argmax())]
        assert r["style_vector"]["rank"] == int((sims > sims[names.index(r["artist"])]).sum())
        assert r["certificate"]["nearest"] == pipe.style_certifier.infer_artist(square, np.zeros((64, 64), bool))
    summary = result["summary"]
    assert set(summary) == {"style_vector", "certificate"} and summary["certificate"]["main"] == 2
    saved = json.loads((out / "style_space.json").read_text())
    assert saved["summary"] == summary
    assert "certificate embedding" in (out / "style_space.md").read_text()


def test_rejects_settings_before_loading_the_model(tiny_setup, tmp_path, monkeypatch):
    import artrestore.restore as restore_module

    def must_not_load(model, threads):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(restore_module, "load_pipeline", must_not_load)
    with pytest.raises(ValueError, match="limit"):
        run_style_space_bench(StyleSpaceBenchConfig(data="unused", out=str(tmp_path), limit=0))
    with pytest.raises(ValueError, match="min_works"):
        run_style_space_bench(StyleSpaceBenchConfig(data="unused", model="unused", out=str(tmp_path), min_works=99))

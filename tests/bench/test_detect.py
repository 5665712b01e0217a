"""The detect section of the bench."""

from __future__ import annotations

import json

import numpy as np
import pytest

from artrestore.bench.detect import restoration_bound
from artrestore.cli import main
from artrestore.detection import DamageDetector


def test_missing_detector_is_a_clear_error(tmp_path, capsys):
    assert main(["bench-detect", "--detector", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "no saved DamageDetector" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.data
def test_detect_bench_reports_every_section(shared_data, tmp_path):
    DamageDetector(channels=(4, 8)).save_pretrained(tmp_path / "det")
    code = main(
        [
            "bench-detect",
            "--detector",
            str(tmp_path / "det"),
            "--limit",
            "1",
            "--size",
            "64",
            "--speed-megapixels",
            "0.05",
            "--intact-side",
            "64",
            "--out",
            str(tmp_path / "o"),
            "--data",
            str(shared_data / "paintings"),
            "--craquelure",
            str(shared_data / "craquelure"),
        ]
    )
    assert code == 0
    data = json.loads((tmp_path / "o" / "results.json").read_text())
    keys = {(r["set"], r["target"], r["method"]) for r in data["rows"]}
    assert ("real craquelure", "crack", "tophat") in keys and ("synthetic", "large_loss", "detector") in keys
    assert data["speed"]["seconds_per_megapixel"] > 0
    bounds = {r["kind"] for r in data["records"] if r["target"] == "restoration bound"}
    assert bounds == {"crack", "scratch", "small_loss", "large_loss", "fading", "mixed"}
    text = (tmp_path / "o" / "results.md").read_text()
    assert "What detection leaves for restoration" in text and "## Intact paintings" in text
    (intact,) = [r for r in data["records"] if r["set"] == "intact"]  # the one painting, undamaged
    assert max(intact["pixels"] ** 0.5, 1) <= 64 and 0 <= intact["damage_share"] <= 1
    assert 0 <= intact["fade_share"] <= 1


def test_restoration_bound_counts_only_detected_pixels():
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    true = np.zeros((64, 64), bool)
    true[10:40, 10:40] = True
    damaged = clean.copy()
    damaged[true] = 0
    perfect = restoration_bound(clean, damaged, true, true)
    assert perfect["recall"] == 1 and perfect["lpips_bound"] < 1e-6 < perfect["lpips_input"]
    none = restoration_bound(clean, damaged, np.zeros_like(true), true)
    assert none["recall"] == 0 and none["lpips_bound"] == pytest.approx(none["lpips_input"])
    half = true.copy()
    half[25:] = False
    partial = restoration_bound(clean, damaged, half, true)
    assert partial["recall"] == 0.5 and 0 < partial["lpips_bound"] < none["lpips_bound"]

"""The detect section of the bench."""

from __future__ import annotations

import json

import pytest

from artrestore.cli import main
from artrestore.detection import DamageDetector


def test_missing_detector_is_a_clear_error(tmp_path, capsys):
    assert main(["bench-detect", "--detector", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "no saved DamageDetector" in capsys.readouterr().err


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

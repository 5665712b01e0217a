"""The band bench, with a classical method on a tiny collection (no model)."""

from __future__ import annotations

import json

import pytest

from artrestore.bench.bands import band_rows, run_band_bench
from artrestore.config import BandBenchConfig


def test_rows_average_each_variant_and_compare_with_the_method():
    records = [
        {"kind": "k", "variant": "method", "sigma": None, "lpips": 0.2, "dists": 0.1},
        {"kind": "k", "variant": "layout", "sigma": 4.0, "lpips": 0.1, "dists": 0.1},
        {"kind": "k", "variant": "detail", "sigma": 4.0, "lpips": 0.05, "dists": 0.05},
    ]
    (row,) = band_rows(records, ["k"], [4.0])
    assert row["layout_lpips_change"] == pytest.approx(-0.5) and row["detail_dists_change"] == pytest.approx(-0.5)
    assert row["layout_dists_change"] == pytest.approx(0.0) and row["method_lpips"] == 0.2


def test_bench_writes_both_reports_and_the_true_detail_helps(painting_folder, tmp_path):
    out = tmp_path / "bands"
    config = BandBenchConfig(
        method="telea", data=str(painting_folder), kinds="large_loss", sigmas="1,8", size=64, limit=2, out=str(out)
    )
    result = run_band_bench(config)
    assert result["paintings"] == 2 and len(result["records"]) == 2 * (1 + 2 * 2)
    rows = result["rows"]
    assert [r["sigma"] for r in rows] == [1.0, 8.0]
    # with the truth's detail below 8 px a smooth Telea fill gets much closer to the painting
    assert rows[1]["detail_lpips"] < rows[1]["method_lpips"]
    assert json.loads((out / "bands.json").read_text())["rows"] == rows
    assert "| 8 |" in (out / "bands.md").read_text()


@pytest.mark.parametrize(
    "change, match",
    [
        ({"kinds": "nope"}, "kinds"),
        ({"sigmas": "2,-1"}, "sigmas"),
        ({"sigmas": "a"}, "sigmas"),
        ({"limit": 0}, "limit"),
        ({"size": 8}, "size"),
        ({"method": "nope"}, "methods"),
    ],
)
def test_bench_rejects_bad_settings_before_any_work(painting_folder, tmp_path, change, match):
    config = BandBenchConfig(data=str(painting_folder), out=str(tmp_path / "o"), **{"method": "telea", **change})
    with pytest.raises(ValueError, match=match):
        run_band_bench(config)
    assert not (tmp_path / "o").exists()

"""The app load bench's inputs and report (the bench itself starts the app: run ``artrestore bench-app``)."""

from __future__ import annotations

import inspect
import sys

import numpy as np

from artrestore.bench.app_load import large_painting, polygon_loss, report, restore_request
from artrestore.config import AppLoadBenchConfig
from artrestore.restore_ui import INFER

from ..conftest import ROOT


def test_restore_request_matches_the_apps_restore_inputs():
    """One value per input of the app's restore handler, each of the type the handler checks (strength a number)."""
    sys.path.insert(0, str(ROOT))
    import app

    params = [p for p in inspect.signature(app.on_restore).parameters if p != "progress"]
    request = dict(zip(params, restore_request("p.png", "m.png", 8), strict=True))
    assert request["steps"] == 8 and request["variants"] == 1 and request["artist"] == INFER
    assert type(request["strength"]) is float and 0 <= request["strength"] <= 1
    assert request["artist_palette"] is True


def test_large_painting_has_the_asked_size_and_grain():
    source = np.full((30, 40, 3), 128, np.uint8)
    big = large_painting(source, 0.12)
    assert abs(big.shape[0] * big.shape[1] - 120_000) < 1_000 and big.dtype == np.uint8
    assert big.std() > 2  # grain: the JPEG is as heavy as a scan's


def test_polygon_loss_covers_about_the_asked_share():
    mask = polygon_loss((400, 600), share=0.02, seed=1)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 255}
    assert 0.01 < (mask > 0).mean() < 0.04


def test_report_lists_every_phase_and_outcome():
    results = {
        "idle_rss_mb": 1300.0,
        "large_jpeg_mb": 24.0,
        "large": [
            {
                "phase": "large upload: detect",
                "outcome": "answered",
                "seconds": 80,
                "error": "",
                "peak_rss_mb": 3000,
                "peak_over_idle_mb": 1700,
            },
        ],
        "burst": {
            "clients": 20,
            "seconds": 30.0,
            "peak_rss_mb": 2500.0,
            "outcomes": {
                "/detect answered": {"n": 10, "max_s": 20.0},
                "/restore refused (queue full)": {"n": 1, "max_s": 1.0},
            },
            "errors": [],
            "after": {"outcome": "answered", "seconds": 0.5, "error": ""},
        },
        "temp_run_folders": {"before": 0, "after": 10},
    }
    text = report(results, AppLoadBenchConfig())
    assert "| large upload: detect | answered | 80 | 3000 | 1700 |" in text
    assert "| /restore refused (queue full) | 1 | 1 |" in text and "a detection afterwards: answered" in text

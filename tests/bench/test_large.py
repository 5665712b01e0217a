"""`artrestore bench-large` measures time, peak memory and untouched pixels on an upscaled painting."""

from __future__ import annotations

import pytest

from artrestore.bench.large import run_large_bench
from artrestore.config import LargeBenchConfig
from artrestore.export import write_hub_folder

from ..hub.conftest import build_tiny_pipeline


@pytest.mark.data
def test_large_bench_with_a_tiny_model(shared_data, tmp_path):
    model = write_hub_folder(build_tiny_pipeline(tile_size=256), tmp_path / "m", "# tiny\n")
    cfg = LargeBenchConfig(
        model=str(model),
        data=str(shared_data / "paintings"),
        width=640,
        height=480,
        kind="small_loss",
        artist="Ada Painter",
        out=str(tmp_path / "large.json"),
        threads=1,
    )
    result = run_large_bench(cfg)
    assert result["size"] == "640x480" and result["untouched_changed"] == 0
    assert result["artist"] == "Ada Painter" and result["palette"] is None  # the tiny model has no recogniser
    assert result["peak_rss_mb"] > 0 and result["tiles"] >= 1

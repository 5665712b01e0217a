"""The bench harness on a tiny collection (fast) and on the shared validation split (data)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from artrestore.bench import PeakMemory, run_bench
from artrestore.cli import main
from artrestore.config import BenchConfig


def _config(painting_folder, tmp_path, **kw) -> BenchConfig:
    base = dict(
        data=str(painting_folder),
        out=str(tmp_path / "out"),
        methods="none,telea",
        size=64,
        split="all",
        limit=2,
        kinds="large_loss,fading",
    )
    return BenchConfig(**{**base, **kw})


def test_bench_writes_table_json_and_plot(painting_folder, tmp_path):
    results = run_bench(_config(painting_folder, tmp_path))
    out = tmp_path / "out"
    assert (out / "results.md").exists() and (out / "plot.png").stat().st_size > 10_000
    data = json.loads((out / "results.json").read_text())
    assert len(data["records"]) == 2 * 2 * 2 and data["environment"]["paintings"] == 2
    rows = {(r["kind"], r["method"]): r for r in results["rows"]}
    assert rows[("large_loss", "telea")]["LPIPS-alex ↓"] < rows[("large_loss", "none")]["LPIPS-alex ↓"]
    assert all(r["untouched_changed"] == 0 for r in results["records"])
    table = (out / "results.md").read_text()
    assert "| large_loss | telea | 2 |" in table and "untouched_changed" in table
    assert list((out / "examples").glob("*.jpg"))


def test_bench_reports_methods_by_hole_width_against_patchmatch(painting_folder, tmp_path):
    results = run_bench(_config(painting_folder, tmp_path, methods="patchmatch,none", kinds="large_loss,fading"))
    out = tmp_path / "out"
    widths = {r["kind"]: r["hole_px"] for r in results["records"]}
    assert widths["large_loss"] > 4 and widths["fading"] == 0.0  # fading has no binary hole
    table = (out / "results.md").read_text()
    assert "By the width of each image's widest hole" in table and "| none | 2 |" in table.split("By the width")[1]
    assert (out / "holes.png").stat().st_size > 5_000
    # without PatchMatch in the run there is nothing to compare with, so no section
    run_bench(_config(painting_folder, tmp_path, out=str(tmp_path / "plain")))
    assert "widest hole" not in (tmp_path / "plain" / "results.md").read_text()
    assert not (tmp_path / "plain" / "holes.png").exists()


def test_bench_runs_the_held_out_mask_families(painting_folder, tmp_path):
    results = run_bench(_config(painting_folder, tmp_path, kinds="polygon,lines,strokes,polygon_lines"))
    rows = {(r["kind"], r["method"]): r for r in results["rows"]}
    for family in ("polygon", "lines", "strokes", "polygon_lines"):
        assert rows[(family, "telea")]["LPIPS-alex ↓"] < rows[(family, "none")]["LPIPS-alex ↓"]
    assert all(r["untouched_changed"] == 0 for r in results["records"])
    with pytest.raises(ValueError, match="polygon, lines"):
        run_bench(_config(painting_folder, tmp_path, kinds="circles"))


def test_bench_catches_a_method_that_touches_too_much(painting_folder, tmp_path):
    from artrestore.baselines import register_method

    @register_method("test_blur_everything", "blurs the whole image (must be caught)")
    def _blur(image, mask, fade):
        return cv2.GaussianBlur(image, (5, 5), 0)

    results = run_bench(_config(painting_folder, tmp_path, methods="test_blur_everything", kinds="large_loss"))
    assert all(r["untouched_changed"] > 0 for r in results["records"])


def test_bench_uses_given_masks(painting_folder, tmp_path):
    masks = tmp_path / "masks"
    masks.mkdir()
    m = np.zeros((64, 64), np.uint8)
    m[20:40, 10:30] = 255
    cv2.imwrite(str(masks / "ann_0_large_loss_mask.png"), m)
    results = run_bench(_config(painting_folder, tmp_path, masks=str(masks), kinds="large_loss", limit=None))
    assert len(results["records"]) == 2  # one painting has a mask, two methods
    assert results["records"][0]["mask_share"] == pytest.approx(400 / 4096)
    assert results["environment"]["paintings"] == 1 and results["environment"]["skipped_cases"] == 0


def test_bench_refuses_ambiguous_mask_ids(tmp_path):
    root = tmp_path / "p"
    for artist in ("A", "B"):
        (root / artist).mkdir(parents=True)
        cv2.imwrite(str(root / artist / "same.jpg"), np.full((64, 64, 3), 128, np.uint8))
    (tmp_path / "m").mkdir()
    cv2.imwrite(str(tmp_path / "m" / "same_crack_mask.png"), np.zeros((64, 64), np.uint8))
    with pytest.raises(ValueError, match="masks: .*same"):
        run_bench(BenchConfig(data=str(root), masks=str(tmp_path / "m"), split="all", out=str(tmp_path / "o")))


def test_bench_refuses_masks_matching_nothing(painting_folder, tmp_path):
    (tmp_path / "m").mkdir()
    cv2.imwrite(str(tmp_path / "m" / "unknown_crack_mask.png"), np.zeros((64, 64), np.uint8))
    with pytest.raises(ValueError, match="matches a painting"):
        run_bench(_config(painting_folder, tmp_path, masks=str(tmp_path / "m")))


def test_bench_rejects_mask_of_wrong_size(painting_folder, tmp_path):
    masks = tmp_path / "masks"
    masks.mkdir()
    cv2.imwrite(str(masks / "ann_0_large_loss_mask.png"), np.zeros((50, 64), np.uint8))
    with pytest.raises(ValueError, match="mask_image: size 64x50 does not match"):
        run_bench(_config(painting_folder, tmp_path, masks=str(masks), kinds="large_loss", limit=None))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"methods": "none,lama"}, "unknown method"),
        ({"kinds": "mould"}, "kinds: unknown"),
        ({"size": 8}, "size"),
        ({"limit": 0}, "limit"),
        ({"split": "test"}, "split"),
    ],
)
def test_bench_validates_settings(painting_folder, tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        run_bench(_config(painting_folder, tmp_path, **overrides))


def test_cli_reports_errors_without_traceback(painting_folder, tmp_path, capsys):
    code = main(["bench", "--data", str(painting_folder), "--methods", "lama", "--out", str(tmp_path / "o")])
    assert code == 2 and "unknown method 'lama'" in capsys.readouterr().err


def test_peak_memory_sees_allocations():
    import gc

    gc.collect()  # garbage of earlier tests freed inside the block would offset the growth
    with PeakMemory() as mem:
        block = np.ones((256, 1024, 1024), np.uint8)  # 256 MB of fresh, touched pages
        block[::4096] = 2
    assert mem.extra_mb > 160
    del block


@pytest.mark.slow
@pytest.mark.data
def test_bench_on_shared_validation_paintings(shared_data, tmp_path):
    """`artrestore bench --methods none,telea,ns,biharmonic,patchmatch` on real validation paintings."""
    code = main(
        [
            "bench",
            "--data",
            str(shared_data / "paintings"),
            "--out",
            str(tmp_path / "b"),
            "--size",
            "128",
            "--limit",
            "1",
            "--methods",
            "none,telea,ns,biharmonic,patchmatch",
        ]
    )
    assert code == 0
    data = json.loads((tmp_path / "b" / "results.json").read_text())
    assert len(data["records"]) == 6 * 5
    assert all(r["untouched_changed"] == 0 for r in data["records"])
    none = {r["kind"]: r["lpips"] for r in data["records"] if r["method"] == "none"}
    pm = {r["kind"]: r["lpips"] for r in data["records"] if r["method"] == "patchmatch"}
    assert pm["large_loss"] < none["large_loss"] and pm["mixed"] < none["mixed"]


@pytest.mark.slow
@pytest.mark.data
def test_bench_with_example_masks(shared_data, tmp_path):
    """The authored masks in examples/masks match validation paintings and run through the bench."""
    from tests.conftest import ROOT

    code = main(
        [
            "bench",
            "--data",
            str(shared_data / "paintings"),
            "--masks",
            str(ROOT / "examples" / "masks"),
            "--methods",
            "none,telea",
            "--out",
            str(tmp_path / "e"),
        ]
    )
    assert code == 0
    data = json.loads((tmp_path / "e" / "results.json").read_text())
    assert data["environment"]["paintings"] == 2
    assert {r["kind"] for r in data["records"]} == {"scratch", "small_loss", "large_loss", "fading"}


def test_shards_merge_into_the_full_run(painting_folder, tmp_path):
    from artrestore.bench.harness import merge_results

    full = run_bench(_config(painting_folder, tmp_path, limit=3, out=str(tmp_path / "full")))
    for i in range(2):
        run_bench(_config(painting_folder, tmp_path, limit=3, shard=f"{i}/2", out=str(tmp_path / f"s{i}")))
    merged = merge_results([tmp_path / "s0", tmp_path / "s1"])
    assert merged["environment"]["paintings"] == 3
    key = lambda r: (r["painting"], r["kind"], r["method"])  # noqa: E731
    assert sorted(map(key, merged["records"])) == sorted(map(key, full["records"]))
    by_key = {key(r): r["lpips"] for r in full["records"]}
    assert all(abs(by_key[key(r)] - r["lpips"]) < 1e-6 for r in merged["records"])
    with pytest.raises(ValueError, match="overlap"):
        merge_results([tmp_path / "s0", tmp_path / "s0"])
    with pytest.raises(ValueError, match="shard"):
        run_bench(_config(painting_folder, tmp_path, shard="2/2"))

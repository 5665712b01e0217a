"""The device kit: what travels to a lent GPU machine, within its caps, and a training run from the kit alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from artrestore.cli import main
from artrestore.config import DeviceKitConfig
from artrestore.hub.exemplar_refiner import ExemplarRefiner
from artrestore.hub.style_encoder import StyleEncoder
from artrestore.metrics.backbones import backbone_state
from artrestore.training import device_kit
from artrestore.training.device_kit import (
    KIT_MANIFEST,
    build_device_kit,
    check_train_args,
    collect_results,
    result_files,
    working_tree_bytes,
)

from ..conftest import ROOT

TINY_RUN = (
    "--channels 8,16 --crop 32 --batch-size 2 --steps 2 --warmup 1 --pool-size 4 --pool-workers 1 --threads 1 "
    "--checkpoint-every 1 --log-every 1"
)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with a tracked file, a large tracked 'bundle' and an ignored runs/ folder."""
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "code.py").write_bytes(b"x" * 1000)
    (root / "checkpoints").mkdir()
    (root / "checkpoints" / "big.bin").write_bytes(b"y" * 50_000)
    (root / ".gitignore").write_text("runs/\n")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return root


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    StyleEncoder(channels=(8, 16), style_dim=8).save_pretrained(folder / "style_encoder")
    return folder


def _config(repo: Path, painting_folder: Path, model_folder: Path, **kwargs) -> DeviceKitConfig:
    settings = {"out": str(repo / "runs" / "kit"), "max_side": 64, "wheels": False, "train_args": TINY_RUN}
    settings = {"leave_out": "checkpoints", **settings, **kwargs}
    return DeviceKitConfig(repo=str(repo), data=str(painting_folder), model=str(model_folder), **settings)


def test_working_tree_bytes_counts_tracked_and_unignored_files_less_what_is_left_out(repo):
    assert working_tree_bytes(repo) == 1000 + 50_000 + len("runs/\n")
    (repo / "runs").mkdir()
    (repo / "runs" / "ignored.bin").write_bytes(b"z" * 7000)
    (repo / "new.txt").write_bytes(b"n" * 300)  # untracked, not ignored: it travels
    assert working_tree_bytes(repo) == 1000 + 50_000 + 6 + 300
    assert working_tree_bytes(repo, ("checkpoints",)) == 1000 + 6 + 300
    (repo / "checkpoints" / "big.bin").unlink()  # a tracked file out of the working tree (a sparse checkout) stays
    assert working_tree_bytes(repo) == 1000 + 6 + 300
    with pytest.raises(ValueError, match="repo: .* not a git working tree"):
        working_tree_bytes(repo.parent)


def test_kit_holds_data_half_backbone_models_and_script_and_counts_what_travels(repo, painting_folder, model_folder):
    manifest = build_device_kit(_config(repo, painting_folder, model_folder), progress=False)
    kit = repo / "runs" / "kit"
    assert json.loads((kit / KIT_MANIFEST).read_text()) == manifest
    assert manifest["kit"] == "runs/kit" and manifest["run"] == {
        "command": "bash runs/kit/run.sh",
        "carry": ["runs/kit"],
    }
    assert manifest["paintings"] == 9 and (kit / "data" / "paintings" / "split.json").is_file()
    # VGG16 in float16, the same weights rounded
    half = load_file(kit / "cache" / "backbones" / "vgg16.safetensors")
    full = backbone_state("vgg16")
    assert half.keys() == full.keys() and all(v.dtype == torch.float16 for v in half.values())
    assert all(torch.equal(half[k], full[k].half()) for k in full)
    assert (kit / "models" / "style_encoder" / "config.json").is_file() and not (
        kit / "models" / "exemplar_refiner"
    ).exists()
    # sizes: the parts add up to the kit on disk; the working tree is counted without checkpoints/
    on_disk = sum(p.stat().st_size for p in kit.rglob("*") if p.is_file() and p.name != KIT_MANIFEST)
    assert sum(manifest["mib"].values()) == pytest.approx(on_disk / 2**20, abs=0.03)
    assert manifest["tree_mib"] == round(working_tree_bytes(repo, ("checkpoints",)) / 2**20, 2)
    assert manifest["travel_mib"] == pytest.approx(manifest["kit_mib"] + manifest["tree_mib"], abs=0.011)
    script = (kit / "run.sh").read_text()
    assert os.access(kit / "run.sh", os.X_OK) and "--no-style-set" in script
    assert "models/exemplar_refiner" not in script, "no init: from scratch"
    assert TINY_RUN in script and 'ARTRESTORE_CACHE="$KIT/cache"' in script and "collect_results" in script
    assert '"${TRAIN[@]}" --stop-after 1' in script, "the pool first, then training in the time left of the call"
    assert '9.0 "$START" none)' in script, "the call's minutes, and no cap of the run's own"
    assert manifest["sparse_checkout"]["before"] == "git sparse-checkout set --no-cone '/*' '!/checkpoints/'"


def test_kit_with_an_init_carries_the_refiner(repo, painting_folder, model_folder, tmp_path):
    ExemplarRefiner(channels=(8, 16), style_dim=8).save_pretrained(tmp_path / "refiner")
    manifest = build_device_kit(
        _config(repo, painting_folder, model_folder, init=str(tmp_path / "refiner")), progress=False
    )
    kit = repo / "runs" / "kit"
    assert (kit / "models" / "exemplar_refiner" / "config.json").is_file() and manifest["init"]
    assert '--init "$KIT/models/exemplar_refiner"' in (kit / "run.sh").read_text()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"train_args": "--out elsewhere"}, r"train_args: \['--out'\] are set by the kit"),
        ({"train_args": "--no-style-set"}, "train_args: .* set by the kit"),
        ({"train_args": "--bogus 3"}, "train_args: unknown train-refiner options"),
        ({"train_args": "--steps many"}, "train_args: argument --steps: invalid int value"),
        ({"train_args": "--channels 96,192,384,512"}, "train_args: the refiner's weights would come back in"),
        ({"max_mib": 0.1}, r"max_mib: the kit .* over 0.1; .* Nothing was written"),
        ({"max_mib": 0}, "max_mib: expected a positive size"),
        ({"call_minutes": 1.0}, "call_minutes: expected more than 1.5 minutes"),
        ({"init": "/nonexistent"}, "init: /nonexistent is not a refiner folder"),
    ],
)
def test_bad_settings_are_refused_and_nothing_is_written(repo, painting_folder, model_folder, change, match):
    with pytest.raises(ValueError, match=match):
        build_device_kit(_config(repo, painting_folder, model_folder, **change), progress=False)
    assert not (repo / "runs").exists() or not any((repo / "runs").iterdir())


def test_the_kit_must_be_an_ignored_folder_inside_the_repository(repo, painting_folder, model_folder, tmp_path):
    for out, match in [
        (tmp_path / "outside", "must be a folder inside the repository"),
        (repo / "kit", "not ignored"),
    ]:
        with pytest.raises(ValueError, match=f"out: .*{match}"):
            build_device_kit(_config(repo, painting_folder, model_folder, out=str(out)), progress=False)
        assert not out.exists()
    with pytest.raises(ValueError, match="model: .* has no style_encoder"):
        build_device_kit(_config(repo, painting_folder, tmp_path), progress=False)


def test_check_train_args_returns_the_settings_the_run_would_use():
    tokens, settings = check_train_args("--dists-weight 1 --max-minutes 5.5 --channels out")
    assert tokens == ["--dists-weight", "1", "--max-minutes", "5.5", "--channels", "out"]
    assert settings.channels == "out", "a value that names a kit option is only a value"
    assert settings.dists_weight == 1.0 and settings.max_minutes == 5.5
    with pytest.raises(ValueError, match="train_args: mixed_precision: expected one of"):
        check_train_args("--mixed-precision fp8")  # the training loop's own checks, before the device
    _, settings = check_train_args("--mixed-precision bf16 --l1-weight 0.2")
    assert settings.mixed_precision == "bf16" and settings.l1_weight == 0.2


def test_collect_results_shards_the_weights_under_the_cap_losslessly(tmp_path, monkeypatch):
    run = tmp_path / "run"
    model = ExemplarRefiner(channels=(8, 16), style_dim=8)
    torch.nn.init.normal_(model.out.weight)  # not the zero start
    model.save_pretrained(run / "final")
    (run / "loss_log.csv").write_text("step,loss\n1,0.5\n")
    (run / "summary.json").write_text("{}")
    size = (run / "final" / "diffusion_pytorch_model.safetensors").stat().st_size
    monkeypatch.setattr(device_kit, "SHARD_BYTES", size // 3)
    files = collect_results(run, tmp_path / "out")
    shards = [f for f in files if f.startswith("final/") and f.endswith(".safetensors")]
    assert len(shards) >= 3 and all((tmp_path / "out" / f).stat().st_size <= size // 3 + 4096 for f in shards)
    assert "loss_log.csv" in files and "summary.json" in files and "train.log" not in files
    assert len(files) + 1 <= result_files(size) + 1, "train.log is the one file the script adds"
    back = ExemplarRefiner.from_pretrained(tmp_path / "out" / "final").state_dict()
    assert all(torch.equal(back[k], v) for k, v in model.state_dict().items())


def test_result_files_counts_one_file_or_shards_and_index():
    assert result_files(1000) == 1 + 1 + 3 + 1
    assert result_files(device_kit.SHARD_BYTES * 2 + 1) == 1 + 4 + 3 + 1


def test_cli_prints_the_sizes_and_the_sparse_checkout(repo, painting_folder, model_folder, capsys):
    args = ["device-kit", "--out", str(repo / "runs" / "kit"), "--repo", str(repo), "--data", str(painting_folder)]
    args += ["--model", str(model_folder), "--max-side", "64", "--no-wheels", f"--train-args={TINY_RUN}"]
    assert main([*args, "--leave-out", "checkpoints"]) == 0
    out = capsys.readouterr().out
    assert "wrote runs/kit:" in out and "what travels:" in out and "carry ['runs/kit']" in out
    assert main(args) == 2, "the folder is used now: an error, not an overwrite"
    assert "not an empty folder" in capsys.readouterr().err


@pytest.mark.slow
def test_run_sh_trains_from_the_kit_alone_and_returns_what_the_cpu_continues_from(
    repo, painting_folder, model_folder, tmp_path
):
    pytest.importorskip("patchmatch")
    build_device_kit(_config(repo, painting_folder, model_folder), progress=False)
    out = tmp_path / "device_out"
    (repo / "artrestore").symlink_to(ROOT / "artrestore")  # the package at the repository root, as it travels
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),  # no user cache: the backbone must come from the kit
        "PIP_NO_INDEX": "1",
        "PYTHON": sys.executable,  # no PYTHONPATH: the script must set it from nothing
        "OUT": str(out),
    }
    done = subprocess.run(["bash", "runs/kit/run.sh"], cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        "final/config.json",
        "final/diffusion_pytorch_model.safetensors",
        "loss_curve.png",
        "loss_log.csv",
        "summary.json",
        "train.log",
    ]
    assert json.loads((out / "summary.json").read_text())["steps"] == 2, "one step with the pool, then the rest"
    log = (out / "train.log").read_text()
    assert "building the pool and taking one step" in log and "training for " in log
    assert not (tmp_path / "home" / ".cache" / "artrestore").exists(), "nothing was fetched into the user cache"
    refiner = ExemplarRefiner.from_pretrained(out / "final")
    assert list(refiner.config.channels) == [8, 16]

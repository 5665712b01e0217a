"""The shared training loop: logs, checkpoints, resume, EMA export, and real 2-process DDP."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time

import pytest
import torch
from torch.utils.data import Dataset

from artrestore.config import LoopSettings
from artrestore.detection import DamageDetector
from artrestore.training.trainer import EMA, LossLog, latest_checkpoint, param_groups, plot_loss_curve, train

from ..conftest import ROOT


class _Squares(Dataset):
    """Images with a bright square; the target class map marks it as 'loss'."""

    def __len__(self) -> int:
        return 64

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(i)
        img = torch.rand(3, 16, 16, generator=g) * 0.3
        classes = torch.zeros(16, 16, dtype=torch.long)
        y, x = int(torch.randint(0, 8, (1,), generator=g)), int(torch.randint(0, 8, (1,), generator=g))
        img[:, y : y + 6, x : x + 6] = 0.9
        classes[y : y + 6, x : x + 6] = 3
        return {"image": img, "classes": classes}


def _loss(model, batch):
    loss = torch.nn.functional.cross_entropy(model(batch["image"])[:, :4], batch["classes"])
    return loss, {"ce": loss.item()}


def _settings(out, **kw) -> LoopSettings:
    base = dict(
        out=str(out),
        steps=12,
        batch_size=4,
        lr=5e-3,
        warmup=2,
        checkpoint_every=6,
        log_every=1,
        ema_decay=0.9,
        threads=1,
    )
    return LoopSettings(**{**base, **kw})


def test_trains_logs_checkpoints_and_exports(tmp_path):
    torch.manual_seed(0)
    summary = train(DamageDetector(channels=(4, 8)), _Squares(), _loss, _settings(tmp_path / "run"))
    run = tmp_path / "run"
    rows = list(csv.DictReader(open(run / "loss_log.csv")))
    assert summary["steps"] == 12 and summary["world_size"] == 1 and len(rows) == 12
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"]), "the loss must go down on an easy task"
    assert (run / "loss_curve.png").stat().st_size > 5000
    assert latest_checkpoint(run).name == "step_12" and (run / "final" / "config.json").exists()
    assert json.loads((run / "summary.json").read_text())["steps"] == 12


def test_resume_continues_from_checkpoint(tmp_path):
    torch.manual_seed(0)
    train(DamageDetector(channels=(4, 8)), _Squares(), _loss, _settings(tmp_path / "r", steps=6))
    summary = train(DamageDetector(channels=(4, 8)), _Squares(), _loss, _settings(tmp_path / "r", steps=10))
    rows = list(csv.DictReader(open(tmp_path / "r" / "loss_log.csv")))
    assert summary["steps"] == 10 and [int(r["step"]) for r in rows] == list(range(1, 11))


def test_stop_after_ends_early_on_the_full_schedule_and_resumes_to_the_end(tmp_path):
    torch.manual_seed(0)
    run = tmp_path / "r"
    summary = train(DamageDetector(channels=(4, 8)), _Squares(), _loss, _settings(run, stop_after=7))
    rows = list(csv.DictReader(open(run / "loss_log.csv")))
    assert summary["steps"] == 7 and latest_checkpoint(run).name == "step_7" and (run / "final").exists()
    full = _settings(tmp_path / "full")
    lr_7 = float(rows[-1]["lr"])
    torch.manual_seed(0)
    train(DamageDetector(channels=(4, 8)), _Squares(), _loss, full)
    full_rows = list(csv.DictReader(open(tmp_path / "full" / "loss_log.csv")))
    assert lr_7 == pytest.approx(float(full_rows[6]["lr"])), "the schedule spans steps, not stop_after"
    assert float(full_rows[-1]["lr"]) < lr_7
    summary = train(DamageDetector(channels=(4, 8)), _Squares(), _loss, _settings(run))
    assert summary["steps"] == 12


def test_latest_keeps_the_ema_weights_of_the_newest_checkpoint_when_a_run_breaks_off(tmp_path):
    calls = []

    def breaks_at_step_9(model, batch):
        calls.append(1)
        if len(calls) == 9:
            raise RuntimeError("machine lost")
        return _loss(model, batch)

    torch.manual_seed(0)
    with pytest.raises(RuntimeError, match="machine lost"):
        train(DamageDetector(channels=(4, 8)), _Squares(), breaks_at_step_9, _settings(tmp_path / "r"))
    latest = tmp_path / "r" / "latest"
    assert json.loads((latest / "step.json").read_text()) == {"step": 6}
    assert not (tmp_path / "r" / "final").exists() and not (tmp_path / "r" / "latest.partial").exists()
    # the same 6 steps, resumed from the checkpoint and ended there, export the same EMA weights as final/
    resumed = DamageDetector(channels=(4, 8))
    train(resumed, _Squares(), _loss, _settings(tmp_path / "r", stop_after=6))
    kept = DamageDetector.from_pretrained(latest).state_dict()
    final = DamageDetector.from_pretrained(tmp_path / "r" / "final").state_dict()
    assert kept.keys() == final.keys() and all(torch.equal(kept[k], final[k]) for k in kept)
    raw = resumed.state_dict()
    assert any(not torch.equal(raw[k], kept[k]) for k in kept if raw[k].is_floating_point()), (
        "the EMA weights are exported from a copy: the model being trained keeps its own"
    )


def test_max_minutes_ends_on_time_with_a_checkpoint_and_resumes_on_the_same_schedule(tmp_path):
    def slow(model, batch):
        time.sleep(0.25)
        return _loss(model, batch)

    torch.manual_seed(0)
    run = tmp_path / "r"
    summary = train(DamageDetector(channels=(4, 8)), _Squares(), slow, _settings(run, max_minutes=0.9 / 60))
    rows = list(csv.DictReader(open(run / "loss_log.csv")))
    assert 3 <= summary["steps"] <= 5, "0.9 s of 0.25 s steps ends after step 4 (give or take the machine)"
    assert latest_checkpoint(run).name == f"step_{summary['steps']}" and (run / "final").exists()
    assert int(rows[-1]["step"]) == summary["steps"], "the last step is logged"
    assert float(rows[-1]["lr"]) > 0.3 * 5e-3, "the schedule still spans steps, not the time"
    summary = train(DamageDetector(channels=(4, 8)), _Squares(), _loss, _settings(run))
    assert summary["steps"] == 12


@pytest.mark.parametrize("minutes", [0.0, -1.0])
def test_max_minutes_must_be_positive(tmp_path, minutes):
    with pytest.raises(ValueError, match="max_minutes"):
        train(DamageDetector(channels=(4, 8)), _Squares(), _loss, _settings(tmp_path, max_minutes=minutes))
    assert not any(tmp_path.iterdir()), "refused before any work"


@pytest.mark.parametrize("stop_after", [0, 13])
def test_stop_after_outside_the_schedule_is_refused(tmp_path, stop_after):
    with pytest.raises(ValueError, match="stop_after"):
        train(DamageDetector(channels=(4, 8)), _Squares(), _loss, _settings(tmp_path, stop_after=stop_after))
    assert not any(tmp_path.iterdir()), "refused before any work"


def test_bf16_mixed_precision_runs_model_and_losses_in_bfloat16_and_keeps_float32_weights(tmp_path):
    seen = []

    def loss(model, batch):  # a network of the loss (LPIPS, DISTS) runs where the loss function does
        seen.append(torch.nn.functional.conv2d(batch["image"], torch.ones(1, 3, 3, 3)).dtype)
        return _loss(model, batch)

    torch.manual_seed(0)
    run = tmp_path / "bf16"
    summary = train(DamageDetector(channels=(4, 8)), _Squares(), loss, _settings(run, mixed_precision="bf16"))
    rows = list(csv.DictReader(open(run / "loss_log.csv")))
    assert summary["steps"] == 12 and set(seen) == {torch.bfloat16}
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    back = DamageDetector.from_pretrained(str(run / "final"))
    assert all(p.dtype == torch.float32 for p in back.parameters())
    with pytest.raises(ValueError, match="mixed_precision: expected one of"):
        train(DamageDetector(channels=(4, 8)), _Squares(), _loss, _settings(tmp_path / "bad", mixed_precision="fp8"))
    assert not (tmp_path / "bad").exists(), "refused before any work"


def test_ema_tracks_weights():
    model = torch.nn.Linear(2, 2)
    ema = EMA(model, 0.5)
    with torch.no_grad():
        model.weight.add_(1.0)
    before = ema.shadow["weight"].clone()
    ema.update(model, step=100)
    assert torch.allclose(ema.shadow["weight"], before + 0.5)


@pytest.mark.slow
@pytest.mark.data
def test_two_process_ddp(tmp_path, shared_data):
    """2 training steps of a tiny detector config in 2 processes: real MULTI_CPU DDP on gloo."""
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "-m",
        "artrestore.cli",
        "train-detector",
        "--out",
        str(out),
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--crop",
        "64",
        "--threads",
        "1",
        "--channels",
        "4,8",
        "--log-every",
        "1",
        "--warmup",
        "1",
        "--data",
        str(shared_data / "paintings"),
        "--craquelure",
        str(shared_data / "craquelure"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["distributed_type"] == "DistributedType.MULTI_CPU"
    assert summary["steps"] == 2


def test_loss_curve_plots_columns_logged_only_on_some_steps(tmp_path):
    log = tmp_path / "loss_log.csv"
    log.write_text("step,loss,swap,lr,seconds\n10,0.5,nan,0.001,1.0\n20,0.4,0.3,0.001,2.0\n30,0.3,,0.001,3.0\n")
    plot_loss_curve(log, tmp_path / "curve.png", title="t")
    assert (tmp_path / "curve.png").stat().st_size > 0


def test_param_groups_scale_the_learning_rate_of_named_parameters():
    model = torch.nn.Sequential()
    model.add_module("body", torch.nn.Linear(2, 2))
    model.add_module("head", torch.nn.Sequential())
    model.head.add_module("mod", torch.nn.Linear(2, 2))
    groups = param_groups(model, 1e-3, {".mod.": 10.0})
    by_lr = {g["lr"]: {id(p) for p in g["params"]} for g in groups}
    assert by_lr == {1e-3: {id(p) for p in model.body.parameters()}, 1e-2: {id(p) for p in model.head.parameters()}}
    assert len(param_groups(model, 1e-3)) == 1 and param_groups(model, 1e-3)[0]["lr"] == 1e-3


def test_loss_log_widens_its_header_for_a_column_first_seen_later(tmp_path):
    log = LossLog(tmp_path / "loss_log.csv")
    log.write({"step": 1, "loss": 0.5, "lr": 0.1, "seconds": 1.0})
    log.write({"step": 2, "loss": 0.4, "swap": 0.3, "lr": 0.1, "seconds": 2.0})
    log.write({"step": 3, "loss": 0.3, "lr": 0.1, "seconds": 3.0})
    rows = log.read()
    assert [r["step"] for r in rows] == ["1", "2", "3"]
    assert [r["swap"] for r in rows] == ["", "0.3", ""]
    assert [r["loss"] for r in rows] == ["0.5", "0.4", "0.3"]
    plot_loss_curve(log.path, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 0


def test_loss_log_appends_in_the_files_column_order_after_a_resume(tmp_path):
    log = LossLog(tmp_path / "loss_log.csv")
    log.write({"step": 1, "loss": 0.5, "l1": 0.2, "seconds": 1.0})
    log.write({"step": 2, "loss": 0.4, "l1": 0.1, "seconds": 2.0})
    assert [r["step"] for r in log.truncate(1)] == ["1"]
    resumed = LossLog(tmp_path / "loss_log.csv")
    resumed.write({"step": 2, "l1": 0.15, "seconds": 2.5, "loss": 0.45})  # keys in another order
    rows = resumed.read()
    assert [(r["step"], r["loss"], r["l1"]) for r in rows] == [("1", "0.5", "0.2"), ("2", "0.45", "0.15")]

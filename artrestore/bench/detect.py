"""The ``detect`` section of the bench: how well the detector and classical crack detectors find damage."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import DetectBenchConfig
from ..damage import DamageSimulator, DamageType, derive_seed
from ..data import PaintingCollection, center_square, split_collection
from ..data.craquelure_pairs import crack_pairs, load_pair
from ..data.image_cache import load_training_image
from ..detection import DamageDetector, adaptive_cracks, decide, decision_settings, predict_tiled, tophat_cracks
from ..detection.calibration import VISIBLE_FADE
from ..io import load_image
from ..metrics import boundary_f1, f1, iou, lpips

# synthetic kind -> the damage-type code that is scored
SYNTHETIC = {
    "crack": DamageType.CRACK,
    "scratch": DamageType.SCRATCH,
    "small_loss": DamageType.LOSS,
    "large_loss": DamageType.LOSS,
}
CLASSICAL = {"tophat": tophat_cracks, "adaptive": adaptive_cracks}


def _scores(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    p, t = torch.from_numpy(pred)[None], torch.from_numpy(target)[None]
    return {"iou": float(iou(p, t)), "f1": float(f1(p, t)), "boundary_f1": float(boundary_f1(p, t))}


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0  # (1, 3, h, w)


def restoration_bound(clean: np.ndarray, damaged: np.ndarray, found: np.ndarray, true: np.ndarray) -> dict:
    """How far restoring only the detected pixels can go: the damaged painting with exactly the detected pixels
    put back to the clean ones (a perfect restoration of the detected region) against the clean painting.

    Args:
        clean: (h, w, 3) uint8 ground truth.
        damaged: (h, w, 3) uint8 damaged painting.
        found: (h, w) bool detected region.
        true: (h, w) bool truly damaged region.

    Returns:
        ``recall`` (share of the true region detected), ``lpips_input`` (nothing restored) and ``lpips_bound``.
    """
    perfect = np.where(found[..., None], clean, damaged)
    ref = _to_tensor(clean)
    return {
        "recall": float((found & true).sum() / max(1, true.sum())),
        "lpips_input": float(lpips(_to_tensor(damaged), ref, "alex")),
        "lpips_bound": float(lpips(_to_tensor(perfect), ref, "alex")),
    }


def _bound_markdown(records: list[dict]) -> str:
    lines = [
        "| damage | n | recall of the damaged pixels ↑ | LPIPS, damaged input | LPIPS, detected pixels restored "
        "perfectly ↓ |",
        "|---|---|---|---|---|",
    ]
    kinds: dict[str, list[dict]] = {}
    for r in records:
        if "lpips_bound" in r:
            kinds.setdefault(r["kind"], []).append(r)
    for kind, rs in kinds.items():
        cells = [f"{np.mean([r[k] for r in rs]):.4f}" for k in ("recall", "lpips_input", "lpips_bound")]
        lines.append(f"| {kind} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def intact_markdown(records: list[dict], target: float = 0.005) -> str:
    """The table of what the detector marks on undamaged paintings (target: at most ``target`` of the pixels)."""
    rs = [r for r in records if r["set"] == "intact"]
    if not rs:
        return ""
    damage = np.array([r["damage_share"] for r in rs])
    fade = np.array([r["fade_share"] for r in rs])
    total = damage + fade
    return (
        "| intact paintings | damage marked | fading marked | both (target ≤ "
        f"{100 * target:.1f} %) | worst painting | paintings above target |\n|---|---|---|---|---|---|\n"
        f"| {len(rs)} | {100 * damage.mean():.2f} % | {100 * fade.mean():.2f} % | {100 * total.mean():.2f} % | "
        f"{100 * total.max():.2f} % | {int((total > target).sum())} |\n"
    )


def _mean_rows(records: list[dict]) -> list[dict]:
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in records:
        if "lpips_bound" not in r and r["set"] != "intact":  # the restoration bound and intact have their own tables
            groups.setdefault((r["set"], r["target"], r["method"]), []).append(r)
    rows = []
    for (set_name, target, method), rs in groups.items():
        row = {"set": set_name, "target": target, "method": method, "n": len(rs)}
        for k in ("iou", "f1", "boundary_f1", "fade_mae"):
            vals = [r[k] for r in rs if k in r]
            if vals:
                row[k] = float(np.mean(vals))
        rows.append(row)
    return rows


def _markdown(rows: list[dict], speed: dict, settings: dict) -> str:
    lines = [
        "| set | damage | method | n | IoU ↑ | F1 ↑ | boundary F1 ↑ | fade MAE ↓ |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [f"{r[k]:.3f}" if k in r else "–" for k in ("iou", "f1", "boundary_f1", "fade_mae")]
        lines.append(f"| {r['set']} | {r['target']} | {r['method']} | {r['n']} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"Fading: IoU / F1 / boundary F1 of the reported faded region against true strength >= {VISIBLE_FADE}. "
        f"Decisions: damage threshold {settings['damage_threshold']:g}, "
        f"fade threshold {settings['fade_threshold']:g}, "
        f"type weights crack/scratch/loss {'/'.join(f'{w:g}' for w in settings['type_weights'])}, "
        f"type vote {settings['type_vote']} px (the detector's calibrated settings)."
    )
    lines.append("")
    lines.append(
        f"Detector speed: {speed['seconds_per_megapixel']:.2f} s per megapixel on {speed['threads']} threads "
        f"({speed['width']}x{speed['height']} image, median of {speed['runs']} runs)."
    )
    return "\n".join(lines) + "\n"


def run_detect_bench(config: DetectBenchConfig) -> dict:
    """Score detection on held-out synthetic damage and on the held-out real craquelure; time the detector.

    Args:
        config: :class:`~artrestore.config.DetectBenchConfig`.

    Returns:
        ``{"config", "rows", "records", "speed"}``; also written to ``<out>/results.json`` and ``results.md``.
    """
    if not Path(config.detector, "config.json").exists():
        raise ValueError(f"detector: no saved DamageDetector in {config.detector} (train one with train-detector)")
    torch.set_num_threads(config.threads)
    model = DamageDetector.from_pretrained(config.detector).eval()
    settings = decision_settings(model)  # the detector's calibrated thresholds and type weights
    paintings = split_collection(PaintingCollection.scan(config.data), "val").records
    if config.limit is not None:
        paintings = paintings[: config.limit]
    real = crack_pairs(config.craquelure, "val")
    simulator = DamageSimulator()
    records: list[dict] = []
    for painting in tqdm(paintings, desc="detect: synthetic"):
        clean = center_square(load_image(painting.path).to_uint8(), config.size)
        for kind in (*SYNTHETIC, "fading", "mixed"):
            sample = simulator.simulate(clean, kind, derive_seed(config.seed, painting.painting_id, kind, "detect"))
            probs, fade = predict_tiled(model, sample.image)
            found = decide(probs, fade, **settings)
            base = {"set": "synthetic", "painting": painting.painting_id, "kind": kind}
            detected, true = (found.fade > 0, sample.fade > 0) if kind == "fading" else (found.mask, sample.mask)
            records.append(
                {
                    **base,
                    "target": "restoration bound",
                    "method": "detector",
                    **restoration_bound(clean, sample.image, detected, true),
                }
            )
            if kind in SYNTHETIC:
                code = SYNTHETIC[kind]
                records.append(
                    {
                        **base,
                        "target": kind,
                        "method": "detector",
                        **_scores(found.types == code, sample.types == code),
                    }
                )
                if kind == "crack":
                    for name, fn in CLASSICAL.items():
                        records.append(
                            {**base, "target": kind, "method": name, **_scores(fn(sample.image), sample.mask)}
                        )
            elif kind == "fading":
                records.append(
                    {
                        **base,
                        "target": "fading",
                        "method": "detector",
                        "fade_mae": float(np.abs(found.fade - sample.fade).mean()),
                        **_scores(found.fade > 0, sample.fade >= VISIBLE_FADE),
                    }
                )
            else:
                records.append(
                    {
                        **base,
                        "target": "mixed (any binary damage)",
                        "method": "detector",
                        **_scores(found.mask, sample.mask),
                    }
                )
    for painting in tqdm(paintings, desc="detect: intact paintings"):
        intact = load_training_image(painting, config.intact_side)  # the whole painting, undamaged
        found = decide(*predict_tiled(model, intact), **settings)
        records.append(
            {
                "set": "intact",
                "target": "nothing",
                "painting": painting.painting_id,
                "damage_share": float(found.mask.mean()),
                "fade_share": float((found.fade > 0).mean()),
                "pixels": int(found.mask.size),
            }
        )
    for pair in tqdm(real, desc="detect: real craquelure"):
        image, crack = load_pair(pair)
        probs, fade = predict_tiled(model, image)
        found = decide(probs, fade, **settings)
        base = {"set": "real craquelure", "painting": f"{pair.school}/{pair.image.stem}", "target": "crack"}
        records.append({**base, "method": "detector", **_scores(found.mask, crack)})
        for name, fn in CLASSICAL.items():
            records.append({**base, "method": name, **_scores(fn(image), crack)})

    side = int(round(np.sqrt(config.speed_megapixels * 1e6)))
    big = (
        center_square(load_image(paintings[0].path).to_uint8(), side)
        if paintings
        else np.zeros((side, side, 3), np.uint8)
    )
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        decide(*predict_tiled(model, big), **settings)
        times.append(time.perf_counter() - t0)
    speed = {
        "seconds_per_megapixel": float(np.median(times)) / (side * side / 1e6),
        "width": side,
        "height": side,
        "runs": len(times),
        "threads": config.threads,
    }
    rows = _mean_rows(records)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {
        "config": dataclasses.asdict(config),
        "decisions": settings,
        "rows": rows,
        "records": records,
        "speed": speed,
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "results.md").write_text(
        f"# Detection bench ({len(paintings)} validation paintings at {config.size} px, "
        f"{len(real)} held-out real close-ups)\n\n" + _markdown(rows, speed, settings) + "\n## What detection "
        "leaves for restoration\n\nEach synthetic case with exactly the detected pixels set back to the clean "
        "painting: the best LPIPS any restoration of the detected region can reach (binary damage; faded pixels for "
        "fading). Missed pixels stay damaged.\n\n" + _bound_markdown(records) + "\n## Intact paintings\n\n"
        f"The validation paintings as they are (no damage), whole, at {config.intact_side} px: every marked pixel "
        "would be repainted by `restore --auto`.\n\n" + intact_markdown(records)
    )
    return results

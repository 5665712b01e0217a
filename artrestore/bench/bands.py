"""``artrestore bench-bands``: where a method's fill errs, in its layout or in its detail.

For each validation painting and damage kind, a method restores the damage; then, for each Gaussian scale sigma,
the hole's layout (everything above sigma) or its detail (below) is swapped for the clean painting's
(:func:`~artrestore.metrics.bands.swap_band`). The LPIPS-alex and DISTS of each swap, against the method's own, say
how much a perfect layout or perfect detail would be worth.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm.auto import tqdm

from ..baselines.registry import get_method
from ..config import BandBenchConfig
from ..damage import DamageSimulator, derive_seed
from ..damage.types import KINDS
from ..data import PaintingCollection, center_square, split_collection
from ..io import load_image
from ..metrics.bands import swap_band
from .harness import score_outputs
from .mask_families import MASK_FAMILIES, bench_sample
from .model_method import is_model_method, register_model_methods


def _parse(config: BandBenchConfig) -> tuple[list[str], list[float]]:
    kinds = [k.strip() for k in config.kinds.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS + MASK_FAMILIES]
    if bad or not kinds:
        raise ValueError(f"kinds: unknown damage kinds {bad}; accepted: {', '.join(KINDS + MASK_FAMILIES)}")
    try:
        sigmas = [float(s) for s in config.sigmas.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"sigmas: expected comma-separated numbers of pixels, got {config.sigmas!r}") from None
    if not sigmas or any(not s > 0 for s in sigmas):
        raise ValueError(f"sigmas: expected positive numbers of pixels, got {config.sigmas!r}")
    if config.limit < 1:
        raise ValueError(f"limit: expected a positive number of paintings, got {config.limit}")
    if config.size < 64:
        raise ValueError(f"size: expected at least 64 pixels, got {config.size}")
    return kinds, sigmas


def band_rows(records: list[dict], kinds: list[str], sigmas: list[float]) -> list[dict]:
    """Mean LPIPS / DISTS per kind and variant, and the change against the method's own restoration.

    Args:
        records: one dict per case and variant: ``kind``, ``variant`` (``"method"``, ``"layout"`` or
            ``"detail"``), ``sigma`` (None for the method's own), ``lpips``, ``dists``.
        kinds: the damage kinds, in report order.
        sigmas: the scales, in report order.
    """

    def mean(kind: str, variant: str, sigma: float | None, key: str) -> float:
        vals = [r[key] for r in records if r["kind"] == kind and r["variant"] == variant and r["sigma"] == sigma]
        return float(np.mean(vals)) if vals else float("nan")

    rows = []
    for kind in kinds:
        own = {key: mean(kind, "method", None, key) for key in ("lpips", "dists")}
        for sigma in sigmas:
            row = {"kind": kind, "sigma": sigma, "method_lpips": own["lpips"], "method_dists": own["dists"]}
            for band in ("layout", "detail"):
                for key in ("lpips", "dists"):
                    value = mean(kind, band, sigma, key)
                    row[f"{band}_{key}"] = value
                    row[f"{band}_{key}_change"] = value / own[key] - 1 if own[key] > 0 else float("nan")
            rows.append(row)
    return rows


def bands_markdown(rows: list[dict], config: BandBenchConfig, paintings: int) -> str:
    """The report: one table per kind, changes in percent against the method's own restoration."""
    lines = [
        f"# Where the fill errs: {config.method} on {paintings} validation paintings at {config.size} px",
        "",
        "Each restored hole with one spatial band swapped for the clean painting's: the true layout (the clean",
        "painting's Gaussian blur at sigma, with the restoration's own detail) or the true detail (the restoration's",
        "blur with the clean painting's detail). LPIPS-alex / DISTS, and the change against the restoration itself.",
        "",
    ]
    for kind in dict.fromkeys(r["kind"] for r in rows):
        mine = [r for r in rows if r["kind"] == kind]
        lines += [
            f"## {kind}: the restoration itself {mine[0]['method_lpips']:.4f} / {mine[0]['method_dists']:.4f}",
            "",
            "| sigma (px) | true layout | change | true detail | change |",
            "|---|---|---|---|---|",
        ]
        for r in mine:
            lines.append(
                f"| {r['sigma']:g} | {r['layout_lpips']:.4f} / {r['layout_dists']:.4f} | "
                f"{100 * r['layout_lpips_change']:+.1f} % / {100 * r['layout_dists_change']:+.1f} % | "
                f"{r['detail_lpips']:.4f} / {r['detail_dists']:.4f} | "
                f"{100 * r['detail_lpips_change']:+.1f} % / {100 * r['detail_dists_change']:+.1f} % |"
            )
        lines.append("")
    return "\n".join(lines)


def run_band_bench(config: BandBenchConfig) -> dict:
    """Run the band bench and write ``bands.json`` and ``bands.md`` to ``config.out``.

    Args:
        config: :class:`~artrestore.config.BandBenchConfig`.

    Returns:
        ``{"config", "paintings", "rows", "records", "seconds"}``.

    Raises:
        ValueError: an unknown kind or method, a bad sigma, limit or size, or no validation paintings; all before
            the model loads.
    """
    kinds, sigmas = _parse(config)
    if not is_model_method(config.method):
        get_method(config.method)  # raises on unknown names
    paintings = split_collection(PaintingCollection.scan(config.data), "val").records[: config.limit]
    if not paintings:
        raise ValueError(f"data: no validation paintings in {config.data}")
    torch.set_num_threads(config.threads)
    cv2.setNumThreads(config.threads)
    register_model_methods([config.method], config.model)
    method = get_method(config.method)
    simulator = DamageSimulator()
    start = time.perf_counter()
    records = []
    for painting in tqdm(paintings, desc="bench-bands", unit="painting"):
        clean = center_square(load_image(painting.path).to_uint8(), config.size)
        for kind in kinds:
            seed = derive_seed(config.seed, painting.painting_id, kind)
            sample = bench_sample(clean, kind, seed, simulator)
            extra = {"artist": painting.artist} if method.takes_artist else {}
            restored = method.fn(sample.image.copy(), sample.mask.copy(), sample.fade.copy(), **extra)
            r = torch.from_numpy(restored).permute(2, 0, 1)[None].float() / 255.0  # (1, 3, h, w)
            c = torch.from_numpy(clean).permute(2, 0, 1)[None].float() / 255.0
            m = torch.from_numpy(sample.mask)[None, None].float()  # (1, 1, h, w)
            outputs, variants = [restored], [("method", None)]
            for sigma in sigmas:
                for band in ("layout", "detail"):
                    swapped = swap_band(r, c, m, sigma, band=band)[0]  # (3, h, w)
                    outputs.append((swapped.permute(1, 2, 0) * 255.0).round().to(torch.uint8).numpy())
                    variants.append((band, sigma))
            for (variant, sigma), score in zip(variants, score_outputs(clean, sample, outputs)):
                records.append(
                    {
                        "painting": painting.painting_id,
                        "kind": kind,
                        "variant": variant,
                        "sigma": sigma,
                        "lpips": score["lpips"],
                        "dists": score["dists"],
                    }
                )
    rows = band_rows(records, kinds, sigmas)
    result = {
        "config": {k: getattr(config, k) for k in config.__dataclass_fields__},
        "paintings": len(paintings),
        "rows": rows,
        "records": records,
        "seconds": round(time.perf_counter() - start, 1),
    }
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bands.json").write_text(json.dumps(result, indent=1))
    (out / "bands.md").write_text(bands_markdown(rows, config, len(paintings)))
    return result

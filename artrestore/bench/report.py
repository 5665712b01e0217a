"""Bench reports: aggregate per-image records into per-(method, kind) rows, a Markdown table and plots."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# (record key, column title, format, aggregate)
COLUMNS = (
    ("lpips", "LPIPS-alex ↓", "{:.4f}", "mean"),
    ("dists", "DISTS ↓", "{:.4f}", "mean"),
    ("psnr", "masked PSNR ↑", "{:.2f}", "mean"),
    ("ssim", "masked SSIM ↑", "{:.3f}", "mean"),
    ("region_de", "region ΔE00 ↓", "{:.2f}", "mean"),
    ("seam_de", "seam ΔE00 ↓", "{:.2f}", "mean"),
    ("seam_lpips", "seam LPIPS ↓", "{:.4f}", "mean"),
    ("violation", "certificate violation ↓", "{:.3f}", "mean"),
    ("untouched_changed", "untouched_changed", "{:d}", "sum"),
    ("seconds", "s / image", "{:.3f}", "mean"),
    ("seconds", "median s", "{:.3f}", "median"),
    ("peak_mb", "peak MB (extra)", "{:.0f}", "max"),
)


def _agg(values: list[float], how: str) -> float:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return float("nan")
    if how == "sum":
        return int(sum(vals))
    if how == "max":
        return float(max(vals))
    if how == "median":
        return float(np.median(vals))
    finite = [v for v in vals if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("inf")


def aggregate(records: Sequence[dict], methods: Sequence[str], kinds: Sequence[str]) -> list[dict]:
    """One row per (kind, method) with the aggregated columns and the image count ``n``."""
    rows = []
    for kind in kinds:
        for method in methods:
            sel = [r for r in records if r["kind"] == kind and r["method"] == method]
            if not sel:
                continue
            row = {"kind": kind, "method": method, "n": len(sel)}
            for key, title, _, how in COLUMNS:
                row[title] = _agg([r.get(key) for r in sel], how)
            rows.append(row)
    return rows


def worse_share(
    records: Sequence[dict], method: str, reference: str, *, tolerance: float = 0.05, key: str = "lpips"
) -> dict[str, tuple[int, int]]:
    """Per damage kind (and ``"all"``), how many cases ``method`` scores worse than ``reference`` on the same
    painting and damage by more than ``tolerance`` (relative, on ``key``; lower is better).

    Returns:
        ``{kind: (worse, cases)}`` over the (painting, kind) cases both methods have a finite score for.
    """
    ref = {(r["painting"], r["kind"]): r.get(key) for r in records if r["method"] == reference}
    counts: dict[str, list[int]] = {}
    for r in records:
        base = ref.get((r["painting"], r["kind"]))
        value = r.get(key)
        if r["method"] != method or base is None or value is None:
            continue
        if not (math.isfinite(base) and math.isfinite(value)):
            continue
        for kind in (r["kind"], "all"):
            c = counts.setdefault(kind, [0, 0])
            c[0] += int(value > base * (1 + tolerance))
            c[1] += 1
    return {kind: (c[0], c[1]) for kind, c in counts.items()}


def _fmt(value: float, fmt: str) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return fmt.format(int(value) if fmt == "{:d}" else value)


def markdown_table(rows: Sequence[dict]) -> str:
    """Rows are damage kinds (one line per method); columns are the metrics of :data:`COLUMNS`."""
    titles = [c[1] for c in COLUMNS]
    lines = ["| damage | method | n | " + " | ".join(titles) + " |", "|" + "---|" * (3 + len(titles))]
    for row in rows:
        cells = [_fmt(row[title], fmt) for _, title, fmt, _ in COLUMNS]
        lines.append(f"| {row['kind']} | {row['method']} | {row['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_rows(rows: Sequence[dict], path: str, title: str = "") -> None:
    """Grouped bar charts (one panel per key metric): damage kinds on x, one bar per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    panels = ["LPIPS-alex ↓", "DISTS ↓", "masked PSNR ↑", "seam ΔE00 ↓", "region ΔE00 ↓", "s / image"]
    fig, axes = plt.subplots(2, 3, figsize=(16, 8.5))
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(kinds))
    for ax, metric in zip(axes.flat, panels):
        for j, method in enumerate(methods):
            vals = []
            for kind in kinds:
                row = next((r for r in rows if r["kind"] == kind and r["method"] == method), None)
                v = row[metric] if row else float("nan")
                vals.append(v if math.isfinite(v) else float("nan"))
            ax.bar(x + (j - (len(methods) - 1) / 2) * width, vals, width, label=method)
        ax.set_xticks(x, kinds, rotation=20)
        ax.set_title(metric)
        if metric != "masked PSNR ↑":  # 'none' dwarfs the methods on a linear scale
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

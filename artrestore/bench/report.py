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


# bins of the widest hole of an image (px): how far a fill must reach from undamaged paint
HOLE_WIDTH_EDGES = (0.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, math.inf)


def hole_width(mask: np.ndarray) -> float:
    """Width in pixels of the widest binary hole: 2 d - 1, where d is the largest distance from a damaged pixel's
    centre to the nearest undamaged one (a crack 3 px across is 3 wide, a round loss of 100 px about 100). A loss
    on the image's edge counts twice its reach, as if mirrored. 0 without damage.

    Args:
        mask: (H, W) bool, True where paint is lost.
    """
    import cv2

    if not mask.any():
        return 0.0
    # distance of each damaged pixel's centre to the nearest undamaged one; outside the image is no paint to copy
    # from, so a loss on the edge counts as wide as twice its reach
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)  # (H, W)
    return float(2 * dist.max() - 1)


def by_hole_width(
    records: Sequence[dict],
    methods: Sequence[str],
    reference: str,
    *,
    edges: Sequence[float] = HOLE_WIDTH_EDGES,
) -> list[dict]:
    """Per bin of the widest hole (``hole_px`` of the records) and method: the cases, mean LPIPS and DISTS, and
    the change of each mean against ``reference`` on the same cases (painting and damage).

    Records without ``hole_px`` (or with no binary hole) are left out.

    Returns:
        One row per (bin, method) with ``lo``, ``hi``, ``method``, ``n``, ``lpips``, ``dists``, ``lpips_change``,
        ``dists_change`` (relative; NaN without reference cases).
    """
    ref = {(r["painting"], r["kind"]): r for r in records if r["method"] == reference}
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        for method in methods:
            sel = [
                r
                for r in records
                if r["method"] == method and lo < r.get("hole_px", 0.0) <= hi and (r["painting"], r["kind"]) in ref
            ]
            if not sel:
                continue
            row = {"lo": lo, "hi": hi, "method": method, "n": len(sel)}
            for key in ("lpips", "dists"):
                mine = float(np.mean([r[key] for r in sel]))
                base = float(np.mean([ref[(r["painting"], r["kind"])][key] for r in sel]))
                row[key] = mine
                row[f"{key}_change"] = mine / base - 1 if base > 0 else float("nan")
            rows.append(row)
    return rows


def _bin_name(lo: float, hi: float) -> str:
    return f"over {lo:g}" if math.isinf(hi) else f"{lo:g}-{hi:g}"


def hole_width_markdown(rows: Sequence[dict], reference: str) -> str:
    """The rows of :func:`by_hole_width` as a Markdown table."""
    lines = [
        f"| widest hole (px) | method | n | LPIPS-alex ↓ | DISTS ↓ | vs {reference} (LPIPS / DISTS) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        change = f"{r['lpips_change']:+.1%} / {r['dists_change']:+.1%}"
        lines.append(
            f"| {_bin_name(r['lo'], r['hi'])} | {r['method']} | {r['n']} | {r['lpips']:.4f} | {r['dists']:.4f} | "
            f"{change} |"
        )
    return "\n".join(lines) + "\n"


def plot_by_hole_width(rows: Sequence[dict], path: str, reference: str) -> None:
    """Each method's LPIPS and DISTS change against ``reference`` per bin of the widest hole (two panels)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = list(dict.fromkeys((r["lo"], r["hi"]) for r in rows))
    methods = [m for m in dict.fromkeys(r["method"] for r in rows) if m != reference]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    x = np.arange(len(bins))
    width = 0.8 / max(1, len(methods))
    for ax, key, title in zip(axes, ("lpips_change", "dists_change"), ("LPIPS-alex", "DISTS")):
        for j, method in enumerate(methods):
            vals = []
            for b in bins:
                row = next((r for r in rows if (r["lo"], r["hi"]) == b and r["method"] == method), None)
                vals.append(100 * row[key] if row else float("nan"))
            ax.bar(x + (j - (len(methods) - 1) / 2) * width, vals, width, label=method)
        counts = [next((r["n"] for r in rows if (r["lo"], r["hi"]) == b), 0) for b in bins]
        ax.set_xticks(x, [f"{_bin_name(*b)}\n(n={n})" for b, n in zip(bins, counts)], fontsize=8)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xlabel("widest hole (px)")
        ax.set_ylabel(f"% against {reference} (below 0: better)")
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

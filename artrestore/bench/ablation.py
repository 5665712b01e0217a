"""Ablation variants of ArtRestore-Diffusion: each one switches a mechanism of the shipped model off.

Every variant goes through an official switch of the restore call: a :class:`~artrestore.hub.ComponentSwitches`
field (FiLM, AdaLN, style tokens, style, pixel compositing, boundary correction), a call argument (``top_k``,
``retrieval``, ``fading``, the number of steps, the artist) or how the damage is handed over. They are
inference-time ablations of the trained model (no retraining), so all variants share one loaded pipeline and one
bench run; the training-side ablation (no multi-scale crops) needs a training run of its own and is not listed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..hub.settings import ComponentSwitches


@dataclass(frozen=True)
class Ablation:
    """One variant: what it removes and how the restore call changes.

    Attributes:
        name: short name (used in bench method names: ``artrestore!<name>``).
        removes: what is switched off, in words.
        call: keyword overrides of the restore call (``top_k``, ``retrieval``, ``steps``, ``artist``, ``fading``,
            ``switches``).
        damage: ``fn(mask, fade) -> (mask, fade)`` changing how the damage is handed to the pipeline, or None.
        denoises: the variant only exists where something is denoised (strength above 0); at strength 0 the
            pipeline refuses its call, and ``artrestore ablate`` leaves it out and says so.
    """

    name: str
    removes: str
    call: dict[str, Any] = field(default_factory=dict)
    damage: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
    denoises: bool = False


def _off(**switches: bool) -> dict[str, Any]:
    return {"switches": ComponentSwitches(**switches)}


def _binary_fading(mask: np.ndarray, fade: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """No continuous-mask path: faded pixels become binary damage (regenerated fully), no fade map."""
    return mask | (fade > 0), np.zeros_like(fade)


ABLATIONS: dict[str, Ablation] = {
    a.name: a
    for a in (
        Ablation("full", "nothing (the shipped model at default settings)"),
        Ablation("no_film", "FiLM damage modulation (mask only through input concatenation)", _off(film=False)),
        Ablation("no_continuous", "the continuous fade path (fading treated as binary damage)", damage=_binary_fading),
        Ablation(
            "no_varnish_inversion",
            "the varnish inversion (faded areas denoised with per-pixel strength instead)",
            {"fading": "diffuse"},
            denoises=True,
        ),
        Ablation("no_adaln", "style AdaLN (style no longer shifts/scales the norms)", _off(style_adaln=False)),
        Ablation(
            "no_style_xattn", "style cross-attention tokens (null-style tokens instead)", _off(style_tokens=False)
        ),
        Ablation(
            "no_style", "style everywhere (null style for AdaLN and tokens, no artist palette)", _off(style=False)
        ),
        Ablation(
            "no_artist_palette",
            "the named artist's palette where the painting does not look like that artist",
            _off(artist_palette=False),
        ),
        Ablation("no_retrieval", "retrieved memory-bank tokens", {"top_k": 0}),
        Ablation("random_retrieval", "retrieval by similarity (random bank patches)", {"retrieval": "random"}),
        Ablation("no_artist_filter", "the artist filter of retrieval", {"retrieval": "none"}),
        Ablation("one_step", "denoising steps (1 instead of the default)", {"steps": 1}),
        Ablation(
            "no_compositing", "pixel-space compositing (decoded tiles pasted whole)", _off(pixel_compositing=False)
        ),
        Ablation("no_boundary_correction", "boundary colour correction", _off(boundary_correction=False)),
        Ablation("wrong_artist", "the right artist (conditioned on another main artist)", {"artist": "wrong"}),
        Ablation(
            "unnamed_artist",
            "the artist's name (the style inferred from the painting's undamaged paint)",
            {"artist": None},
        ),
        Ablation(
            "no_refiner",
            "the exemplar refiner and the membrane layout (the first fill kept as it is)",
            _off(exemplar_refiner=False, membrane_layout=False),
        ),
        Ablation(
            "no_membrane_layout",
            "the membrane layout (the refined fill keeps its own broad colours)",
            _off(membrane_layout=False),
        ),
    )
}


def ablation(name: str) -> Ablation:
    """The variant ``name`` of :data:`ABLATIONS` (``ValueError`` naming the accepted ones otherwise)."""
    if name not in ABLATIONS:
        raise ValueError(f"ablation: unknown variant {name!r}; accepted: {', '.join(ABLATIONS)}")
    return ABLATIONS[name]


def ablation_methods(config: Any, *, default_strength: float) -> tuple[str, list[str], list[str]]:
    """The bench methods of an ablation run: ``full`` first, then every variant, then the baselines.

    Args:
        config: :class:`~artrestore.config.AblateConfig`; its ``strength`` and ``guidance_scale``, when given, apply
            to every variant (``artrestore~<strength>^<guidance>!<variant>``).
        default_strength: the model's ``default_strength``, the strength when ``config.strength`` is None.

    Returns:
        (the method-name prefix before each variant's ``!``, without ``artrestore``; the method names; the variants
        left out because they only exist where something is denoised and the strength is 0).
    """
    variants = [v.strip() for v in config.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in ABLATIONS]
    if unknown or not variants:
        raise ValueError(f"variants: unknown {unknown}; accepted: {', '.join(ABLATIONS)}")
    if "full" not in variants:
        variants.insert(0, "full")
    if config.strength is not None and not 0 <= config.strength <= 1:
        raise ValueError(f"strength: expected a number in [0, 1], got {config.strength!r}")
    strength = default_strength if config.strength is None else config.strength
    left_out = [v for v in variants if ABLATIONS[v].denoises and strength <= 0]
    guided = f"~{config.strength:g}" if config.strength is not None else ""
    guided += f"^{config.guidance_scale:g}" if config.guidance_scale is not None else ""
    baselines = [m.strip() for m in config.baselines.split(",") if m.strip()]
    methods = [f"artrestore{guided}!{v}" for v in variants if v not in left_out]
    return guided, methods + baselines, left_out


def model_default_strength(model: str) -> float:
    """The ``default_strength`` in a model folder's ``model_index.json``; the shipped default where the folder (or
    the key) is absent, as for a Hub id."""
    from ..hub.settings import PipelineSettings

    index = Path(model) / "model_index.json"
    if not index.is_file():
        return float(PipelineSettings.default_strength)
    return float(json.loads(index.read_text()).get("default_strength", PipelineSettings.default_strength))


def run_ablation(config: Any) -> dict:
    """``artrestore ablate``: the bench with every variant on the same damaged paintings, plus a summary.

    Writes the bench report to ``config.out`` and ``ablation.md`` / ``ablation.png``: per variant and damage kind,
    the mean LPIPS, DISTS, region ΔE00 and certificate violation rate, and the LPIPS change against ``full``.
    The style discrimination (AUC of the certificate distance, wrong-artist against right-artist conditioning)
    is computed from the ``full`` and ``wrong_artist`` records.

    Args:
        config: :class:`~artrestore.config.AblateConfig`.
    """
    from ..config import BenchConfig
    from .harness import run_bench

    default_strength = model_default_strength(config.model)
    guided, methods, left_out = ablation_methods(config, default_strength=default_strength)  # validates the config
    strength = default_strength if config.strength is None else config.strength
    for name in left_out:
        print(f"ablate: {name} left out: it denoises, and at strength {strength:g} nothing is denoised")
    bench = BenchConfig(
        data=config.data,
        out=config.out,
        methods=",".join(methods),
        model=config.model,
        kinds=config.kinds,
        size=config.size,
        limit=config.limit,
        min_works=config.min_works,
        split=config.split,
        threads=config.threads,
        examples=config.examples,
    )
    results = run_bench(bench)
    kinds = [k for k in config.kinds.split(",") if k]
    rows = _summary_rows(results["records"], methods, kinds, f"artrestore{guided}!")
    aucs = {
        key: wrong_artist_auc(results["records"], f"artrestore{guided}!", field)
        for key, field in (
            ("issued", "issued_style_distance"),
            ("issued_violation", "issued_violation"),
            ("true_artist", "style_distance"),
        )
    }
    aucs["closer"] = true_artist_closer_share(results["records"], f"artrestore{guided}!")
    summary = {
        "config": dataclasses.asdict(config),
        "strength": strength,
        "left_out": left_out,
        "rows": rows,
        "wrong_artist_auc": aucs["issued"][0],
        "wrong_artist_auc_violation_rate": aucs["issued_violation"][0],
        "wrong_artist_auc_true_artist": aucs["true_artist"][0],
        "pairs": aucs["issued"][1],
        "true_artist_closer_share": aucs["closer"][0],
    }
    out = Path(config.out)
    (out / "ablation.json").write_text(json.dumps(summary, indent=1, default=float))
    (out / "ablation.md").write_text(_ablation_markdown(rows, aucs, strength=strength, left_out=left_out))
    _ablation_plot(rows, str(out / "ablation.png"))
    return summary


def _summary_rows(
    records: list[dict], methods: list[str], kinds: list[str], prefix: str = "artrestore!"
) -> list[dict]:
    rows = []
    for kind in kinds:
        full = [r["lpips"] for r in records if r["kind"] == kind and r["method"] == f"{prefix}full"]
        base = float(np.mean(full)) if full else float("nan")
        for m in methods:
            sel = [r for r in records if r["kind"] == kind and r["method"] == m]
            if not sel:
                continue
            lp = float(np.mean([r["lpips"] for r in sel]))
            rows.append(
                {
                    "kind": kind,
                    "variant": m.removeprefix(prefix),
                    "removes": ABLATIONS[m.removeprefix(prefix)].removes if m.startswith(prefix) else "",
                    "lpips": lp,
                    "lpips_change": (lp / base - 1) if base == base and base > 0 else float("nan"),
                    "dists": float(np.mean([r["dists"] for r in sel])),
                    "region_de": float(np.mean([r["region_de"] for r in sel])),
                    "violation": float(np.nanmean([r["violation"] for r in sel])) if sel else float("nan"),
                    "untouched_changed": int(sum(r["untouched_changed"] for r in sel)),
                    "n": len(sel),
                }
            )
    return rows


def _wrong_artist_pairs(records: list[dict], prefix: str, field: str) -> list[tuple[float, float]]:
    """(right-artist, wrong-artist) values of ``field`` per painting and damage kind, where both are finite."""

    def by_case(method: str) -> dict:
        return {(r["painting"], r["kind"]): r[field] for r in records if r["method"] == method}

    right, wrong = by_case(f"{prefix}full"), by_case(f"{prefix}wrong_artist")
    return [(right[k], wrong[k]) for k in right if k in wrong and np.isfinite(right[k]) and np.isfinite(wrong[k])]


def true_artist_closer_share(records: list[dict], prefix: str) -> tuple[float | None, int]:
    """Share of paintings whose restoration for the true artist is closer to that artist (the certificate's
    ``style_distance``) than the restoration for a wrong artist; ties count half. None without pairs."""
    pairs = _wrong_artist_pairs(records, prefix, "style_distance")
    if not pairs:
        return None, 0
    return float(np.mean([1.0 if r < w else 0.5 if r == w else 0.0 for r, w in pairs])), len(pairs)


def wrong_artist_auc(records: list[dict], prefix: str, field: str) -> tuple[float | None, int]:
    """AUC that a wrong-artist restoration has a larger certificate distance than the right-artist one.

    Args:
        records: bench records holding the ``<prefix>full`` and ``<prefix>wrong_artist`` methods.
        prefix: method-name prefix of the variants (``artrestore!``, or with a guidance suffix).
        field: ``"issued_style_distance"`` (each restoration certified against the artist it was conditioned on,
            as the pipeline certifies it), ``"issued_violation"`` (the same certificates' violation rates: the
            distances measured against each artist's own calibrated threshold) or ``"style_distance"`` (both
            against the painting's true artist: did the restoration itself move towards the wrong artist?).

    Returns:
        The AUC (None without finite pairs) and the number of paintings with both restorations.
    """
    from ..metrics.ranking import roc_auc

    pairs = _wrong_artist_pairs(records, prefix, field)
    if not pairs:
        return None, 0
    return roc_auc(torch.tensor([w for _, w in pairs]), torch.tensor([r for r, _ in pairs])), len(pairs)


def _ablation_markdown(
    rows: list[dict], aucs: dict[str, tuple[float | None, int]], *, strength: float, left_out: list[str]
) -> str:
    lines = [f"Every variant, `full` included, restores at strength {strength:g}."]
    if left_out:
        lines.append(f"Left out, since they denoise and at strength {strength:g} nothing is: {', '.join(left_out)}.")
    lines += [
        "",
        "| damage | variant | switched off | LPIPS ↓ | vs full | DISTS ↓ | region ΔE00 ↓ | cert. violation ↓ | "
        "untouched changed | n |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['kind']} | {r['variant']} | {r['removes']} | {r['lpips']:.4f} | {r['lpips_change']:+.1%} | "
            f"{r['dists']:.4f} | {r['region_de']:.2f} | {r['violation']:.3f} | {r['untouched_changed']} | {r['n']} |"
        )
    (issued, pairs), (violation, _), (true_artist, _) = aucs["issued"], aucs["issued_violation"], aucs["true_artist"]
    if issued is not None:
        lines.append(
            f"\nStyle discrimination ({pairs} cases, each restored with the painting's artist and with a wrong one):"
            f"\n\n- AUC {issued:.3f} of the distance, certificates as issued: each restoration against the artist it "
            "was conditioned on (does the certificate catch a wrong artist choice?);\n"
            f"- AUC {violation:.3f} of the violation rate of the same certificates (distances against each artist's "
            "own calibrated threshold);\n"
            f"- AUC {true_artist:.3f} of the distance, both against the painting's true artist (did the wrong-artist "
            "restoration itself move away from the true artist's style?)."
        )
    closer, n = aucs.get("closer", (None, 0))
    if closer is not None:
        lines.append(
            f"- the restoration for the true artist is closer to that artist than the one for a wrong artist in "
            f"{closer:.0%} of {n} paintings (50 % is chance)."
        )
    return "\n".join(lines) + "\n"


def _ablation_plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = sorted({r["kind"] for r in rows}, key=[r["kind"] for r in rows].index)
    variants = [r["variant"] for r in rows if r["kind"] == kinds[0]]
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 0.35 * len(variants) + 1.5), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, kind in zip(axes, kinds):
        vals = {r["variant"]: r["lpips_change"] for r in rows if r["kind"] == kind}
        ys = np.arange(len(variants))
        xs = [100 * vals.get(v, np.nan) for v in variants]
        ax.barh(ys, xs, color=["#0072B2" if x <= 0 else "#D55E00" for x in xs])
        ax.axvline(0, color="black", lw=0.8)
        ax.set_title(kind)
        ax.set_xlabel("LPIPS change vs full (%)")
        ax.set_yticks(ys, variants)
        ax.invert_yaxis()
    fig.suptitle("Ablations: worse (orange) = the component helps")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

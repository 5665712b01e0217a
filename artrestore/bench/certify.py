"""The certify section of the bench: does the style certificate keep its promise, and does it discriminate?

Three parts, all on the validation paintings (which neither the certifier's heads, its calibration, nor any other
training saw), all through ``certify()`` itself:

1. **Coverage.** Genuine paint at damage-like regions, certified against the true artist: the share of blocks over
   the threshold (target: alpha +- 0.03) and the false-fail rate (target: at most 0.10), overall and per artist,
   with 95 % intervals from resampling paintings.
2. **Pass rates.** The same small-loss regions filled by PatchMatch and by the model, certified as issued.
3. **Discrimination.** One large loss per painting of a main artist, restored once for the true artist and once for
   the most different well-represented artist, each certified against the artist it was restored for (the AUC of
   the distance, target at least 0.85) and both against the true artist (is the true-artist restoration closer to
   that artist? target: at least 75 % of paintings).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..certificate.coverage import REGION_KINDS, block_rate, certify_genuine, coverage_by_artist, genuine_region
from ..data import PaintingCollection, split_collection
from ..data.image_cache import load_training_image


def _fmt_rate(r: dict, key: str = "rate", low: str = "low", high: str = "high") -> str:
    if not r.get("paintings"):
        return "n/a"
    return f"{100 * r[key]:.1f} % ({100 * r[low]:.1f}-{100 * r[high]:.1f})"


def coverage_markdown(overall: dict, by_kind: dict[str, dict], by_artist: dict[str, dict], alpha: float) -> str:
    """Markdown tables of the coverage part."""
    lines = [
        f"| genuine paint at | paintings | certificates | blocks | blocks over threshold (target {100 * alpha:.0f} "
        "± 3 %) | false FAIL (target ≤ 10 %) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in [*by_kind.items(), ("all regions", overall)]:
        lines.append(
            f"| {name} | {r['paintings']} | {r['certificates']} | {r['blocks']} | {_fmt_rate(r)} | "
            f"{_fmt_rate(r, 'false_fail', 'fail_low', 'fail_high')} |"
        )
    lines += ["", "| artist | paintings | blocks | over threshold | false FAIL |", "|---|---|---|---|---|"]
    for artist, r in by_artist.items():
        lines.append(
            f"| {artist} | {r['paintings']} | {r['blocks']} | {_fmt_rate(r)} | "
            f"{_fmt_rate(r, 'false_fail', 'fail_low', 'fail_high')} |"
        )
    return "\n".join(lines)


def run_certify_bench(config) -> dict:
    """Run the three parts and write ``certify.md`` and ``certify.json`` to ``config.out``.

    Args:
        config: :class:`~artrestore.config.CertifyBenchConfig`.
    """
    from ..baselines import get_method
    from ..certificate.certify import load_certifier
    from ..io import Artwork
    from ..metrics.ranking import roc_auc
    from ..restore import load_pipeline, restore_artwork
    from .model_method import wrong_artist

    if config.limit is not None and config.limit < 1:
        raise ValueError(f"limit: expected a positive number of paintings, got {config.limit}")
    torch.set_num_threads(config.threads)
    started = time.time()
    certifier = load_certifier(config.model)
    collection = PaintingCollection.scan(config.data)
    works = collection.works_per_artist()
    val = [r for r in split_collection(collection, "val").records if r.artist in certifier.artist_names]
    genuine = [(r.painting_id, r.artist, load_training_image(r, config.size)) for r in val]

    # 1. coverage on genuine paint
    rows = certify_genuine(certifier, genuine, REGION_KINDS, seed=config.seed)
    overall = block_rate(rows)
    by_kind = {k: block_rate([r for r in rows if r.kind == k]) for k in REGION_KINDS}
    by_artist = coverage_by_artist([r for r in rows if works[r.artist] >= config.min_works])
    results: dict = {
        "config": {k: getattr(config, k) for k in vars(config)},
        "alpha": float(certifier.config.alpha),
        "coverage": {"overall": overall, "by_region": by_kind, "by_artist": by_artist},
    }
    text = [
        f"# Style certificate: coverage and discrimination on {len(genuine)} validation paintings at {config.size} px",
        "",
        "Genuine paint of paintings that nothing trained or calibrated on, certified through `certify()` against its "
        "true artist. Intervals: 95 %, resampling paintings.",
        "",
        coverage_markdown(overall, by_kind, by_artist, float(certifier.config.alpha)),
    ]

    # 2 and 3. restorations as issued
    if config.restorations:
        pipe = load_pipeline(config.model, config.threads)
        pipe.set_progress_bar_config(disable=True)
        patchmatch = get_method("patchmatch")
        main = [g for g in genuine if works[g[1]] >= config.min_works and g[1] in pipe.memory_bank.artist_vectors]
        main = main[: config.limit] if config.limit else main
        passes = {"genuine": [], "patchmatch": [], "model": []}
        pairs = []
        for p, (pid, artist, image) in enumerate(tqdm(main, desc="restorations")):
            region = genuine_region(image.shape[:2], "small_losses", np.random.default_rng([config.seed, p, 0]))
            damaged = image.copy()
            damaged[region] = 255  # the hole pixels white, as a user's scan with losses
            fills = {
                "genuine": image,
                "patchmatch": patchmatch.fn(damaged, region, np.zeros(region.shape, np.float32)),
                "model": restore_artwork(pipe, Artwork(damaged), region, None, artist=artist, seed=0)[0].pixels,
            }
            for name, filled in fills.items():
                passes[name].append(bool(certifier.certify(filled, region, artist).passed))
            large = genuine_region(image.shape[:2], "large_loss", np.random.default_rng([config.seed, p, 1]))
            hole = image.copy()
            hole[large] = 255
            other = wrong_artist(pipe, artist)
            right = restore_artwork(pipe, Artwork(hole), large, None, artist=artist, seed=0)[0].pixels
            wrong = restore_artwork(pipe, Artwork(hole), large, None, artist=other, seed=0)[0].pixels

            def distance(img: np.ndarray, who: str, region: np.ndarray = large) -> float:
                return float(np.mean(certifier.certify(img, region, who).distances))

            right_distance = distance(right, artist)  # as issued, and against the true artist: the same
            pairs.append(
                {
                    "painting": pid,
                    "artist": artist,
                    "wrong_artist": other,
                    "issued_right": right_distance,
                    "issued_wrong": distance(wrong, other),
                    "true_right": right_distance,
                    "true_wrong": distance(wrong, artist),
                }
            )
        issued = roc_auc(
            torch.tensor([q["issued_wrong"] for q in pairs]), torch.tensor([q["issued_right"] for q in pairs])
        )
        closer = float(np.mean([q["true_right"] < q["true_wrong"] for q in pairs]))
        rates = {k: float(np.mean(v)) for k, v in passes.items()}
        results["pass_rates"] = {**rates, "paintings": len(main)}
        results["discrimination"] = {"issued_auc": issued, "true_artist_closer": closer, "pairs": pairs}
        text += [
            "",
            f"## Pass rates ({len(main)} paintings of the main artists, three small losses each)",
            "",
            "| what fills the region | passes |",
            "|---|---|",
            *[f"| {k} | {v:.2f} |" for k, v in rates.items()],
            "",
            f"## Discrimination ({len(pairs)} paintings, one large loss each)",
            "",
            "| measure | value | target |",
            "|---|---|---|",
            f"| AUC of the distance, wrong-artist against true-artist restoration, each certified as issued | "
            f"{issued:.3f} | ≥ 0.85 |",
            f"| share of paintings where the true-artist restoration is closer to the true artist | {closer:.2f} | "
            "≥ 0.75 |",
        ]
    results["seconds"] = round(time.time() - started, 1)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "certify.md").write_text("\n".join(text) + f"\n\n{results['seconds']:.0f} s, {config.threads} threads.\n")
    (out / "certify.json").write_text(json.dumps(results, indent=1, default=str))
    return results

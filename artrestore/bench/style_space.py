"""How often the model's style spaces name a held-out painting's artist.

Two spaces are asked the same question of each painting (undamaged, centre-cropped):

- the **style vector** the generator is conditioned on: the `StyleEncoder`'s vector inferred from the painting,
  compared by cosine similarity with every memory-bank artist's vector (what ``artist=...`` passes);
- the **certificate's embedding**: the `StyleCertifier`'s mean distance of the painting's blocks to every artist's
  centroid (what the certificate and its artist inference use).

For each, the rank of the painting's own artist among all of the space's artists and among the paintings' artists
only (0 = named first). A style vector that does not carry the artist leaves a generator conditioned on it little
artist to follow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import StyleSpaceBenchConfig
from ..data import PaintingCollection, center_square, split_collection
from ..io import load_image
from ..metrics.ranking import target_rank

SPACES = {"style_vector": "style vector (generator conditioning)", "certificate": "certificate embedding"}


def space_summary(ranks: np.ndarray, ranks_main: np.ndarray, candidates: int, main: int) -> dict:
    """Top-1 shares and median ranks of one space.

    Args:
        ranks: (n,) rank of each painting's artist among all ``candidates`` artists of the space.
        ranks_main: (n,) rank among the ``main`` artists of the paintings.

    Returns:
        ``{"top1", "top1_main", "top3", "median_rank", "chance_top1_main", "candidates", "main"}``.
    """
    return {
        "top1": float(np.mean(ranks == 0)),
        "top3": float(np.mean(ranks < 3)),
        "top1_main": float(np.mean(ranks_main == 0)),
        "median_rank": float(np.median(ranks)),
        "chance_top1_main": 1 / main,
        "candidates": candidates,
        "main": main,
    }


def style_space_markdown(summary: dict, paintings: int) -> str:
    """The report's table: one row per space."""
    lines = [
        f"# Artist recognition of the model's style spaces ({paintings} held-out paintings)",
        "",
        "Rank of each painting's own artist (0 = named first) among all the space's artists and among the artists of",
        "the paintings.",
        "",
        "| space | artists | own artist first | in the first 3 | median rank | own artist first among the "
        "paintings' artists | chance |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, name in SPACES.items():
        s = summary.get(key)
        if s is None:
            continue
        lines.append(
            f"| {name} | {s['candidates']} | {s['top1']:.0%} | {s['top3']:.0%} | {s['median_rank']:.1f} | "
            f"{s['top1_main']:.0%} of {s['main']} | {s['chance_top1_main']:.0%} |"
        )
    return "\n".join(lines) + "\n"


def run_style_space_bench(config: StyleSpaceBenchConfig) -> dict:
    """Rank each held-out painting's artist in the style-vector and certificate spaces; write the report.

    Args:
        config: :class:`~artrestore.config.StyleSpaceBenchConfig`.

    Returns:
        ``{"config", "rows", "summary"}``; also written to ``<out>/style_space.json`` and ``style_space.md``.
    """
    from ..restore import load_pipeline

    if config.limit is not None and config.limit < 1:
        raise ValueError(f"limit: expected a positive number of paintings, got {config.limit}")
    if config.size < 64:
        raise ValueError(f"size: expected at least 64 px, got {config.size}")
    collection = PaintingCollection.scan(config.data)  # bad data, split or min_works fail before the model loads
    works = collection.works_per_artist()
    paintings = [p for p in split_collection(collection, config.split).records if works[p.artist] >= config.min_works]
    pipe = load_pipeline(config.model, config.threads) if paintings else None
    bank = pipe.memory_bank.artist_vectors if pipe is not None else {}
    paintings = [p for p in paintings if p.artist in bank]
    if config.limit:
        paintings = paintings[: config.limit]
    if not paintings:
        raise ValueError(
            f"min_works: no {config.split!r} painting of an artist with at least {config.min_works} works is in the "
            "model's memory bank"
        )
    certifier = pipe.style_certifier
    bank_names = sorted(bank)
    vectors = torch.stack([bank[a].float() for a in bank_names])  # (k, d)
    main = sorted({p.artist for p in paintings})
    cert_names = list(certifier.artist_names) if certifier is not None else []
    rows = []
    for p in tqdm(paintings, desc="style spaces"):
        image = center_square(load_image(p.path).to_uint8(), config.size)
        undamaged = np.zeros(image.shape[:2], bool)
        with torch.no_grad():
            style, _ = pipe.encode_style(image, undamaged, None)  # (1, d)
        sims = vectors @ style[0].float().cpu()  # (k,)
        row = {"painting": p.painting_id, "artist": p.artist, "style_vector": _ranks(sims, bank_names, p.artist, main)}
        if p.artist in cert_names:
            dist = certifier.artist_distances(image, undamaged).float().cpu()  # (artists,)
            row["certificate"] = _ranks(-dist, cert_names, p.artist, main)
        rows.append(row)
    summary = {}
    for key, names in (("style_vector", bank_names), ("certificate", cert_names)):
        ranked = [r[key] for r in rows if key in r]
        if ranked:
            summary[key] = space_summary(
                np.array([r["rank"] for r in ranked]),
                np.array([r["rank_main"] for r in ranked]),
                len(names),
                len([a for a in main if a in names]),
            )
    result = {"config": vars(config), "rows": rows, "summary": summary}
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "style_space.json").write_text(json.dumps(result, indent=1))
    (out / "style_space.md").write_text(style_space_markdown(summary, len(rows)))
    return result


def _ranks(scores: torch.Tensor, names: list[str], artist: str, main: list[str]) -> dict:
    """The artist's rank among all ``names`` and among the ``main`` ones, from (k,) scores (higher = nearer)."""
    own = names.index(artist)
    keep = [i for i, a in enumerate(names) if a in main]
    rank = int(target_rank(scores[None], torch.tensor([own]))[0])
    rank_main = int(target_rank(scores[keep][None], torch.tensor([keep.index(own)]))[0])
    return {"rank": rank, "rank_main": rank_main, "nearest": names[int(scores.argmax())]}

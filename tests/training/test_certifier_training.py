"""Training the style certifier: metric-learning heads, centroid scores and the out-of-fold calibration."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

import artrestore.training.certifier as certifier
from artrestore.training.certifier import (
    artist_centroids,
    centroid_auc,
    ensemble_embed,
    fit_ensemble,
    main_artists,
    out_of_fold_distances,
    sample_boxes,
    train_head,
)

CONFIG = SimpleNamespace(n_heads=2, embed_dim=8, hidden_dim=32, epochs=15, lr=3e-3, folds=3, patch_seed=0, seed=0)


def _features(n_per: int = 40, artists: int = 3, dim: int = 24, seed: int = 0):
    """Patch statistics of ``artists`` styles: a shared random scale plus one direction per artist."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(artists, dim, generator=g) * 2
    feats = torch.cat([centres[a] + torch.randn(n_per, dim, generator=g) for a in range(artists)])
    names = np.array([f"A{a}" for a in range(artists) for _ in range(n_per)])
    paintings = np.array([f"A{a}/p{i % 8}" for a in range(artists) for i in range(n_per)])  # 8 paintings each
    return feats * 5 + 3, names, paintings


def test_a_head_separates_artists_and_its_loss_falls():
    everything, all_names, _ = _features(n_per=50)
    keep = np.arange(len(all_names)) % 50 < 40  # 40 training patches per artist, 10 new ones of the same styles
    feats, names, test, test_names = everything[keep], all_names[keep], everything[~keep], all_names[~keep]
    labels = torch.tensor([int(n[1:]) for n in names])
    mean, std, head, losses = train_head(feats, labels, embed_dim=8, hidden_dim=32, epochs=15, lr=3e-3)
    assert losses[-1] < 0.5 * losses[0]
    assert torch.allclose(((feats - mean) / std).mean(0), torch.zeros(feats.shape[1]), atol=1e-4)
    emb = ensemble_embed(test, mean, std, [head])
    train_emb = ensemble_embed(feats, mean, std, [head])
    order = ["A0", "A1", "A2"]
    scores = centroid_auc(emb, test_names, artist_centroids(train_emb, names, order), order)
    assert scores["auc"] > 0.9 and scores["accuracy"] > 0.8
    assert torch.allclose(emb.norm(dim=1), torch.ones(len(emb)), atol=1e-5)


def test_ensemble_concatenates_unit_embeddings_of_differently_seeded_heads():
    feats, names, _ = _features()
    labels = torch.tensor([int(n[1:]) for n in names])
    mean, std, heads, losses = fit_ensemble(feats, labels, CONFIG, first_seed=5)
    assert len(heads) == len(losses) == 2
    emb = ensemble_embed(feats[:4], mean, std, heads)
    assert emb.shape == (4, 16)
    assert not torch.equal(heads[0][0].weight, heads[1][0].weight)


def test_out_of_fold_distances_never_score_a_painting_with_heads_that_saw_it(monkeypatch):
    feats, names, paintings = _features()
    seen = []
    original = certifier.fit_ensemble

    def spy(features, labels, config, first_seed):
        seen.append({tuple(f.tolist()) for f in features})
        return original(features, labels, config, first_seed)

    monkeypatch.setattr(certifier, "fit_ensemble", spy)
    dist, arts, scored = out_of_fold_distances(feats, names, paintings, CONFIG)
    assert len(seen) == CONFIG.folds and len(dist) == len(feats)  # every patch is scored exactly once
    assert sorted(scored.tolist()) == sorted(paintings.tolist())
    # each patch is scored in one fold; its features were absent from that fold's training set
    rows = {tuple(f.tolist()): i for i, f in enumerate(feats)}
    held_out = 0
    for fit in seen:
        unseen = [r for r in rows if r not in fit]
        assert not {paintings[rows[r]] for r in unseen} & {paintings[rows[r]] for r in fit}  # split by painting
        held_out += len(unseen)
    assert held_out == len(feats)
    assert (dist >= 0).all() and (dist <= 2).all()


def test_main_artists_and_patch_boxes():
    works = np.array(["a"] * 15 + ["b"] * 14 + ["c"] * 20)
    assert main_artists(np.unique(works), works) == ["a", "c"]
    boxes = sample_boxes(300, 200, 64, (128, 256), np.random.default_rng(0))
    assert len(boxes) == 64 and {s for _, _, s in boxes} == {128, 200}  # 256 is clipped to the short side
    assert all(0 <= y <= 300 - s and 0 <= x <= 200 - s for y, x, s in boxes)


@pytest.mark.slow
def test_train_certifier_end_to_end_calibrates_and_checks_through_certify(shared_data, tmp_path):
    """A small run on 3 artists x 7 paintings at a 256 px working size: the certifier saves, its blocks are in
    certify()'s geometry, and every artist ships the record of what its threshold was checked on."""
    import json

    from artrestore.cli import main
    from artrestore.hub import StyleCertifier

    root = tmp_path / "paintings"
    for artist in ("Claude_Monet", "Edgar_Degas", "Paul_Gauguin"):
        (root / artist).mkdir(parents=True)
        for src in sorted((shared_data / "paintings" / artist).glob("*.jpg"))[:7]:
            (root / artist / src.name).symlink_to(src)
    out = tmp_path / "cert"
    args = ["--data", str(root), "--out", str(out), "--per-painting", "1", "--epochs", "2", "--folds", "2"]
    assert main(["train-certifier", *args, "--working-side", "256", "--min-paintings", "2"]) == 0
    table = np.load(out / "patches.npz")
    assert set(table["kind"].tolist()) == {"grid", "random"} and table["boxes"].max() <= 256
    report = json.loads((out / "report.json").read_text())
    assert report["heldout_through_certify"]["paintings"] == 3  # one validation painting per artist
    cert = StyleCertifier.from_pretrained(str(out / "final"))
    assert cert.config.working_side == 256 and len(cert.artist_calibration) == 3
    assert all("heldout_rate" in c for c in cert.artist_calibration)

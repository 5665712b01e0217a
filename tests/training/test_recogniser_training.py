"""Training the artist recogniser: the conformal gate and a whole tiny run."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from artrestore.config import RecogniserTrainConfig
from artrestore.hub.artist_recogniser import ArtistRecogniser
from artrestore.training.recogniser import conformal_gap, recognition_summary, train_recogniser


def test_the_conformal_gap_leaves_at_most_alpha_of_genuine_gaps_above_it():
    gaps = np.arange(100) / 100
    gate = conformal_gap(gaps, 0.05)
    assert gate == pytest.approx(0.96)  # the ceil((n + 1)(1 - alpha))-th smallest
    assert np.mean(gaps > gate) <= 0.05
    assert conformal_gap(gaps, 0.5) < gate
    with pytest.raises(ValueError, match="no calibration paintings"):
        conformal_gap(np.array([]), 0.05)


def test_recognition_summary():
    s = recognition_summary(np.array([0, 0, 1, 5]))
    assert (s["paintings"], s["top1"], s["top3"], s["median_rank"]) == (4, 0.5, 0.75, 0.5)
    assert recognition_summary(np.array([])) == {"paintings": 0}


def test_a_tiny_run_saves_a_recogniser_with_a_calibrated_gate_and_palettes(painting_folder, tmp_path):
    config = RecogniserTrainConfig(
        data=str(painting_folder),
        out=str(tmp_path / "run"),
        per_painting=2,
        block_size=32,
        working_side=64,
        embed_dim=4,
        hidden_dim=8,
        n_heads=1,
        epochs=3,
        folds=2,
        min_paintings=2,
        threads=1,
    )
    summary = train_recogniser(config)
    rec = ArtistRecogniser.from_pretrained(str(tmp_path / "run" / "recogniser"))
    assert rec.artist_names == ["Ann Painter", "Bob Brush", "Cy Canvas"]
    assert rec.config.gate_gap == pytest.approx(summary["gate_gap"], abs=1e-4) and summary["calibration_paintings"] > 0
    assert all(n >= 2 for n in rec.config.paintings)
    assert summary["pooled_calibration_paintings"] == 0 and rec.config.pooled_gate_gap == 0  # every artist has 2
    assert (rec.palettes[:, :3] > 0).all() and (rec.palettes[:, 3:] > 0).all()  # mean and spread of each channel
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["artists"] == 3
    cached = (tmp_path / "run" / "block_features.npz").stat().st_mtime
    train_recogniser(config)  # a second run reuses the cached block statistics
    assert (tmp_path / "run" / "block_features.npz").stat().st_mtime == cached
    with pytest.raises(ValueError, match="min_paintings: no artist has 9 training paintings"):
        train_recogniser(dataclasses.replace(config, out=str(tmp_path / "few"), min_paintings=9))
    assert not (tmp_path / "few" / "block_features.npz").exists()  # refused before any block was read
    with pytest.raises(ValueError, match="gate_alpha"):
        train_recogniser(RecogniserTrainConfig(data=str(painting_folder), out=str(tmp_path / "x"), gate_alpha=1.5))

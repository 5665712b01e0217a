"""Calibrating the detector's thresholds on held-out training cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from artrestore.cli import main
from artrestore.damage import DamageType
from artrestore.detection import DamageDetector
from artrestore.detection.calibration import (
    MIN_FADE_F1,
    choose_pooled_threshold,
    choose_threshold,
    choose_type_vote,
    choose_type_weights,
    intact_shares,
)
from artrestore.hub.damage_detection import predict_tiled


def test_choose_threshold_takes_the_best_mean_f1():
    grid = torch.tensor([0.2, 0.4, 0.6])
    curves = torch.tensor([[0.5, 0.9, 0.1], [0.5, 0.3, 1.0]])  # means 0.5, 0.6, 0.55
    assert choose_threshold(curves, grid) == pytest.approx((0.4, 0.6))
    with pytest.raises(ValueError, match="curves"):
        choose_threshold(torch.zeros(2, 2), grid)


def test_thresholds_that_mark_intact_paint_are_not_chosen():
    grid = torch.tensor([0.2, 0.4, 0.6])
    curves = torch.tensor([[0.5, 0.9, 0.1], [0.5, 0.3, 1.0]])  # best mean F1 at 0.4
    assert choose_threshold(curves, grid, torch.tensor([False, False, True])) == pytest.approx((0.6, 0.55))
    t, f = choose_threshold(curves, grid, torch.zeros(3, dtype=torch.bool))
    assert t != t and f != f  # NaN: nothing allowed
    counts = torch.tensor([[[5.0, 1.0, 5.0], [9.0, 1.0, 1.0], [1.0, 0.0, 9.0]]])
    assert choose_pooled_threshold(counts, grid, torch.tensor([True, False, True]))[0] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="allowed"):
        choose_threshold(curves, grid, torch.ones(2, dtype=torch.bool))


def test_intact_shares_count_what_each_threshold_marks():
    probs = np.zeros((2, 2, 4), np.float32)
    probs[..., 0] = [[0.1, 0.5], [0.9, 1.0]]  # probability of "no damage"
    fade = np.array([[0.0, 0.3], [0.6, 0.9]], np.float32)
    damage, fading = intact_shares(probs, fade, torch.tensor([0.2, 0.6]))
    # damage at t: none < 1 - t -> t=0.2: 0.1, 0.5 (2 of 4); t=0.6: 0.1 (1 of 4). fade >= t: 3 of 4, then 2 of 4
    assert damage.tolist() == pytest.approx([0.5, 0.25]) and fading.tolist() == pytest.approx([0.75, 0.5])


def test_pooled_threshold_is_not_won_by_images_without_the_damage():
    """Three images without fading and one faded one: a per-image mean favours reporting nothing anywhere (three
    F1s of 1), pooled counts favour the threshold that finds the fading at a small false-positive cost."""
    grid = torch.tensor([0.2, 0.8])
    clean = torch.tensor([[[0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]] * 3)  # at 0.2: 2 false positives each; at 0.8: none
    faded = torch.tensor([[[90.0, 4.0, 10.0], [0.0, 0.0, 100.0]]])  # at 0.2: 90 of 100 found; at 0.8: nothing
    counts = torch.cat([clean, faded]).double()  # (4, 2, 3) tp / fp / fn
    per_image = (2 * counts[..., 0] / (2 * counts[..., 0] + counts[..., 1] + counts[..., 2]).clamp_min(1)).where(
        counts.sum(-1) > 0, torch.ones(()).double()
    )
    assert choose_threshold(per_image.float(), grid)[0] == pytest.approx(0.8)
    threshold, pooled = choose_pooled_threshold(counts, grid)
    assert threshold == pytest.approx(0.2) and pooled == pytest.approx(180 / (180 + 10 + 10))
    with pytest.raises(ValueError, match="counts"):
        choose_pooled_threshold(torch.zeros(2, 3, 3), grid)


def test_type_weights_correct_an_under_predicted_class():
    # scratch pixels get a higher scratch probability than other pixels, but never the largest one
    probs = torch.tensor([[0.8, 0.1, 0.1], [0.5, 0.2, 0.3], [0.1, 0.4, 0.5], [0.2, 0.1, 0.7]])
    labels = torch.tensor([0, 1, 1, 2])
    plain, plain_score = choose_type_weights(probs, labels, torch.tensor([1.0]))
    assert plain == (1.0, 1.0, 1.0) and plain_score == pytest.approx((1 + 0 + 1) / 3)
    weights, score = choose_type_weights(probs, labels, torch.tensor([0.5, 1.0, 2.0]))
    assert score == pytest.approx(1.0) and weights[1] > 1.0
    pred = (probs * torch.tensor(weights)).argmax(1)
    assert torch.equal(pred, labels)
    with pytest.raises(ValueError, match="probs"):
        choose_type_weights(torch.zeros(2, 2), torch.zeros(2, dtype=torch.long), torch.tensor([1.0]))


def test_missing_detector_is_a_clear_error(tmp_path, capsys):
    assert main(["calibrate-detector", "--detector", str(tmp_path / "none")]) == 2
    assert "no saved DamageDetector" in capsys.readouterr().err


@pytest.mark.data
def test_calibration_writes_thresholds_into_the_detector(shared_data, tmp_path, monkeypatch):
    from artrestore.detection import calibration

    calls = []
    monkeypatch.setattr(calibration, "predict_tiled", lambda *a: calls.append(1) or predict_tiled(*a))
    torch.manual_seed(0)
    DamageDetector(channels=(4, 8)).save_pretrained(tmp_path / "det")
    args = ["--detector", str(tmp_path / "det"), "--out", str(tmp_path / "cal"), "--report", str(tmp_path / "rep")]
    data = ["--data", str(shared_data / "paintings"), "--craquelure", str(shared_data / "craquelure")]
    small = ["--paintings", "1", "--real", "1", "--size", "64", "--intact", "2", "--intact-side", "64"]
    assert main(["calibrate-detector", *args, *data, *small, "--max-intact-share", "0.3"]) == 0
    report = json.loads((tmp_path / "rep" / "calibration.json").read_text())
    assert report["cases"] == 7 and (tmp_path / "rep" / "calibration.png").exists()
    assert len(calls) == 9  # one detector pass per case serves every choice, plus one per intact painting
    assert report["intact_paintings"] == 2

    def best_allowed(curve, intact):
        allowed = [i for i, share in enumerate(intact) if share <= 0.3]
        return max(allowed, key=lambda i: (curve[i], -i)) if allowed else None

    curve = report["damage_f1_curve"]
    i = best_allowed(curve, report["intact_damage_share_curve"])
    if i is not None:  # the best F1 among thresholds that mark at most 30 % of the intact paintings
        assert curve[i] == pytest.approx(report["damage_f1"])
        assert report["grid"][i] == pytest.approx(report["damage_threshold"])
    fade_curve = report["fade_f1_curve"]
    j = best_allowed(fade_curve, report["intact_fade_share_curve"])
    if j is not None and report["fade_f1"] >= MIN_FADE_F1:
        assert report["grid"][j] == pytest.approx(report["fade_threshold"])
    else:  # a fade output that finds no fading is switched off
        assert report["fade_threshold"] == 1.0
    loaded = DamageDetector.from_pretrained(tmp_path / "cal")
    assert loaded.config.damage_threshold == pytest.approx(report["damage_threshold"], abs=1e-4)
    assert loaded.config.fade_threshold == pytest.approx(report["fade_threshold"], abs=1e-4)
    assert list(loaded.config.type_weights) == pytest.approx(report["type_weights"], abs=1e-4)
    assert 0 <= report["type_balanced_accuracy"] <= 1
    votes = {int(w): v for w, v in report["type_vote_mean_iou"].items()}
    assert loaded.config.type_vote == report["type_vote"] == max(votes, key=lambda w: (round(votes[w], 6), -w))
    assert json.loads((tmp_path / "det" / "config.json").read_text())["damage_threshold"] == 0.5  # input untouched


def test_type_weights_balance_groups_of_one_class():
    # two groups of loss pixels: many easy ones (large losses) and a few that look like scratches (small losses);
    # grouped, the few count as much as the many, so scratch is not weighted up at their expense
    probs = torch.tensor([[0.1, 0.2, 0.7]] * 8 + [[0.1, 0.42, 0.48]] * 2 + [[0.1, 0.4, 0.5]])
    labels = torch.tensor([2] * 10 + [1])
    grid = torch.tensor([1.0, 1.5])
    by_label, _ = choose_type_weights(probs, labels, grid)
    by_group, _ = choose_type_weights(probs, labels, grid, torch.tensor([0] * 8 + [1] * 2 + [2]))
    assert by_label[1] == 1.5 and by_group[1] == 1.0
    with pytest.raises(ValueError, match="groups"):
        choose_type_weights(probs, labels, grid, torch.zeros(3, dtype=torch.long))


def test_type_vote_is_chosen_from_given_predictions():
    # a compact loss whose pixels the detector splits between loss and scratch: a vote window unifies it
    probs = np.zeros((40, 40, 4), np.float32)
    probs[..., 0] = 1
    probs[10:30, 10:30] = (0.0, 0.0, 0.1, 0.9)
    probs[10:30, 10:14] = (0.0, 0.0, 0.9, 0.1)  # a strip mistyped as scratch
    types = np.zeros((40, 40), np.uint8)
    types[10:30, 10:30] = DamageType.LOSS
    settings = {"damage_threshold": 0.5, "fade_threshold": 1.0, "type_weights": (1.0, 1.0, 1.0)}
    best, means = choose_type_vote([(probs, np.zeros((40, 40), np.float32), types)], settings, (0, 31))
    assert best == 31 and means[31] == pytest.approx(1.0) and means[0] < 1.0

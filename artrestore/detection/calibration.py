"""Calibrating the detector's decisions on held-out training cases, never on the validation split.

- The damage threshold is the probability of any damage that maximises the mean per-image F1 of the binary mask.
- The fade threshold is the weakest fading strength that maximises the pooled pixel F1 of the faded region (true
  strength >= ``VISIBLE_FADE``) over all cases. Pooled, not a mean per image: most cases have no fading at all,
  and a per-image mean (F1 = 1 for an image where nothing is faded and nothing reported) chose a threshold that
  reported fading nowhere; pooled, a false-positive pixel on an unfaded image costs precision in proportion. When
  no threshold reaches a pooled F1 of ``MIN_FADE_F1`` the fade output is switched off (threshold 1): a map that
  finds no fading would only mark unfaded paint.
- The type vote window (majority type over compact damage, see :func:`~artrestore.hub.damage_detection.vote_types`)
  is the one of ``VOTE_WINDOWS`` with the best mean per-type IoU, measured in a second pass with the chosen
  threshold and type weights.
- The type weights rescale the crack, scratch and loss probabilities so that the weighted argmax has the best
  balanced accuracy (mean per-type recall) on truly damaged pixels: a prior correction for classes the network
  under-predicts.

All three are written into the detector's config, so they travel with its weights.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import DetectorCalibrationConfig
from ..damage import DamageSimulator, DamageType, derive_seed
from ..data import PaintingCollection, center_square, split_collection
from ..data.craquelure_pairs import crack_pairs, load_pair
from ..hub.damage_detection import decide, predict_tiled
from ..hub.detector import DamageDetector
from ..io import load_image
from ..metrics import confusion_curve, f1_curve, f1_from_counts

VISIBLE_FADE = 0.1  # true fading strengths from here on count as faded when the fade threshold is tuned
MIN_FADE_F1 = 0.05  # below this best pooled F1 the fade output is switched off (fade threshold 1)
TUNING_KINDS = ("crack", "scratch", "small_loss", "large_loss", "fading", "mixed")
VOTE_WINDOWS = (0, 15, 31, 63)  # candidate windows of the majority type vote (0 = off)
PIXELS_PER_CASE = 4000  # damaged pixels sampled per tuning case for the type weights
# damage-type code -> class index of the type weights (crack 0, scratch 1, loss 2; others -1)
_TYPE_TO_INDEX = np.array([-1, 0, 1, 2, -1], np.int64)


def _best(scores: torch.Tensor, thresholds: torch.Tensor, allowed: torch.Tensor | None) -> tuple[float, float]:
    """The lowest threshold of the best score among the allowed ones ((nan, nan) when none is allowed)."""
    if allowed is not None:
        if allowed.shape != thresholds.shape:
            raise ValueError(f"allowed: expected {tuple(thresholds.shape)}, got {tuple(allowed.shape)}")
        if not allowed.any():
            return float("nan"), float("nan")
        scores = torch.where(allowed, scores, torch.full_like(scores, -1.0))
    best = int(scores.argmax())
    return float(thresholds[best]), float(scores[best])


def choose_threshold(
    curves: torch.Tensor, thresholds: torch.Tensor, allowed: torch.Tensor | None = None
) -> tuple[float, float]:
    """The threshold with the best mean F1.

    Args:
        curves: (b, n) per-image F1 at each threshold (see :func:`~artrestore.metrics.f1_curve`).
        thresholds: (n,) the thresholds.
        allowed: (n,) bool, the thresholds that may be chosen (e.g. those that mark little of intact paintings);
            None = all.

    Returns:
        The best threshold and its mean F1 (the lowest such threshold on ties; NaN, NaN when none is allowed).
    """
    if curves.ndim != 2 or curves.shape[1] != thresholds.numel() or curves.shape[0] == 0:
        raise ValueError(f"curves: expected (b >= 1, {thresholds.numel()}), got {tuple(curves.shape)}")
    return _best(curves.mean(0), thresholds, allowed)


def choose_pooled_threshold(
    counts: torch.Tensor, thresholds: torch.Tensor, allowed: torch.Tensor | None = None
) -> tuple[float, float]:
    """The threshold with the best F1 of the pixel counts pooled over all images.

    Args:
        counts: (b, n, 3) per-image tp/fp/fn at each threshold (see :func:`~artrestore.metrics.confusion_curve`).
        thresholds: (n,) the thresholds.
        allowed: (n,) bool, the thresholds that may be chosen; None = all.

    Returns:
        The best threshold and its pooled F1 (the lowest such threshold on ties; NaN, NaN when none is allowed).
    """
    if counts.ndim != 3 or counts.shape[1] != thresholds.numel() or counts.shape[2] != 3 or counts.shape[0] == 0:
        raise ValueError(f"counts: expected (b >= 1, {thresholds.numel()}, 3), got {tuple(counts.shape)}")
    return _best(f1_from_counts(counts.sum(0)), thresholds, allowed)


def intact_shares(probs: np.ndarray, fade: np.ndarray, thresholds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Share of an intact painting's pixels that each damage and fade threshold would mark.

    Args:
        probs: (h, w, 4) detector class probabilities.
        fade: (h, w) predicted fade strength.
        thresholds: (n,) candidate thresholds.

    Returns:
        (n,) damage shares (probability of "none" below ``1 - t``) and (n,) fade shares (strength >= ``t``).
    """
    none = torch.from_numpy(np.ascontiguousarray(probs[..., 0])).flatten()
    f = torch.from_numpy(np.ascontiguousarray(fade)).flatten()
    damage = torch.stack([(none < 1 - t).float().mean() for t in thresholds])
    fading = torch.stack([(f >= t).float().mean() for t in thresholds])
    return damage, fading


def choose_type_weights(
    probs: torch.Tensor, labels: torch.Tensor, grid: torch.Tensor, groups: torch.Tensor | None = None
) -> tuple[tuple, float]:
    """Weights of the crack, scratch and loss probabilities with the best balanced accuracy of the weighted argmax.

    Args:
        probs: (n, 3) crack, scratch and loss probabilities of truly damaged pixels.
        labels: (n,) their true class, 0 = crack, 1 = scratch, 2 = loss.
        grid: (g,) candidate weights of crack and scratch (loss keeps weight 1).
        groups: (n,) group of each pixel (e.g. the damage kind and true class); accuracy is the mean recall over the
            groups, so small groups (small losses among large ones) count as much as large ones. None: by label.

    Returns:
        The weights and their balanced accuracy; all-1 weights win ties.
    """
    if probs.ndim != 2 or probs.shape[1] != 3 or labels.shape != probs.shape[:1] or probs.shape[0] == 0:
        raise ValueError(
            f"probs, labels: expected (n >= 1, 3) and (n,), got {tuple(probs.shape)}, {tuple(labels.shape)}"
        )
    groups = labels if groups is None else groups
    if groups.shape != labels.shape:
        raise ValueError(f"groups: expected {tuple(labels.shape)}, got {tuple(groups.shape)}")
    members = [groups == g for g in torch.unique(groups)]
    best, best_score = (1.0, 1.0, 1.0), -1.0
    candidates = [(1.0, 1.0)] + [(float(a), float(b)) for a in grid for b in grid]
    for w_crack, w_scratch in candidates:
        w = torch.tensor([w_crack, w_scratch, 1.0], dtype=probs.dtype)
        correct = ((probs * w).argmax(1) == labels).float()  # (n,)
        score = float(torch.stack([correct[m].mean() for m in members]).mean())
        if score > best_score + 1e-9:
            best, best_score = (w_crack, w_scratch, 1.0), score
    return best, best_score


def intact_paintings(config: DetectorCalibrationConfig) -> Iterator[np.ndarray]:
    """Yield ``config.intact`` undamaged training paintings, whole, at ``config.intact_side`` px on the longer side
    (spread over the training split; the validation paintings stay unseen)."""
    from ..data.image_cache import load_training_image

    records = split_collection(PaintingCollection.scan(config.data), "train").records
    if config.intact < 1 or not records:
        return
    for i in np.linspace(0, len(records) - 1, min(config.intact, len(records))).round().astype(int):
        yield load_training_image(records[int(i)], config.intact_side)


def tuning_cases(
    config: DetectorCalibrationConfig,
) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]]:
    """Yield ``(name, image, damage mask, type map, fade or None)``: fresh simulated damage on training paintings
    (seeds the detector's training never drew) and real craquelure close-ups of the training files (fade unknown:
    None)."""
    paintings = split_collection(PaintingCollection.scan(config.data), "train").records[: config.paintings]
    simulator = DamageSimulator()
    for painting in paintings:
        clean = center_square(load_image(painting.path).to_uint8(), config.size)
        for kind in TUNING_KINDS:
            sample = simulator.simulate(clean, kind, derive_seed(config.seed, painting.painting_id, kind, "calibrate"))
            yield f"{painting.painting_id}/{kind}", sample.image, sample.mask, sample.types, sample.fade
    for pair in crack_pairs(config.craquelure, "train")[: config.real]:
        image, crack = load_pair(pair)
        types = np.where(crack, DamageType.CRACK, DamageType.NONE).astype(np.uint8)
        yield f"{pair.school}/{pair.image.stem}", image, crack, types, None


def type_ious(predicted: np.ndarray, true: np.ndarray) -> list[float]:
    """IoU of each binary damage type (crack, scratch, loss) present in ``true``; (h, w) uint8 type maps."""
    out = []
    for code in (DamageType.CRACK, DamageType.SCRATCH, DamageType.LOSS):
        t = true == code
        if t.any():
            p = predicted == code
            out.append(float((p & t).sum() / (p | t).sum()))
    return out


def choose_type_vote(
    predictions: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
    settings: dict,
    windows: tuple[int, ...] = VOTE_WINDOWS,
) -> tuple[int, dict[int, float]]:
    """The vote window with the best mean per-type IoU over the tuning cases (the smallest on ties).

    Args:
        predictions: per tuning case ``(probs, fade, types)``: the detector's (h, w, 4) class probabilities and
            (h, w) fade strength, and the true (h, w) uint8 type map.
        settings: the other decisions (``damage_threshold``, ``fade_threshold``, ``type_weights``).
        windows: candidate windows (0 = no vote).

    Returns:
        The window and the mean IoU of every candidate.
    """
    scores: dict[int, list[float]] = {w: [] for w in windows}
    for probs, fade_pred, types in predictions:
        for w in windows:
            scores[w] += type_ious(decide(probs, fade_pred, **settings, type_vote=w).types, types)
    means = {w: float(np.mean(v)) if v else 0.0 for w, v in scores.items()}
    best = max(windows, key=lambda w: (round(means[w], 6), -w))
    return best, means


def _group_ids(source: str, labels: np.ndarray) -> np.ndarray:
    """Group index of (damage source, true class) for each pixel: each kind's pixels of each class form a group."""
    sources = ("real", *TUNING_KINDS)
    return sources.index(source) * 3 + labels


def calibrate_detector(config: DetectorCalibrationConfig) -> dict:
    """Run ``artrestore calibrate-detector``: tune the thresholds and type weights, save the detector with them.

    Args:
        config: :class:`~artrestore.config.DetectorCalibrationConfig`.

    Returns:
        ``{"detector", "damage_threshold", "damage_f1", "fade_threshold", "fade_f1", "type_weights",
        "type_balanced_accuracy", "type_vote", "type_vote_mean_iou", "cases", "grid", "damage_f1_curve",
        "fade_f1_curve"}``; also written to ``<report>/calibration.json`` with a plot of F1 against each threshold.
    """
    if not Path(config.detector, "config.json").exists():
        raise ValueError(f"detector: no saved DamageDetector in {config.detector}")
    if config.paintings < 1 and config.real < 1:
        raise ValueError("paintings, real: give at least one tuning case")
    torch.set_num_threads(config.threads)
    model = DamageDetector.from_pretrained(config.detector).eval()
    grid = torch.linspace(0.05, 0.95, 91)  # (n,)
    damage_curves, fade_curves, names, type_probs, type_labels, type_groups = [], [], [], [], [], []
    kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # one detector pass serves every choice
    rng = np.random.default_rng(config.seed)
    cases = config.paintings * len(TUNING_KINDS) + config.real
    intact_damage, intact_fade = [], []  # intact training paintings: what each threshold would mark on them
    for image in tqdm(intact_paintings(config), total=config.intact, desc="intact paintings"):
        d, f = intact_shares(*predict_tiled(model, image), grid)
        intact_damage.append(d)
        intact_fade.append(f)
    allowed_damage = allowed_fade = None
    if intact_damage:
        allowed_damage = torch.stack(intact_damage).mean(0) <= config.max_intact_share  # (n,)
        allowed_fade = torch.stack(intact_fade).mean(0) <= config.max_intact_share
    for name, image, mask, types, fade in tqdm(tuning_cases(config), total=cases, desc="calibrate detector"):
        probs, fade_pred = predict_tiled(model, image)
        kept.append((probs, fade_pred, types))  # for the type vote, below (about 5 MB a case at 512 px)
        ys, xs = np.nonzero(mask)
        pick = rng.choice(len(ys), min(len(ys), PIXELS_PER_CASE), replace=False)
        type_probs.append(probs[ys[pick], xs[pick], 1:])  # (k, 3)
        type_labels.append(_TYPE_TO_INDEX[types[ys[pick], xs[pick]]])  # (k,)
        source = name.rsplit("/", 1)[-1] if fade is not None else "real"  # the simulated kind, or a real close-up
        type_groups.append(_group_ids(source, type_labels[-1]))
        p_damage = torch.from_numpy(1 - probs[..., 0])[None]  # (1, h, w)
        damage_curves.append(f1_curve(p_damage, torch.from_numpy(mask)[None], grid))
        if fade is not None:
            visible = torch.from_numpy(fade >= VISIBLE_FADE)[None]  # (1, h, w)
            fade_curves.append(confusion_curve(torch.from_numpy(fade_pred)[None], visible, grid))  # (1, n, 3)
        names.append(name)
    damage_threshold, damage_f1 = choose_threshold(torch.cat(damage_curves), grid, allowed_damage)
    if damage_threshold != damage_threshold:  # NaN: every threshold marks too much intact paint
        damage_threshold, damage_f1 = float(grid[-1]), float(torch.cat(damage_curves).mean(0)[-1])
    fade_threshold, fade_f1 = (
        choose_pooled_threshold(torch.cat(fade_curves), grid, allowed_fade) if fade_curves else (0.08, float("nan"))
    )
    if not fade_f1 >= MIN_FADE_F1:  # also NaN: no threshold spares intact paint
        fade_threshold = 1.0  # the fade output cannot tell fading from intact paint: report none
    labels = torch.from_numpy(np.concatenate(type_labels))
    keep = labels >= 0  # damage pixels of a binary type (fading never overlaps them in the simulator)
    type_weights, type_accuracy = choose_type_weights(
        torch.from_numpy(np.concatenate(type_probs))[keep],
        labels[keep],
        torch.logspace(-2, 4, 25, base=2),
        torch.from_numpy(np.concatenate(type_groups))[keep],
    )
    settings = {
        "damage_threshold": round(damage_threshold, 4),
        "fade_threshold": round(fade_threshold, 4),
        "type_weights": [round(w, 4) for w in type_weights],
    }
    type_vote, vote_ious = choose_type_vote(kept, settings)
    model.register_to_config(**settings, type_vote=type_vote)
    out = Path(config.out or config.detector)
    model.save_pretrained(out)
    result = {
        "detector": str(out),
        "damage_threshold": damage_threshold,
        "damage_f1": damage_f1,
        "fade_threshold": fade_threshold,
        "fade_f1": fade_f1,
        "type_weights": list(type_weights),
        "type_balanced_accuracy": type_accuracy,
        "type_vote": type_vote,
        "type_vote_mean_iou": {str(w): v for w, v in vote_ious.items()},
        "cases": len(names),
        "grid": grid.tolist(),
        "damage_f1_curve": torch.cat(damage_curves).mean(0).tolist(),
        "fade_f1_curve": f1_from_counts(torch.cat(fade_curves).sum(0)).tolist() if fade_curves else [],
        "intact_paintings": len(intact_damage),
        "max_intact_share": config.max_intact_share,
        "intact_damage_share_curve": torch.stack(intact_damage).mean(0).tolist() if intact_damage else [],
        "intact_fade_share_curve": torch.stack(intact_fade).mean(0).tolist() if intact_fade else [],
    }
    report = Path(config.report)
    report.mkdir(parents=True, exist_ok=True)
    (report / "calibration.json").write_text(json.dumps(result, indent=1))
    _plot(result, report / "calibration.png")
    return result


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    damage_label = "damage mask (probability of any damage; mean F1 per image)"
    ax.plot(result["grid"], result["damage_f1_curve"], label=damage_label)
    if result["fade_f1_curve"]:
        ax.plot(result["grid"], result["fade_f1_curve"], label="faded region (fading strength; pooled F1)")
    for key, colour in (("damage_threshold", "C0"), ("fade_threshold", "C1")):
        ax.axvline(result[key], color=colour, ls="--", lw=1)
    ax.set_xlabel("threshold")
    ax.set_ylabel("F1")
    ax.set_title(f"Detector thresholds tuned on {result['cases']} held-out training cases")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

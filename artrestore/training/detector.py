"""Training the damage detector: simulated damage on multi-scale painting crops, plus real craquelure close-ups."""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..config import DetectorTrainConfig
from ..damage import KINDS, DamageConfig, DamageSimulator, derive_seed
from ..data import PaintingCollection, multiscale_random_crop, split_collection
from ..data.craquelure_pairs import CrackPair, crack_pairs, load_pair
from ..data.image_cache import ImageCache
from ..detection import DamageDetector
from .trainer import train

# DamageType code -> detector class (fading is a separate regression output)
_TYPE_TO_CLASS = np.array([0, 1, 2, 3, 0], np.int64)


def _augment(rng: np.random.Generator, *arrays: np.ndarray) -> list[np.ndarray]:
    k, flip = int(rng.integers(4)), bool(rng.random() < 0.5)
    out = []
    for a in arrays:
        a = np.rot90(a, k)
        out.append(np.ascontiguousarray(a[:, ::-1] if flip else a))
    return out


class DetectorSamples(Dataset):
    """Samples for the detector, deterministic per index.

    Args:
        paintings: painting collection (training split) to damage.
        real: real craquelure pairs (training files).
        crop: crop side.
        length: samples per epoch.
        real_share: probability that a sample is a real close-up.
        seed: base seed.
        simulator: the damage simulator.
    """

    def __init__(
        self,
        paintings: PaintingCollection,
        real: list[CrackPair],
        crop: int,
        length: int,
        real_share: float,
        seed: int = 0,
        simulator: DamageSimulator | None = None,
    ) -> None:
        if not 0 <= real_share <= 1:
            raise ValueError(f"real_share: expected a share in [0, 1], got {real_share}")
        if real_share > 0 and not real:
            raise ValueError("real: no real craquelure pairs given but real_share > 0")
        self.paintings, self.real = ImageCache(paintings.records), real
        self.crop, self.length, self.real_share, self.seed = crop, length, real_share, seed
        self.simulator = simulator or DamageSimulator()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        seed = derive_seed(self.seed, "detector", index)
        rng = np.random.default_rng(seed)
        if self.real and rng.random() < self.real_share:
            image, crack = load_pair(self.real[int(rng.integers(len(self.real)))])
            image, _ = multiscale_random_crop(
                np.dstack([image, crack.astype(np.uint8) * 255]), self.crop, rng, min_scale=0.75, max_scale=1.5
            )
            image, crack = image[:, :, :3], image[:, :, 3] >= 128
            classes = crack.astype(np.int64)  # 1 = crack
            fade = np.zeros(crack.shape, np.float32)
            fade_weight = 0.0  # fading of the real close-ups is unknown
        else:
            clean, _ = multiscale_random_crop(self.paintings[int(rng.integers(len(self.paintings)))], self.crop, rng)
            kind = KINDS[int(rng.integers(len(KINDS)))]
            sample = self.simulator.simulate(clean, kind, seed)
            image, classes, fade = sample.image, _TYPE_TO_CLASS[sample.types], sample.fade
            fade_weight = 1.0
        image, classes, fade = _augment(rng, image, classes, fade)
        return {
            "image": torch.from_numpy(image).permute(2, 0, 1).float() / 255.0,  # (3, s, s)
            "classes": torch.from_numpy(classes),  # (s, s) int64
            "fade": torch.from_numpy(fade)[None],  # (1, s, s)
            "fade_weight": torch.tensor(fade_weight),
        }


FADE_LOSSES = ("bce", "l1")


def detector_loss(
    model: torch.nn.Module,
    batch: dict[str, torch.Tensor],
    class_weights: tuple[float, ...],
    fade_loss: str,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted cross-entropy + soft Dice on 'any damage' + a fading term (where fading is known).

    Args:
        model: the detector.
        batch: a collated :class:`DetectorSamples` batch.
        class_weights: cross-entropy weights of none, crack, scratch, loss. Large weights on the thin classes buy
            recall with false positives, and every false positive is a pixel the restorer repaints needlessly.
        fade_loss: ``"bce"`` (binary cross-entropy against the fading strength: its minimiser is the expected
            strength) or ``"l1"`` (its minimiser is the median strength, which is 0 wherever fading is uncertain,
            since most training pixels are unfaded: an L1-trained head learnt to predict no fading at all).
    """
    if fade_loss not in FADE_LOSSES:
        raise ValueError(f"fade_loss: expected one of {FADE_LOSSES}, got {fade_loss!r}")
    logits = model(batch["image"])  # (b, 5, s, s)
    weights = torch.tensor(class_weights, device=logits.device)
    ce = F.cross_entropy(logits[:, :4], batch["classes"], weight=weights)
    p_damage = 1 - logits[:, :4].softmax(1)[:, 0]  # (b, s, s)
    target = (batch["classes"] > 0).float()
    dice = 1 - (2 * (p_damage * target).sum((1, 2)) + 1) / (p_damage.sum((1, 2)) + target.sum((1, 2)) + 1)
    if fade_loss == "bce":
        fade_err = F.binary_cross_entropy_with_logits(logits[:, 4:], batch["fade"], reduction="none")
        fade_err = fade_err.mean((1, 2, 3))  # (b,)
    else:
        fade_err = (logits[:, 4:].sigmoid() - batch["fade"]).abs().mean((1, 2, 3))  # (b,)
    w = batch["fade_weight"]
    fade_term = (fade_err * w).sum() / w.sum().clamp_min(1)
    loss = ce + dice.mean() + 2 * fade_term
    return loss, {"ce": ce.item(), "dice": dice.mean().item(), "fade": fade_term.item()}


def detector_to_train(init: str | None, channels: tuple[int, ...], fade_channels: tuple[int, ...]) -> DamageDetector:
    """A new detector, or the one saved in ``init``; a fading branch requested on top of ``init`` is added (new
    weights) while every saved weight is kept.

    Args:
        init: a saved detector folder, or None.
        channels: trunk widths of a new detector.
        fade_channels: fading-branch widths (empty: none, or whatever ``init`` has).
    """
    if init is None:
        return DamageDetector(channels=channels, fade_channels=fade_channels)
    base = DamageDetector.from_pretrained(init)
    if not fade_channels or tuple(base.config.fade_channels) == fade_channels:
        return base
    if base.config.fade_channels:
        raise ValueError(f"fade_channels: {init} already has a fading branch {tuple(base.config.fade_channels)}")
    # only the constructor arguments: diffusers' private "_use_default_values" would reset fade_channels to ()
    init_args = {k: v for k, v in base.config.items() if not k.startswith("_")}
    model = DamageDetector.from_config({**init_args, "fade_channels": fade_channels})
    missing, unexpected = model.load_state_dict(base.state_dict(), strict=False)
    if unexpected or any(not k.startswith("fade_") for k in missing):
        raise ValueError(f"init: {init} does not fit the detector layout (missing {missing}, unexpected {unexpected})")
    return model


def train_detector(config: DetectorTrainConfig) -> dict:
    """Train :class:`DamageDetector` and save the EMA weights to ``<out>/final``.

    Args:
        config: :class:`~artrestore.config.DetectorTrainConfig`.

    Returns:
        The training summary of :func:`~artrestore.training.trainer.train`.
    """
    channels = tuple(int(c) for c in config.channels.split(","))
    paintings = split_collection(PaintingCollection.scan(config.data), "train")
    real = crack_pairs(config.craquelure, "train") if config.real_share > 0 else []
    dataset = DetectorSamples(
        paintings,
        real,
        config.crop,
        config.steps * config.batch_size,
        config.real_share,
        config.seed,
        DamageSimulator(DamageConfig()),
    )
    fade_channels = tuple(int(c) for c in config.fade_channels.split(",") if c.strip())
    model = detector_to_train(config.init, channels, fade_channels)
    if config.fade_only:
        model.freeze_all_but_fading()
    weights = tuple(float(w) for w in config.class_weights.split(","))
    if len(weights) != 4 or min(weights) <= 0:
        raise ValueError(
            f"class_weights: expected 4 positive numbers (none,crack,scratch,loss), got {config.class_weights}"
        )
    return train(
        model,
        dataset,
        functools.partial(detector_loss, class_weights=weights, fade_loss=config.fade_loss),
        config,
        title="detector",
    )

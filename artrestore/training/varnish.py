"""Training the varnish estimator: simulated ageing on multi-scale painting crops, scored after inversion.

The damaged pixels of a sample are blanked as the pipeline blanks them (``masked_fill.blank_damage``), so the
estimator never learns from what the simulator paints into a hole.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ..config import VarnishTrainConfig
from ..damage import DamageSimulator, derive_seed
from ..data import PaintingCollection, multiscale_random_crop, split_collection
from ..data.image_cache import ImageCache
from ..hub.masked_fill import blank_damage
from ..hub.varnish import VarnishEstimator, remove_varnish
from .trainer import train


class VarnishSamples(Dataset):
    """Faded crops with their clean originals, deterministic per index.

    Args:
        paintings: painting collection (training split).
        crop: crop side.
        length: samples per epoch.
        mixed_share: share of samples with mixed damage (fading under cracks and losses) instead of fading alone.
        seed: base seed.
    """

    def __init__(self, paintings: PaintingCollection, crop: int, length: int, mixed_share: float, seed: int = 0):
        if not 0 <= mixed_share <= 1:
            raise ValueError(f"mixed_share: expected a share in [0, 1], got {mixed_share}")
        self.paintings = ImageCache(paintings.records)
        self.crop, self.length, self.mixed_share, self.seed = crop, length, mixed_share, seed
        self.simulator = DamageSimulator()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        seed = derive_seed(self.seed, "varnish", index)
        rng = np.random.default_rng(seed)
        clean, _ = multiscale_random_crop(self.paintings[int(rng.integers(len(self.paintings)))], self.crop, rng)
        kind = "mixed" if rng.random() < self.mixed_share else "fading"
        sample = self.simulator.simulate(clean, kind, seed)
        image = blank_damage(sample.image, sample.mask)  # the holes blanked, as the pipeline blanks them
        return {
            "image": torch.from_numpy(image).permute(2, 0, 1).float() / 255.0,  # (3, s, s)
            "clean": torch.from_numpy(clean).permute(2, 0, 1).float() / 255.0,  # (3, s, s)
            "fade": torch.from_numpy(sample.fade)[None],  # (1, s, s)
            "damage": torch.from_numpy(sample.mask.astype(np.float32))[None],  # (1, s, s)
        }


def varnish_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean absolute colour error after inversion, over faded pixels outside the binary damage.

    The parameters are learnt through the inversion itself, so no ground-truth ageing parameters are needed.
    """
    params = model(batch["image"], batch["fade"], batch["damage"])  # (b, 5)
    restored = remove_varnish(batch["image"], batch["fade"], params)  # (b, 3, s, s)
    region = ((batch["fade"] > 0) & (batch["damage"] < 0.5)).float()  # (b, 1, s, s)
    err = ((restored - batch["clean"]).abs() * region).sum() / (3 * region.sum()).clamp_min(1)
    before = ((batch["image"] - batch["clean"]).abs() * region).sum() / (3 * region.sum()).clamp_min(1)
    return err, {"l1": err.item(), "l1_faded_input": before.item()}


def train_varnish(config: VarnishTrainConfig) -> dict:
    """Train :class:`VarnishEstimator` and save the EMA weights to ``<out>/final``.

    Args:
        config: :class:`~artrestore.config.VarnishTrainConfig`.

    Returns:
        The training summary of :func:`~artrestore.training.trainer.train`.
    """
    channels = tuple(int(c) for c in config.channels.split(","))
    paintings = split_collection(PaintingCollection.scan(config.data), "train")
    dataset = VarnishSamples(paintings, config.crop, config.steps * config.batch_size, config.mixed_share, config.seed)
    model = VarnishEstimator(channels=channels, size=config.size)
    return train(model, dataset, varnish_loss, config, title="varnish")

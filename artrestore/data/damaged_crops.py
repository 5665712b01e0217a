"""Training samples: multi-scale crops of paintings, damaged on the fly by the simulator."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..damage import KINDS, DamageSimulator, derive_seed
from .crops import multiscale_random_crop
from .image_cache import ImageCache
from .paintings import PaintingCollection
from .wikiart import StyleRecord


class DamagedCropDataset(Dataset):
    """Damaged multi-scale crops of a painting collection or of the style set.

    Each item is deterministic in (``seed``, index), so runs are reproducible and resumable; pass a new ``seed``
    per epoch for fresh damage.

    Args:
        sources: a :class:`PaintingCollection` or a list of :class:`StyleRecord`.
        size: crop side in pixels.
        length: items per epoch (crops are drawn from paintings in round-robin order).
        kinds: damage kinds to draw from.
        simulator: the damage simulator.
        seed: base seed.
        min_scale: smallest downscale factor (None: the whole painting fits the crop).
    """

    def __init__(
        self,
        sources: PaintingCollection | Sequence[StyleRecord],
        size: int = 256,
        length: int | None = None,
        kinds: Sequence[str] = KINDS,
        simulator: DamageSimulator | None = None,
        seed: int = 0,
        min_scale: float | None = None,
    ) -> None:
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise ValueError(f"kinds: unknown damage kinds {bad}; accepted: {KINDS}")
        self.images = ImageCache(sources.records if isinstance(sources, PaintingCollection) else sources)
        self.sources = self.images.sources
        self.labels = sorted({getattr(s, "artist", getattr(s, "style", "")) for s in self.sources})
        self.size, self.kinds, self.seed, self.min_scale = size, tuple(kinds), seed, min_scale
        self.length = length or len(self.sources)
        self.simulator = simulator or DamageSimulator()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        src_index = index % len(self.sources)
        seed = derive_seed(self.seed, index)
        rng = np.random.default_rng(seed)
        crop, _ = multiscale_random_crop(self.images[src_index], self.size, rng, self.min_scale)
        kind = self.kinds[int(rng.integers(len(self.kinds)))]
        sample = self.simulator.simulate(crop, kind, seed)
        src = self.sources[src_index]
        label = getattr(src, "artist", getattr(src, "style", ""))
        return {
            "clean": torch.from_numpy(crop).permute(2, 0, 1).float() / 255.0,  # (3, s, s)
            "damaged": torch.from_numpy(sample.image).permute(2, 0, 1).float() / 255.0,  # (3, s, s)
            "mask": torch.from_numpy(sample.mask)[None].float(),  # (1, s, s)
            "fade": torch.from_numpy(sample.fade)[None],  # (1, s, s)
            "types": torch.from_numpy(sample.types).long(),  # (s, s)
            "label": torch.tensor(self.labels.index(label)),
        }

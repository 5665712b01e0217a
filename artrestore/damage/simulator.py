"""The damage simulator: seeded, deterministic damage of every kind, with masks, fade map and type map."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .craquelure import paint_cracks, real_craquelure, synthetic_craquelure
from .fading import apply_fading, fade_map
from .paint_loss import paint_ground, paint_loss
from .scratches import paint_scratches, scratches
from .types import KINDS, DamageSample, DamageType


@dataclass
class DamageConfig:
    """How the simulator draws damage.

    Args:
        craquelure_source: ``"synthetic"`` (warped Voronoi networks), ``"real"`` (tiles of real crack maps) or
            ``"both"`` (a fair coin per sample).
        craquelure_dir: folder of real crack maps (``<School>/*.png``); needed unless the source is synthetic.
    """

    craquelure_source: str = "synthetic"
    craquelure_dir: str | None = None

    def __post_init__(self) -> None:
        if self.craquelure_source not in ("synthetic", "real", "both"):
            raise ValueError(
                f"craquelure_source: expected 'synthetic', 'real' or 'both', got {self.craquelure_source!r}"
            )
        if self.craquelure_source != "synthetic":
            if not self.craquelure_dir or not Path(self.craquelure_dir).is_dir():
                raise ValueError(
                    f"craquelure_dir: a folder of real crack maps is needed for craquelure_source="
                    f"{self.craquelure_source!r}, got {self.craquelure_dir!r}"
                )


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from any values (e.g. painting id and damage kind); independent of PYTHONHASHSEED."""
    digest = hashlib.sha1("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image: expected an (h, w, 3) uint8 array, got {got}")
    if min(image.shape[:2]) < 16:
        raise ValueError(f"image: expected at least 16x16 pixels, got {image.shape[1]}x{image.shape[0]}")


class DamageSimulator:
    """Seeded generator of realistic painting damage.

    Args:
        config: :class:`DamageConfig`.

    Example:
        >>> sample = DamageSimulator().simulate(image, "mixed", seed=3)
        >>> sample.image, sample.mask, sample.fade, sample.types
    """

    def __init__(self, config: DamageConfig | None = None) -> None:
        self.config = config or DamageConfig()

    def _cracks(self, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        source = self.config.craquelure_source
        if source == "both":
            source = "real" if rng.random() < 0.5 else "synthetic"
        if source == "real":
            return real_craquelure(shape, rng, self.config.craquelure_dir)
        return synthetic_craquelure(shape, rng)

    def simulate(self, image: np.ndarray, kind: str, seed: int) -> DamageSample:
        """Damage ``image``.

        Args:
            image: (h, w, 3) uint8 clean painting.
            kind: one of :data:`KINDS` (scratch, crack, small_loss, large_loss, fading, mixed).
            seed: the same seed, image size and kind always give the same damage.

        Returns:
            A :class:`DamageSample`; its image equals ``image`` outside ``mask`` and ``fade > 0``.
        """
        _check_image(image)
        if kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
        rng = np.random.default_rng(seed)
        shape = image.shape[:2]
        clean = image.astype(np.float32) / 255.0  # (h, w, 3)
        work = clean.copy()
        mask = np.zeros(shape, bool)
        fade = np.zeros(shape, np.float32)
        types = np.zeros(shape, np.uint8)

        if kind == "mixed":
            layers = [
                name
                for name, p in (
                    ("fading", 0.7),
                    ("crack", 0.8),
                    ("scratch", 0.6),
                    ("small_loss", 0.8),
                    ("large_loss", 0.25),
                )
                if rng.random() < p
            ]
            while len(layers) < 2:
                extra = str(rng.choice(["crack", "scratch", "small_loss"]))
                if extra not in layers:
                    layers.append(extra)
            order = ["fading", "crack", "scratch", "small_loss", "large_loss"]
            layers.sort(key=order.index)
        else:
            layers = [kind]

        for layer in layers:
            if layer == "fading":
                fade = fade_map(shape, rng, coverage=rng.uniform(0.15, 0.4) if kind == "mixed" else None)
                work = apply_fading(work, fade, rng)
                types[fade > 0] = DamageType.FADE
                continue
            if layer == "crack":
                m = self._cracks(shape, rng)
                work = paint_cracks(work, m, rng)
                code = DamageType.CRACK
            elif layer == "scratch":
                m = scratches(shape, rng)
                work = paint_scratches(work, m, rng)
                code = DamageType.SCRATCH
            else:
                m = paint_loss(shape, rng, "small" if layer == "small_loss" else "large")
                work = paint_ground(work, m, rng)
                code = DamageType.LOSS
            mask |= m
            types[m] = code

        touched = mask | (fade > 0)
        damaged = image.copy()
        damaged[touched] = np.round(np.clip(work[touched], 0, 1) * 255).astype(np.uint8)
        return DamageSample(damaged, mask, fade, types, kind, seed)

    def apply_mask(self, image: np.ndarray, mask: np.ndarray, kind: str, seed: int) -> DamageSample:
        """Damage ``image`` inside a given mask (e.g. a real mask from ``--masks``), with the look of ``kind``.

        Args:
            image: (h, w, 3) uint8 clean painting.
            mask: (h, w) bool damage, or (h, w) float32 in [0, 1] fade strengths when ``kind == "fading"``.
            kind: one of :data:`KINDS`; sets the appearance and the type codes.
            seed: seeds the appearance.

        Returns:
            A :class:`DamageSample`.
        """
        _check_image(image)
        if kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
        if mask.shape != image.shape[:2]:
            raise ValueError(f"mask: shape {mask.shape} does not match the image {image.shape[:2]}")
        rng = np.random.default_rng(seed)
        clean = image.astype(np.float32) / 255.0
        shape = image.shape[:2]
        types = np.zeros(shape, np.uint8)
        if kind == "fading":
            fade = np.clip(mask.astype(np.float32), 0, 1)
            work = apply_fading(clean, fade, rng)
            binary = np.zeros(shape, bool)
            types[fade > 0] = DamageType.FADE
        else:
            binary = mask.astype(bool)
            fade = np.zeros(shape, np.float32)
            if kind == "crack":
                work, code = paint_cracks(clean, binary, rng), DamageType.CRACK
            elif kind == "scratch":
                work, code = paint_scratches(clean, binary, rng), DamageType.SCRATCH
            else:
                work, code = paint_ground(clean, binary, rng), DamageType.LOSS
            types[binary] = code
        touched = binary | (fade > 0)
        damaged = image.copy()
        damaged[touched] = np.round(np.clip(work[touched], 0, 1) * 255).astype(np.uint8)
        return DamageSample(damaged, binary, fade, types, kind, seed)


def simulate_damage(image: np.ndarray, kind: str, seed: int, config: DamageConfig | None = None) -> DamageSample:
    """Functional shortcut for ``DamageSimulator(config).simulate(image, kind, seed)``."""
    return DamageSimulator(config).simulate(image, kind, seed)

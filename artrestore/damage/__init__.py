"""Painting-damage simulator: craquelure, scratches, paint loss, colour fading and mixtures."""

from .craquelure import crack_statistics, read_crack_map, real_craquelure, synthetic_craquelure
from .fading import apply_fading, fade_map
from .grid import render_damage_grid, type_map_to_rgb
from .paint_loss import paint_loss
from .scratches import scratches
from .simulator import DamageConfig, DamageSimulator, derive_seed, simulate_damage
from .types import KINDS, DamageSample, DamageType

__all__ = [
    "KINDS",
    "DamageConfig",
    "DamageSample",
    "DamageSimulator",
    "DamageType",
    "apply_fading",
    "crack_statistics",
    "derive_seed",
    "fade_map",
    "paint_loss",
    "read_crack_map",
    "real_craquelure",
    "render_damage_grid",
    "scratches",
    "simulate_damage",
    "synthetic_craquelure",
    "type_map_to_rgb",
]

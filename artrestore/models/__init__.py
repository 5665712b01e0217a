"""ArtRestore-Diffusion components (each file self-contained for Hub export)."""

from .denoiser import ArtRestoreUNet, ArtRestoreUNetOutput
from .mask_encoder import FiLMMaskEncoder, damage_planes
from .memory_bank import Provenance, Retrieved, StyleMemoryBank
from .style_encoder import StyleEncoder

__all__ = [
    "ArtRestoreUNet",
    "ArtRestoreUNetOutput",
    "FiLMMaskEncoder",
    "Provenance",
    "Retrieved",
    "StyleEncoder",
    "StyleMemoryBank",
    "damage_planes",
]

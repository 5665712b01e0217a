"""ArtRestore-Diffusion components (each file self-contained for Hub export)."""

from ..detection.detector import DamageDetector
from .denoiser import ArtRestoreUNet, ArtRestoreUNetOutput
from .mask_encoder import FiLMMaskEncoder, damage_planes
from .memory_bank import Provenance, Retrieved, StyleMemoryBank
from .style_certifier import CertificateBlock, StyleCertificate, StyleCertifier
from .style_encoder import StyleEncoder
from .varnish import VarnishEstimator, remove_varnish

__all__ = [
    "DamageDetector",
    "ArtRestoreUNet",
    "ArtRestoreUNetOutput",
    "FiLMMaskEncoder",
    "Provenance",
    "Retrieved",
    "CertificateBlock",
    "StyleCertificate",
    "StyleCertifier",
    "StyleEncoder",
    "StyleMemoryBank",
    "VarnishEstimator",
    "damage_planes",
    "remove_varnish",
]

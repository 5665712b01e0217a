"""The model components: those that ship (from :mod:`artrestore.hub`) and the autoencoder builder for training."""

from ..hub import (
    ArtRestoreUNet,
    ArtRestoreUNetOutput,
    CertificateBlock,
    DamageDetector,
    FiLMMaskEncoder,
    Provenance,
    Retrieved,
    StyleCertificate,
    StyleCertifier,
    StyleEncoder,
    StyleMemoryBank,
    VarnishEstimator,
    damage_planes,
    remove_varnish,
)
from .autoencoder import build_autoencoder, latent_stride

__all__ = [
    "ArtRestoreUNet",
    "ArtRestoreUNetOutput",
    "CertificateBlock",
    "DamageDetector",
    "FiLMMaskEncoder",
    "Provenance",
    "Retrieved",
    "StyleCertificate",
    "StyleCertifier",
    "StyleEncoder",
    "StyleMemoryBank",
    "VarnishEstimator",
    "build_autoencoder",
    "damage_planes",
    "latent_stride",
    "remove_varnish",
]

"""A tiny, randomly initialised ArtRestorePipeline (32/64 channels) for fast CPU tests."""

from __future__ import annotations

import pytest
import torch

from artrestore.export import make_sampler
from artrestore.hub import (
    ArtRestoreUNet,
    DamageDetector,
    FiLMMaskEncoder,
    PipelineSettings,
    Provenance,
    StyleCertifier,
    StyleEncoder,
    StyleMemoryBank,
    VarnishEstimator,
)
from artrestore.hub.patch_autoencoder import PatchAutoencoder
from artrestore.hub.pipeline_artrestore import ArtRestorePipeline
from artrestore.models.autoencoder import build_autoencoder
from artrestore.training.diffusion import make_scheduler

ARTISTS = ("Ada Painter", "Bo Brush")


def _perturb(module: torch.nn.Module) -> None:
    """Zero-initialised output layers make the conditions no-ops; give them small weights so every path is live."""
    with torch.no_grad():
        for p in module.parameters():
            if p.abs().sum() == 0:
                p.normal_(0, 0.05)


def build_tiny_certifier(seed: int = 0) -> StyleCertifier:
    """A randomly initialised certifier (VGG16 layout, small head) knowing both test artists."""
    torch.manual_seed(seed)
    cert = StyleCertifier(
        embed_dim=8,
        hidden_dim=16,
        n_heads=2,
        pooled_threshold=0.5,
        block_size=32,
        head_version="test",
        normalised_threshold=1.5,
    )
    for i, a in enumerate(ARTISTS):
        cert.set_artist(a, torch.randn(16), threshold=0.4 + 0.2 * i)
    return cert.eval()


def build_tiny_pipeline(
    tile_size: int = 128,
    context: int = 16,
    seed: int = 0,
    certifier: bool = False,
    detector: bool = False,
    retrieval_cells: int = 1,
    varnish: bool = False,
    retrieval_routing: int = 0,
    thin_damage_px: int = 0,
    default_strength: float = 1.0,
    patch_vae: bool = False,
    layout_weight: float = PipelineSettings.layout_weight,
) -> ArtRestorePipeline:
    """A tiny random pipeline. Its ``default_strength`` is 1 (from noise), so that a plain call exercises the
    denoiser; the shipped default (0: the refined exemplar fill) is tested with ``default_strength=0``."""
    torch.manual_seed(seed)
    vae = build_autoencoder((32, 32), latent_channels=4).eval()  # stride 2
    if patch_vae:  # the same stride and latent channels, a fitted linear codec with a perturbed correction
        vae = PatchAutoencoder(patch_size=2, latent_channels=4, hidden_channels=8, num_blocks=1).eval()
        vae.fit_linear(torch.rand(2, 3, 32, 32) * 2 - 1)
        _perturb(vae.decoder_correction)
    channels = (32, 64)
    unet = ArtRestoreUNet(
        block_channels=channels,
        attention_levels=(False, True),
        style_dim=16,
        style_tokens=2,
        token_dim=32,
        retrieval_dim=4 * 8 * 8,
        retrieval_cells=retrieval_cells,
        heads=2,
        groups=8,
        retrieval_routing=retrieval_routing,
    ).eval()
    film = FiLMMaskEncoder(latent_stride=2, base_channels=8, unet_channels=channels).eval()
    style = StyleEncoder(channels=(8, 16), style_dim=16).eval()
    for m in (unet, film):
        _perturb(m)
    bank = StyleMemoryBank(dim=16, latent_shape=(4, 8, 8), patch_size=16)
    n = 12
    bank.add(
        torch.randn(n, 16),
        torch.randn(n, 4, 8, 8),
        [Provenance(ARTISTS[i % 2], f"{ARTISTS[i % 2]}/work{i}", (0, 0, 16, 16)) for i in range(n)],
    )
    for a in ARTISTS:
        bank.set_artist_vector(a, torch.randn(16))
    return ArtRestorePipeline(
        vae=vae,
        unet=unet,
        mask_encoder=film,
        style_encoder=style,
        memory_bank=bank,
        scheduler=make_sampler("DPMSolverMultistepScheduler", make_scheduler("v_prediction").config),
        style_certifier=build_tiny_certifier(seed) if certifier else None,
        damage_detector=DamageDetector(channels=(4, 8)).eval() if detector else None,
        varnish_estimator=VarnishEstimator(channels=(8, 8), size=64).eval() if varnish else None,
        default_steps=2,
        default_strength=default_strength,
        tile_size=tile_size,
        context=context,
        top_k=4,
        thin_damage_px=thin_damage_px,
        layout_weight=layout_weight,
    )


@pytest.fixture(scope="module")
def tiny_pipe() -> ArtRestorePipeline:
    pipe = build_tiny_pipeline()
    pipe.set_progress_bar_config(disable=True)
    return pipe

"""The small latent autoencoder."""

from __future__ import annotations

import pytest
import torch

from artrestore.models.autoencoder import build_autoencoder, latent_stride


def test_stride_follows_levels_and_round_trip_shapes():
    vae = build_autoencoder((8, 16, 16), latent_channels=4)
    assert latent_stride(vae) == 4
    x = torch.rand(1, 3, 32, 48) * 2 - 1
    z = vae.encode(x).latent_dist.mode()
    assert z.shape == (1, 4, 8, 12) and vae.decode(z).sample.shape == x.shape
    with pytest.raises(ValueError, match="channels"):
        build_autoencoder((8,))

"""PatchAutoencoder: the linear patch codec with zero-initialised corrections."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from artrestore.hub.patch_autoencoder import PatchAutoencoder
from artrestore.models.autoencoder import build_autoencoder, latent_stride, load_autoencoder


def _smooth_images(n: int = 6, size: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, size // 8, size // 8, generator=g)
    fine = torch.rand(n, 3, size, size, generator=g) * 0.1
    return (F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False) + fine) * 1.6 - 0.9


def test_with_every_component_the_fitted_codec_is_exact():
    x = _smooth_images()
    vae = PatchAutoencoder(patch_size=2, latent_channels=12, num_blocks=1)
    vae.fit_linear(x)
    assert torch.allclose(vae(x).sample, x, atol=1e-4), "the corrections start at zero and the full basis inverts"


def test_fewer_components_keep_the_most_variance_and_whiten_the_latents():
    x = _smooth_images(n=8)
    vae = PatchAutoencoder(patch_size=4, latent_channels=6, num_blocks=0)
    explained = vae.fit_linear(x)
    assert explained.shape == (6,) and torch.all(explained[:-1] >= explained[1:]) and explained.sum() <= 1 + 1e-6
    z = vae.encode(x).latent_dist.mean  # (8, 6, 8, 8)
    assert z.shape == (8, 6, 8, 8)
    assert torch.allclose(z.mean((0, 2, 3)), torch.zeros(6), atol=1e-3)
    assert torch.allclose(z.var((0, 2, 3)), torch.ones(6), atol=2e-2)
    # the principal subspace reconstructs the fitting patches better than any other 6-dimensional one tried
    mse = F.mse_loss(vae(x).sample, x)
    other = PatchAutoencoder(patch_size=4, latent_channels=6, num_blocks=0)
    q, _ = torch.linalg.qr(torch.randn(48, 6, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        mean = F.pixel_unshuffle(x, 4).mean((0, 2, 3))
        other.encoder_proj.weight.copy_(q.T[:, :, None, None])
        other.encoder_proj.bias.copy_(-(q.T @ mean))
        other.decoder_proj.weight.copy_(q[:, :, None, None])
        other.decoder_proj.bias.copy_(mean)
    assert mse < F.mse_loss(other(x).sample, x)


def test_interface_of_the_autoencoder_kl_the_project_uses(tmp_path):
    vae = PatchAutoencoder(patch_size=4, latent_channels=8, hidden_channels=8, num_blocks=1)
    vae.fit_linear(_smooth_images())
    x = _smooth_images(n=2, seed=3)
    posterior = vae.encode(x).latent_dist
    assert torch.equal(posterior.sample(), posterior.mean) and float(posterior.kl().sum()) == 0
    assert vae.decode(posterior.mean).sample.shape == x.shape
    assert latent_stride(vae) == 4 and latent_stride(build_autoencoder((8, 16, 16))) == 4
    vae.save_pretrained(tmp_path / "vae")
    loaded = load_autoencoder(tmp_path / "vae")
    assert isinstance(loaded, PatchAutoencoder) and not loaded.training
    assert torch.equal(loaded.encode(x).latent_dist.mean, vae.encode(x).latent_dist.mean)
    build_autoencoder((8, 16)).save_pretrained(tmp_path / "kl")
    assert type(load_autoencoder(tmp_path / "kl")).__name__ == "AutoencoderKL"
    with pytest.raises(ValueError, match="vae: no autoencoder"):
        load_autoencoder(tmp_path)


def test_the_corrections_train_from_zero():
    vae = PatchAutoencoder(patch_size=2, latent_channels=4, hidden_channels=8, num_blocks=1)
    x = _smooth_images(n=2)
    vae.fit_linear(x)
    F.l1_loss(vae(x).sample, x).backward()
    assert vae.decoder_correction.conv_out.weight.grad.abs().sum() > 0
    assert vae.encoder_correction.conv_out.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"latent_channels": 13, "patch_size": 2}, "latent_channels"),
        ({"patch_size": 0}, "patch_size"),
        ({"num_blocks": -1}, "num_blocks"),
    ],
)
def test_bad_settings_are_refused(kwargs, name):
    with pytest.raises(ValueError, match=name):
        PatchAutoencoder(**kwargs)


def test_images_must_tile_into_patches():
    with pytest.raises(ValueError, match="x: height and width must be multiples of patch_size 4"):
        PatchAutoencoder().encode(torch.zeros(1, 3, 30, 32))

"""Model building for training: the autoencoder (a stock diffusers ``AutoencoderKL``). The shipped components are
in :mod:`artrestore.hub`."""

from .autoencoder import build_autoencoder, latent_stride

__all__ = ["build_autoencoder", "latent_stride"]

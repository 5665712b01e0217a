"""Model building for training: the latent autoencoders (a stock diffusers ``AutoencoderKL`` or the
``PatchAutoencoder``). The shipped components are in :mod:`artrestore.hub`."""

from .autoencoder import AUTOENCODER_ARCHITECTURES, build_autoencoder, latent_stride, load_autoencoder

__all__ = ["AUTOENCODER_ARCHITECTURES", "build_autoencoder", "latent_stride", "load_autoencoder"]

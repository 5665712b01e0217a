"""The latent autoencoders for training: diffusers' stock ``AutoencoderKL`` in a small, CPU-trainable configuration,
or the :class:`~artrestore.hub.PatchAutoencoder` (a linear patch codec with nonlinear corrections)."""

from __future__ import annotations

import json
from pathlib import Path

from diffusers import AutoencoderKL

AUTOENCODER_ARCHITECTURES = ("kl", "patch")


def build_autoencoder(channels: tuple[int, ...] = (32, 64, 128), latent_channels: int = 4) -> AutoencoderKL:
    """A small KL autoencoder whose latent stride is ``2 ** (len(channels) - 1)``.

    No mid-block attention (it dominates the CPU cost at these sizes); one ResNet layer per block.

    Args:
        channels: encoder widths per level (the decoder mirrors them).
        latent_channels: latent channels.

    Returns:
        An untrained :class:`diffusers.AutoencoderKL`.
    """
    channels = tuple(channels)
    if len(channels) < 2:
        raise ValueError(f"channels: expected at least 2 levels, got {channels}")
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * len(channels),
        up_block_types=("UpDecoderBlock2D",) * len(channels),
        block_out_channels=channels,
        layers_per_block=1,
        latent_channels=latent_channels,
        norm_num_groups=min(16, channels[0]),
        mid_block_add_attention=False,
        scaling_factor=1.0,  # set from the trained latents' std before the denoiser is trained
    )


def load_autoencoder(folder: str | Path):
    """Load a saved autoencoder folder of either kind (its ``config.json`` names the class).

    Args:
        folder: a ``save_pretrained`` folder of an ``AutoencoderKL`` or a ``PatchAutoencoder``.

    Returns:
        The autoencoder, in eval mode.

    Raises:
        ValueError: when ``folder`` holds no autoencoder config.
    """
    config = Path(folder, "config.json")
    if not config.is_file():
        raise ValueError(f"vae: no autoencoder folder (config.json) at {folder}")
    if json.loads(config.read_text()).get("_class_name") == "PatchAutoencoder":
        from ..hub.patch_autoencoder import PatchAutoencoder

        return PatchAutoencoder.from_pretrained(str(folder)).eval()
    return AutoencoderKL.from_pretrained(str(folder)).eval()


def latent_stride(vae) -> int:
    """Image pixels per latent pixel, for either kind of autoencoder."""
    stride = getattr(vae, "latent_stride", None)
    return int(stride) if stride is not None else 2 ** (len(vae.config.block_out_channels) - 1)

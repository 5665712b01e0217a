"""Training the latent autoencoder on clean multi-scale crops (style set first, then the training paintings)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ..config import AutoencoderTrainConfig
from ..damage import derive_seed
from ..data import PaintingCollection, multiscale_random_crop
from ..data.image_cache import ImageCache
from ..data.sources import training_sources
from ..hub.patch_autoencoder import PatchAutoencoder
from ..metrics.lpips import lpips_model
from ..models.autoencoder import AUTOENCODER_ARCHITECTURES, build_autoencoder, load_autoencoder
from .trainer import train


class CleanCrops(Dataset):
    """Clean multi-scale crops, deterministic per index, with random flips.

    Args:
        sources: painting records (``.path``) or style-set records.
        crop: crop side.
        length: samples per epoch.
        seed: base seed.
    """

    def __init__(self, sources: list, crop: int, length: int, seed: int = 0) -> None:
        self.images = ImageCache(sources)
        self.crop, self.length, self.seed = crop, length, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng(derive_seed(self.seed, "vae", index))
        crop, _ = multiscale_random_crop(self.images[int(rng.integers(len(self.images)))], self.crop, rng)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return {"image": torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float() / 255.0}


def autoencoder_loss(lpips_weight: float, kl_weight: float, decoder_only: bool = False):
    """L1 + LPIPS-vgg + KL loss function for :func:`~artrestore.training.trainer.train`.

    Args:
        lpips_weight: weight of the LPIPS-vgg term (0 leaves it out).
        kl_weight: weight of the KL term (unused with ``decoder_only``).
        decoder_only: decode the encoder's mean latents, computed without gradients (what the denoiser is trained to
            produce), instead of a posterior sample; the encoder gets no gradient and no KL term.
    """
    perceptual = lpips_model("vgg", False) if lpips_weight > 0 else None

    def loss_fn(model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        x = batch["image"]  # (b, 3, s, s) in [0, 1]
        if decoder_only:
            with torch.no_grad():
                z = model.encode(x * 2 - 1).latent_dist.mean  # (b, c, s / f, s / f)
            recon = model.decode(z).sample  # (b, 3, s, s) in about [-1, 1]
            loss = l1 = (recon - (x * 2 - 1)).abs().mean()
            logs = {"l1": l1.item()}
        else:
            posterior = model.encode(x * 2 - 1).latent_dist
            recon = model.decode(posterior.sample()).sample  # (b, 3, s, s) in about [-1, 1]
            loss = l1 = (recon - (x * 2 - 1)).abs().mean()
            logs = {"l1": l1.item()}
            if not posterior.deterministic:  # the patch codec's latents are deterministic: no KL term
                kl = posterior.kl().mean()
                loss = l1 + kl_weight * kl
                logs["kl"] = kl.item()
        if perceptual is not None:
            lp = perceptual.to(x.device)(recon.clamp(-1, 1), x * 2 - 1).mean()  # the batch's device (a GPU too)
            loss = loss + lpips_weight * lp
            logs["lpips_vgg"] = lp.item()
        return loss, logs

    return loss_fn


def train_autoencoder(config: AutoencoderTrainConfig) -> dict:
    """Train the autoencoder and save its EMA weights to ``<out>/final``.

    Args:
        config: :class:`~artrestore.config.AutoencoderTrainConfig`.

    Returns:
        The training summary.
    """
    if config.architecture not in AUTOENCODER_ARCHITECTURES:
        raise ValueError(f"architecture: expected one of {AUTOENCODER_ARCHITECTURES}, got {config.architecture!r}")
    if config.decoder_only and not config.init:
        raise ValueError("decoder_only: needs --init, the autoencoder whose encoder (latent space) is kept")
    sources = training_sources(config.source, config.data, config.style_data)
    sources = sources.records if isinstance(sources, PaintingCollection) else sources
    if config.init:
        model = load_autoencoder(config.init)
    elif config.architecture == "patch":
        model = PatchAutoencoder(
            patch_size=config.patch_size,
            latent_channels=config.latent_channels,
            hidden_channels=config.hidden_channels,
            num_blocks=config.num_blocks,
        )
        fit = CleanCrops(sources, config.crop, config.fit_crops, config.seed)
        model.fit_linear(torch.stack([fit[i]["image"] for i in range(len(fit))]) * 2 - 1)
    else:
        model = build_autoencoder(tuple(int(c) for c in config.channels.split(",")), config.latent_channels)
    if config.decoder_only:
        kl = hasattr(model, "quant_conv")  # an AutoencoderKL; else a PatchAutoencoder
        for module in (model.encoder, model.quant_conv) if kl else (model.encoder_proj, model.encoder_correction):
            if module is not None:
                module.requires_grad_(False)
    dataset = CleanCrops(sources, config.crop, config.steps * config.batch_size, config.seed)
    loss_fn = autoencoder_loss(config.lpips_weight, config.kl_weight, config.decoder_only)
    return train(model, dataset, loss_fn, config, title="vae")

"""Training ArtRestore-Diffusion: the denoiser with its FiLM mask encoder and style encoder, over a frozen VAE.

Each sample is a damaged multi-scale crop plus two context crops of the same painting. The style vector comes
from the first context crop; the retrieved tokens are the quadrant latents of both context crops (the same form
that memory-bank patches take at inference), so the denoiser learns to use same-painting exemplars. With
``oracle_retrieval`` > 0, some samples have four of their tokens replaced by the quadrants of their own clean crop,
in shuffled slots: a token that matches the missing content is then worth finding, so cross-attention learns to
look tokens up by content (what makes the attribution maps specific to each block).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import DiffusionTrainConfig
from ..damage import DamageType, derive_seed
from ..data import DamagedCropDataset, multiscale_random_crop
from ..data.sources import training_sources
from ..hub import ArtRestoreUNet, FiLMMaskEncoder, StyleEncoder
from ..hub.masked_fill import pushpull_fill
from ..hub.memory_bank import BANK_PATCH_LATENT
from ..models.autoencoder import latent_stride, load_autoencoder
from .trainer import train

CONTEXT_CROPS = 2  # context crops per sample; each gives 4 quadrant tokens


class DiffusionSamples(DamagedCropDataset):
    """:class:`DamagedCropDataset` items plus ``context`` (n, 3, s, s): other crops of the same painting."""

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = super().__getitem__(index)
        rng = np.random.default_rng(derive_seed(self.seed, "context", index))
        image = self.images[index % len(self.sources)]
        ctx = [multiscale_random_crop(image, self.size, rng, self.min_scale)[0] for _ in range(CONTEXT_CROPS)]
        item["context"] = torch.from_numpy(np.stack(ctx)).permute(0, 3, 1, 2).float() / 255.0  # (n, 3, s, s)
        return item


class RestorationModel(nn.Module):
    """The trainable parts, saved side by side as ``unet/``, ``mask_encoder/`` and ``style_encoder/``."""

    def __init__(self, unet: ArtRestoreUNet, mask_encoder: FiLMMaskEncoder, style_encoder: StyleEncoder) -> None:
        super().__init__()
        self.unet, self.mask_encoder, self.style_encoder = unet, mask_encoder, style_encoder

    def save_pretrained(self, folder: str | Path) -> None:
        for name in ("unet", "mask_encoder", "style_encoder"):
            getattr(self, name).save_pretrained(str(Path(folder) / name))

    def forward(
        self,
        noisy: torch.Tensor,
        t: torch.Tensor,
        masked_latents: torch.Tensor,
        latent_mask: torch.Tensor,
        mask: torch.Tensor,
        fade: torch.Tensor,
        types: torch.Tensor,
        style_image: torch.Tensor,
        drop_style: torch.Tensor,
        retrieved: torch.Tensor | None,
        retrieved_valid: torch.Tensor | None,
    ) -> torch.Tensor:
        """One training prediction (one forward call, so DDP sees every parameter use).

        Args:
            noisy: (b, c, h, w) noised latents; t: (b,) timesteps.
            masked_latents: (b, c, h, w); latent_mask: (b, 1, h, w).
            mask, fade: (b, 1, H, W) damage maps; types: (b, H, W) type codes.
            style_image: (b, 3, H, W) context crop the style vector is computed from.
            drop_style: (b,) bool, use the null style instead.
            retrieved: (b, k, d) tokens or None; retrieved_valid: (b, k) bool or None.

        Returns:
            (b, c, h, w) prediction.
        """
        b = noisy.shape[0]
        style = self.style_encoder(style_image)  # (b, style_dim)
        style = torch.where(drop_style[:, None], self.unet.null_style[None].expand(b, -1), style)
        film = self.mask_encoder(mask, fade, types)
        return self.unet(noisy, t, masked_latents, latent_mask, style, film, retrieved, retrieved_valid).sample

    @classmethod
    def from_pretrained(cls, folder: str | Path, retrieval_cells: int | None = None) -> RestorationModel:
        """Load the three parts from ``folder``.

        Args:
            folder: a run's ``final/`` (or a checkpoint with the same layout).
            retrieval_cells: re-shape the denoiser's retrieval tokens to this many cells per side (its retrieval
                projection and cell positions then start fresh); None keeps the saved layout.
        """
        folder = Path(folder)
        unet_path = str(folder / "unet")
        unet = ArtRestoreUNet.from_pretrained(unet_path)
        if retrieval_cells is not None and retrieval_cells != unet.config.retrieval_cells:  # a one-off re-shape
            unet = ArtRestoreUNet.from_pretrained(
                unet_path, retrieval_cells=retrieval_cells, low_cpu_mem_usage=False, ignore_mismatched_sizes=True
            )
            # the re-shaped parts are left uninitialised by the loader: give them a fresh start
            unet.retrieval_proj.reset_parameters()
            if unet.cell_position is not None:
                nn.init.normal_(unet.cell_position, std=0.02)
        return cls(
            unet,
            FiLMMaskEncoder.from_pretrained(str(folder / "mask_encoder")),
            StyleEncoder.from_pretrained(str(folder / "style_encoder")),
        )


@torch.no_grad()
def encode(vae: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """(b, 3, H, W) in [0, 1] -> (b, c, H/stride, W/stride) scaled latents (posterior means)."""
    return vae.encode(images * 2 - 1).latent_dist.mean * vae.config.scaling_factor


def quadrant_tokens(latents: torch.Tensor) -> torch.Tensor:
    """(n, c, h, w) context latents -> (n, 4, c * p * p) tokens: each quadrant pooled to the bank's patch shape."""
    n, c, h, w = latents.shape
    quads = latents.reshape(n, c, 2, h // 2, 2, w // 2).permute(0, 2, 4, 1, 3, 5).reshape(n * 4, c, h // 2, w // 2)
    pooled = F.adaptive_avg_pool2d(quads, BANK_PATCH_LATENT)  # (4n, c, p, p)
    return pooled.reshape(n, 4, -1)


def large_hole_masks(
    b: int, size: int, generator: torch.Generator | None = None, share: tuple[float, float] = (0.3, 0.6)
) -> torch.Tensor:
    """Random axis-aligned rectangles covering ``share`` of a ``size`` x ``size`` crop.

    Args:
        b: number of masks.
        size: crop side in pixels.
        generator: torch random generator (None: the global one).
        share: smallest and largest covered area share.

    Returns:
        (b, 1, size, size) float masks (1 = hole).
    """
    u = torch.rand(b, 4, generator=generator)  # (b, 4): area, aspect, y, x
    area = share[0] + (share[1] - share[0]) * u[:, 0]
    aspect = torch.exp((u[:, 1] - 0.5) * 1.2)  # h / w in about [0.55, 1.8]
    h = (size * (area * aspect).sqrt()).clamp(4, size).long()
    w = (size * (area / aspect).sqrt()).clamp(4, size).long()
    y0 = ((size - h) * u[:, 2]).long()
    x0 = ((size - w) * u[:, 3]).long()
    ys = torch.arange(size)[None, :, None]  # (1, size, 1)
    xs = torch.arange(size)[None, None, :]  # (1, 1, size)
    inside = (ys >= y0[:, None, None]) & (ys < (y0 + h)[:, None, None])
    inside = inside & (xs >= x0[:, None, None]) & (xs < (x0 + w)[:, None, None])  # (b, size, size)
    return inside[:, None].float()


def with_oracle_tokens(retrieved: torch.Tensor, own: torch.Tensor, p: float) -> torch.Tensor:
    """Replace the first tokens of a random ``p`` share of the samples by their own clean quadrants, then shuffle
    every sample's token slots.

    Args:
        retrieved: (b, k, d) context tokens.
        own: (b, q, d) quadrant tokens of the clean target crops (q <= k).
        p: probability per sample.

    Returns:
        (b, k, d).
    """
    b, k, _ = retrieved.shape
    q = min(own.shape[1], k)
    use = (torch.rand(b, device=retrieved.device) < p)[:, None, None]  # (b, 1, 1)
    mixed = torch.where(use, torch.cat([own[:, :q], retrieved[:, q:]], dim=1), retrieved)
    perm = torch.argsort(torch.rand(b, k, device=retrieved.device), dim=1)  # (b, k)
    return torch.gather(mixed, 1, perm[..., None].expand_as(mixed))


@torch.no_grad()
def latent_scale(vae: nn.Module, dataset: DiffusionSamples, n: int = 32) -> float:
    """1 / std of the VAE latents of ``n`` clean crops (the ``scaling_factor`` that gives unit-variance latents)."""
    clean = torch.stack([dataset[i]["clean"] for i in range(n)])
    z = vae.encode(clean * 2 - 1).latent_dist.mean
    return float(1.0 / z.std())


def predicted_clean(scheduler, noisy: torch.Tensor, pred: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(b, c, h, w) the clean latents the denoiser's output implies at timesteps ``t`` (b,), for either target."""
    alphas = scheduler.alphas_cumprod.to(noisy.device, noisy.dtype)[t][:, None, None, None]  # (b, 1, 1, 1)
    a, s = alphas.sqrt(), (1 - alphas).sqrt()
    if scheduler.config.prediction_type == "v_prediction":
        return a * noisy - s * pred
    return (noisy - s * pred) / a


def perceptual_term(
    vgg: nn.Module,
    vae: nn.Module,
    scheduler,
    noisy: torch.Tensor,
    pred: torch.Tensor,
    t: torch.Tensor,
    clean: torch.Tensor,
    region: torch.Tensor,
) -> torch.Tensor:
    """() LPIPS (``vgg``: an ``lpips.LPIPS`` module) of the decoded clean-latent prediction, pasted into the clean
    crop over ``region``, against the clean crop; each sample weighted by its signal share alpha_t^2.

    Args:
        vgg: the perceptual network.
        vae: the frozen autoencoder (``scaling_factor`` set).
        scheduler: the noise scheduler of the training run.
        noisy: (b, c, h, w) noised scaled latents at timesteps ``t`` (b,).
        pred: (b, c, h, w) the denoiser's output for them.
        clean: (b, 3, H, W) clean crops in [0, 1].
        region: (b, 1, H, W) the pixels the prediction restores (1 = restored).
    """
    z0 = predicted_clean(scheduler, noisy, pred, t)  # (b, c, h, w)
    decoded = (vae.decode(z0 / vae.config.scaling_factor).sample.clamp(-1, 1) + 1) / 2  # (b, 3, H, W)
    composite = clean * (1 - region) + decoded * region
    signal = scheduler.alphas_cumprod.to(noisy.device)[t]  # (b,) alpha_t^2
    return (vgg(composite * 2 - 1, clean * 2 - 1).flatten() * signal).mean()


def diffusion_loss(vae: nn.Module, scheduler, config: DiffusionTrainConfig):
    """The masked-region-weighted denoising loss (v or epsilon), as a function for :func:`train`; with
    ``perceptual_weight`` > 0 also LPIPS-vgg of the decoded clean-latent prediction, composited into the crop's
    undamaged pixels, against the clean crop, each sample weighted by its signal share alpha_t^2 (at high noise the
    prediction can only be a blurred average, which the perceptual term should not punish). LPIPS-alex, the
    bench's yardstick, is never used in training.

    Args:
        vae: frozen autoencoder with its ``scaling_factor`` set.
        scheduler: a diffusers noise scheduler (``add_noise`` / ``get_velocity``).
        config: the run settings (dropouts, prediction type, perceptual weight).
    """
    stride = latent_stride(vae)
    vgg = None
    if config.perceptual_weight > 0:
        from ..metrics.lpips import lpips_model

        vgg = lpips_model("vgg")

    def loss_fn(model: RestorationModel, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        clean, damaged, mask, fade = batch["clean"], batch["damaged"], batch["mask"], batch["fade"]
        types = batch["types"]
        b, device = clean.shape[0], clean.device
        vae.to(device)  # the frozen autoencoder follows the batch (a GPU too); a no-op once there
        if config.large_holes > 0:  # holes the context cannot explain make the style and retrieved tokens worth using
            use = (torch.rand(b, device=device) < config.large_holes)[:, None, None, None]  # (b, 1, 1, 1)
            hole = large_hole_masks(b, clean.shape[-1]).to(device) * use  # (b, 1, H, W)
            mask = torch.maximum(mask, hole)
            fade = fade * (1 - hole)
            types = torch.where(hole[:, 0] > 0, torch.full_like(types, int(DamageType.LOSS)), types)
        region = torch.maximum(mask, fade)  # (b, 1, H, W) what may change
        filled = pushpull_fill(damaged, mask)  # (b, 3, H, W)
        z0 = encode(vae, clean)  # (b, c, h, w)
        zm = encode(vae, filled)
        latent_mask = F.max_pool2d(region, stride)  # (b, 1, h, w)
        context = batch["context"]  # (b, n, 3, H, W)
        drop_style = torch.rand(b, device=device) < config.style_dropout
        retrieved = valid = None
        if config.retrieved > 0:
            ctx_lat = encode(vae, context.flatten(0, 1))  # (b * n, c, h, w)
            retrieved = quadrant_tokens(ctx_lat).reshape(b, -1, ctx_lat.shape[1] * BANK_PATCH_LATENT**2)
            retrieved = retrieved[:, : config.retrieved]
            if config.oracle_retrieval > 0:
                retrieved = with_oracle_tokens(retrieved, quadrant_tokens(z0), config.oracle_retrieval)
            keep = torch.rand(b, device=device) >= config.retrieval_dropout
            valid = keep[:, None].expand(b, retrieved.shape[1]).clone()  # (b, k)
        noise = torch.randn_like(z0)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (b,), device=z0.device)
        zt = scheduler.add_noise(z0, noise, t)
        pred = model(zt, t, zm, latent_mask, mask, fade, types, context[:, 0], drop_style, retrieved, valid)
        target = scheduler.get_velocity(z0, noise, t) if config.prediction_type == "v_prediction" else noise
        weight = 0.1 + F.avg_pool2d(region, stride)  # (b, 1, h, w): the damaged latents matter most
        err = ((pred - target) ** 2 * weight).mean() / weight.mean()
        sq = (pred.detach() - target) ** 2
        logs = {"mse_region": float((sq * latent_mask).sum() / latent_mask.sum().clamp_min(1) / sq.shape[1])}
        if vgg is None:
            return err, logs
        vgg.to(device)
        perceptual = perceptual_term(vgg, vae, scheduler, zt, pred, t, clean, region)
        logs["lpips_vgg"] = perceptual.item()
        return err + config.perceptual_weight * perceptual, logs

    return loss_fn


def build_model(config: DiffusionTrainConfig, vae: nn.Module) -> RestorationModel:
    """Fresh components sized from the config and the VAE."""
    channels = tuple(int(c) for c in config.block_channels.split(","))
    c = vae.config.latent_channels
    unet = ArtRestoreUNet(
        latent_channels=c,
        block_channels=channels,
        attention_levels=(False,) + (True,) * (len(channels) - 1),
        style_dim=config.style_dim,
        retrieval_dim=c * BANK_PATCH_LATENT * BANK_PATCH_LATENT if config.retrieved > 0 else 0,
        retrieval_cells=config.retrieval_cells or 1,
        retrieval_routing=0,  # training reads every retrieved patch; routing is an inference setting (export)
    )
    return RestorationModel(
        unet, FiLMMaskEncoder(latent_stride(vae), 16, channels), StyleEncoder(style_dim=config.style_dim)
    )


def make_scheduler(prediction_type: str):
    """The training noise schedule (a stock diffusers DDPM scheduler; samplers are built from its config)."""
    from diffusers import DDPMScheduler

    if prediction_type not in ("v_prediction", "epsilon"):
        raise ValueError(f"prediction_type: expected 'v_prediction' or 'epsilon', got {prediction_type!r}")
    return DDPMScheduler(
        num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type=prediction_type, clip_sample=False
    )


def _saved_latent_scale(run: Path) -> float | None:
    """The scaling factor in ``run``'s ``latent_scale.json`` (written when a run starts), or None without one."""
    scale_file = run / "latent_scale.json"
    return float(json.loads(scale_file.read_text())["scaling_factor"]) if scale_file.exists() else None


def init_latent_scale(init: str) -> float:
    """The latent scaling factor the run holding ``init`` was trained with.

    A run writes ``latent_scale.json`` when it starts and ``vae/`` when it ends, so a stage can start from a finished
    run's ``final/`` or from a stopped run's ``latest/``.

    Args:
        init: a run's ``final/`` or ``latest/`` folder.

    Raises:
        ValueError: ``init`` holds no ``unet/``, or neither file is beside it.
    """
    from diffusers import AutoencoderKL

    folder = Path(init)
    if not (folder / "unet" / "config.json").exists():
        raise ValueError(f"init: expected a run's final/ or latest/ folder with unet/ in it, got {init}")
    saved = _saved_latent_scale(folder.parent)
    if saved is not None:
        return saved
    if (folder.parent / "vae" / "config.json").exists():
        return float(AutoencoderKL.load_config(str(folder.parent / "vae"))["scaling_factor"])
    raise ValueError(
        f"init: the run holding {init} has neither latent_scale.json nor vae/ (the latent scaling its weights were "
        "trained with); pass a run's final/ or latest/ folder"
    )


def train_diffusion(config: DiffusionTrainConfig) -> dict:
    """Train the denoiser stack; writes ``final/{unet,mask_encoder,style_encoder}``, ``vae/`` and ``scheduler/``.

    Args:
        config: :class:`~artrestore.config.DiffusionTrainConfig`.

    Returns:
        The training summary.
    """
    sources = training_sources(config.source, config.data, config.style_data)
    if not Path(config.vae, "config.json").exists():
        raise ValueError(f"vae: no autoencoder folder at {config.vae} (train one with `artrestore train-vae`)")
    init_scale = init_latent_scale(config.init) if config.init else None  # a bad --init fails before loading
    vae = load_autoencoder(config.vae).requires_grad_(False)
    dataset = DiffusionSamples(
        sources, config.crop, config.steps * config.batch_size, seed=config.seed, min_scale=config.min_scale
    )
    out = Path(config.out)
    scale = _saved_latent_scale(out)  # resuming
    if scale is None:  # a later stage keeps the latent scaling its init was trained with
        scale = init_scale if init_scale is not None else latent_scale(vae, dataset)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latent_scale.json").write_text(json.dumps({"scaling_factor": scale}))
    vae.register_to_config(scaling_factor=scale)
    if config.init:
        model = RestorationModel.from_pretrained(config.init, retrieval_cells=config.retrieval_cells)
    else:
        model = build_model(config, vae)
    if config.freeze_style:
        model.style_encoder.requires_grad_(False)
    scheduler = make_scheduler(config.prediction_type)
    summary = train(model, dataset, diffusion_loss(vae, scheduler, config), config, title="diffusion")
    vae.save_pretrained(str(out / "vae"))
    scheduler.save_pretrained(str(out / "scheduler"))
    return summary

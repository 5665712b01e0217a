"""The tile stages of :class:`ArtRestorePipeline`: one tile around the damage, from conditions to restored pixels.

:meth:`TileDenoisingMixin.denoise_tile` runs four numbered stages, each a method: encode the conditions (filled
tile latents, damage, FiLM, retrieval tokens), prepare the latents (from noise or a noised first fill), the
denoising loop (differential: each latent changes only while its damage strength allows), decode and composite.

Self-contained (numpy, torch, diffusers schedulers through the pipeline): this file ships with exported checkpoints.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .masked_fill import edit_mask, pushpull_fill
from .settings import ComponentSwitches


@dataclass
class DenoiseSettings:
    """The per-call settings every tile is denoised with (arguments of :meth:`ArtRestorePipeline.__call__`)."""

    artist: str | None
    retrieval: str
    top_k: int
    num_inference_steps: int
    generator: torch.Generator | None
    strength: float
    guidance_scale: float
    switches: ComponentSwitches
    callback_on_step_end: Callable | None = None
    callback_on_step_end_tensor_inputs: list[str] = field(default_factory=lambda: ["latents"])


@dataclass
class TileInputs:
    """One tile of a :class:`DamagePlan`, cut at ``Tile.slices`` of the padded painting.

    Attributes:
        crop: (s, s, 3) uint8; mask: (s, s) float32 binary damage; fade: (s, s) float32 fading strength.
        init: (s, s, 3) uint8 first fill, or None.
        style: (1, style_dim) style vector.
        index: the tile's number (passed to ``callback_on_step_end``).
    """

    crop: np.ndarray
    mask: np.ndarray
    fade: np.ndarray
    init: np.ndarray | None
    style: torch.Tensor
    index: int


@dataclass
class TileConditions:
    """Stage 1 of a tile: the denoiser's conditioning (all at latent resolution but the pixel tensors)."""

    image: torch.Tensor  # (1, 3, s, s) the tile in [0, 1]
    mask: torch.Tensor  # (1, 1, s, s) binary damage
    fade: torch.Tensor  # (1, 1, s, s) fading strength
    filled: torch.Tensor  # (1, 3, s, s) holes pre-filled by push-pull, as in training
    z_image: torch.Tensor  # (1, c, h, w) latents of the filled tile
    latent_mask: torch.Tensor  # (1, 1, h, w)
    strength: torch.Tensor  # (1, 1, h, w) per-latent change strength (differential restoration)
    film: list | None
    style: torch.Tensor  # (1, style_dim)
    token_style: torch.Tensor | None  # (1, style_dim) style of the cross-attention tokens (None: ``style``)
    tokens: torch.Tensor | None  # (1, k, retrieval_dim)
    valid: torch.Tensor | None  # (1, k) bool
    rows: np.ndarray  # (1, k) bank rows

    @property
    def region(self) -> torch.Tensor:
        """(1, 1, s, s) every pixel restored."""
        return torch.maximum(self.mask, self.fade)


class TileDenoisingMixin:
    """The per-tile stages of the pipeline (needs its ``unet``, ``vae``, ``mask_encoder``, ``scheduler``, ``config``
    and the ``encode_image``, ``decode_latents``, ``retrieve`` and ``_to_tensor`` methods)."""

    @torch.no_grad()
    def denoise_tile(self, inputs: TileInputs, settings: DenoiseSettings) -> tuple[np.ndarray, np.ndarray]:
        """Denoise one tile. Returns the restored tile (s, s, 3) float in [0, 255] and the bank rows used (k,)."""
        # 1. encode the masked image, the damage and the retrieval tokens
        cond = self.encode_tile_conditions(inputs, settings)
        # 2. prepare timesteps and latents (from noise, or from the noised init fill when strength < 1)
        timesteps, latents, noise, x_init, z_init = self.prepare_latents(cond, inputs.init, settings)
        # 3. denoising loop (differential: a latent of strength s changes only during the last s share of steps)
        latents = self.denoising_loop(latents, timesteps, noise, cond, settings, tile_index=inputs.index)
        # 4. decode and composite
        restored = self.decode_tile(latents, cond, x_init, z_init, settings.switches)
        out = restored[0].permute(1, 2, 0).float().cpu().numpy() * 255.0
        return np.clip(out, 0, 255), cond.rows[0]

    def encode_tile_conditions(self, inputs: TileInputs, settings: DenoiseSettings) -> TileConditions:
        """Tile stage 1: the filled tile's latents, the damage at latent resolution, FiLM and retrieval tokens."""
        device, dtype = self._execution_device, self.unet.dtype
        x = self._to_tensor(inputs.crop).to(device, dtype)  # (1, 3, s, s)
        m = torch.from_numpy(inputs.mask)[None, None].to(device, dtype)  # (1, 1, s, s) binary
        f = torch.from_numpy(inputs.fade)[None, None].to(device, dtype)  # (1, 1, s, s) in [0, 1]
        region = torch.maximum(m, f)
        stride = self.latent_stride
        x_filled = pushpull_fill(x, m)  # (1, 3, s, s) holes pre-filled, as in training
        z_image = self.encode_image(x_filled)  # (1, c, h, w)
        latent_mask = F.max_pool2d(region, stride)  # (1, 1, h, w)
        strength = torch.maximum(F.max_pool2d(m, stride), F.avg_pool2d(f, stride))  # per-latent change strength
        film = self.mask_encoder(m, f) if settings.switches.film else None
        tokens = valid = None
        rows = np.zeros((1, 0), np.int64)
        if self.unet.config.retrieval_dim > 0 and settings.top_k > 0:
            tokens, valid, rows, _ = self.retrieve(x, region, settings.artist, settings.retrieval, settings.top_k)
        style = inputs.style
        token_style = None if settings.switches.style_tokens else self.unet.null_style[None].expand(style.shape[0], -1)
        return TileConditions(
            image=x,
            mask=m,
            fade=f,
            filled=x_filled,
            z_image=z_image,
            latent_mask=latent_mask,
            strength=strength,
            film=film,
            style=style,
            token_style=token_style,
            tokens=tokens,
            valid=valid,
            rows=rows,
        )

    def prepare_latents(
        self, cond: TileConditions, init_crop: np.ndarray | None, settings: DenoiseSettings
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Tile stage 2: the timesteps, the starting latents, the noise, and the init fill in pixels and latents.

        From noise; or, with an init fill and ``strength`` < 1, from that fill noised to ``strength`` (the schedule
        then starts that far in).
        """
        device, dtype = self._execution_device, self.unet.dtype
        self.scheduler.set_timesteps(settings.num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        noise = torch.randn(cond.z_image.shape, generator=settings.generator, device="cpu", dtype=torch.float32).to(
            device, dtype
        )
        x_init = z_init = None
        if init_crop is not None:
            x, m = cond.image, cond.mask
            x_init = x * (1 - m) + self._to_tensor(init_crop).to(device, dtype) * m  # (1, 3, s, s)
            z_init = self.encode_image(x_init)
        strength = float(settings.strength)
        if z_init is not None and strength < 1:
            begin = min(len(timesteps) - 1, int(round(len(timesteps) * (1 - strength))))
            timesteps = timesteps[begin:]
            if hasattr(self.scheduler, "set_begin_index"):
                self.scheduler.set_begin_index(begin)
            latents = self.scheduler.add_noise(z_init, noise, timesteps[:1])
        else:
            latents = noise * self.scheduler.init_noise_sigma
        return timesteps, latents, noise, x_init, z_init

    def denoising_loop(
        self,
        latents: torch.Tensor,
        timesteps: torch.Tensor,
        noise: torch.Tensor,
        cond: TileConditions,
        settings: DenoiseSettings,
        *,
        tile_index: int,
    ) -> torch.Tensor:
        """Tile stage 3: the sampler's steps; after each, latents outside the damage (and fading not yet due)
        are reset to the noised image latents. Returns the final (1, c, h, w) latents."""
        accepts_generator = "generator" in inspect.signature(self.scheduler.step).parameters
        step_kwargs = {"generator": settings.generator} if accepts_generator else {}
        guidance = float(settings.guidance_scale)
        guided = guidance != 1.0
        args = (cond.z_image, cond.latent_mask, cond.style, cond.film, cond.tokens, cond.valid, cond.token_style)
        if guided:  # batch 2: the conditional input, then the null style with no retrieved patch
            args = self._guidance_batch(*args)
        *unet_args, token_style = args
        unet_kwargs = {"token_style": token_style, "style_adaln": settings.switches.style_adaln}
        for i, t in enumerate(timesteps):
            model_input = self.scheduler.scale_model_input(latents, t)
            if guided:
                pred_cond, pred_null = self.unet(
                    torch.cat([model_input] * 2), t, *unet_args, **unet_kwargs
                ).sample.chunk(2)
                pred = pred_null + guidance * (pred_cond - pred_null)
            else:
                pred = self.unet(model_input, t, *unet_args, **unet_kwargs).sample
            latents = self.scheduler.step(pred, t, latents, **step_kwargs).prev_sample
            if i + 1 < len(timesteps):
                keep = self.scheduler.add_noise(cond.z_image, noise, timesteps[i + 1 : i + 2])
            else:
                keep = cond.z_image
            em = edit_mask(cond.strength, i, len(timesteps))
            latents = em * latents + (1 - em) * keep
            if settings.callback_on_step_end is not None:
                available = {"latents": latents}
                callback_kwargs = {k: available[k] for k in settings.callback_on_step_end_tensor_inputs}
                callback_outputs = settings.callback_on_step_end(
                    self, i, t, {**callback_kwargs, "tile_index": tile_index}
                )
                latents = callback_outputs.pop("latents", latents) if callback_outputs else latents
        return latents

    def _guidance_batch(
        self,
        z_image: torch.Tensor,
        latent_mask: torch.Tensor,
        style: torch.Tensor,
        film: list | None,
        tokens: torch.Tensor | None,
        valid: torch.Tensor | None,
        token_style: torch.Tensor | None,
    ) -> tuple:
        """The UNet's conditioning arguments doubled for classifier-free guidance: row 0 as given, row 1 with the
        null style and every retrieved slot invalid (what style and retrieval dropout trained the denoiser on)."""
        two = lambda x: None if x is None else torch.cat([x] * 2)  # noqa: E731
        null = self.unet.null_style[None].to(style.dtype)  # (1, style_dim)
        film2 = None if film is None else [tuple(two(x) for x in level) for level in film]
        valid2 = None if valid is None else torch.cat([valid, torch.zeros_like(valid)])  # (2, k)
        token_style2 = None if token_style is None else torch.cat([token_style, null])
        return two(z_image), two(latent_mask), torch.cat([style, null]), film2, two(tokens), valid2, token_style2

    def decode_tile(
        self,
        latents: torch.Tensor,
        cond: TileConditions,
        x_init: torch.Tensor | None,
        z_init: torch.Tensor | None,
        switches: ComponentSwitches,
    ) -> torch.Tensor:
        """Tile stage 4: decode, keep the input's fine structure the autoencoder cannot reproduce, and match each
        hole's colours to its surroundings. Returns (1, 3, s, s) in about [0, 1]."""
        x, m, f, region = cond.image, cond.mask, cond.fade, cond.region
        decoded = self.decode_latents(latents)  # (1, 3, s, s)
        restored = decoded
        if x_init is not None:
            # the init fill's fine texture, which the autoencoder cannot reproduce, over the whole tile: where the
            # denoiser left the init latents alone the tile is the init fill exactly, so the boundary correction
            # below only sees the denoiser's own edit (and does not add the decoder's error to an exact fill)
            restored = decoded + (x_init - self.decode_latents(z_init))
        elif float(f.max()) > 0:  # detail of the hole-filled input (so crack edges inside faded areas do not return)
            restored = decoded + (cond.filled - self.decode_latents(cond.z_image)) * (m < 0.5)
        correct = (
            self.config.boundary_correction if switches.boundary_correction is None else switches.boundary_correction
        )
        if correct and float(m.max()) > 0:
            # match each hole to its final surroundings: the decoder's error on the pixels around the hole (the
            # original outside the damage, the restored colours in faded areas), filled smoothly into the hole
            target = torch.where(region > 0, restored, x)  # (1, 3, s, s)
            residual = pushpull_fill(target - restored, m)
            restored = restored + residual * m
        return restored

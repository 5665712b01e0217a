"""ArtRestorePipeline: restore damaged paintings with ArtRestore-Diffusion.

Follows the structure of diffusers' inpaint pipeline: ``check_inputs``, then encoding (style, damage, masked image,
retrieval), a numbered denoising loop, then decoding and compositing. The model runs on tiles around the damage at
full resolution (``crop_plan``); every pixel outside ``mask_image`` and ``fade_map`` stays bit-identical.

Self-contained (torch, numpy, PIL, diffusers, faiss through the memory bank): this file ships with exported
checkpoints and loads with ``DiffusionPipeline.from_pretrained(path, trust_remote_code=True)``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput

from .attribution import WEIGHTINGS, AttributionRecorder
from .crop_plan import Tile, TileBlender, plan_tiles
from .damage_detection import DetectedDamage, binary_opening, decide, decision_settings, predict_tiled
from .masked_fill import biharmonic_fill, edit_mask, pushpull_fill

COMPONENT_CLASSES = {  # component -> class in the ``artrestore.models`` package (for loading without remote code)
    "unet": "ArtRestoreUNet",
    "mask_encoder": "FiLMMaskEncoder",
    "style_encoder": "StyleEncoder",
    "memory_bank": "StyleMemoryBank",
    "style_certifier": "StyleCertifier",
    "damage_detector": "DamageDetector",
    "varnish_estimator": "VarnishEstimator",
}
RETRIEVAL_MODES = ("filter", "boost", "none")
FADING_METHODS = ("invert", "diffuse")


@dataclass
class ArtRestorePipelineOutput(BaseOutput):
    """Output of :class:`ArtRestorePipeline`.

    Attributes:
        images: restored paintings (PIL RGB, same size as the inputs) or (b, H, W, 3) uint8 arrays.
        attributions: per image, the block-wise attribution (None until computed by an attribution hook).
        certificates: per image, the style certificate (None unless a certifier is attached).
        damage: per image, which damage was restored: ``{"mask": "given" | "detected" | None, "fade": ...,
            "mask_image": the L mask used (or None), "fade_map": the L fade map used (or None), "artist": ...,
            "style": "artist" | "inferred" | None (nothing denoised), "fading": "invert" | "diffuse" | None,
            "tiles": n, "retrieved": [bank rows]}``.
    """

    images: list[PIL.Image.Image] | np.ndarray
    attributions: list[Any | None]
    certificates: list[Any | None]
    damage: list[dict[str, Any]]


def _as_list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


class ArtRestorePipeline(DiffusionPipeline):
    """Latent-diffusion restoration of damaged paintings with FiLM damage conditioning, artist style and retrieval.

    Args:
        vae: the autoencoder (``AutoencoderKL``).
        unet: :class:`ArtRestoreUNet` denoiser.
        mask_encoder: :class:`FiLMMaskEncoder`.
        style_encoder: :class:`StyleEncoder`.
        memory_bank: :class:`StyleMemoryBank` (faiss index, patch latents, provenance, artist vectors).
        scheduler: a stock diffusers scheduler.
        style_certifier: :class:`StyleCertifier` (generator-independent style embedding, artist centroids and
            calibrated thresholds) that fills ``out.certificates``, or None.
        damage_detector: :class:`DamageDetector` behind :meth:`detect_damage` and ``detect=True``, or None.
        varnish_estimator: :class:`VarnishEstimator` that restores faded colour by inverting the painting's ageing
            transform under the fade map (``fading="invert"``), or None (faded areas are then denoised).
        default_steps: denoising steps when ``num_inference_steps`` is None.
        tile_size: largest tile side in pixels; smaller images run as one crop around the damage.
        context: context margin in pixels around the damage (and tile overlap).
        top_k: retrieved memory-bank patches per tile.
        thin_damage_px: connected binary damage narrower than this many pixels everywhere (cracks, scratches) is
            filled in pixel space by a biharmonic fill of its surroundings before denoising, instead of being
            denoised (0 = denoise everything); see :func:`split_thin_damage`.
        boundary_correction: add the decoder's colour error measured on the undamaged border of each hole, filled
            smoothly into the hole, so restored regions meet the original without a seam.
        attribution_block: side in pixels of the blocks of the attribution maps.
        attribution_weighting: ``"attention"`` (plain attention mass) or ``"value"`` (attention weighted by what
            each token adds to the output); see :class:`AttributionRecorder`.
    """

    model_cpu_offload_seq = "style_encoder->mask_encoder->unet->vae"
    _callback_tensor_inputs = ["latents"]
    _optional_components = ["style_certifier", "damage_detector", "varnish_estimator"]

    def __init__(
        self,
        vae,
        unet,
        mask_encoder,
        style_encoder,
        memory_bank,
        scheduler,
        style_certifier=None,
        damage_detector=None,
        varnish_estimator=None,
        default_steps: int = 10,
        tile_size: int = 768,
        context: int = 48,
        top_k: int = 8,
        thin_damage_px: int = 0,
        boundary_correction: bool = True,
        attribution_block: int = 16,
        attribution_weighting: str = "attention",
        guidance_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if attribution_weighting not in WEIGHTINGS:
            raise ValueError(f"attribution_weighting: expected one of {WEIGHTINGS}, got {attribution_weighting!r}")
        self.register_modules(
            vae=vae,
            unet=unet,
            mask_encoder=mask_encoder,
            style_encoder=style_encoder,
            memory_bank=memory_bank,
            scheduler=scheduler,
            style_certifier=style_certifier,
            damage_detector=damage_detector,
            varnish_estimator=varnish_estimator,
        )
        self.register_to_config(
            default_steps=default_steps,
            tile_size=tile_size,
            context=context,
            top_k=top_k,
            thin_damage_px=thin_damage_px,
            boundary_correction=boundary_correction,
            attribution_block=attribution_block,
            attribution_weighting=attribution_weighting,
            guidance_scale=guidance_scale,
        )
        self.latent_stride = 2 ** (len(vae.config.block_out_channels) - 1)
        for module in (vae, unet):  # channels-last convolutions: ~25 % faster VAE decoding on CPU, same numbers
            module.to(memory_format=torch.channels_last)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> ArtRestorePipeline:
        """Load the pipeline.

        With ``trust_remote_code=True`` this is diffusers' loader (components from the folder's own ``.py`` files).
        Otherwise, when the ``artrestore`` package is installed, the components are built from its classes and no
        code from the model folder runs.

        Args:
            pretrained_model_name_or_path: a local folder or a Hub repo id.
            **kwargs: as :meth:`diffusers.DiffusionPipeline.from_pretrained` (``torch_dtype``, ``revision``, and
                components to use instead of the saved ones).
        """
        if kwargs.get("trust_remote_code"):
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        try:
            local = importlib.import_module("artrestore.models")
        except ImportError as e:
            raise ValueError(
                "trust_remote_code: the artrestore package is not installed, so the components can only be built "
                "from the model folder's own code; pass trust_remote_code=True to allow that"
            ) from e
        import diffusers

        folder = str(pretrained_model_name_or_path)
        if not os.path.isdir(folder):
            from huggingface_hub import snapshot_download

            folder = snapshot_download(folder, revision=kwargs.get("revision"))
        index_file = os.path.join(folder, "model_index.json")
        if not os.path.isfile(index_file):
            raise ValueError(f"pretrained_model_name_or_path: no model_index.json in {folder}")
        with open(index_file, encoding="utf-8") as fh:
            index = json.load(fh)
        dtype = kwargs.get("torch_dtype")
        init: dict[str, Any] = {}
        for name, value in index.items():
            if name.startswith("_"):
                continue
            if name in kwargs:
                init[name] = kwargs[name]
            elif isinstance(value, list) and value == [None, None]:  # an optional component that was not saved
                init[name] = None
            elif isinstance(value, list) and len(value) == 2:
                library, class_name = value
                owner = local if name in COMPONENT_CLASSES else diffusers
                if owner is diffusers and library != "diffusers":
                    raise ValueError(f"model_index.json: component {name!r} comes from {library!r}, not diffusers")
                component = getattr(owner, class_name).from_pretrained(os.path.join(folder, name))
                if dtype is not None and isinstance(component, torch.nn.Module) and name in ("vae", "unet"):
                    component = component.to(dtype)
                init[name] = component
            else:
                init[name] = value
        return cls(**init)

    # ----------------------------------------------------------------------------------------------- inputs
    def check_inputs(
        self,
        images: list,
        masks: list,
        fades: list,
        artist: str | None,
        num_inference_steps: int,
        output_type: str,
        retrieval: str,
        callback_on_step_end_tensor_inputs: list[str] | None,
        fading: str | None = None,
    ) -> None:
        """Raise ``ValueError`` naming the argument for any input the pipeline cannot use as given."""
        if not images or not all(isinstance(im, PIL.Image.Image) and im.mode == "RGB" for im in images):
            raise ValueError("image: expected a PIL RGB image or a list of them (convert with .convert('RGB'))")
        for name, maps in (("mask_image", masks), ("fade_map", fades)):
            if len(maps) != len(images):
                raise ValueError(f"{name}: expected one per image ({len(images)}), got {len(maps)}")
            for m, im in zip(maps, images):
                if m is None:
                    continue
                if not isinstance(m, PIL.Image.Image) or m.mode != "L":
                    raise ValueError(f"{name}: expected a PIL 'L' (8-bit greyscale) image or None")
                if m.size != im.size:
                    raise ValueError(f"{name}: size {m.size} differs from the image's {im.size}; it is never resized")
        for i, (m, f) in enumerate(zip(masks, fades)):
            has_mask = m is not None and np.asarray(m).max() >= 128
            has_fade = f is not None and np.asarray(f).max() > 0
            if not (has_mask or has_fade):
                raise ValueError(
                    f"mask_image: image {i} has nothing to restore (no mask pixel >= 128 and no fade_map > 0; with "
                    "detect=True: the detector found no damage)"
                )
        if artist is not None and artist not in self.memory_bank.artist_vectors:
            known = ", ".join(sorted(self.memory_bank.artist_vectors))
            raise ValueError(f"artist: {artist!r} is unknown; known artists: {known} (or None to infer the style)")
        if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise ValueError(f"num_inference_steps: expected a positive integer, got {num_inference_steps!r}")
        if output_type not in ("pil", "np"):
            raise ValueError(f"output_type: expected 'pil' or 'np', got {output_type!r}")
        if retrieval not in RETRIEVAL_MODES:
            raise ValueError(f"retrieval: expected one of {RETRIEVAL_MODES}, got {retrieval!r}")
        if fading is not None and fading not in FADING_METHODS:
            raise ValueError(f"fading: expected one of {FADING_METHODS} or None, got {fading!r}")
        if fading == "invert" and self.varnish_estimator is None:
            raise ValueError(
                "fading: 'invert' needs a varnish_estimator component, which this model lacks; use 'diffuse' or None"
            )
        if callback_on_step_end_tensor_inputs is not None and not set(callback_on_step_end_tensor_inputs) <= set(
            self._callback_tensor_inputs
        ):
            raise ValueError(
                f"callback_on_step_end_tensor_inputs: accepted {self._callback_tensor_inputs}, "
                f"got {callback_on_step_end_tensor_inputs}"
            )

    # ------------------------------------------------------------------------------------------- encoding
    @torch.no_grad()
    def add_artist(self, name: str, references: list[PIL.Image.Image], side: int = 256) -> torch.Tensor:
        """Add (or replace) an artist from a few reference works; no retraining.

        Args:
            name: the artist's name.
            references: PIL RGB images of the artist's works.
            side: short side the references are resized to before encoding.

        Returns:
            The artist's (style_dim,) vector.
        """
        if not references or not all(isinstance(r, PIL.Image.Image) for r in references):
            raise ValueError("references: expected a non-empty list of PIL images")
        vecs = []
        for ref in references:
            x = self._to_tensor(np.asarray(_resize_short(ref.convert("RGB"), side)))  # (1, 3, h, w)
            vecs.append(self.style_encoder(x.to(self._execution_device, self.style_encoder.dtype))[0])
        vector = F.normalize(torch.stack(vecs).mean(0), dim=0)
        self.memory_bank.set_artist_vector(name, vector)
        if self.style_certifier is not None:
            self.style_certifier.add_artist(name, [np.asarray(r.convert("RGB")) for r in references])
        return vector

    @staticmethod
    def _to_tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(array, copy=True)).permute(2, 0, 1)[None].float() / 255.0

    @torch.no_grad()
    def encode_style(self, image: np.ndarray, region: np.ndarray, artist: str | None) -> tuple[torch.Tensor, str]:
        """The style vector: the artist's, or inferred from the undamaged part of the painting.

        Args:
            image: (H, W, 3) uint8.
            region: (H, W) bool, pixels being restored (excluded from the inference).
            artist: a bank artist or None.

        Returns:
            (1, style_dim) vector and its origin (``"artist"`` or ``"inferred"``).
        """
        device = self._execution_device
        if artist is not None:
            return self.memory_bank.artist_vectors[artist][None].to(device), "artist"
        scale = min(1.0, 512 / max(image.shape[:2]))
        x = self._to_tensor(image).to(device)  # (1, 3, H, W)
        valid = torch.from_numpy(~region)[None, None].float().to(device)  # (1, 1, H, W)
        if scale < 1:
            size = (max(8, round(image.shape[0] * scale)), max(8, round(image.shape[1] * scale)))
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
            valid = F.interpolate(valid, size=size, mode="area")
        return self.style_encoder(x, valid), "inferred"

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """(b, 3, H, W) in [0, 1] -> (b, c, H/stride, W/stride) scaled latents."""
        x = (images * 2 - 1).contiguous(memory_format=torch.channels_last)
        return self.vae.encode(x).latent_dist.mean * self.vae.config.scaling_factor

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """(b, c, h, w) scaled latents -> (b, 3, H, W) in [0, 1]."""
        z = (latents / self.vae.config.scaling_factor).contiguous(memory_format=torch.channels_last)
        return ((self.vae.decode(z).sample + 1) / 2).clamp(0, 1)

    def retrieve(
        self, crop: torch.Tensor, region: torch.Tensor, artist: str | None, mode: str, k: int
    ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
        """Top-k memory-bank patches for a tile; the query is the tile's undamaged context.

        Args:
            crop: (1, 3, H, W) tile in [0, 1].
            region: (1, 1, H, W) restored pixels.
            artist: artist to filter or boost by, or None.
            mode: retrieval mode (``filter``, ``boost``, ``none``).
            k: number of patches.

        Returns:
            tokens (1, k, retrieval_dim), valid (1, k) bool, bank rows (1, k) and scores (1, k).
        """
        query = self.style_encoder(crop, 1 - region)  # (1, style_dim)
        bank_artist = artist if artist in self.memory_bank.patch_artists else None
        found = self.memory_bank.search(query, k, artist=bank_artist, mode=mode if bank_artist else "none")
        tokens = found.latents.flatten(2).to(crop.device, crop.dtype)  # (1, k, c*p*p)
        return tokens, found.valid.to(crop.device), found.indices, found.scores

    @torch.no_grad()
    def detect_damage(
        self,
        image: PIL.Image.Image | list[PIL.Image.Image],
        damage_threshold: float | None = None,
        fade_threshold: float | None = None,
        tile: int = 1024,
        overlap: int = 64,
    ) -> list[DetectedDamage]:
        """Find cracks, scratches, paint loss and fading with the model's damage detector.

        Args:
            image: PIL RGB painting(s), any size (the detector runs on overlapping tiles).
            damage_threshold: probability of any damage needed to mark a pixel (None: the detector's calibrated one).
            fade_threshold: weakest fading reported, weaker becomes 0 (None: the detector's calibrated one).
            tile: tile side in pixels.
            overlap: tile overlap in pixels.

        Returns:
            Per image, a :class:`DetectedDamage`: ``mask_image()`` and ``fade_map()`` are exactly what ``mask_image``
            and ``fade_map`` take; ``types`` holds the damage type of every pixel.
        """
        if self.damage_detector is None:
            raise ValueError("detect: this model has no damage_detector component; pass mask_image/fade_map instead")
        images = _as_list(image)
        if not images or not all(isinstance(im, PIL.Image.Image) and im.mode == "RGB" for im in images):
            raise ValueError("image: expected a PIL RGB image or a list of them (convert with .convert('RGB'))")
        settings = decision_settings(self.damage_detector, damage_threshold, fade_threshold)
        found = []
        for im in images:
            probs, fade = predict_tiled(self.damage_detector, np.asarray(im), tile, overlap)
            found.append(decide(probs, fade, **settings))
        return found

    def certify(self, image: np.ndarray, region: np.ndarray, artist: str | None) -> Any | None:
        """The style certificate of ``region`` of ``image`` (H, W, 3 uint8), or None without a certifier or when
        the artist has no certificate centroid."""
        certifier = self.style_certifier
        if certifier is None or not region.any() or (artist is not None and artist not in certifier.artist_names):
            return None
        return certifier.certify(image, region, artist)

    # ------------------------------------------------------------------------------------------- denoising
    def _tile_geometry(self, region: np.ndarray) -> tuple[list[Tile], int]:
        """Tiles (and the padded working size) covering ``region``."""
        h, w = region.shape
        align = self.latent_stride * 2 ** (len(self.unet.config.block_channels) - 1)
        tile_size = self.config.tile_size
        ys, xs = np.nonzero(region)
        ctx = self.config.context
        y0, y1 = max(0, ys.min() - ctx), min(h, ys.max() + 1 + ctx)
        x0, x1 = max(0, xs.min() - ctx), min(w, xs.max() + 1 + ctx)
        side = max(y1 - y0, x1 - x0)
        if side <= tile_size:  # one crop around all the damage
            side = -(-side // align) * align
            return [Tile(min(y0, max(h - side, 0)), min(x0, max(w - side, 0)), side)], side
        core = tile_size - 2 * ctx
        return plan_tiles(region, tile_size, core), tile_size

    def _guidance_batch(
        self,
        z_image: torch.Tensor,
        latent_mask: torch.Tensor,
        style: torch.Tensor,
        film: list | None,
        tokens: torch.Tensor | None,
        valid: torch.Tensor | None,
    ) -> tuple:
        """The UNet's conditioning arguments doubled for classifier-free guidance: row 0 as given, row 1 with the
        null style and every retrieved slot invalid (what style and retrieval dropout trained the denoiser on)."""
        two = lambda x: None if x is None else torch.cat([x] * 2)  # noqa: E731
        null = self.unet.null_style[None].to(style.dtype)  # (1, style_dim)
        film2 = None if film is None else [tuple(two(x) for x in level) for level in film]
        valid2 = None if valid is None else torch.cat([valid, torch.zeros_like(valid)])  # (2, k)
        return two(z_image), two(latent_mask), torch.cat([style, null]), film2, two(tokens), valid2

    @torch.no_grad()
    def _restore_tile(
        self,
        crop: np.ndarray,
        mask: np.ndarray,
        fade: np.ndarray,
        style: torch.Tensor,
        artist: str | None,
        retrieval: str,
        top_k: int,
        num_inference_steps: int,
        generator: torch.Generator | None,
        callback_on_step_end: Callable | None,
        callback_on_step_end_tensor_inputs: list[str],
        tile_index: int,
        init_crop: np.ndarray | None = None,
        init_strength: float = 1.0,
        guidance_scale: float = 1.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Denoise one tile. Returns the restored tile (s, s, 3) float in [0, 255] and the bank rows used."""
        device, dtype = self._execution_device, self.unet.dtype
        x = self._to_tensor(crop).to(device, dtype)  # (1, 3, s, s)
        m = torch.from_numpy(mask)[None, None].to(device, dtype)  # (1, 1, s, s) binary
        f = torch.from_numpy(fade)[None, None].to(device, dtype)  # (1, 1, s, s) in [0, 1]
        region = torch.maximum(m, f)
        stride = self.latent_stride

        # 1. encode the masked image, the damage and the retrieval tokens
        x_filled = pushpull_fill(x, m)  # (1, 3, s, s) holes pre-filled, as in training
        z_image = self.encode_image(x_filled)  # (1, c, h, w)
        latent_mask = F.max_pool2d(region, stride)  # (1, 1, h, w)
        strength = torch.maximum(F.max_pool2d(m, stride), F.avg_pool2d(f, stride))  # per-latent change strength
        film = self.mask_encoder(m, f)
        tokens = valid = None
        rows = np.zeros((1, 0), np.int64)
        if self.unet.config.retrieval_dim > 0 and top_k > 0:
            tokens, valid, rows, _ = self.retrieve(x, region, artist, retrieval, top_k)

        # 2. prepare timesteps and latents (from noise, or from the noised init fill when init_strength < 1)
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        noise = torch.randn(z_image.shape, generator=generator, device="cpu", dtype=torch.float32).to(device, dtype)
        x_init = z_init = None
        if init_crop is not None:
            x_init = x * (1 - m) + self._to_tensor(init_crop).to(device, dtype) * m  # (1, 3, s, s)
            z_init = self.encode_image(x_init)
        if z_init is not None and init_strength < 1:
            begin = min(len(timesteps) - 1, int(round(len(timesteps) * (1 - init_strength))))
            timesteps = timesteps[begin:]
            if hasattr(self.scheduler, "set_begin_index"):
                self.scheduler.set_begin_index(begin)
            latents = self.scheduler.add_noise(z_init, noise, timesteps[:1])
        else:
            latents = noise * self.scheduler.init_noise_sigma

        accepts_generator = "generator" in inspect.signature(self.scheduler.step).parameters
        step_kwargs = {"generator": generator} if accepts_generator else {}
        guided = guidance_scale != 1.0
        cond = (z_image, latent_mask, style, film, tokens, valid)
        if guided:  # batch 2: the conditional input, then the null style with no retrieved patch
            cond = self._guidance_batch(z_image, latent_mask, style, film, tokens, valid)

        # 3. denoising loop (differential: a latent of strength s changes only during the last s share of steps)
        for i, t in enumerate(timesteps):
            model_input = self.scheduler.scale_model_input(latents, t)
            if guided:
                pred_cond, pred_null = self.unet(torch.cat([model_input] * 2), t, *cond).sample.chunk(2)
                pred = pred_null + guidance_scale * (pred_cond - pred_null)
            else:
                pred = self.unet(model_input, t, *cond).sample
            latents = self.scheduler.step(pred, t, latents, **step_kwargs).prev_sample
            if i + 1 < len(timesteps):
                keep = self.scheduler.add_noise(z_image, noise, timesteps[i + 1 : i + 2])
            else:
                keep = z_image
            em = edit_mask(strength, i, len(timesteps))
            latents = em * latents + (1 - em) * keep
            if callback_on_step_end is not None:
                available = {"latents": latents}
                callback_kwargs = {k: available[k] for k in callback_on_step_end_tensor_inputs}
                callback_outputs = callback_on_step_end(self, i, t, {**callback_kwargs, "tile_index": tile_index})
                latents = callback_outputs.pop("latents", latents) if callback_outputs else latents

        # 4. decode; fading keeps the input's fine structure (the part the autoencoder cannot reproduce)
        decoded = self.decode_latents(latents)  # (1, 3, s, s)
        restored = decoded
        if x_init is not None:
            # the init fill's fine texture, which the autoencoder cannot reproduce, over the whole tile: where the
            # denoiser left the init latents alone the tile is the init fill exactly, so the boundary correction
            # below only sees the denoiser's own edit (and does not add the decoder's error to an exact fill)
            restored = decoded + (x_init - self.decode_latents(z_init))
        elif float(f.max()) > 0:  # detail of the hole-filled input (so crack edges inside faded areas do not return)
            restored = decoded + (x_filled - self.decode_latents(z_image)) * (m < 0.5)
        if self.config.boundary_correction and float(m.max()) > 0:
            # match each hole to its final surroundings: the decoder's error on the pixels around the hole (the
            # original outside the damage, the restored colours in faded areas), filled smoothly into the hole
            target = torch.where(region > 0, restored, x)  # (1, 3, s, s)
            residual = pushpull_fill(target - restored, m)
            restored = restored + residual * m
        out = restored[0].permute(1, 2, 0).float().cpu().numpy() * 255.0
        return np.clip(out, 0, 255), rows[0]

    @torch.no_grad()
    def __call__(
        self,
        image: PIL.Image.Image | list[PIL.Image.Image],
        mask_image: PIL.Image.Image | list[PIL.Image.Image | None] | None = None,
        fade_map: PIL.Image.Image | list[PIL.Image.Image | None] | None = None,
        artist: str | None = None,
        num_inference_steps: int | None = None,
        generator: torch.Generator | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        retrieval: str = "filter",
        top_k: int | None = None,
        init_image: PIL.Image.Image | list[PIL.Image.Image | None] | None = None,
        strength: float = 1.0,
        attribution: bool = True,
        certify: bool = True,
        detect: bool = False,
        fading: str | None = None,
        guidance_scale: float | None = None,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
    ) -> ArtRestorePipelineOutput | tuple:
        """Restore damaged paintings.

        Args:
            image: painting(s), PIL RGB, any size.
            mask_image: L image(s), white (>= 128) = damaged (cracks, scratches, paint loss), or None.
            fade_map: L image(s), 0..255 = fading strength, or None.
            artist: a memory-bank artist (``pipe.memory_bank.artists``, or one added with :meth:`add_artist`), or
                None to infer the style from the undamaged part of the painting.
            num_inference_steps: denoising steps (None: the model's ``default_steps``).
            generator: torch generator for reproducible noise.
            output_type: ``"pil"`` or ``"np"`` ((b, H, W, 3) uint8).
            return_dict: return :class:`ArtRestorePipelineOutput` (else ``(images, attributions, certificates)``).
            retrieval: ``"filter"`` (only the artist's patches), ``"boost"`` or ``"none"`` (ignore the artist).
            top_k: retrieved patches per tile (None: the model's ``top_k``; 0 disables retrieval).
            init_image: PIL RGB image(s) whose damaged pixels hold a first fill (e.g. an exemplar/PatchMatch fill),
                or None. Denoising then starts from that fill noised to ``strength``, and the fill's fine texture
                is kept where the autoencoder cannot reproduce it.
            strength: share of the noise schedule used when ``init_image`` is given, in (0, 1] (1 = from noise).
            attribution: record the block-wise attribution (``out.attributions``) through hooks on the denoiser's
                cross-attention; None entries when False or when nothing was retrieved.
            certify: fill ``out.certificates`` with the style certificate of each restored region (against
                ``artist``, or the certifier's nearest artist when None); None entries when False or when the
                pipeline has no ``style_certifier``.
            detect: find the damage with :meth:`detect_damage` (``mask_image`` and ``fade_map`` must then be None);
                ``out.damage[i]["mask"]`` says ``"detected"``.
            fading: how faded areas are restored: ``"invert"`` (the ``varnish_estimator`` estimates the painting's
                ageing transform and inverts it pixel by pixel: colour comes back, every brush stroke stays) or
                ``"diffuse"`` (differential denoising: a latent of strength s changes during the last s share of
                the steps). None: ``"invert"`` when the model has a varnish estimator, else ``"diffuse"``.
            guidance_scale: classifier-free guidance on the style and the retrieved patches: each step predicts
                with them and with the null style and no patch, and extrapolates by this factor (1: off; > 1
                follows the artist more closely at twice the denoiser cost; None: the model's ``guidance_scale``).
            callback_on_step_end: called as ``fn(pipe, step, timestep, {"latents", "tile_index"})`` after each step;
                may return ``{"latents": ...}`` to replace them.
            callback_on_step_end_tensor_inputs: tensors passed to the callback (only ``"latents"``).

        Returns:
            :class:`ArtRestorePipelineOutput`, or a tuple when ``return_dict`` is False.
        """
        images = _as_list(image)
        masks = _as_list(mask_image) if mask_image is not None else [None] * len(images)
        fades = _as_list(fade_map) if fade_map is not None else [None] * len(images)
        source = "given"
        if detect:
            if mask_image is not None or fade_map is not None:
                raise ValueError("detect: pass either detect=True or mask_image/fade_map, not both")
            found = self.detect_damage(images)
            masks = [d.mask_image() if d.mask.any() else None for d in found]
            fades = [d.fade_map() if (d.fade > 0).any() else None for d in found]
            source = "detected"
        steps = self.config.default_steps if num_inference_steps is None else num_inference_steps
        guidance = self.config.guidance_scale if guidance_scale is None else guidance_scale
        top_k = self.config.top_k if top_k is None else top_k
        tensor_inputs = callback_on_step_end_tensor_inputs or ["latents"]
        inits = _as_list(init_image) if init_image is not None else [None] * len(images)
        self.check_inputs(images, masks, fades, artist, steps, output_type, retrieval, tensor_inputs, fading)
        if fading is None:
            fading = "invert" if self.varnish_estimator is not None else "diffuse"
        if len(inits) != len(images) or any(
            i is not None and (not isinstance(i, PIL.Image.Image) or i.mode != "RGB" or i.size != im.size)
            for i, im in zip(inits, images)
        ):
            raise ValueError("init_image: expected one PIL RGB image of the painting's size per image, or None")
        if not isinstance(strength, (int, float)) or not 0 < strength <= 1:
            raise ValueError(f"strength: expected a number in (0, 1], got {strength!r}")
        if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not 0 <= guidance <= 20:
            raise ValueError(f"guidance_scale: expected a number in [0, 20] (1 = no guidance), got {guidance!r}")

        results, damage, attributions, certificates = [], [], [], []
        for im, mk, fd, init in zip(images, masks, fades, inits):
            arr = np.asarray(im)  # (H, W, 3) uint8
            mask = np.asarray(mk) >= 128 if mk is not None else np.zeros(arr.shape[:2], bool)
            given = (
                np.asarray(fd).astype(np.float32) / 255.0 if fd is not None else np.zeros(arr.shape[:2], np.float32)
            )
            fade = np.where(mask, 0.0, given).astype(np.float32)
            thin = split_thin_damage(mask, self.config.thin_damage_px)  # (H, W) bool, filled in pixel space
            mask = mask & ~thin
            faded = bool((fade > 0).any())
            changed = mask | thin | (fade > 0)  # every pixel this call may change
            if fading == "invert" and faded:  # faded colour restored in pixel space; not denoised
                rgb = arr.astype(np.float32) / 255.0
                params = self.varnish_estimator.estimate(rgb, fade, mask | thin)  # (1, 5) the painting's ageing
                colour = self.varnish_estimator.invert(rgb, fade, params)
                if init is not None and (mask & (given > 0)).any():
                    # a first fill copies faded paint into the holes too: the same transform brings its colour back
                    # (on the faded holes' bounding box, with the fading given there)
                    init = np.array(init)  # (H, W, 3) uint8
                    ys, xs = np.nonzero(mask & (given > 0))
                    box = np.s_[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
                    hole_fade = np.where(mask[box], given[box], 0.0).astype(np.float32)
                    fill = self.varnish_estimator.invert(init[box].astype(np.float32) / 255.0, hole_fade, params)
                    init[box] = np.where(hole_fade[..., None] > 0, np.round(fill * 255.0), init[box])
                arr = np.where(fade[..., None] > 0, np.round(colour * 255.0), arr).astype(np.uint8)
                fade = np.zeros_like(fade)
            if thin.any():  # before denoising, so that the denoiser sees them restored in its context
                arr = fill_thin_damage(arr, thin)
            region = mask | (fade > 0)  # denoised
            tiles, side = self._tile_geometry(region) if region.any() else ([], 0)
            style, style_from = self.encode_style(arr, region | thin, artist) if tiles else (None, None)
            pad_h, pad_w = max(0, side - arr.shape[0]), max(0, side - arr.shape[1])
            padded = np.pad(arr, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect") if pad_h or pad_w else arr
            init_p = None
            if init is not None:
                init_p = np.pad(np.asarray(init), ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect")
            mask_p = np.pad(mask, ((0, pad_h), (0, pad_w)))
            fade_p = np.pad(fade, ((0, pad_h), (0, pad_w)))
            blender = TileBlender(arr, region, ramp=max(1, self.config.context // 2))
            used: list[int] = []
            recorder = None
            if attribution and top_k > 0 and self.unet.config.retrieval_dim > 0 and tiles:
                recorder = AttributionRecorder(
                    self.unet, arr.shape[:2], self.config.attribution_block, self.config.attribution_weighting
                ).attach()
            try:
                for n, tile in enumerate(self.progress_bar(tiles)):
                    sl = tile.slices
                    if recorder is not None:
                        recorder.begin_tile()
                    out, rows = self._restore_tile(
                        padded[sl],
                        mask_p[sl].astype(np.float32),
                        fade_p[sl],
                        style,
                        artist,
                        retrieval,
                        top_k,
                        steps,
                        generator,
                        callback_on_step_end,
                        tensor_inputs,
                        n,
                        init_p[sl] if init_p is not None else None,
                        float(strength),
                        float(guidance),
                    )
                    if recorder is not None:
                        recorder.end_tile(tile.y0, tile.x0, mask_p[sl] | (fade_p[sl] > 0), rows)
                    blender.add(tile, out)
                    used += [int(r) for r in rows if r >= 0]
            finally:
                if recorder is not None:
                    recorder.detach()
            restored = blender.result()
            results.append(restored)
            attributions.append(
                recorder.result(restored, region, self.memory_bank, self.decode_latents) if recorder else None
            )
            certificates.append(self.certify(restored, changed, artist) if certify else None)
            damage.append(
                {
                    "mask": source if mk is not None else None,
                    "fade": source if fd is not None else None,
                    "mask_image": mk,
                    "fade_map": fd,
                    "init": f"given, strength {float(strength):g}" if init is not None else None,
                    "artist": artist,
                    "style": style_from,
                    "fading": fading if faded else None,
                    "tiles": len(tiles),
                    "thin_pixels_filled": int(thin.sum()),
                    "steps": steps,
                    "guidance_scale": float(guidance),
                    "retrieved": sorted(set(used)),
                }
            )
        self.maybe_free_model_hooks()
        if output_type == "pil":
            out_images = [PIL.Image.fromarray(r) for r in results]
        else:  # one array if all images share a size, else a list
            out_images = np.stack(results) if len({r.shape for r in results}) == 1 else results
        if not return_dict:
            return out_images, attributions, certificates
        return ArtRestorePipelineOutput(out_images, attributions, certificates, damage)


def split_thin_damage(mask: np.ndarray, width: int) -> np.ndarray:
    """The connected parts of ``mask`` that are thin everywhere: no ``width`` x ``width`` square fits anywhere in
    them (cracks, scratches). A part that holds a compact loss anywhere stays whole, thin branches included, so the
    denoiser never sees half of a damaged area as context.

    Args:
        mask: (H, W) bool.
        width: square side in px; 0 or 1 = nothing is thin.

    Returns:
        (H, W) bool.
    """
    thin = np.zeros_like(mask)
    if width <= 1 or not mask.any():
        return thin
    ys, xs = np.nonzero(mask)  # work on the damage's bounding box: a margin of ``width`` keeps the opening exact
    y0, y1 = max(0, ys.min() - width), min(mask.shape[0], ys.max() + 1 + width)
    x0, x1 = max(0, xs.min() - width), min(mask.shape[1], xs.max() + 1 + width)
    box = mask[y0:y1, x0:x1]
    core = binary_opening(box, width)
    thin[y0:y1, x0:x1] = box & ~reconstruct(core, box) if core.any() else box
    return thin


def reconstruct(seed: np.ndarray, mask: np.ndarray, check_every: int = 16) -> np.ndarray:
    """Morphological reconstruction: the connected parts (8-neighbourhood) of ``mask`` that contain a ``seed``
    pixel. (H, W) bool arrays.

    SciPy's component labelling is used when it is installed; otherwise the seed is dilated inside the mask until
    nothing changes (the same result, but slow when long thin branches hang off the seed).
    """
    try:
        from scipy import ndimage
    except ImportError:
        pass
    else:
        labels, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
        keep = np.unique(labels[seed & mask])
        return np.isin(labels, keep[keep > 0])
    inside = torch.from_numpy(mask)[None, None].float()  # (1, 1, H, W)
    grown = torch.from_numpy(seed & mask)[None, None].float()
    while True:
        before = grown
        for _ in range(check_every):
            grown = F.max_pool2d(grown, 3, 1, 1) * inside
        if torch.equal(grown, before):
            return grown[0, 0].numpy() > 0.5


def fill_thin_damage(image: np.ndarray, thin: np.ndarray) -> np.ndarray:
    """Fill the ``thin`` pixels of an (H, W, 3) uint8 image with the biharmonic fill of their surroundings (only
    they change): colour lines that cross a crack continue through it.

    scikit-image's direct solver is used when it is installed; otherwise the same equation is solved by conjugate
    gradients in torch (``masked_fill.biharmonic_fill``; equal to within a grey level, but slower).
    """
    try:
        from skimage.restoration import inpaint_biharmonic
    except ImportError:
        x = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)[None].float() / 255.0  # (1, 3, H, W)
        filled = biharmonic_fill(x, torch.from_numpy(thin)[None, None].float())[0].permute(1, 2, 0).numpy() * 255.0
    else:
        filled = inpaint_biharmonic(image, thin, split_into_regions=True, channel_axis=-1) * 255.0
    out = image.copy()
    out[thin] = np.clip(np.round(filled[thin]), 0, 255).astype(np.uint8)
    return out


def _resize_short(image: PIL.Image.Image, side: int) -> PIL.Image.Image:
    scale = side / min(image.size)
    if scale >= 1:
        return image
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), PIL.Image.LANCZOS)

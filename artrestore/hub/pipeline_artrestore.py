"""ArtRestorePipeline: restore damaged paintings with ArtRestore-Diffusion.

``__call__`` follows diffusers' inpaint pipeline: ``check_inputs``, then numbered stages, each a method: find the
damage, split it (thin damage and faded colour are restored in pixel space, the rest is denoised), make the exemplar
fill of the paint losses, encode the style, correct the fill with the exemplar refiner, denoise tiles around the
damage (from the fill noised to ``strength``; none at strength 0), attribute and certify, postprocess. Each tile
runs its own numbered stages (:meth:`ArtRestorePipeline.denoise_tile`): encode the conditions, prepare the latents,
the denoising loop, decode and composite. The model runs at full resolution (``crop_plan``); every pixel outside
``mask_image`` and ``fade_map`` stays bit-identical.

Self-contained (torch, numpy, PIL, diffusers, faiss through the memory bank): this file and its siblings ship with
exported checkpoints and load with ``DiffusionPipeline.from_pretrained(path, trust_remote_code=True)``.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import json
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline

from .attribution import WEIGHTINGS, AttributionRecorder
from .crop_plan import Tile, TileBlender, plan_tiles
from .damage_detection import DetectedDamage, decide, decision_settings, predict_tiled
from .damage_plan import DamagePlan, plan_damage
from .exemplar_fill import EXEMPLAR_FILLS, patchmatch_available, patchmatch_fill

# diffusers' remote-code loader copies only the modules this file imports, not their own imports: masked_fill is
# imported here for damage_plan and tile_denoising (and used here)
from .masked_fill import compact_damage, pushpull_fill
from .membrane_layout import blend_membrane_layout, membrane_image
from .pipeline_output import ArtRestorePipelineOutput, RestorationRecord
from .precision import check_precision, precision_autocast
from .settings import (
    COMPONENTS,
    CUSTOM_AUTOENCODERS,
    FADING_METHODS,
    MAX_INFERENCE_STEPS,
    ComponentSwitches,
    PipelineSettings,
)
from .tile_denoising import DenoiseSettings, TileDenoisingMixin, TileInputs


@dataclass
class Denoised:
    """Stage 8 of a painting: the composite and what produced it."""

    image: np.ndarray  # (H, W, 3) uint8
    tiles: int
    retrieved: list[int]
    recorder: AttributionRecorder | None


class ArtRestorePipeline(TileDenoisingMixin, DiffusionPipeline):
    """Latent-diffusion restoration of damaged paintings with FiLM damage conditioning, artist style and retrieval.

    Args:
        vae: the autoencoder (``AutoencoderKL``, or a ``PatchAutoencoder``).
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
        exemplar_refiner: :class:`ExemplarRefiner` that corrects the first (exemplar) fill of the paint losses
            before denoising starts from it, or None (the fill is used as made or given).
        artist_recogniser: :class:`ArtistRecogniser` that gives the fill a named artist's palette when the
            painting does not look like that artist, or None (the named artist then reaches only the style).
        default_steps, default_strength, exemplar_fill, exemplar_patch_size, refiner_precision, tile_size, context,
            top_k,
            thin_damage_px, hairline_px, layout_sigma, layout_weight, boundary_correction, attribution_block,
            attribution_weighting,
            guidance_scale: the saved configuration; see :class:`PipelineSettings`, whose defaults are the shipped
            model's.
    """

    model_cpu_offload_seq = "style_encoder->mask_encoder->unet->vae"
    _callback_tensor_inputs = ["latents"]
    _optional_components = [
        "style_certifier",
        "damage_detector",
        "varnish_estimator",
        "exemplar_refiner",
        "artist_recogniser",
    ]

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
        exemplar_refiner=None,
        artist_recogniser=None,
        default_steps: int = PipelineSettings.default_steps,
        default_strength: float = PipelineSettings.default_strength,
        exemplar_fill: str = PipelineSettings.exemplar_fill,
        exemplar_patch_size: int = PipelineSettings.exemplar_patch_size,
        refiner_precision: str = PipelineSettings.refiner_precision,
        tile_size: int = PipelineSettings.tile_size,
        context: int = PipelineSettings.context,
        top_k: int = PipelineSettings.top_k,
        thin_damage_px: int = PipelineSettings.thin_damage_px,
        hairline_px: int = PipelineSettings.hairline_px,
        layout_sigma: float = PipelineSettings.layout_sigma,
        layout_weight: float = PipelineSettings.layout_weight,
        boundary_correction: bool = PipelineSettings.boundary_correction,
        attribution_block: int = PipelineSettings.attribution_block,
        attribution_weighting: str = PipelineSettings.attribution_weighting,
        guidance_scale: float = PipelineSettings.guidance_scale,
    ) -> None:
        super().__init__()
        if attribution_weighting not in WEIGHTINGS:
            raise ValueError(f"attribution_weighting: expected one of {WEIGHTINGS}, got {attribution_weighting!r}")
        if exemplar_fill not in EXEMPLAR_FILLS:
            raise ValueError(f"exemplar_fill: expected one of {EXEMPLAR_FILLS}, got {exemplar_fill!r}")
        check_precision(refiner_precision, "refiner_precision")
        if isinstance(default_strength, bool) or not 0 <= default_strength <= 1:
            raise ValueError(f"default_strength: expected a number in [0, 1], got {default_strength!r}")
        if isinstance(layout_weight, bool) or not 0 <= layout_weight <= 1:
            raise ValueError(f"layout_weight: expected a number in [0, 1], got {layout_weight!r}")
        if isinstance(layout_sigma, bool) or not layout_sigma > 0:
            raise ValueError(f"layout_sigma: expected a positive number of pixels, got {layout_sigma!r}")
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
            exemplar_refiner=exemplar_refiner,
            artist_recogniser=artist_recogniser,
        )
        self.register_to_config(
            default_steps=default_steps,
            default_strength=default_strength,
            exemplar_fill=exemplar_fill,
            exemplar_patch_size=exemplar_patch_size,
            refiner_precision=refiner_precision,
            tile_size=tile_size,
            context=context,
            top_k=top_k,
            thin_damage_px=thin_damage_px,
            hairline_px=hairline_px,
            layout_sigma=layout_sigma,
            layout_weight=layout_weight,
            boundary_correction=boundary_correction,
            attribution_block=attribution_block,
            attribution_weighting=attribution_weighting,
            guidance_scale=guidance_scale,
        )
        stride = getattr(vae, "latent_stride", None)  # a PatchAutoencoder says it; an AutoencoderKL halves per level
        self.latent_stride = int(stride) if stride is not None else 2 ** (len(vae.config.block_out_channels) - 1)
        for module in (vae, unet):  # channels-last convolutions: ~25 % faster VAE decoding on CPU, same numbers
            module.to(memory_format=torch.channels_last)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> ArtRestorePipeline:
        """Load the pipeline.

        With ``trust_remote_code=True`` this is diffusers' loader (components from the folder's own ``.py`` files).
        Otherwise the components are built from the classes of the modules beside this one (the installed
        ``artrestore.hub`` package), and no code from the model folder runs.

        Args:
            pretrained_model_name_or_path: a local folder or a Hub repo id.
            **kwargs: as :meth:`diffusers.DiffusionPipeline.from_pretrained` (``torch_dtype``, ``revision``, and
                components to use instead of the saved ones).
        """
        if kwargs.get("trust_remote_code"):
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
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
                if name in COMPONENTS:
                    owner = _component_module(COMPONENTS[name][0])
                elif name == "vae" and class_name in CUSTOM_AUTOENCODERS:
                    owner = _component_module(CUSTOM_AUTOENCODERS[class_name])
                elif library == "diffusers":
                    owner = diffusers
                else:
                    raise ValueError(f"model_index.json: component {name!r} comes from {library!r}, not diffusers")
                component = getattr(owner, class_name).from_pretrained(os.path.join(folder, name))
                if dtype is not None and isinstance(component, torch.nn.Module) and name in ("vae", "unet"):
                    component = component.to(dtype)
                init[name] = component
            else:
                init[name] = value
        for name in cls._optional_components:  # given for a component the folder was saved without
            if name in kwargs and name not in init:
                init[name] = kwargs[name]
        return cls(**init)

    # ----------------------------------------------------------------------------------------------- inputs
    def check_inputs(
        self,
        images: list,
        masks: list,
        fades: list,
        inits: list,
        settings: DenoiseSettings,
        *,
        output_type: str,
        fading: str | None,
        detect: bool,
    ) -> None:
        """Raise ``ValueError`` naming the argument for any input the pipeline cannot use as given (before any
        heavy work; with ``detect=True`` the found damage is checked once found).

        Args:
            images, masks, fades, inits: per painting, the call's ``image``, ``mask_image``, ``fade_map`` and
                ``init_image`` (None entries where not given).
            settings: the call's other arguments, as packed by ``__call__``.
            output_type, fading, detect: as in ``__call__``.
        """
        artist, steps, top_k = settings.artist, settings.num_inference_steps, settings.top_k
        if not images or not all(isinstance(im, PIL.Image.Image) and im.mode == "RGB" for im in images):
            raise ValueError("image: expected a PIL RGB image or a list of them (convert with .convert('RGB'))")
        if detect and any(m is not None for m in masks + fades):
            raise ValueError("detect: pass either detect=True or mask_image/fade_map, not both")
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
        if len(inits) != len(images) or any(
            i is not None and (not isinstance(i, PIL.Image.Image) or i.mode != "RGB" or i.size != im.size)
            for i, im in zip(inits, images)
        ):
            raise ValueError("init_image: expected one PIL RGB image of the painting's size per image, or None")
        if artist is not None and not isinstance(artist, str):
            raise ValueError(f"artist: expected a name or None, got {type(artist).__name__}")
        if artist is not None and artist not in self.memory_bank.artist_vectors:
            raise ValueError(_unknown_artist(artist, self.memory_bank.artist_vectors))
        if not detect:
            _check_damage(masks, fades, style_inferred=artist is None)
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_INFERENCE_STEPS:
            raise ValueError(f"num_inference_steps: expected an integer in [1, {MAX_INFERENCE_STEPS}], got {steps!r}")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
            raise ValueError(f"top_k: expected an integer >= 0 (0 disables retrieval), got {top_k!r}")
        if settings.generator is not None and not isinstance(settings.generator, torch.Generator):
            raise ValueError(f"generator: expected a torch.Generator or None, got {type(settings.generator).__name__}")
        if output_type not in ("pil", "np"):
            raise ValueError(f"output_type: expected 'pil' or 'np', got {output_type!r}")
        if settings.retrieval not in self.memory_bank.retrieval_modes:
            modes = self.memory_bank.retrieval_modes
            raise ValueError(f"retrieval: expected one of {modes}, got {settings.retrieval!r}")
        if fading is not None and fading not in FADING_METHODS:
            raise ValueError(f"fading: expected one of {FADING_METHODS} or None, got {fading!r}")
        if fading == "invert" and self.varnish_estimator is None:
            raise ValueError(
                "fading: 'invert' needs a varnish_estimator component, which this model lacks; use 'diffuse' or None"
            )
        strength, guidance = settings.strength, settings.guidance_scale
        if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength <= 1:
            raise ValueError(
                f"strength: expected a number in [0, 1] (0: no denoising, 1: from noise) or None, got {strength!r}"
            )
        self._check_first_fill(masks, fades, inits, strength, fading=fading, detect=detect)
        if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not 0 <= guidance <= 20:
            raise ValueError(f"guidance_scale: expected a number in [0, 20] (1 = no guidance), got {guidance!r}")
        if not isinstance(settings.switches, ComponentSwitches):
            raise ValueError(f"switches: expected a ComponentSwitches or None, got {type(settings.switches).__name__}")
        refiner = self.exemplar_refiner
        if refiner is not None and (strength < 1 or any(i is not None for i in inits)):
            if refiner.config.style_dim != self.unet.config.style_dim:
                raise ValueError(
                    f"exemplar_refiner: its style_dim {refiner.config.style_dim} differs from the model's style "
                    f"vectors ({self.unet.config.style_dim}); train it on this model's style encoder"
                )
        tensor_inputs = settings.callback_on_step_end_tensor_inputs
        if not isinstance(tensor_inputs, (list, tuple)) or not set(tensor_inputs) <= set(self._callback_tensor_inputs):
            raise ValueError(
                f"callback_on_step_end_tensor_inputs: accepted {self._callback_tensor_inputs}, got {tensor_inputs}"
            )

    def _check_first_fill(
        self, masks: list, fades: list, inits: list, strength: float, *, fading: str | None, detect: bool
    ) -> None:
        """``ValueError`` when a strength below 1 lacks the first fill it starts from, or when strength 0 (no
        denoising) meets faded areas that only denoising would restore."""
        if strength >= 1:
            return
        lacking = any(i is None and (m is not None or detect) for m, i in zip(masks, inits))
        if lacking and self.config.exemplar_fill == "none" and strength == 0:
            raise ValueError(
                "strength: 0 (no denoising) needs a first fill of the paint losses: pass init_image, or a strength "
                "above 0 (this model makes no exemplar fill of its own)"
            )
        if lacking and self.config.exemplar_fill == "patchmatch" and not patchmatch_available():
            raise ValueError(
                "init_image: a strength below 1 starts from a first fill, which this model makes with PatchMatch, "
                "and pypatchmatch is not installed: pip install pypatchmatch, pass init_image, or strength=1.0"
            )
        resolved = fading or ("invert" if self.varnish_estimator is not None else "diffuse")
        if strength == 0 and resolved == "diffuse" and (detect or any(f is not None for f in fades)):
            raise ValueError(
                "strength: 0 (no denoising) restores faded colour only with fading='invert' (a varnish_estimator); "
                "with fading='diffuse' give a strength above 0"
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
        factor = int(1 / scale) // 2  # on a huge scan, block means first: the float copy stays small
        if factor >= 2:
            x = torch.from_numpy(_block_mean(image, factor)).permute(2, 0, 1)[None].to(device) / 255.0
            valid = torch.from_numpy(_block_mean(~region[..., None], factor)).permute(2, 0, 1)[None].to(device)
        else:
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
            mode: retrieval mode (``filter``, ``boost``, ``none``, ``random``; see ``StyleMemoryBank.search``).
            k: number of patches.

        Returns:
            tokens (1, k, retrieval_dim), valid (1, k) bool, bank rows (1, k) and scores (1, k).
        """
        query = self.style_encoder(crop, 1 - region)  # (1, style_dim)
        bank_artist = artist if artist in self.memory_bank.patch_artists else None
        mode = mode if bank_artist is not None or mode == "random" else "none"
        found = self.memory_bank.search(query, k, artist=bank_artist, mode=mode)
        tokens = found.latents.flatten(2).to(crop.device, crop.dtype)  # (1, k, c*p*p)
        return tokens, found.valid.to(crop.device), found.indices, found.scores

    @torch.no_grad()
    def detect_damage(
        self,
        image: PIL.Image.Image | list[PIL.Image.Image],
        damage_threshold: float | None = None,
        fade_threshold: float | None = None,
        tile: int = PipelineSettings.detector_tile,
        overlap: int = PipelineSettings.detector_overlap,
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

    def certify(
        self, image: np.ndarray, region: np.ndarray, artist: str | None, *, inferred: Future | None = None
    ) -> Any | None:
        """The style certificate of ``region`` of ``image`` (H, W, 3 uint8), or None without a certifier or when
        the artist has no certificate centroid.

        Args:
            image: (H, W, 3) uint8, the restored painting.
            region: (H, W) bool, the restored pixels.
            artist: the artist to certify against, or None (the one :meth:`infer_artist` started; without it, the
                certifier infers one from the restored painting).
            inferred: the future of :meth:`infer_artist`.
        """
        certifier = self.style_certifier
        if certifier is None or not region.any() or (artist is not None and artist not in certifier.artist_names):
            return None
        if artist is None and inferred is not None:
            return certifier.certify(image, region, inferred.result(), inferred=True)
        return certifier.certify(image, region, artist)

    def infer_artist(self, plan: DamagePlan, artist: str | None, background: ThreadPoolExecutor) -> Future | None:
        """Start inferring, on ``background``, the artist the certificate is issued against when the call names
        none: the certifier's nearest centroid to the mostly undamaged blocks of the painting before its losses are
        restored (they are filled smoothly for it), so no choice of the restoration can sway it. It runs beside the
        exemplar fill (PatchMatch runs on one core and releases the GIL). None when nothing needs inferring."""
        certifier = self.style_certifier
        if certifier is None or artist is not None or not plan.changed.any():
            return None
        return background.submit(_infer_unrestored_artist, certifier, plan.image, plan.mask, plan.changed)

    def find_damage(
        self, images: list[PIL.Image.Image], masks: list, fades: list, detect: bool, *, artist: str | None = None
    ) -> tuple[list, list, str]:
        """Stage 2: the damage maps, as given or found by :meth:`detect_damage`; and their source."""
        if not detect:
            return masks, fades, "given"
        found = self.detect_damage(images)
        masks = [d.mask_image() if d.mask.any() else None for d in found]
        fades = [d.fade_map() if (d.fade > 0).any() else None for d in found]
        _check_damage(masks, fades, style_inferred=artist is None)
        return masks, fades, "detected"

    def prepare_damage(
        self,
        image: np.ndarray,
        mask_image: PIL.Image.Image | None,
        fade_map: PIL.Image.Image | None,
        init_image: PIL.Image.Image | None,
        *,
        fading: str,
    ) -> DamagePlan:
        """Stage 3: split one painting's damage (:func:`plan_damage` with the pipeline's ``thin_damage_px``,
        ``hairline_px`` and varnish estimator): hairline damage and faded colour are restored in pixel space, the
        rest is denoised."""
        return plan_damage(
            image,
            mask_image,
            fade_map,
            init_image,
            fading=fading,
            thin_damage_px=self.config.thin_damage_px,
            hairline_px=self.config.hairline_px,
            varnish_estimator=self.varnish_estimator,
        )

    def fill_exemplar(self, plan: DamagePlan, strength: float) -> DamagePlan:
        """Stage 4: the exemplar fill of the paint losses (``exemplar_fill.py``), the first fill that the refiner
        corrects and denoising starts from.

        Made only when the call gave no ``init_image``, the strength is below 1 and the model's ``exemplar_fill``
        is ``"patchmatch"``; otherwise the plan comes back unchanged. The fill copies texture from the painting as
        the plan holds it (thin damage filled, faded colour restored) and changes only the losses' pixels.
        """
        if plan.init is not None or strength >= 1 or self.config.exemplar_fill == "none" or not plan.mask.any():
            return plan
        fill = patchmatch_fill(plan.image, plan.mask, patch_size=self.config.exemplar_patch_size)
        return dataclasses.replace(plan, init=fill)

    def prepare_style(
        self, plan: DamagePlan, artist: str | None, switches: ComponentSwitches
    ) -> tuple[torch.Tensor | None, str | None]:
        """Stage 5: the (1, style_dim) style vector and its origin; (None, None) when nothing is denoised."""
        if not plan.region.any():
            return None, None
        if not switches.style:
            return self.unet.null_style[None].detach(), "none"
        return self.encode_style(plan.image, plan.region | plan.thin, artist)

    @torch.no_grad()
    def refine_exemplar(self, plan: DamagePlan, style: torch.Tensor | None, switches: ComponentSwitches) -> DamagePlan:
        """Stage 6: the exemplar refiner corrects the first fill (made or given) inside the denoised region.

        The refiner runs on the same tiles as the denoiser, conditioned on the style (the refiner's null style when
        the style is switched off), and only the region's pixels of the fill change. An untrained refiner is the
        identity, so the plan comes back unchanged; without a refiner, an init fill or a region, it is returned as is.
        """
        refiner = self.exemplar_refiner
        if refiner is None or plan.init is None or not switches.exemplar_refiner or not plan.region.any():
            return plan
        init = np.asarray(plan.init)  # (H, W, 3) uint8
        tiles, side = self._tile_geometry(plan.region)
        stride = refiner.stride
        side_r = -(-side // stride) * stride
        extra = side_r - side  # tiles grow to the refiner's multiple: the padding covers what they reach past
        pad_h, pad_w = max(0, side - init.shape[0]) + extra, max(0, side - init.shape[1]) + extra

        def pad(a: np.ndarray) -> np.ndarray:
            if not (pad_h or pad_w):
                return a
            if a.ndim == 2:
                return np.pad(a, ((0, pad_h), (0, pad_w)))
            return np.pad(a, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect")

        init_p, image_p, region_p = pad(init), pad(plan.image), pad(plan.region)
        if not switches.style:
            style = None  # the refiner's own null style
        dtype = next(refiner.parameters()).dtype
        refiner.to(memory_format=torch.channels_last)  # about a fifth faster on CPU; in place, once
        blender = TileBlender(init, plan.region, ramp=max(1, self.config.context // 2))
        for tile in tiles:
            tile = Tile(tile.y0, tile.x0, side_r)
            sl = tile.slices
            exemplar = self._to_tensor(np.ascontiguousarray(init_p[sl])).to(dtype)  # (1, 3, s, s) in [0, 1]
            known = self._to_tensor(np.ascontiguousarray(image_p[sl])).to(dtype)
            hole = torch.from_numpy(region_p[sl].astype(np.float32))[None, None].to(dtype)  # (1, 1, s, s)
            layout = membrane_image(known, hole) if refiner.config.layout_input else None  # (1, 3, s, s)
            with precision_autocast(self.config.refiner_precision, refiner.device):
                refined = refiner(  # (1, 3, s, s)
                    exemplar, known, hole, None if style is None else style.to(dtype), layout=layout
                )
            blender.add(tile, refined[0].permute(1, 2, 0).float().numpy() * 255.0)
        return dataclasses.replace(plan, init=blender.result())

    def blend_layout(self, plan: DamagePlan, switches: ComponentSwitches) -> DamagePlan:
        """Stage 6, second half: inside the paint losses, ``layout_weight`` of the first fill's low-pass
        (``layout_sigma``) is replaced by the membrane through the losses' border
        (:func:`~.membrane_layout.blend_membrane_layout`); the fill's detail stays. Without a first fill or a
        region, with the weight at 0 or the switch off, the plan passes unchanged."""
        weight = float(self.config.layout_weight)
        if plan.init is None or not switches.membrane_layout or weight <= 0 or not plan.region.any():
            return plan
        init = np.asarray(plan.init)  # (H, W, 3) uint8
        blended = blend_membrane_layout(init, plan.region, sigma=float(self.config.layout_sigma), weight=weight)
        return dataclasses.replace(plan, init=blended)

    def match_artist(
        self, plan: DamagePlan, settings: DenoiseSettings, background: ThreadPoolExecutor
    ) -> Future | None:
        """Start judging, on ``background``, whether the painting's undamaged paint looks like the named artist
        (:meth:`ArtistRecogniser.match`), for stage 7. It runs beside the exemplar fill, as :meth:`infer_artist`
        does. None when no artist is named, the palette is switched off, or there is no recogniser, region or first
        fill to change."""
        recogniser, artist, switches = self.artist_recogniser, settings.artist, settings.switches
        if recogniser is None or artist is None or not (switches.style and switches.artist_palette):
            return None
        fills = plan.init is not None or (settings.strength < 1 and self.config.exemplar_fill != "none")
        if not plan.region.any() or not fills:
            return None
        return background.submit(recogniser.match, plan.image, plan.region | plan.thin, artist)

    def follow_artist(self, plan: DamagePlan, match: Future | None) -> tuple[DamagePlan, dict[str, Any] | None]:
        """Stage 7: when the painting's undamaged paint does not look like the named artist (``match``, from
        :meth:`match_artist`), the fill's pixels move from the palette of the artist it does look like to the
        named artist's (:meth:`ArtistRecogniser.shift_palette`).

        Only the body of each loss moves, the pixels a ``thin_damage_px`` square inside the damage covers
        (:func:`~.masked_fill.compact_damage`). Cracks, scratches and a loss's thin branches keep the colours of
        the paint on either side of them: a break in this painting's paint has no colour of its own for an artist
        to choose.

        A painting that looks like the named artist, an artist the recogniser cannot judge (unknown, or too few
        paintings and no pooled gate), or no artist, leave the plan unchanged, so a restoration for the painting's
        own artist stays a reconstruction (but for the gate's calibrated false alarms).

        Returns:
            the plan, and the palette change made (``RestorationRecord.palette``) or None.
        """
        found = match.result() if match is not None else None
        if found is None or not found.implausible or plan.init is None:
            return plan, None
        losses = compact_damage(plan.region, int(self.config.thin_damage_px))  # (H, W) bool
        fill = self.artist_recogniser.shift_palette(np.asarray(plan.init), losses, found.nearest, found.artist)
        change = {"from": found.nearest, "to": found.artist, "gap": round(found.gap, 4)}
        return dataclasses.replace(plan, init=fill), change

    def denoise_tiles(
        self, plan: DamagePlan, style: torch.Tensor | None, settings: DenoiseSettings, *, attribution: bool
    ) -> Denoised:
        """Stage 8: denoise tiles around the damage and blend them into the painting (only damaged pixels change).

        At strength 0 nothing is denoised: the (refined) first fill is pasted into the region.

        Args:
            plan: the painting's :class:`DamagePlan`.
            style: (1, style_dim) from :meth:`prepare_style`.
            settings: the call's :class:`DenoiseSettings`.
            attribution: record the block-wise attribution through hooks on the denoiser's cross-attention.
        """
        arr, region = plan.image, plan.region
        if settings.strength == 0:  # check_inputs made sure of a first fill wherever there is a region
            image = arr if plan.init is None else np.where(region[..., None], np.asarray(plan.init), arr)
            return Denoised(image.astype(np.uint8), 0, [], None)
        tiles, side = self._tile_geometry(region) if region.any() else ([], 0)
        pad_h, pad_w = max(0, side - arr.shape[0]), max(0, side - arr.shape[1])
        padded = np.pad(arr, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect") if pad_h or pad_w else arr
        init_p = None
        if plan.init is not None:
            init_p = np.pad(np.asarray(plan.init), ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect")
        mask_p = np.pad(plan.mask, ((0, pad_h), (0, pad_w)))
        fade_p = np.pad(plan.fade, ((0, pad_h), (0, pad_w)))
        ramp = max(1, self.config.context // 2)
        blender = TileBlender(arr, region, ramp=ramp, whole_tiles=not settings.switches.pixel_compositing)
        used: list[int] = []
        recorder = None
        if attribution and settings.top_k > 0 and self.unet.config.retrieval_dim > 0 and tiles:
            recorder = AttributionRecorder(
                self.unet, arr.shape[:2], self.config.attribution_block, self.config.attribution_weighting
            ).attach()
        try:
            for n, tile in enumerate(self.progress_bar(tiles)):
                sl = tile.slices
                if recorder is not None:
                    recorder.begin_tile()
                inputs = TileInputs(
                    crop=padded[sl],
                    mask=mask_p[sl].astype(np.float32),
                    fade=fade_p[sl],
                    init=init_p[sl] if init_p is not None else None,
                    style=style,
                    index=n,
                )
                out, rows = self.denoise_tile(inputs, settings)
                if recorder is not None:
                    recorder.end_tile(tile.y0, tile.x0, mask_p[sl] | (fade_p[sl] > 0), rows)
                blender.add(tile, out)
                used += [int(r) for r in rows if r >= 0]
        finally:
            if recorder is not None:
                recorder.detach()
        return Denoised(blender.result(), len(tiles), sorted(set(used)), recorder)

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

    # ------------------------------------------------------------------------------------------------ call
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
        *,
        retrieval: str = "filter",
        top_k: int | None = None,
        init_image: PIL.Image.Image | list[PIL.Image.Image | None] | None = None,
        strength: float | None = None,
        attribution: bool = True,
        certify: bool = True,
        detect: bool = False,
        fading: str | None = None,
        guidance_scale: float | None = None,
        switches: ComponentSwitches | None = None,
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
            num_inference_steps: denoising steps, at most ``MAX_INFERENCE_STEPS`` (None: the model's
                ``default_steps``).
            generator: torch generator for reproducible noise.
            output_type: ``"pil"`` or ``"np"`` ((b, H, W, 3) uint8).
            return_dict: return :class:`ArtRestorePipelineOutput` (else ``(images, attributions, certificates)``).
            retrieval: ``"filter"`` (only the artist's patches), ``"boost"``, ``"none"`` (ignore the artist) or
                ``"random"`` (random bank patches: an ablation).
            top_k: retrieved patches per tile (None: the model's ``top_k``; 0 disables retrieval).
            init_image: PIL RGB image(s) whose damaged pixels hold a first fill of the paint losses, or None: the
                model then makes its own exemplar fill (``exemplar_fill``: PatchMatch from the painting) when the
                strength is below 1. The exemplar refiner corrects the fill; denoising starts from it noised to
                ``strength``, and the fill's fine texture is kept where the autoencoder cannot reproduce it.
            strength: share of the noise schedule that denoising runs from the first fill, in [0, 1]: 0 = no
                denoising (the refined fill is the restoration), 1 = from noise. None: the model's
                ``default_strength``.
            attribution: record the block-wise attribution (``out.attributions``) through hooks on the denoiser's
                cross-attention; None entries when False or when nothing was retrieved.
            certify: fill ``out.certificates`` with the style certificate of each restored region (against
                ``artist``, or the certifier's nearest artist when None); None entries when False or when the
                pipeline has no ``style_certifier``.
            detect: find the damage with :meth:`detect_damage` (``mask_image`` and ``fade_map`` must then be None);
                ``out.records[i].mask_source`` says ``"detected"``. The detector reports only the fading it is sure
                of, usually a small part of a faded area, and a faded painting restored from that alone can end
                further from the original than it was: check ``out.records[i].fade_map`` before relying on it.
            fading: how faded areas are restored: ``"invert"`` (the ``varnish_estimator`` estimates the painting's
                ageing transform and inverts it pixel by pixel: colour comes back, every brush stroke stays) or
                ``"diffuse"`` (differential denoising: a latent of strength s changes during the last s share of
                the steps). None: ``"invert"`` when the model has a varnish estimator, else ``"diffuse"``.
            guidance_scale: classifier-free guidance on the style and the retrieved patches: each step predicts
                with them and with the null style and no patch, and extrapolates by this factor (1: off; > 1
                follows the artist more closely at twice the denoiser cost; None: the model's ``guidance_scale``).
            switches: :class:`ComponentSwitches` turning mechanisms of the model off (ablations); None: all on.
            callback_on_step_end: called as ``fn(pipe, step, timestep, {"latents", "tile_index"})`` after each step;
                may return ``{"latents": ...}`` to replace them.
            callback_on_step_end_tensor_inputs: tensors passed to the callback (only ``"latents"``).

        Returns:
            :class:`ArtRestorePipelineOutput`, or a tuple when ``return_dict`` is False.
        """
        images = _as_list(image)
        masks = _as_list(mask_image) if mask_image is not None else [None] * len(images)
        fades = _as_list(fade_map) if fade_map is not None else [None] * len(images)
        inits = _as_list(init_image) if init_image is not None else [None] * len(images)
        settings = DenoiseSettings(
            artist=self.resolve_artist(artist),
            retrieval=retrieval,
            top_k=self.config.top_k if top_k is None else top_k,
            num_inference_steps=self.config.default_steps if num_inference_steps is None else num_inference_steps,
            generator=generator,
            strength=self.config.default_strength if strength is None else strength,
            guidance_scale=self.config.guidance_scale if guidance_scale is None else guidance_scale,
            switches=ComponentSwitches() if switches is None else switches,
            callback_on_step_end=callback_on_step_end,
            callback_on_step_end_tensor_inputs=callback_on_step_end_tensor_inputs or ["latents"],
        )

        # 1. check inputs
        self.check_inputs(images, masks, fades, inits, settings, output_type=output_type, fading=fading, detect=detect)
        fading = fading or ("invert" if self.varnish_estimator is not None else "diffuse")

        # 2. find the damage (as given, or with the damage detector)
        masks, fades, source = self.find_damage(images, masks, fades, detect, artist=settings.artist)

        results, attributions, certificates, records = [], [], [], []
        with ThreadPoolExecutor(max_workers=1) as background:  # the certificate's artist, inferred beside the fill
            for im, mk, fd, init in zip(images, masks, fades, inits):
                # 3. split the damage: thin damage and faded colour are restored in pixel space, the rest is denoised
                plan = self.prepare_damage(np.asarray(im), mk, fd, init, fading=fading)
                inferred = self.infer_artist(plan, settings.artist, background) if certify else None
                match = self.match_artist(plan, settings, background)
                # 4. the exemplar fill of the paint losses (unless init_image gives one, or denoising is from noise)
                plan = self.fill_exemplar(plan, settings.strength)
                # 5. encode the style (the artist's, or inferred from the undamaged painting)
                style, style_from = self.prepare_style(plan, settings.artist, settings.switches)
                # 6. correct the first fill with the exemplar refiner, and pull its layout towards the membrane
                plan = self.refine_exemplar(plan, style, settings.switches)
                plan = self.blend_layout(plan, settings.switches)
                # 7. give the fill a named artist's palette where the painting does not look like that artist
                plan, palette = self.follow_artist(plan, match)
                # 8. denoise tiles around the damage (from the fill noised to strength; none at 0) and blend them in
                done = self.denoise_tiles(plan, style, settings, attribution=attribution)
                # 9. attribute the restored blocks to memory-bank patches, certify the style
                recorder, bank, decode = done.recorder, self.memory_bank, self.decode_latents
                attributions.append(recorder.result(done.image, plan.region, bank, decode) if recorder else None)
                cert = self.certify(done.image, plan.changed, settings.artist, inferred=inferred) if certify else None
                certificates.append(cert)
                results.append(done.image)
                record = self._record(plan, done, settings, (mk, fd, init), source=source, style=style_from)
                records.append(dataclasses.replace(record, palette=palette))
        self.maybe_free_model_hooks()

        # 10. postprocess
        out_images = self.postprocess(results, output_type)
        if not return_dict:
            return out_images, attributions, certificates
        return ArtRestorePipelineOutput(out_images, attributions, certificates, records)

    def resolve_artist(self, artist: Any) -> Any:
        """A bank artist named up to case and surrounding spaces (``" claude monet"`` is ``"Claude Monet"``);
        anything else is returned as given, for :meth:`check_inputs` to judge."""
        if not isinstance(artist, str) or artist in self.memory_bank.artist_vectors:
            return artist
        folded = [a for a in self.memory_bank.artist_vectors if a.casefold() == artist.strip().casefold()]
        return folded[0] if len(folded) == 1 else artist

    def _record(
        self,
        plan: DamagePlan,
        done: Denoised,
        settings: DenoiseSettings,
        maps: tuple,
        *,
        source: str,
        style: str | None,
    ) -> RestorationRecord:
        """The :class:`RestorationRecord` of one painting (``maps``: its mask, fade map and init image)."""
        mask_image, fade_map, init = maps
        first = "given" if init is not None else self.config.exemplar_fill if plan.init is not None else None
        refined = bool(
            self.exemplar_refiner is not None
            and settings.switches.exemplar_refiner
            and plan.init is not None
            and plan.region.any()
        )
        layout = plan.init is not None and settings.switches.membrane_layout and plan.region.any()
        return RestorationRecord(
            mask_source=source if mask_image is not None else None,
            fade_source=source if fade_map is not None else None,
            mask_image=mask_image,
            fade_map=fade_map,
            init=f"{first}, strength {float(settings.strength):g}" if first else None,
            artist=settings.artist,
            style=style,
            fading=plan.fading,
            tiles=done.tiles,
            thin_pixels_filled=int(plan.thin.sum()),
            steps=settings.num_inference_steps,
            guidance_scale=float(settings.guidance_scale),
            retrieved=done.retrieved,
            refined=refined,
            layout_weight=float(self.config.layout_weight) if layout else 0.0,
        )

    @staticmethod
    def postprocess(results: list[np.ndarray], output_type: str) -> list[PIL.Image.Image] | np.ndarray | list:
        """PIL images, or one (b, H, W, 3) uint8 array when every image has the same size (else a list)."""
        if output_type == "pil":
            return [PIL.Image.fromarray(r) for r in results]
        return np.stack(results) if len({r.shape for r in results}) == 1 else results


def _block_mean(array: np.ndarray, factor: int, rows: int = 256) -> np.ndarray:
    """(H, W, C) array -> (H // factor, W // factor, C) float32 means of factor x factor blocks, in row strips (the
    last H % factor rows and W % factor columns are left out)."""
    h, w = array.shape[0] // factor, array.shape[1] // factor
    out = np.empty((h, w, array.shape[2]), np.float32)
    for y in range(0, h, rows):
        part = array[y * factor : min(h, y + rows) * factor, : w * factor].astype(np.float32)
        out[y : y + rows] = part.reshape(-1, factor, w, factor, array.shape[2]).mean(axis=(1, 3))
    return out


@torch.no_grad()
def _infer_unrestored_artist(certifier: Any, image: np.ndarray, holes: np.ndarray, region: np.ndarray) -> str:
    """``certifier``'s artist for ``image`` (H, W, 3 uint8) with its ``holes`` (H, W bool) filled smoothly.

    A scan at least four times the certifier's ``working_side`` is first reduced to the block means the certifier
    reads it through (each block's mean over its known pixels, the region as each block's share of it), and the
    holes are filled at that size: the full-size scan is never copied as floats."""
    side = int(getattr(certifier.config, "working_side", 0))
    factor = int(max(holes.shape) / side) // 2 if side > 0 else 0
    if factor >= 2:
        known = _block_mean(~holes[..., None], factor)  # (h, w, 1) share of known pixels
        sums = _block_mean(np.where(holes[..., None], np.uint8(0), image), factor)  # (h, w, 3)
        x = torch.from_numpy(sums / np.maximum(known, 1e-6)).permute(2, 0, 1)[None]  # (1, 3, h, w)
        hole = torch.from_numpy(known == 0).permute(2, 0, 1)[None].float()  # (1, 1, h, w)
        region = _block_mean(region[..., None], factor)[..., 0]  # (h, w) share of region pixels
    else:
        x = torch.tensor(image).permute(2, 0, 1)[None].float()  # (1, 3, H, W), a copy: image may be read-only
        hole = torch.tensor(holes)[None, None].float()
    filled = pushpull_fill(x, hole)[0].permute(1, 2, 0)  # (h, w, 3)
    return certifier.infer_artist(filled.round().clamp(0, 255).to(torch.uint8).numpy(), region)


def _as_list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _check_damage(masks: list, fades: list, *, style_inferred: bool) -> None:
    """``ValueError`` for a painting with nothing to restore (no mask pixel >= 128 and no fading), or, when the
    style is to be inferred (no artist named), with no undamaged pixel to infer it from."""
    for i, (m, f) in enumerate(zip(masks, fades)):
        mask = np.asarray(m) >= 128 if m is not None else None
        fade = np.asarray(f) > 0 if f is not None else None
        if not ((mask is not None and mask.any()) or (fade is not None and fade.any())):
            raise ValueError(
                f"mask_image: image {i} has nothing to restore (no mask pixel >= 128 and no fade_map > 0; with "
                "detect=True: the detector found no damage)"
            )
        damaged = mask if fade is None else fade if mask is None else mask | fade
        if style_inferred and damaged.all():
            raise ValueError(
                f"artist: image {i} has no undamaged pixel to infer the style from (the damage covers all of it); "
                "name the artist (pipe.memory_bank.artists lists them)"
            )


def _unknown_artist(artist: str, known: Any) -> str:
    """The message for an unknown ``artist``: the closest known names, not all of them."""
    names = sorted(known)
    folded = {n.casefold(): n for n in names}
    close = difflib.get_close_matches(artist.strip().casefold(), list(folded), n=3, cutoff=0.5)
    hint = f"closest: {', '.join(folded[c] for c in close)}" if close else f"{len(names)} are known"
    return f"artist: {artist!r} is unknown ({hint}; pipe.memory_bank.artists lists them, or None infers the style)"


def _component_module(module: str) -> Any:
    """The module ``module`` beside this one (the ``artrestore.hub`` package)."""
    try:
        return importlib.import_module(f"{__package__}.{module}")
    except ImportError as e:
        raise ValueError(
            f"trust_remote_code: the component module {module!r} is not installed beside the pipeline, so the "
            "components can only be built from the model folder's own code; pass trust_remote_code=True to allow that"
        ) from e


def _resize_short(image: PIL.Image.Image, side: int) -> PIL.Image.Image:
    scale = side / min(image.size)
    if scale >= 1:
        return image
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), PIL.Image.LANCZOS)

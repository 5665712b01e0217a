"""Settings of the shipped pipeline, defined once, and the registry of its custom components.

:class:`PipelineSettings` holds the defaults of the pipeline's saved configuration (``model_index.json``): the
pipeline's constructor, ``artrestore export`` and the CLI all read them here. :class:`ComponentSwitches` are the
official switches of a restore call that turn one mechanism of the model off (what the ablation study measures).

Self-contained (the standard library only): this file ships with exported checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

FADING_METHODS = ("invert", "diffuse")
# custom component -> (module file, class): the files ship in that component's folder of an exported model (and
# ``model_index.json`` names them so); the same modules sit beside this one in the ``artrestore.hub`` package
COMPONENTS = {
    "unet": ("denoiser", "ArtRestoreUNet"),
    "mask_encoder": ("mask_encoder", "FiLMMaskEncoder"),
    "style_encoder": ("style_encoder", "StyleEncoder"),
    "memory_bank": ("memory_bank", "StyleMemoryBank"),
    "style_certifier": ("style_certifier", "StyleCertifier"),
    "damage_detector": ("detector", "DamageDetector"),
    "varnish_estimator": ("varnish", "VarnishEstimator"),
    "exemplar_refiner": ("exemplar_refiner", "ExemplarRefiner"),
    "artist_recogniser": ("artist_recogniser", "ArtistRecogniser"),
}
# autoencoders other than diffusers' AutoencoderKL -> their module, which an exported folder carries in vae/
CUSTOM_AUTOENCODERS = {"PatchAutoencoder": "patch_autoencoder"}
MAX_INFERENCE_STEPS = 200


@dataclass(frozen=True)
class PipelineSettings:
    """The pipeline's configuration (saved in ``model_index.json``); these defaults are the shipped model's.

    Attributes:
        default_steps: denoising steps when ``num_inference_steps`` is None.
        default_strength: ``strength`` when a call gives None: the share of the noise schedule that denoising of
            the paint losses runs, in [0, 1]. 0 = no denoising: the exemplar fill, corrected by the exemplar
            refiner, is the restoration of the losses (the best measured quality per CPU second); 1 = from noise.
        exemplar_fill: the first fill the pipeline makes of the paint losses when no ``init_image`` is given and
            the strength is below 1: ``"patchmatch"`` (texture copied from the painting, ``exemplar_fill.py``) or
            ``"none"`` (denoising then starts from noise).
        exemplar_patch_size: PatchMatch patch side in pixels of the exemplar fill.
        refiner_precision: the exemplar refiner's arithmetic (``precision.py``): ``"auto"`` (bfloat16 autocast
            where the device has it in hardware: CUDA, or a CPU with AVX512-BF16 or AMX; float32 elsewhere),
            ``"float32"`` or ``"bfloat16"``.
        tile_size: largest tile side in pixels; smaller damage runs as one crop around it.
        context: context margin in pixels around the damage (and tile overlap).
        top_k: retrieved memory-bank patches per tile.
        thin_damage_px: connected binary damage narrower than this many pixels everywhere (cracks, scratches) is
            filled in pixel space by a biharmonic fill before denoising (0 = denoise everything).
        hairline_px: of that thin damage, only stretches narrower than this many pixels keep the biharmonic fill
            (hairlines); wider ones get the exemplar fill and the refiner, which copy the painting's texture that a
            smooth fill loses (0 = all thin damage keeps the biharmonic fill; see docs/results/hairlines.md).
        layout_sigma: Gaussian scale in pixels that separates a paint loss's layout (its broad colours) from its
            detail in the membrane layout stage (``membrane_layout.py``).
        layout_weight: share of the first fill's layout, inside the paint losses, replaced by the membrane through
            the losses' border (0 = the fill as the refiner leaves it; see docs/results/membrane_layout.md).
        boundary_correction: add the decoder's colour error on the undamaged border of each hole, filled smoothly
            into the hole, so restored regions meet the original without a seam.
        attribution_block: side in pixels of the blocks of the attribution maps.
        attribution_weighting: ``"attention"`` or ``"value"`` (see ``AttributionRecorder``).
        guidance_scale: classifier-free guidance on style and retrieval (1 = off).
        retrieval_routing: retrieved patches each latent pixel reads in the denoiser's cross-attention (0 = all;
            a setting of the ``unet`` component, written there at export).
        detector_tile: tile side in pixels of the damage detector's full-resolution inference.
        detector_overlap: overlap in pixels of the detector's tiles (feathered).
    """

    default_steps: int = 4
    default_strength: float = 0.0
    exemplar_fill: str = "patchmatch"
    exemplar_patch_size: int = 3
    refiner_precision: str = "auto"
    tile_size: int = 768
    context: int = 48
    top_k: int = 8
    thin_damage_px: int = 9
    hairline_px: int = 4
    layout_sigma: float = 16.0
    layout_weight: float = 0.5
    boundary_correction: bool = True
    attribution_block: int = 16
    attribution_weighting: str = "attention"
    guidance_scale: float = 1.0
    retrieval_routing: int = 1
    detector_tile: int = 1024
    detector_overlap: int = 64


@dataclass(frozen=True)
class ComponentSwitches:
    """Mechanisms of the model a restore call can switch off (``pipe(..., switches=...)``); all on by default.

    Each switch is a real change of what runs, for ablation studies; the defaults give the shipped behaviour.

    Attributes:
        film: FiLM modulation of the denoiser by the damage (off: the mask reaches it only as an input channel).
        style_adaln: the style vector's AdaLN shift and scale of the denoiser's norms.
        style_tokens: the style cross-attention tokens (off: the null style's tokens, whatever the artist).
        style: the style everywhere (off: the null style for AdaLN and tokens; no style is encoded).
        pixel_compositing: write restored pixels only inside the damage (off: decoded tiles are pasted whole).
        boundary_correction: the boundary colour correction (None: the pipeline's ``boundary_correction``).
        exemplar_refiner: the exemplar refiner's correction of the first fill (off: the fill as it is).
        artist_palette: give the restored pixels a named artist's palette when the painting does not look like
            that artist (the ``artist_recogniser``; off: the fill keeps the painting's own palette).
        membrane_layout: pull the first fill's layout towards the membrane through the losses' border (off: the
            fill's own layout; as ``layout_weight`` 0).
    """

    film: bool = True
    style_adaln: bool = True
    style_tokens: bool = True
    style: bool = True
    pixel_compositing: bool = True
    boundary_correction: bool | None = None
    exemplar_refiner: bool = True
    artist_palette: bool = True
    membrane_layout: bool = True

"""ArtRestore-Diffusion as it ships: the pipeline and its components, self-contained.

Every module here imports only the standard library, numpy, torch, PIL, diffusers and faiss (SciPy and
scikit-image where installed), never the rest of ``artrestore``: the same files are copied into each exported model
folder (``artrestore export --code-only``, see :data:`BUNDLE_FILES`), so the folder loads with
``DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)`` without this package. The rest of the package
depends on this one, never the reverse.

The classes are imported on first use (``from artrestore.hub import ArtRestorePipeline``), so that the settings
load without torch and diffusers.
"""

from __future__ import annotations

import importlib
from typing import Any

from .settings import (
    COMPONENTS,
    CUSTOM_AUTOENCODERS,
    FADING_METHODS,
    MAX_INFERENCE_STEPS,
    ComponentSwitches,
    PipelineSettings,
)

# files of an exported model folder -> their source module here: the pipeline's modules at the folder's root,
# each custom component's module in that component's subfolder (where the folder's model_index.json names it)
PIPELINE_MODULES = (
    "pipeline_artrestore",
    "pipeline_output",
    "settings",
    "damage_plan",
    "exemplar_fill",
    "tile_denoising",
    "attribution",
    "crop_plan",
    "damage_detection",
    "masked_fill",
    "membrane_layout",
    "precision",
)
BUNDLE_FILES = {
    **{f"{m}.py": f"{m}.py" for m in PIPELINE_MODULES},
    **{f"{name}/{module}.py": f"{module}.py" for name, (module, _) in COMPONENTS.items()},
    **{f"vae/{module}.py": f"{module}.py" for module in CUSTOM_AUTOENCODERS.values()},
}

_LAZY = {
    "ArtRestorePipeline": "pipeline_artrestore",
    "ArtRestorePipelineOutput": "pipeline_output",
    "RestorationRecord": "pipeline_output",
    "AttributionRecorder": "attribution",
    "BlockAttribution": "attribution",
    "DamageType": "damage_detection",
    "ExemplarRefiner": "exemplar_refiner",
    "ArtistRecogniser": "artist_recogniser",
    "ArtistMatch": "artist_recogniser",
    "DetectedDamage": "damage_detection",
    "ArtRestoreUNet": "denoiser",
    "ArtRestoreUNetOutput": "denoiser",
    "CLASSES": "detector",
    "DamageDetector": "detector",
    "FiLMMaskEncoder": "mask_encoder",
    "PatchAutoencoder": "patch_autoencoder",
    "damage_planes": "mask_encoder",
    "Provenance": "memory_bank",
    "Retrieved": "memory_bank",
    "StyleMemoryBank": "memory_bank",
    "CertificateBlock": "style_certifier",
    "StyleCertificate": "style_certifier",
    "StyleCertifier": "style_certifier",
    "StyleEncoder": "style_encoder",
    "VarnishEstimator": "varnish",
    "remove_varnish": "varnish",
}

__all__ = [
    "BUNDLE_FILES",
    "COMPONENTS",
    "CUSTOM_AUTOENCODERS",
    "FADING_METHODS",
    "MAX_INFERENCE_STEPS",
    "PIPELINE_MODULES",
    "ComponentSwitches",
    "PipelineSettings",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

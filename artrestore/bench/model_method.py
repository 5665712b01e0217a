"""ArtRestore-Diffusion as a bench method: ``artrestore`` (the model's defaults) or ``artrestore@<sampler><steps>``.

The variants swap in another stock diffusers sampler built from the model's scheduler config, so samplers and step
counts are compared on the same damaged paintings in one bench run.
"""

from __future__ import annotations

import re

import numpy as np
import PIL.Image
import torch

from ..baselines.registry import _REGISTRY, register_method

SAMPLER_CODES = {
    "dpm": "DPMSolverMultistepScheduler",
    "ddim": "DDIMScheduler",
    "euler": "EulerDiscreteScheduler",
    "unipc": "UniPCMultistepScheduler",
}
_NAME = re.compile(r"^artrestore(?:@(?P<sampler>[a-z]+)(?P<steps>\d+))?$")


def is_model_method(name: str) -> bool:
    """Whether ``name`` asks for the ArtRestore model (``artrestore`` or ``artrestore@...``)."""
    return name == "artrestore" or name.startswith("artrestore@")


def register_model_methods(names: list[str], model: str) -> None:
    """Register every ``artrestore...`` name of ``names``, all sharing one loaded pipeline.

    Args:
        names: method names (others are ignored).
        model: model folder.
    """
    wanted = [n for n in names if is_model_method(n)]
    if not wanted:
        return
    from diffusers import DiffusionPipeline  # noqa: F401  (import before the pipeline module, for clear errors)

    from ..export import make_sampler
    from ..restore import load_pipeline

    pipe = load_pipeline(model, torch.get_num_threads())
    pipe.set_progress_bar_config(disable=True)
    default_scheduler = pipe.scheduler
    for name in wanted:
        m = _NAME.match(name)
        if m is None or (m["sampler"] and m["sampler"] not in SAMPLER_CODES):
            raise ValueError(
                f"methods: {name!r} is not artrestore or artrestore@<sampler><steps> with sampler in "
                f"{', '.join(SAMPLER_CODES)}"
            )
        scheduler = (
            make_sampler(SAMPLER_CODES[m["sampler"]], default_scheduler.config) if m["sampler"] else default_scheduler
        )
        steps = int(m["steps"]) if m["steps"] else None
        _REGISTRY.pop(name, None)

        def fn(image: np.ndarray, mask: np.ndarray, fade: np.ndarray, scheduler=scheduler, steps=steps) -> np.ndarray:
            pipe.scheduler = scheduler
            fade_q = np.round(np.clip(fade, 0, 1) * 255).astype(np.uint8)
            out = pipe(
                image=PIL.Image.fromarray(image),
                mask_image=PIL.Image.fromarray(mask.astype(np.uint8) * 255) if mask.any() else None,
                fade_map=PIL.Image.fromarray(fade_q) if fade_q.any() else None,
                num_inference_steps=steps,
                generator=torch.Generator().manual_seed(0),
                output_type="np",
            )
            return out.images[0]

        register_method(name, f"ArtRestore-Diffusion ({name})", restores_fading=True)(fn)

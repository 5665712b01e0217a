"""ArtRestore-Diffusion as a bench method, with variants compared on the same damaged paintings in one run.

Names: ``artrestore`` runs the defaults of ``artrestore restore``; suffixes override them:
``+<init>`` (a classical first fill, e.g. ``+patchmatch``, or ``+none``), ``@<sampler><steps>`` (another stock
diffusers sampler built from the model's scheduler config, e.g. ``@ddim8``) and ``~<strength>`` (e.g. ``~0.6``).
Example: ``artrestore+patchmatch@dpm8~0.5``.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from ..baselines.registry import _REGISTRY, register_method
from ..io import Artwork

SAMPLER_CODES = {
    "dpm": "DPMSolverMultistepScheduler",
    "ddim": "DDIMScheduler",
    "euler": "EulerDiscreteScheduler",
    "unipc": "UniPCMultistepScheduler",
}
_NAME = re.compile(
    r"^artrestore(?:\+(?P<init>[a-z]+))?(?:@(?P<sampler>[a-z]+)(?P<steps>\d+))?(?:~(?P<strength>[0-9.]+))?$"
)


def is_model_method(name: str) -> bool:
    """Whether ``name`` asks for the ArtRestore model (``artrestore`` or ``artrestore@...``)."""
    return name == "artrestore" or name.startswith(("artrestore@", "artrestore+", "artrestore~"))


def register_model_methods(names: list[str], model: str) -> None:
    """Register every ``artrestore...`` name of ``names``, all sharing one loaded pipeline.

    Args:
        names: method names (others are ignored).
        model: model folder.
    """
    wanted = [n for n in names if is_model_method(n)]
    if not wanted:
        return
    from ..config import RestoreConfig
    from ..export import make_sampler
    from ..restore import load_pipeline, restore_artwork

    defaults = RestoreConfig(input="")
    pipe = load_pipeline(model, torch.get_num_threads())
    pipe.set_progress_bar_config(disable=True)
    default_scheduler = pipe.scheduler
    for name in wanted:
        m = _NAME.match(name)
        if m is None or (m["sampler"] and m["sampler"] not in SAMPLER_CODES):
            raise ValueError(
                f"methods: {name!r} is not artrestore[+<init>][@<sampler><steps>][~<strength>] with sampler in "
                f"{', '.join(SAMPLER_CODES)}"
            )
        init = m["init"] or defaults.init
        strength = float(m["strength"]) if m["strength"] else defaults.strength
        scheduler = (
            make_sampler(SAMPLER_CODES[m["sampler"]], default_scheduler.config) if m["sampler"] else default_scheduler
        )
        steps = int(m["steps"]) if m["steps"] else None
        _REGISTRY.pop(name, None)

        def fn(
            image: np.ndarray,
            mask: np.ndarray,
            fade: np.ndarray,
            scheduler=scheduler,
            steps=steps,
            init=init,
            strength=strength,
        ) -> np.ndarray:
            pipe.scheduler = scheduler
            restored, _ = restore_artwork(
                pipe,
                Artwork(image),
                mask if mask.any() else None,
                fade if fade.any() else None,
                steps=steps,
                seed=0,
                init=init,
                strength=strength,
            )
            return restored.pixels

        register_method(name, f"ArtRestore-Diffusion ({name})", restores_fading=True)(fn)

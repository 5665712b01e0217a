"""ArtRestore-Diffusion as a bench method, with variants compared on the same damaged paintings in one run.

Names: ``artrestore`` runs the defaults of ``artrestore restore``; suffixes override them:
``+<init>`` (a classical first fill, e.g. ``+patchmatch``, or ``+none``), ``@<sampler><steps>`` (another stock
diffusers sampler built from the model's scheduler config, e.g. ``@ddim8``), ``~<strength>`` (e.g. ``~0.6``),
``^<guidance>`` (classifier-free guidance on style and retrieval, e.g. ``^3``) and ``!<ablation>`` (a variant of
:mod:`artrestore.bench.ablation`; these condition on the painting's artist when the memory bank knows it, so that
style and the artist filter are in play). Examples: ``artrestore+patchmatch@dpm8~0.5``, ``artrestore^3!wrong_artist``.
``artrestore-auto`` ignores the given damage maps and restores what the model's detector finds (end to end).
``artrestore-refiner`` is the PatchMatch fill (the ``patchmatch`` baseline) corrected by the exemplar refiner alone,
with the painting's style and no denoising (it needs a model with an ``exemplar_refiner``, or ``--refiner``).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path

import numpy as np
import torch

from ..baselines.registry import _REGISTRY, register_method
from ..io import Artwork

_NAME = re.compile(
    r"^artrestore(?:\+(?P<init>[a-z]+))?(?:@(?P<sampler>[a-z]+)(?P<steps>\d+))?(?:~(?P<strength>[0-9.]+))?"
    r"(?:\^(?P<guidance>[0-9.]+))?(?:!(?P<ablation>[a-z_]+))?$"
)


def is_model_method(name: str) -> bool:
    """Whether ``name`` asks for the ArtRestore model (``artrestore`` or ``artrestore@...``)."""
    return name in ("artrestore", "artrestore-auto", "artrestore-refiner") or name.startswith(
        ("artrestore@", "artrestore+", "artrestore~", "artrestore^", "artrestore!")
    )


def register_model_methods(names: list[str], model: str, *, refiner: str | None = None) -> None:
    """Register every ``artrestore...`` name of ``names``, all sharing one loaded pipeline.

    Args:
        names: method names (others are ignored).
        model: model folder.
        refiner: an :class:`~artrestore.hub.ExemplarRefiner` folder that replaces the model's own (it corrects the
            ``+<init>`` fills), or None.
    """
    wanted = [n for n in names if is_model_method(n)]
    if not wanted:
        return
    from ..config import RestoreConfig
    from ..export import SAMPLERS, make_sampler
    from ..restore import load_pipeline, restore_artwork
    from .ablation import ABLATIONS, ablation

    defaults = RestoreConfig(input="")
    pipe = load_pipeline(model, torch.get_num_threads())
    if refiner is not None:
        from ..hub import ExemplarRefiner

        if not Path(refiner, "config.json").is_file():
            raise ValueError(f"refiner: no saved ExemplarRefiner in {refiner}")
        swapped = ExemplarRefiner.from_pretrained(refiner).eval()
        if swapped.config.style_dim != pipe.unet.config.style_dim:
            raise ValueError(
                f"refiner: style_dim {swapped.config.style_dim} differs from the model's {pipe.unet.config.style_dim}"
            )
        pipe.register_modules(exemplar_refiner=swapped)
    pipe.set_progress_bar_config(disable=True)
    default_scheduler = pipe.scheduler
    for name in wanted:
        if name == "artrestore-auto":
            _REGISTRY.pop(name, None)

            def auto(image: np.ndarray, mask: np.ndarray, fade: np.ndarray) -> np.ndarray:
                found = pipe.detect_damage(Artwork(image).to_pil())[0]
                if not found.mask.any() and not (found.fade > 0).any():
                    return image.copy()  # nothing detected, nothing restored
                m, f = (found.mask if found.mask.any() else None), (found.fade if (found.fade > 0).any() else None)
                restored, _ = restore_artwork(pipe, Artwork(image), m, f, seed=0)
                return restored.pixels

            register_method(name, "ArtRestore-Diffusion on the damage its detector finds", True)(auto)
            continue
        if name == "artrestore-refiner":
            if pipe.exemplar_refiner is None:
                raise ValueError("methods: artrestore-refiner needs a model with an exemplar_refiner, or --refiner")
            _REGISTRY.pop(name, None)
            register_method(name, "the PatchMatch fill corrected by the exemplar refiner (no denoising)")(
                functools.partial(refined_exemplar, pipe)
            )
            continue
        m = _NAME.match(name)
        if m is None or (m["sampler"] and m["sampler"] not in SAMPLERS):
            raise ValueError(
                f"methods: {name!r} is not artrestore[+<init>][@<sampler><steps>][~<strength>][^<guidance>]"
                f"[!<ablation>] with "
                f"sampler in {', '.join(SAMPLERS)}"
            )
        if m["ablation"] and m["ablation"] not in ABLATIONS:
            raise ValueError(f"methods: unknown ablation in {name!r}; accepted: {', '.join(ABLATIONS)}")
        init = m["init"] or defaults.init
        strength = float(m["strength"]) if m["strength"] else defaults.strength
        scheduler = (
            make_sampler(SAMPLERS[m["sampler"]], default_scheduler.config) if m["sampler"] else default_scheduler
        )
        steps = int(m["steps"]) if m["steps"] else None
        guidance = float(m["guidance"]) if m["guidance"] else None
        _REGISTRY.pop(name, None)
        if m["ablation"]:
            # one choice of contrasting artist per painting artist, shared by the restoration and its certificate
            contrast = functools.cache(functools.partial(wrong_artist, pipe))
            fn = _ablation_fn(
                pipe, m["ablation"], scheduler, steps, init, strength, guidance, restore_artwork, ablation, contrast
            )
            conditioning = None
            if ABLATIONS[m["ablation"]].call.get("artist") == "wrong":

                def conditioning(artist: str, contrast=contrast) -> str | None:
                    return contrast(artist) if artist in pipe.memory_bank.artist_vectors else None

            description = f"ArtRestore-Diffusion without {ABLATIONS[m['ablation']].removes}"
            register_method(name, description, True, True, conditioning)(fn)
            continue

        def fn(
            image: np.ndarray,
            mask: np.ndarray,
            fade: np.ndarray,
            scheduler=scheduler,
            steps=steps,
            init=init,
            strength=strength,
            guidance=guidance,
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
                guidance_scale=guidance,
            )
            return restored.pixels

        register_method(name, f"ArtRestore-Diffusion ({name})", restores_fading=True)(fn)


def refined_exemplar(pipe, image: np.ndarray, mask: np.ndarray, fade: np.ndarray) -> np.ndarray:
    """The ``patchmatch`` baseline's fill of ``mask``, corrected by ``pipe``'s exemplar refiner on the tiles around
    the damage, with the style inferred from the undamaged painting (the pipeline's stages 3-5, no denoising)."""
    from ..baselines.registry import get_method
    from ..hub import ComponentSwitches

    if not mask.any():
        return image.copy()
    fill = get_method("patchmatch").fn(image, mask, fade)
    import PIL.Image

    plan = pipe.prepare_damage(image, PIL.Image.fromarray(mask.astype(np.uint8) * 255), None, None, fading="diffuse")
    plan = dataclasses.replace(plan, init=np.where(plan.region[..., None], fill, plan.image))
    switches = ComponentSwitches()
    style, _ = pipe.prepare_style(plan, None, switches)
    refined = np.asarray(pipe.refine_exemplar(plan, style, switches).init)
    return np.where(plan.region[..., None], refined, plan.image).astype(np.uint8)


def wrong_artist(pipe, artist: str, min_patches: int = 100) -> str:
    """The well-represented bank artist (>= ``min_patches`` patches, else any other artist with patches) whose style
    vector is least like ``artist``'s."""
    bank = pipe.memory_bank
    counts: dict[str, int] = {}
    for p in bank.provenance:
        counts[p.artist] = counts.get(p.artist, 0) + 1
    others = [a for a, n in counts.items() if a != artist and a in bank.artist_vectors]
    others = [a for a in others if counts[a] >= min_patches] or others
    if not others:
        raise ValueError(f"artist: no other well-represented artist in the bank to contrast with {artist!r}")
    ref = bank.artist_vectors[artist]
    return min(sorted(others), key=lambda a: float(bank.artist_vectors[a] @ ref))


def _ablation_fn(
    pipe, name: str, scheduler, steps, init, strength, guidance, restore_artwork, ablation, contrast=None
):
    contrast = contrast or functools.partial(wrong_artist, pipe)  # painting artist -> the wrong artist to use

    def fn(image: np.ndarray, mask: np.ndarray, fade: np.ndarray, artist: str | None = None) -> np.ndarray:
        pipe.scheduler = scheduler
        known = artist if artist in pipe.memory_bank.artist_vectors else None
        a = ablation(name)
        m, f = a.damage(mask, fade) if a.damage else (mask, fade)
        call = dict(a.call)
        if call.get("artist") == "wrong":
            call["artist"] = contrast(known) if known else None
        _, out = restore_artwork(
            pipe,
            Artwork(image),
            m if m.any() else None,
            f if f.any() else None,
            artist=call.get("artist", known),
            steps=call.get("steps", steps),
            seed=0,
            retrieval=call.get("retrieval", "filter"),
            init=init,
            strength=strength,
            top_k=call.get("top_k"),
            fading=call.get("fading"),
            guidance_scale=guidance,
            switches=call.get("switches"),
        )
        return np.asarray(out.images[0])  # the pipeline's own output (no re-compositing here)

    return fn

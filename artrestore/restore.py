"""Restoring files: load a painting and its damage maps, run the pipeline, write a lossless PNG.

The pipeline works on 8-bit RGB; this layer keeps everything else of the file: untouched pixels are copied from
the original samples (16-bit stays 16-bit), and alpha and the ICC profile are written back unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import PIL.Image
import torch
from tqdm.auto import tqdm

from .config import RestoreConfig
from .io import Artwork, load_fade_map, load_image, load_mask, save_artwork, save_png
from .output_paths import check_outputs

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")


def load_pipeline(model: str, threads: int = 2):
    """Load an ArtRestore model folder (or Hub id) with the installed package's classes."""
    from .hub import ArtRestorePipeline

    torch.set_num_threads(threads)
    if not Path(model).is_dir() and "/" not in model:
        raise ValueError(f"model: {model} is neither a model folder nor a Hub repo id")
    return ArtRestorePipeline.from_pretrained(model)


def _has_holes(pipe, mask: np.ndarray) -> bool:
    """Whether ``mask`` holds damage the pipeline denoises: what its pixel-space thin fill leaves over."""
    from .hub.masked_fill import split_pixel_space_damage

    config = pipe.config
    _, hair = split_pixel_space_damage(
        mask, int(getattr(config, "thin_damage_px", 0)), int(getattr(config, "hairline_px", 0))
    )  # (H, W) bool: what keeps the pixel-space fill
    return bool((mask & ~hair).any())


def restore_artwork(
    pipe,
    art: Artwork,
    mask: np.ndarray | None,
    fade: np.ndarray | None,
    *,
    artist: str | None = None,
    steps: int | None = None,
    seed: int = 0,
    retrieval: str = "filter",
    init: str | None = None,
    strength: float | None = None,
    top_k: int | None = None,
    detect: bool = False,
    fading: str | None = None,
    guidance_scale: float | None = None,
    switches: object | None = None,
) -> tuple[Artwork, object]:
    """Restore one loaded painting.

    Args:
        pipe: an :class:`ArtRestorePipeline`.
        art: the painting.
        mask: (h, w) bool damage, or None.
        fade: (h, w) float fading strength in [0, 1], or None.
        artist: memory-bank artist or None (inferred style).
        steps: denoising steps, or None for the model's default.
        seed: noise seed.
        retrieval: retrieval mode.
        init: the first fill of the paint losses: None (the model's own exemplar fill), ``"none"`` (no first
            fill: denoising from noise) or a registered classical method (e.g. ``"ns"``).
        strength: share of the noise schedule denoising runs from the first fill, in [0, 1] (0: no denoising, the
            refined fill is the restoration); None: the model's ``default_strength`` (1 with ``init="none"``).
        top_k: retrieved memory-bank patches per tile (None: the model's default; 0: no retrieval).
        detect: find the damage with the model's detector (``mask`` and ``fade`` must be None); the maps used are
            in ``out.records[0].mask_image`` / ``.fade_map``.
        fading: ``"invert"``, ``"diffuse"`` or None (the pipeline's choice); see the pipeline's ``fading``.
        guidance_scale: classifier-free guidance on style and retrieval (None: the model's; 1: off).
        switches: a :class:`~artrestore.hub.ComponentSwitches` turning model mechanisms off (None: all on).

    Returns:
        The restored :class:`Artwork` (same bit depth, alpha and ICC profile) and the pipeline output.
    """
    h, w = art.pixels.shape[:2]
    if detect and (mask is not None or fade is not None):
        raise ValueError("auto: detection replaces the given mask and fade map; pass one or the other")
    mask_img = PIL.Image.fromarray(mask.astype(np.uint8) * 255) if mask is not None else None
    fade_q = np.round(np.clip(fade, 0, 1) * 255).astype(np.uint8) if fade is not None else None
    fade_img = PIL.Image.fromarray(fade_q) if fade_q is not None else None
    if init == "none":
        if strength not in (None, 1, 1.0):
            raise ValueError(f"strength: init 'none' denoises from noise (strength 1), got strength {strength!r}")
        strength = 1.0
    init_img = None
    if (
        init not in (None, "none") and mask is not None and _has_holes(pipe, mask)
    ):  # thin damage never uses the first fill
        from .baselines import get_method

        rgb = art.to_uint8()
        filled = get_method(init).fn(rgb.copy(), mask.copy(), np.zeros(mask.shape, np.float32))
        init_img = PIL.Image.fromarray(filled)
    out = pipe(
        image=art.to_pil(),
        init_image=init_img,
        strength=strength,
        mask_image=mask_img,
        fade_map=fade_img,
        artist=artist,
        num_inference_steps=steps,
        generator=torch.Generator().manual_seed(seed),
        retrieval=retrieval,
        top_k=top_k,
        detect=detect,
        fading=fading,
        guidance_scale=guidance_scale,
        switches=switches,
    )
    restored = np.asarray(out.images[0])  # (h, w, 3) uint8
    if detect:
        used_mask, used_fade = out.records[0].mask_image, out.records[0].fade_map
        mask = np.asarray(used_mask) >= 128 if used_mask is not None else None
        fade_q = np.asarray(used_fade) if used_fade is not None else None
    region = np.zeros((h, w), bool)
    if mask is not None:
        region |= mask
    if fade_q is not None:
        region |= fade_q > 0
    pixels = art.pixels.copy()
    if pixels.dtype == np.uint16:
        pixels[region] = restored[region].astype(np.uint16) * 257
    else:
        pixels[region] = restored[region]
    return replace(art, pixels=pixels, orientation=1), out


def _pair(folder: str | None, image: Path) -> Path | None:
    if folder is None:
        return None
    p = Path(folder) / f"{image.stem}.png"
    return p if p.exists() else None


def detected_map_paths(out: Path) -> dict[str, Path]:
    """Where ``--auto`` writes the maps it detected, beside the restoration: record field -> path."""
    return {
        "mask_image": out.with_name(f"{out.stem}_detected_mask.png"),
        "fade_map": out.with_name(f"{out.stem}_detected_fade.png"),
    }


@dataclass
class RestoredFiles:
    """What :func:`restore_files` wrote.

    Attributes:
        written: the PNG paths, restorations and any detected damage maps.
        palettes: per input image whose fill was moved to the named artist's palette (the painting did not look
            like that artist), the record's ``palette``: ``{"from", "to", "gap"}``.
        detected_fading: per input image in which ``--auto`` found and restored fading, the fade map written.
    """

    written: list[Path] = field(default_factory=list)
    palettes: dict[Path, dict] = field(default_factory=dict)
    detected_fading: dict[Path, Path] = field(default_factory=dict)


def palette_change_text(palette: dict) -> str:
    """What a record's ``palette`` change means, in words (the CLI and the app say it the same way)."""
    return (
        f"the painting does not look like {palette['to']} (it looks most like {palette['from']}; distance gap "
        f"{palette['gap']:.3f}), so the fill's colours were moved from {palette['from']}'s palette to "
        f"{palette['to']}'s"
    )


def detected_fading_text() -> str:
    """Why detected fading needs checking, in words (the CLI and the app say it the same way; docs/detection.md)."""
    return (
        "the detector reports only the fading it is sure of, usually a small part of a faded area, and an area "
        "restored in patches looks worse than one left evenly faded"
    )


def detected_fading_note(image: Path, fade_map: Path) -> str:
    """One line telling the user that the fading ``--auto`` restored is likely only part of it."""
    return (
        f"{image}: --auto found fading; {detected_fading_text()}. Check {fade_map}, paint the whole faded area "
        "(or clear it) and restore again with --mask and --fade"
    )


def palette_note(image: Path, palette: dict) -> str:
    """One line telling the user that a fill's colours were moved to the named artist's palette, and how not to."""
    return f"{image}: {palette_change_text(palette)}; --no-artist-palette keeps the painting's own"


def restore_files(config: RestoreConfig, pipe=None) -> RestoredFiles:
    """Run ``artrestore restore``: one image, or every image in a folder (masks matched by file stem).

    Args:
        config: :class:`~artrestore.config.RestoreConfig`.
        pipe: a loaded pipeline (default: load ``config.model``).

    Returns:
        :class:`RestoredFiles`: the written PNG paths, and the palette changes made for a named artist.
    """
    src = Path(config.input)
    if not src.exists():
        raise ValueError(f"input: {src} does not exist")
    if config.auto and (config.mask is not None or config.fade is not None):
        raise ValueError("auto: --auto finds the damage itself; drop --mask/--fade, or drop --auto")
    if config.mask is None and config.fade is None and not config.auto:
        raise ValueError("mask: give --mask and/or --fade (the damage to restore), or --auto to detect it")
    for name, given in (("mask", config.mask), ("fade", config.fade)):
        if given is not None and not Path(given).exists():
            raise ValueError(f"{name}: {given} does not exist")
    if src.is_dir():
        images = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise ValueError(f"input: no images ({', '.join(IMAGE_SUFFIXES)}) in {src}")
        for name, folder in (("mask", config.mask), ("fade", config.fade)):
            if folder is not None and not Path(folder).is_dir():
                raise ValueError(f"{name}: the input is a folder, so {name} must be a folder of <stem>.png files")
        jobs = [(p, _pair(config.mask, p), _pair(config.fade, p), Path(config.out) / f"{p.stem}.png") for p in images]
        missing = [p.name for p, m, f, _ in jobs if m is None and f is None]
        if missing and not config.auto:
            raise ValueError(f"mask: no mask or fade map named <stem>.png for {', '.join(missing[:5])}")
    else:
        jobs = [
            (
                src,
                Path(config.mask) if config.mask else None,
                Path(config.fade) if config.fade else None,
                Path(config.out),
            )
        ]
    if any(out.suffix.lower() != ".png" for *_, out in jobs):
        raise ValueError(f"out: restorations are written as lossless PNG; got {config.out}")
    inputs = [p for job in jobs for p in job[:3] if p is not None]
    if src.is_dir():  # every image of the folder is an input, restored or not
        inputs += [p for p in src.iterdir() if p.is_file()]
    outputs, sources = [], []
    for image, _, _, out in jobs:
        extra = list(detected_map_paths(out).values()) if config.auto else []
        outputs += [out, *extra]
        sources += [image] * (1 + len(extra))
    check_outputs(outputs, inputs=inputs, overwrite=config.overwrite, sources=sources, suffix=None)  # before any work
    pipe = pipe or load_pipeline(config.model, config.threads)
    from .hub import ComponentSwitches

    switches = None if config.artist_palette else ComponentSwitches(artist_palette=False)
    done = RestoredFiles()
    written = done.written
    for image, mask_path, fade_path, out in tqdm(jobs, desc="restore", disable=len(jobs) == 1):
        art = load_image(image)
        mask = load_mask(mask_path, art.size) if mask_path else None
        fade = load_fade_map(fade_path, art.size) if fade_path else None
        restored, result = restore_artwork(
            pipe,
            art,
            mask,
            fade,
            artist=config.artist,
            steps=config.steps,
            seed=config.seed,
            retrieval=config.retrieval,
            init=config.init,
            strength=config.strength,
            detect=config.auto,
            fading=config.fading,
            guidance_scale=config.guidance_scale,
            switches=switches,
        )
        protect = [p for p in (image, mask_path, fade_path) if p is not None]
        written.append(save_artwork(out, restored, protect=protect))
        if result.records[0].palette is not None:
            done.palettes[image] = result.records[0].palette
        if config.auto:  # the detected maps, editable and reusable with --mask / --fade
            for key, path in detected_map_paths(out).items():
                used = getattr(result.records[0], key)
                if used is not None:
                    written.append(save_png(path, np.asarray(used), protect=protect))
                    if key == "fade_map" and np.asarray(used).any():
                        done.detected_fading[image] = path
    return done

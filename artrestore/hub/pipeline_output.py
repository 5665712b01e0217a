"""What :class:`ArtRestorePipeline` returns: the output dataclass and the record of each restoration.

Self-contained (numpy, PIL, diffusers): this file ships with exported checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import PIL.Image
from diffusers.utils import BaseOutput


@dataclass
class RestorationRecord:
    """How one painting was restored: which damage, which style, which settings.

    Attributes:
        mask_source: where ``mask_image`` came from: ``"given"``, ``"detected"`` (``detect=True``) or None (none).
        fade_source: where ``fade_map`` came from, as ``mask_source``.
        mask_image: the L mask used (white = damaged), or None.
        fade_map: the L fade map used (0..255), or None.
        init: the first fill of the paint losses and the strength denoising ran from it: ``"given, strength <s>"``
            (``init_image``), ``"patchmatch, strength <s>"`` (the model's own exemplar fill), or None (from noise).
        refined: whether the exemplar refiner corrected that fill.
        layout_weight: the share of that fill's layout replaced by the membrane through the losses' border (0: the
            stage did not run).
        artist: the artist asked for, or None (style inferred).
        style: ``"artist"``, ``"inferred"``, ``"none"`` (switched off) or None (nothing was denoised).
        fading: how faded areas were restored: ``"invert"``, ``"diffuse"`` or None (no fading).
        tiles: number of tiles the denoiser ran on (0: nothing was denoised).
        thin_pixels_filled: thin damage pixels filled in pixel space (``thin_damage_px``).
        steps: denoising steps of the schedule.
        guidance_scale: classifier-free guidance scale used (1: off).
        retrieved: memory-bank rows retrieved for any tile, sorted.
        palette: when the painting did not look like the named artist, the palette change of the restored
            pixels, ``{"from": <nearest artist>, "to": <artist>, "gap": <distance gap>}``; else None.
    """

    mask_source: str | None
    fade_source: str | None
    mask_image: PIL.Image.Image | None
    fade_map: PIL.Image.Image | None
    init: str | None
    artist: str | None
    style: str | None
    fading: str | None
    tiles: int
    thin_pixels_filled: int
    steps: int
    guidance_scale: float
    retrieved: list[int] = field(default_factory=list)
    refined: bool = False
    layout_weight: float = 0.0
    palette: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """Every field except the two images, JSON-serialisable."""
        return {k: v for k, v in vars(self).items() if k not in ("mask_image", "fade_map")}


@dataclass
class ArtRestorePipelineOutput(BaseOutput):
    """Output of :class:`ArtRestorePipeline`.

    Attributes:
        images: restored paintings (PIL RGB, same size as the inputs) or (b, H, W, 3) uint8 arrays.
        attributions: per image, the block-wise attribution (None when not recorded or nothing was retrieved).
        certificates: per image, the style certificate (None unless a certifier is attached and ``certify``).
        records: per image, the :class:`RestorationRecord` of what was restored and how.
    """

    images: list[PIL.Image.Image] | np.ndarray
    attributions: list[Any | None]
    certificates: list[Any | None]
    records: list[RestorationRecord]

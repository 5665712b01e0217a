"""Damage detection inside the pipeline: tiled inference of the detector and the decision into masks.

``predict_tiled`` runs the :class:`DamageDetector` over overlapping tiles so scans of any size work; ``decide``
turns its probabilities into the binary mask and fade map the pipeline takes (``mask_image``, ``fade_map``) and a
per-pixel damage-type map. ``artrestore.detection`` re-exports both.

Self-contained (torch, numpy, PIL): this file ships with exported checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .settings import PipelineSettings


class DamageType(IntEnum):
    """Codes of the per-pixel damage-type map (uint8; ``artrestore.damage.DamageType`` is this class). Later
    layers win where damage overlaps."""

    NONE = 0
    CRACK = 1
    SCRATCH = 2
    LOSS = 3
    FADE = 4


# detector class index -> damage-type code
_CLASS_TO_TYPE = np.array([DamageType.NONE, DamageType.CRACK, DamageType.SCRATCH, DamageType.LOSS], np.uint8)


def _feather(size: int, overlap: int) -> torch.Tensor:
    """(size,) weights ramping up over ``overlap`` pixels at both ends (never exactly 0)."""
    w = torch.ones(size)
    if overlap > 0:
        ramp = torch.linspace(0, 1, overlap + 2)[1:-1]
        w[:overlap] = ramp
        w[-overlap:] = ramp.flip(0)
    return w


def _tiles(length: int, tile: int, overlap: int, multiple: int) -> tuple[int, list[int]]:
    """Fewest tiles of at most ``tile`` pixels covering ``length`` with at least ``overlap`` between neighbours.

    Tiles are made as small as that count allows (a multiple of ``multiple``) and spread evenly, so no pixel is
    computed more often than the overlaps need.

    Returns:
        The tile side and the tile starts.
    """
    if length <= tile:
        return length, [0]
    n = -(-(length - overlap) // (tile - overlap))
    need = -(-(length + (n - 1) * overlap) // n)  # ceil: n tiles of this side overlap by >= overlap
    side = min(tile, -(-need // multiple) * multiple)
    starts = [round(i * (length - side) / (n - 1)) for i in range(n)]
    return side, starts


@torch.no_grad()
def predict_tiled(
    model: torch.nn.Module,
    image: np.ndarray,
    tile: int = PipelineSettings.detector_tile,
    overlap: int = PipelineSettings.detector_overlap,
) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and fade strength for an image of any size.

    Args:
        model: the detector (a ``DamageDetector``; eval mode is set here).
        image: (h, w, 3) uint8 RGB.
        tile: tile side (rounded up to the model's multiple).
        overlap: overlap between neighbouring tiles, blended with linear feathering.

    Returns:
        ``probs`` (h, w, 4) float32 class probabilities (none, crack, scratch, loss) and ``fade`` (h, w) float32.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image: expected an (h, w, 3) uint8 array, got {image.shape} {image.dtype}")
    if not 0 <= overlap < tile // 2:
        raise ValueError(f"overlap: expected 0 <= overlap < tile / 2, got {overlap} for tile {tile}")
    model.eval()
    m = model.multiple
    tile = -(-tile // m) * m
    h, w = image.shape[:2]
    ph, pw = max(h, -(-h // m) * m), max(w, -(-w // m) * m)
    if (ph, pw) != (h, w):  # the model needs multiples of m: mirror the last rows and columns (uint8, one copy)
        image = np.pad(image, ((0, ph - h), (0, pw - w), (0, 0)), mode="reflect" if min(h, w) > 1 else "edge")
    th, ys = _tiles(ph, tile, overlap, m)
    tw, xs = _tiles(pw, tile, overlap, m)
    # the sums live in the outputs themselves: memory is the (h, w, 4) + (h, w) result plus one weight plane, and
    # only one tile is converted to float at a time (a 60 MP scan needs ~1.4 GB, not ~5 GB)
    probs = np.zeros((ph, pw, 4), np.float32)
    fade = np.zeros((ph, pw), np.float32)
    weight = np.zeros((ph, pw), np.float32)
    win = _feather(th, overlap if len(ys) > 1 else 0)[:, None] * _feather(tw, overlap if len(xs) > 1 else 0)[None, :]
    win_np = win.numpy()  # (th, tw)
    for y0 in ys:
        for x0 in xs:
            piece = torch.from_numpy(np.ascontiguousarray(image[y0 : y0 + th, x0 : x0 + tw]))  # (th, tw, 3) uint8
            x = piece.permute(2, 0, 1)[None].float().div_(255.0)  # (1, 3, th, tw)
            x = x.contiguous(memory_format=torch.channels_last)  # channels-last convolutions are ~1.6x faster
            logits = model(x)[0]  # (5, th, tw)
            out = torch.cat([logits[:4].softmax(0), logits[4:].sigmoid()], dim=0) * win  # (5, th, tw)
            out = out.permute(1, 2, 0).numpy()  # (th, tw, 5)
            probs[y0 : y0 + th, x0 : x0 + tw] += out[..., :4]
            fade[y0 : y0 + th, x0 : x0 + tw] += out[..., 4]
            weight[y0 : y0 + th, x0 : x0 + tw] += win_np
    probs /= weight[..., None]
    fade /= weight
    if (ph, pw) != (h, w):
        return np.ascontiguousarray(probs[:h, :w]), np.ascontiguousarray(fade[:h, :w])
    return probs, fade


@dataclass
class DetectedDamage:
    """Detected damage, ready for editing and restoration.

    Attributes:
        mask: (h, w) bool, binary damage (crack, scratch, loss).
        fade: (h, w) float32 in [0, 1], quantised to 1/255 and exactly 0 below the fade threshold.
        types: (h, w) uint8 :class:`~artrestore.damage.DamageType` codes.
        probs: (h, w, 4) float32 class probabilities (none, crack, scratch, loss).
    """

    mask: np.ndarray
    fade: np.ndarray
    types: np.ndarray
    probs: np.ndarray

    def mask_image(self) -> Image.Image:
        """The binary mask as an L image, white = damaged (the pipeline's ``mask_image``)."""
        return Image.fromarray(self.mask.astype(np.uint8) * 255, "L")

    def fade_map(self) -> Image.Image:
        """The fade strengths as an L image, 0..255 (the pipeline's ``fade_map``)."""
        return Image.fromarray(np.round(self.fade * 255).astype(np.uint8), "L")

    def class_mask(self, name: str) -> np.ndarray:
        """(h, w) bool mask of one class: ``"crack"``, ``"scratch"`` or ``"loss"``."""
        codes = {"crack": DamageType.CRACK, "scratch": DamageType.SCRATCH, "loss": DamageType.LOSS}
        if name not in codes:
            raise ValueError(f"name: expected one of {tuple(codes)}, got {name!r}")
        return self.types == codes[name]


STRIP_ROWS = 1024  # row strips of the full-resolution decisions: memory stays flat on a 60 MP scan


def _strips(h: int, halo: int, rows: int | None = None):
    """Row strips ``(start, stop, keep_from, keep_to)``: compute on rows [start, stop), keep [keep_from, keep_to);
    ``halo`` rows of context on each side make a row-local operation exact."""
    rows = rows or STRIP_ROWS
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        yield max(0, y0 - halo), min(h, y1 + halo), y0, y1


def binary_opening(mask: np.ndarray, width: int) -> np.ndarray:
    """Morphological opening of an (h, w) bool mask with a ``width`` px square: what remains of the mask where a
    ``width`` x ``width`` square fits inside it (outside the image counts as inside the mask)."""
    out = np.empty(mask.shape, bool)
    pad = width // 2
    for start, stop, y0, y1 in _strips(mask.shape[0], width):
        # rows past the strip's cut read as mask, like the image's edge: only rows within width of it differ
        m = torch.from_numpy(np.ascontiguousarray(mask[start:stop]))[None, None].float()  # (1, 1, rows, w)
        # a square's minimum (maximum) is the row-wise one of the column-wise one: O(width) per pixel, not O(width^2)
        padded = F.pad(m, (pad, width - 1 - pad, pad, width - 1 - pad), value=1.0)
        eroded = -F.max_pool2d(F.max_pool2d(-padded, (1, width), 1), (width, 1), 1)
        padded = F.pad(eroded, (width - 1 - pad, pad, width - 1 - pad, pad))
        opened = F.max_pool2d(F.max_pool2d(padded, (1, width), 1), (width, 1), 1)
        out[y0:y1] = opened[0, 0, y0 - start : y1 - start].numpy() > 0.5
    return out


def vote_types(types: np.ndarray, damaged: np.ndarray, window: int) -> np.ndarray:
    """Majority type over compact damage: each pixel of the 3x3-opened ``damaged`` mask takes the type most
    frequent among the opened pixels in a ``window`` px square around it. Thin lines (opened away) keep their own
    type, so a crack running into a loss stays a crack while the loss's pixels agree on one type.

    Args:
        types: (h, w) uint8 damage-type codes.
        damaged: (h, w) bool binary damage.
        window: vote window side in px (made odd).

    Returns:
        (h, w) uint8 codes; only the types of opened pixels can change, never the mask.
    """
    compact = binary_opening(damaged, 3)  # (h, w)
    if not compact.any():
        return types
    codes = torch.from_numpy(_CLASS_TO_TYPE[1:].astype(np.int64))  # crack, scratch, loss codes
    half = window // 2
    out = types.copy()
    for start, stop, y0, y1 in _strips(types.shape[0], half):
        c = torch.from_numpy(compact[start:stop])  # (rows, w)
        if not bool(c[y0 - start : y1 - start].any()):
            continue
        t = torch.from_numpy(types[start:stop].astype(np.int64))
        votes = torch.stack([((t == code) & c).float() for code in codes])[None]  # (1, 3, rows, w)
        # separable box sums (the argmax needs no normalisation): O(window) per pixel
        counts = F.avg_pool2d(votes, (1, 2 * half + 1), 1, (0, half))
        counts = F.avg_pool2d(counts, (2 * half + 1, 1), 1, (half, 0))[0]  # (3, rows, w)
        voted = codes[counts.argmax(0)]  # (rows, w)
        keep = slice(y0 - start, y1 - start)
        out[y0:y1] = torch.where(c[keep], voted[keep], t[keep]).numpy().astype(np.uint8)
    return out


def decision_settings(
    model: torch.nn.Module, damage_threshold: float | None = None, fade_threshold: float | None = None
) -> dict:
    """The keyword arguments of :func:`decide` calibrated with ``model`` (its config), each overridable.

    Args:
        model: the detector.
        damage_threshold: overrides the calibrated damage threshold when given.
        fade_threshold: overrides the calibrated fade threshold when given.
    """
    cfg = model.config  # from_pretrained fills keys an older config lacks with the constructor's defaults
    return {
        "damage_threshold": cfg.damage_threshold if damage_threshold is None else damage_threshold,
        "fade_threshold": cfg.fade_threshold if fade_threshold is None else fade_threshold,
        "type_weights": tuple(cfg.type_weights),
        "type_vote": int(cfg.type_vote),
    }


def decide(
    probs: np.ndarray,
    fade: np.ndarray,
    damage_threshold: float = 0.5,
    fade_threshold: float = 0.08,
    type_weights: tuple[float, float, float] = (1.0, 1.0, 1.0),
    type_vote: int = 0,
) -> DetectedDamage:
    """Threshold detector outputs.

    A pixel is damaged when the probability of "none" falls below ``1 - damage_threshold``; its type is the damage
    class of largest weighted probability. With ``type_vote`` > 0 the pixels of compact damage (what survives an
    opening with a 3x3 square: flakes and losses, not hair-thin lines) take the majority type of the compact damage
    in a ``type_vote`` px window (:func:`vote_types`). Fading strengths below ``fade_threshold`` become exactly 0; a
    threshold of 1 reports no fading at all (what calibration chooses when the fade output finds no fading on the
    tuning cases).

    Args:
        probs: (h, w, 4) class probabilities.
        fade: (h, w) fade strength in [0, 1].
        damage_threshold: probability of any damage needed to mark a pixel.
        fade_threshold: weakest fading that is reported, in [0, 1] (1: none).
        type_weights: weights of the crack, scratch and loss probabilities when the type is chosen (a prior
            correction calibrated with the detector; all 1 is the plain argmax).

    Returns:
        The :class:`DetectedDamage`.
    """
    if not 0 < damage_threshold < 1 or not 0 <= fade_threshold <= 1:
        raise ValueError("damage_threshold must be in (0, 1) and fade_threshold in [0, 1]")
    weights = np.asarray(type_weights, np.float32)
    if weights.shape != (3,) or not (weights > 0).all():
        raise ValueError(f"type_weights: expected 3 positive weights (crack, scratch, loss), got {type_weights}")
    if not isinstance(type_vote, int) or type_vote < 0:
        raise ValueError(f"type_vote: expected a window side >= 0 in px (0 = off), got {type_vote!r}")
    damaged = probs[..., 0] < 1 - damage_threshold  # (h, w)
    types = np.zeros(damaged.shape, np.uint8)
    for _, _, y0, y1 in _strips(damaged.shape[0], 0):  # strips: the weighted copy and argmax stay small
        cls = (probs[y0:y1, :, 1:] * weights).argmax(-1) + 1  # (rows, w) in 1..3
        types[y0:y1] = np.where(damaged[y0:y1], _CLASS_TO_TYPE[cls], DamageType.NONE)
    if type_vote > 0:
        types = vote_types(types, damaged, type_vote)
    report = (fade >= fade_threshold) if fade_threshold < 1 else np.zeros(fade.shape, bool)  # (h, w)
    f = np.where(report, np.round(np.clip(fade, 0, 1) * 255) / 255, 0).astype(np.float32)
    types[(types == DamageType.NONE) & (f > 0)] = DamageType.FADE
    return DetectedDamage(damaged, f, types, probs)

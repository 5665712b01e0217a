"""Membrane layout: the broad colours of a paint loss's fill pulled towards a smooth continuation of its border.

An exemplar fill copies texture, and with it the broad colours and forms of the places the texture came from, so a
large hole gets the layout of other parts of the painting. Above a few pixels' scale the least committal guess at
the hidden paint is a continuation of what surrounds the hole; the membrane (the harmonic interpolation of the
hole's border, :func:`~.masked_fill.harmonic_fill`) is that continuation, with no assumption beyond smoothness.

:func:`blend_membrane_layout` replaces ``weight`` of the fill's Gaussian low-pass (``sigma``) inside the hole by
the membrane's, and keeps the fill's detail, what the low-pass leaves out, as it is. Parts of the hole that no
square of side 2 x ``sigma`` fits in anywhere (lines, brush strokes, small flakes) have no layout at that scale to
replace: they keep their fill, although the membrane is solved with them unknown. Since the fill and the
membrane agree outside the hole, the low-pass of their difference is all that is needed, and it is smooth, so it
is computed at a ``scale`` times smaller size and upsampled bilinearly. The border stays where it is at that size:
a reduced pixel holding any undamaged pixel is known to the membrane, at the mean of its undamaged pixels, and one
holding any hole pixel takes part in the difference, at the mean of all its pixels. (Counting every reduced pixel
that holds a hole pixel as unknown moves the border outwards by up to ``scale`` - 1 pixels, and on training
paintings that lost about half of the stage's gain at a quarter of the size.) Only the holes' bounding box, grown
by the blur's reach, is read.

:func:`membrane_image` gives the same membrane, upsampled, as a picture of the holes: an input for a network that
must see each hole's whole border from deep inside it (the exemplar refiner's ``layout_input``).

Self-contained (numpy and torch): this file ships with exported checkpoints.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .masked_fill import damage_window, harmonic_fill, split_thin_damage


def gaussian_blur(x: torch.Tensor, sigma: float, *, border: str = "zeros") -> torch.Tensor:
    """Separable Gaussian blur, the kernel truncated at 3 sigma.

    Args:
        x: (b, c, h, w).
        sigma: standard deviation in pixels; at most 0 returns ``x``.
        border: ``"zeros"`` (nothing beyond the border) or ``"reflect"`` (mirrored; the kernel then reaches at
            most to the border).

    Returns:
        (b, c, h, w).
    """
    if border not in ("zeros", "reflect"):
        raise ValueError(f"border: expected 'zeros' or 'reflect', got {border!r}")
    if sigma <= 0:
        return x
    b, c, h, w = x.shape
    radius = max(1, math.ceil(3 * sigma))
    if border == "reflect":
        radius = max(1, min(radius, h - 1, w - 1))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()  # (2r + 1,)
    if border == "reflect":
        flat = x.reshape(b * c, 1, h, w)
        flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))  # along w
        flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1))  # along h
        return flat.reshape(b, c, h, w)
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, radius), groups=c)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(radius, 0), groups=c)


def _window(hole: np.ndarray, margin: int, scale: int) -> tuple[slice, slice]:
    """The holes' bounding box grown by ``margin`` (:func:`~.masked_fill.damage_window`), its start moved down to the
    ``scale`` grid."""
    rows, cols = damage_window(hole, margin)
    return slice(rows.start - rows.start % scale, rows.stop), slice(cols.start - cols.start % scale, cols.stop)


def reduced_membrane(
    x: torch.Tensor, m: torch.Tensor, *, scale: int, tolerance: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The membrane through the holes' border and the image itself, both ``scale`` times smaller, with the border in
    place: a reduced pixel holding any undamaged pixel is known, at the mean of its undamaged pixels.

    Args:
        x: (b, 3, h, w) float image, ``h`` and ``w`` multiples of ``scale``; its hole pixels are only averaged into
            the second output.
        m: (b, 1, h, w), 1 = hole.
        scale: the reduction factor.
        tolerance: the conjugate gradients' stopping share of the starting residual.

    Returns:
        ((b, 3, h / scale, w / scale) membrane, (b, 3, h / scale, w / scale) mean of every pixel).
    """
    small_x = F.avg_pool2d(x, scale)  # the fill's colours
    known_share = F.avg_pool2d(1 - m, scale)  # (b, 1, h / scale, w / scale)
    border = F.avg_pool2d(x * (1 - m), scale) / known_share.clamp_min(1e-8)  # the undamaged pixels' colours
    unknown = (known_share <= 0).float()  # nothing undamaged in the reduced pixel (its value is not read)
    return harmonic_fill(border, unknown, tolerance=tolerance), small_x


def membrane_shift(
    x: torch.Tensor, m: torch.Tensor, membrane: torch.Tensor, *, sigma: float, scale: int
) -> torch.Tensor:
    """The Gaussian low-pass of the membrane minus ``x``, over the reduced pixels that hold any hole pixel, back at
    full size: what :func:`blend_membrane_layout` adds, times its weight, where the holes are wide. Differentiable
    in ``x``.

    Args:
        x: (b, 3, h, w) the filled image, ``h`` and ``w`` multiples of ``scale``.
        m: (b, 1, h, w), 1 = hole.
        membrane: (b, 3, h / scale, w / scale), :func:`reduced_membrane`'s first output for ``x`` and ``m``.
        sigma: Gaussian scale in full-size pixels.
        scale: the reduction factor of ``membrane``.

    Returns:
        (b, 3, h, w).
    """
    small_x = F.avg_pool2d(x, scale)  # the fill's colours
    touched = F.max_pool2d(m, scale)  # any hole pixel in the reduced pixel
    low = gaussian_blur((membrane - small_x) * touched, sigma / scale)  # low-pass of (membrane fill - fill)
    return F.interpolate(low, scale_factor=scale, mode="bilinear", align_corners=False)


def wide_holes(hole: np.ndarray, sigma: float) -> np.ndarray:
    """The parts of ``hole`` (H, W) bool with a layout at ``sigma``: those a 2 x ``sigma`` square fits in somewhere
    (:func:`~.masked_fill.split_thin_damage`); (H, W) bool."""
    return hole & ~split_thin_damage(hole, round(2 * sigma))


@torch.no_grad()
def membrane_image(
    image: torch.Tensor, hole: torch.Tensor, *, scale: int = 4, tolerance: float = 1e-3
) -> torch.Tensor:
    """``image`` with its holes filled by the membrane through their border, solved ``scale`` times smaller and
    upsampled bilinearly: a smooth continuation of each hole's surroundings, the exemplar refiner's layout input.

    Args:
        image: (b, 3, H, W) in [0, 1]; its hole pixels are not read.
        hole: (b, 1, H, W), 1 = hole.
        scale: reduction factor of the solve.
        tolerance: the conjugate gradients' stopping share of the starting residual.

    Returns:
        (b, 3, H, W) float32: ``image`` outside the holes, the membrane inside (mid-grey in an image with no
        undamaged pixel at all).
    """
    h, w = image.shape[-2:]
    pad = (0, -w % scale, 0, -h % scale)
    with torch.autocast(image.device.type, enabled=False):  # conjugate gradients need float32
        x = F.pad(image.float(), pad, mode="replicate")  # (b, 3, H', W')
        m = F.pad((hole > 0.5).float(), pad, mode="replicate")
        membrane, _ = reduced_membrane(x, m, scale=scale, tolerance=tolerance)  # (b, 3, H' / scale, W' / scale)
        blind = (m.flatten(1).min(dim=1).values > 0)[:, None, None, None]  # (b, 1, 1, 1) nothing undamaged
        membrane = torch.where(blind, torch.full_like(membrane, 0.5), membrane)
        up = F.interpolate(membrane, scale_factor=scale, mode="bilinear", align_corners=False)[..., :h, :w]
        m = m[..., :h, :w]
        return x[..., :h, :w] * (1 - m) + up * m


@torch.no_grad()
def blend_membrane_layout(
    image: np.ndarray, hole: np.ndarray, *, sigma: float, weight: float, scale: int = 4, tolerance: float = 1e-3
) -> np.ndarray:
    """``image`` with ``weight`` of its low-pass inside ``hole`` replaced by the membrane through the hole's border.

    Args:
        image: (H, W, 3) uint8, a painting whose ``hole`` pixels hold a fill.
        hole: (H, W) bool, the filled pixels; the only ones that change.
        sigma: Gaussian scale in pixels of the low-pass (what counts as layout rather than detail).
        weight: share of the fill's low-pass replaced, in [0, 1] (0: ``image`` unchanged).
        scale: the low-pass and the membrane are computed this many times smaller (1: at full size).
        tolerance: the membrane's conjugate gradients stop when the residual falls below this share of its start
            (the low-pass needs no finer solution: on 768 px paintings 1e-3 and 1e-4 differ by under a hundredth
            of a grey level on average, and by 1 at most).

    Returns:
        (H, W, 3) uint8, equal to ``image`` outside the parts of ``hole`` that a 2 x ``sigma`` square fits in.
    """
    out = image.copy()
    if weight <= 0 or sigma <= 0 or not hole.any():
        return out
    wide = wide_holes(hole, sigma)  # (H, W) the parts with a layout at this scale
    if not wide.any():
        return out
    window = _window(hole, math.ceil(3 * sigma) + 2 * scale, scale)
    x = torch.from_numpy(np.ascontiguousarray(image[window][..., :3])).permute(2, 0, 1)[None]  # (1, 3, h, w)
    x = x.float().contiguous() / 255  # a channels-last view would make every later step many times slower
    m = torch.from_numpy(np.ascontiguousarray(hole[window]))[None, None].float()  # (1, 1, h, w)
    h, w = m.shape[-2:]
    pad = (0, -w % scale, 0, -h % scale)
    x, m = F.pad(x, pad, mode="replicate"), F.pad(m, pad)  # the padding is known paint
    membrane, _ = reduced_membrane(x, m, scale=scale, tolerance=tolerance)
    low = membrane_shift(x, m, membrane, sigma=sigma, scale=scale)[..., :h, :w]  # (1, 3, h, w)
    blended = (x[..., :h, :w] + weight * low).clamp(0, 1)[0].permute(1, 2, 0).numpy()  # (h, w, 3)
    region = wide[window]
    out[window][region] = np.round(blended[region] * 255).astype(np.uint8)
    return out

"""Craquelure: crack networks, synthetic (warped anisotropic Voronoi) or cut from real crack maps.

Aged oil paint cracks into a network of polygonal islands, often elongated along one direction and denser in
some areas than others. The synthetic generator builds such a network from a jittered, anisotropically warped
Voronoi tessellation at two scales, drops part of the edges and varies the width. The real crack maps in
``../shared/data/craquelure/masks`` serve both as an alternative source and as the realism reference
(:func:`crack_statistics`).
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial import cKDTree

from .types import low_frequency_noise, stain


def _voronoi_edges(
    shape: tuple[int, int], cell: float, aniso: float, angle: float, drop: float, rng: np.random.Generator
) -> np.ndarray:
    """(h, w) bool one-pixel boundaries of a warped anisotropic Voronoi tessellation with ``drop`` edges removed."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)  # (h, w) each
    # Wobbly crack paths: a coarse and a fine displacement field.
    amp_coarse, amp_fine = 0.35 * cell, 0.08 * cell
    dx = (low_frequency_noise(shape, max(h, w) / (3 * cell), rng) - 0.5) * 2 * amp_coarse
    dy = (low_frequency_noise(shape, max(h, w) / (3 * cell), rng) - 0.5) * 2 * amp_coarse
    dx += (low_frequency_noise(shape, max(h, w) / (0.7 * cell), rng) - 0.5) * 2 * amp_fine
    dy += (low_frequency_noise(shape, max(h, w) / (0.7 * cell), rng) - 0.5) * 2 * amp_fine
    x, y = xx + dx, yy + dy
    # Anisotropy: compress coordinates along `angle`, so cells stretch along it.
    c, s = np.cos(angle), np.sin(angle)
    u = (c * x + s * y) / aniso
    v = -s * x + c * y
    pts = np.stack([u.ravel(), v.ravel()], axis=1)  # (h*w, 2)
    lo, hi = pts.min(axis=0) - cell, pts.max(axis=0) + cell
    # Jittered grid seeds in the warped space.
    gu = np.arange(lo[0], hi[0], cell)
    gv = np.arange(lo[1], hi[1], cell)
    su, sv = np.meshgrid(gu, gv)
    seeds = np.stack([su.ravel(), sv.ravel()], axis=1)
    seeds = seeds + rng.uniform(-0.45, 0.45, seeds.shape) * cell  # (n, 2)
    _, labels = cKDTree(seeds).query(pts, k=1, workers=-1)
    labels = labels.reshape(h, w)  # (h, w)
    n = len(seeds)
    keep_edge = rng.random(n * 4 + 7) >= drop  # hashed per label pair

    edges = np.zeros((h, w), bool)
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        diff = a != b
        lo_l, hi_l = np.minimum(a, b), np.maximum(a, b)
        pair_hash = (lo_l * 2654435761 + hi_l * 40503) % len(keep_edge)
        on = diff & keep_edge[pair_hash]
        if a.shape[1] == w - 1:
            edges[:, :-1] |= on
        else:
            edges[:-1, :] |= on
    return edges


def synthetic_craquelure(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A two-level crack network with varying width and local density.

    Args:
        shape: (h, w) of the mask.
        rng: random generator.

    Returns:
        (h, w) bool, True = crack.
    """
    # Cell sizes are absolute pixels, calibrated on the real 256 px crack maps (see tests/damage/test_craquelure.py).
    cell = rng.uniform(20, 70)
    aniso = rng.uniform(1.0, 2.2)
    angle = rng.uniform(0, np.pi)
    primary = _voronoi_edges(shape, cell, aniso, angle, drop=rng.uniform(0.0, 0.25), rng=rng)
    secondary = _voronoi_edges(shape, cell / rng.uniform(2.0, 3.0), aniso, angle, drop=rng.uniform(0.45, 0.8), rng=rng)
    cracks = primary | secondary
    # Width 1-3 px: wider where a smooth field is high (primary cracks open more).
    width_field = low_frequency_noise(shape, 4, rng)
    wide = cv2.dilate(primary.astype(np.uint8), np.ones((2, 2), np.uint8)).astype(bool) & (width_field > 0.45)
    wider = cv2.dilate(primary.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & (width_field > 0.8)
    cracks |= wide | wider
    # Cracks concentrate in areas (thick paint, varnish stress): fade the network out elsewhere.
    density = low_frequency_noise(shape, 2.5, rng)
    cracks &= density > rng.uniform(0.0, 0.4)
    return cracks


@functools.lru_cache(maxsize=4)
def _real_mask_files(root: str) -> tuple[str, ...]:
    files = sorted(str(p) for p in Path(root).glob("*/*.png"))
    if not files:
        raise ValueError(f"craquelure_dir: no crack maps (*/*.png) under {root}")
    return tuple(files)


def read_crack_map(path: str | Path) -> np.ndarray:
    """Read a real crack map as (h, w) bool, True = crack.

    The shared data's README says white = crack, but its files are drawn dark-on-white: white covers 50-97 % of
    every map and the dark lines follow the cracks of the paired close-ups. Cracks are the minority class of a
    crack map, so a map whose white part is the majority is read inverted.
    """
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise ValueError(f"craquelure_dir: cannot read crack map {path}")
    white = gray >= 128
    return ~white if white.mean() > 0.5 else white


def real_craquelure(shape: tuple[int, int], rng: np.random.Generator, masks_dir: str | Path) -> np.ndarray:
    """Tile randomly flipped, rotated and rescaled real crack maps over ``shape``.

    Args:
        shape: (h, w) of the mask.
        rng: random generator.
        masks_dir: folder with ``<School>/*.png`` crack maps (see :func:`read_crack_map` for their polarity).

    Returns:
        (h, w) bool, True = crack.
    """
    files = _real_mask_files(str(masks_dir))
    h, w = shape
    scale = rng.uniform(0.75, 1.5)
    out = np.zeros((h, w), bool)
    y = 0
    while y < h:
        x = 0
        tile_h = 0
        while x < w:
            tile = read_crack_map(files[rng.integers(len(files))]).astype(np.uint8) * 255
            tile = np.rot90(tile, int(rng.integers(4)))
            if rng.random() < 0.5:
                tile = tile[:, ::-1]
            th, tw = int(round(tile.shape[0] * scale)), int(round(tile.shape[1] * scale))
            tile = cv2.resize(np.ascontiguousarray(tile), (tw, th), interpolation=cv2.INTER_LINEAR) >= 128
            ph, pw = min(th, h - y), min(tw, w - x)
            out[y : y + ph, x : x + pw] = tile[:ph, :pw]
            x += tw
            tile_h = th
        y += tile_h
    return out


def crack_statistics(mask: np.ndarray) -> dict[str, float]:
    """Realism statistics of a crack map, comparable between synthetic and real cracks.

    Args:
        mask: (h, w) bool crack map.

    Returns:
        ``density`` (crack pixel share), ``length_per_kpx`` (skeleton length per 1000 px), ``mean_width`` (px),
        ``junctions_per_kpx`` and ``islands_per_kpx`` (paint islands enclosed by cracks, per 1000 px).
    """
    from skimage.morphology import skeletonize

    mask = mask.astype(bool)
    area = mask.size
    skel = skeletonize(mask)
    length = float(skel.sum())
    neighbours = cv2.filter2D(skel.astype(np.uint8), -1, np.ones((3, 3), np.float32)) - skel.astype(np.uint8)
    junctions = float((skel & (neighbours >= 3)).sum())
    n_islands, _ = cv2.connectedComponents((~mask).astype(np.uint8), connectivity=4)
    return {
        "density": float(mask.mean()),
        "length_per_kpx": 1000.0 * length / area,
        "mean_width": float(mask.sum()) / max(length, 1.0),
        "junctions_per_kpx": 1000.0 * junctions / area,
        "islands_per_kpx": 1000.0 * (n_islands - 1) / area,
    }


def paint_cracks(image: np.ndarray, cracks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Render cracks onto ``image``: mostly dark, dirt-filled lines, sometimes light exposed ground.

    Args:
        image: (h, w, 3) float32 in [0, 1].
        cracks: (h, w) bool.
        rng: random generator.

    Returns:
        (h, w, 3) float32, changed only where ``cracks``.
    """
    if rng.random() < 0.8:
        colour = rng.uniform(0.06, 0.22) * np.array([1.0, 0.85, 0.65], np.float32)
    else:
        colour = rng.uniform(0.75, 0.9) * np.array([1.0, 0.95, 0.82], np.float32)
    return stain(image, cracks, colour, rng.uniform(0.65, 0.95), 0.04, rng)

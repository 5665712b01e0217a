"""Where the restoration model runs: overlapping tiles around the damage, and how their outputs are blended back.

The model works at its own resolution on tiles of ``tile`` x ``tile`` pixels. The image is cut into a regular grid
of ``core`` x ``core`` cells; every cell that contains damage gets a tile centred on it, with a context margin of
``(tile - core) / 2`` pixels on each side, so neighbouring tiles overlap by twice the margin. Tile outputs are
blended with weights that fall off towards each tile's border, and only damaged pixels are ever written: every
other pixel of the painting stays bit-identical.

Self-contained (numpy only): this file ships with exported checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tile:
    """A tile in image coordinates (may extend past the image; the caller pads).

    Attributes:
        y0, x0: top-left corner.
        size: side length.
    """

    y0: int
    x0: int
    size: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y0 + self.size), slice(self.x0, self.x0 + self.size)


def plan_tiles(damage: np.ndarray, tile: int, core: int) -> list[Tile]:
    """Tiles covering every damaged pixel with context.

    Args:
        damage: (H, W) bool, pixels to restore (mask or fade > 0).
        tile: tile side (the model's working size).
        core: grid cell side; ``tile - core`` is twice the context margin. Must be in (0, tile].

    Returns:
        Tiles, in row-major order, clamped inside the image when the image is at least one tile large.
    """
    if not 0 < core <= tile:
        raise ValueError(f"core: expected 0 < core <= tile ({tile}), got {core}")
    h, w = damage.shape
    margin = (tile - core) // 2
    tiles = []
    for cy in range(0, h, core):
        for cx in range(0, w, core):
            if not damage[cy : cy + core, cx : cx + core].any():
                continue
            y0 = min(max(cy - margin, 0), max(h - tile, 0))
            x0 = min(max(cx - margin, 0), max(w - tile, 0))
            tiles.append(Tile(y0, x0, tile))
    return sorted(set(tiles), key=lambda t: (t.y0, t.x0))


def feather_window(size: int, ramp: int) -> np.ndarray:
    """(size, size) float32 weights: 1 in the middle, falling linearly to a small positive value at the border."""
    d = np.minimum(np.arange(size), np.arange(size)[::-1]).astype(np.float32)  # distance to the nearest edge
    r = np.clip((d + 1) / max(ramp, 1), 0.02, 1.0)
    return np.minimum(r[:, None], r[None, :])


class TileBlender:
    """Accumulates tile outputs and blends them, writing only where ``region`` is True.

    The sums are kept in ``chunk`` x ``chunk`` pieces allocated where tiles land, so memory follows the damage, not
    the painting: one loss on a 60 MP scan needs a few chunks, not two full-size float64 planes.

    Args:
        image: (H, W, C) the original painting (any dtype); untouched pixels are copied from it.
        region: (H, W) bool, the pixels a restoration may change.
        ramp: feathering width in pixels.
        whole_tiles: write every pixel some tile covered, not only ``region`` (an ablation: no pixel compositing).
        chunk: side of the accumulation pieces.
    """

    def __init__(
        self, image: np.ndarray, region: np.ndarray, ramp: int, *, whole_tiles: bool = False, chunk: int = 512
    ) -> None:
        self.image, self.region, self.ramp, self.whole_tiles = image, region, ramp, whole_tiles
        self.chunk = chunk
        self._chunks: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  # (cy, cx) -> (acc, weight)

    def _piece(self, cy: int, cx: int) -> tuple[np.ndarray, np.ndarray]:
        if (cy, cx) not in self._chunks:
            h, w = self.image.shape[:2]
            ch, cw = min(self.chunk, h - cy * self.chunk), min(self.chunk, w - cx * self.chunk)
            channels = self.image.shape[2]
            self._chunks[cy, cx] = (np.zeros((ch, cw, channels), np.float64), np.zeros((ch, cw), np.float64))
        return self._chunks[cy, cx]

    def add(self, tile: Tile, output: np.ndarray) -> None:
        """Add one tile's output ((size, size, C) float, the image's value range); parts outside the image drop."""
        h, w = self.image.shape[:2]
        win = feather_window(tile.size, self.ramp)
        y1, x1 = min(tile.y0 + tile.size, h), min(tile.x0 + tile.size, w)
        c = self.chunk
        for cy in range(tile.y0 // c, (y1 - 1) // c + 1):
            for cx in range(tile.x0 // c, (x1 - 1) // c + 1):
                acc, weight = self._piece(cy, cx)
                ya, yb = max(tile.y0, cy * c), min(y1, cy * c + acc.shape[0])  # image rows of the overlap
                xa, xb = max(tile.x0, cx * c), min(x1, cx * c + acc.shape[1])
                ty, tx = slice(ya - tile.y0, yb - tile.y0), slice(xa - tile.x0, xb - tile.x0)  # in the tile
                py, px = slice(ya - cy * c, yb - cy * c), slice(xa - cx * c, xb - cx * c)  # in the chunk
                acc[py, px] += output[ty, tx] * win[ty, tx, None]
                weight[py, px] += win[ty, tx]

    def result(self) -> np.ndarray:
        """The composite: blended outputs inside ``region``, the original everywhere else (bit-identical)."""
        c = self.chunk
        h, w = self.image.shape[:2]
        for cy in range((h + c - 1) // c):
            for cx in range((w + c - 1) // c):
                if (cy, cx) not in self._chunks and self.region[cy * c : (cy + 1) * c, cx * c : (cx + 1) * c].any():
                    raise RuntimeError("TileBlender: some damaged pixels are not covered by any tile")
        out = self.image.copy()
        for (cy, cx), (acc, weight) in self._chunks.items():
            ys, xs = slice(cy * c, cy * c + acc.shape[0]), slice(cx * c, cx * c + acc.shape[1])
            region = weight > 0 if self.whole_tiles else self.region[ys, xs]
            covered = region & (weight > 0)
            if (region & ~covered).any():
                raise RuntimeError("TileBlender: some damaged pixels are not covered by any tile")
            blended = acc[covered] / weight[covered][:, None]
            view = out[ys, xs]
            if np.issubdtype(out.dtype, np.integer):
                info = np.iinfo(out.dtype)
                blended = np.clip(np.round(blended), info.min, info.max)
            view[covered] = blended.astype(out.dtype)
        return out

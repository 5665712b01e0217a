"""The 'nothing else changed' check: pixels outside the mask and fade map that differ from the input."""

from __future__ import annotations

import torch


def untouched_changed(
    output: torch.Tensor, damaged: torch.Tensor, mask: torch.Tensor, fade: torch.Tensor | None = None
) -> torch.Tensor:
    """Number of pixels outside ``mask`` and ``fade > 0`` whose value differs from the input in any channel.

    Compare integer images (uint8/uint16) or exactly representable floats: any change counts. It must be 0 for
    anything ArtRestore ships.

    Args:
        output: (b, c, h, w) restoration.
        damaged: (b, c, h, w) the input given to the restorer.
        mask: (b, [1,] h, w) binary damage.
        fade: (b, [1,] h, w) fading strength, or None.

    Returns:
        (b,) int64 counts.
    """
    if output.shape != damaged.shape:
        raise ValueError(f"output, damaged: shapes differ: {tuple(output.shape)} vs {tuple(damaged.shape)}")
    allowed = (mask if mask.ndim == 3 else mask[:, 0]) > 0
    if fade is not None:
        allowed = allowed | ((fade if fade.ndim == 3 else fade[:, 0]) > 0)
    changed = (output != damaged).any(1)  # (b, h, w)
    return (changed & ~allowed).sum((1, 2))

"""Render a grid of every damage kind on one painting (for the README and for eyeballing the simulator)."""

from __future__ import annotations

import cv2
import numpy as np

from .simulator import DamageSimulator
from .types import KINDS, DamageType

# Display colours of the damage-type map.
TYPE_COLOURS = {
    DamageType.NONE: (0, 0, 0),
    DamageType.CRACK: (230, 60, 60),
    DamageType.SCRATCH: (60, 200, 240),
    DamageType.LOSS: (250, 220, 60),
    DamageType.FADE: (150, 90, 220),
}


def type_map_to_rgb(types: np.ndarray, fade: np.ndarray | None = None) -> np.ndarray:
    """(h, w) uint8 type codes -> (h, w, 3) uint8 colour picture; fading shown with its strength."""
    out = np.zeros((*types.shape, 3), np.float32)
    for code, colour in TYPE_COLOURS.items():
        out[types == code] = colour
    if fade is not None:
        faded = types == DamageType.FADE
        out[faded] *= (0.25 + 0.75 * fade[faded])[:, None]
    return out.astype(np.uint8)


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    tile = tile.copy()
    cv2.rectangle(tile, (0, 0), (tile.shape[1], 22), (0, 0, 0), thickness=-1)
    cv2.putText(tile, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def render_damage_grid(image: np.ndarray, seed: int = 0, simulator: DamageSimulator | None = None) -> np.ndarray:
    """Two rows: the damaged painting for each kind, and its colour-coded damage-type map.

    Args:
        image: (h, w, 3) uint8 clean painting.
        seed: damage seed.
        simulator: the simulator to use (default settings when None).

    Returns:
        (2h, (n+1)w, 3) uint8 grid; the first column shows the clean painting and the colour legend.
    """
    simulator = simulator or DamageSimulator()
    top, bottom = [_label(image, "clean")], []
    legend = np.full_like(image, 255)
    for i, (code, colour) in enumerate(TYPE_COLOURS.items()):
        if code == DamageType.NONE:
            continue
        y = 30 + 28 * i
        cv2.rectangle(legend, (10, y - 14), (30, y + 4), colour, thickness=-1)
        cv2.putText(legend, code.name.lower(), (40, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    bottom.append(legend)
    for kind in KINDS:
        sample = simulator.simulate(image, kind, seed)
        top.append(_label(sample.image, kind))
        bottom.append(type_map_to_rgb(sample.types, sample.fade))
    return np.concatenate([np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)], axis=0)

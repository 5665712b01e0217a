"""The damage grid figure and its command."""

from __future__ import annotations

import cv2
import numpy as np

from artrestore.cli import main
from artrestore.damage import KINDS, render_damage_grid, type_map_to_rgb

from ..conftest import synthetic_painting


def test_grid_layout():
    img = synthetic_painting(64, 64)
    grid = render_damage_grid(img, seed=1)
    assert grid.shape == (128, 64 * (len(KINDS) + 1), 3) and grid.dtype == np.uint8
    assert np.array_equal(grid[30:64, :64], img[30:64]), "first tile is the clean painting"


def test_type_colours_distinct():
    types = np.arange(5, dtype=np.uint8).reshape(1, 5)
    rgb = type_map_to_rgb(types)
    assert len({tuple(c) for c in rgb[0]}) == 5


def test_damage_grid_command(tmp_path):
    src = tmp_path / "p.png"
    cv2.imwrite(str(src), synthetic_painting(90, 120))
    out = tmp_path / "grid.png"
    assert main(["damage-grid", "--image", str(src), "--out", str(out), "--size", "64"]) == 0
    assert cv2.imread(str(out)).shape == (128, 64 * (len(KINDS) + 1), 3)

"""Shared fixtures. Tests that need ../shared/data skip with a reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from artrestore.paths import REPO_ROOT, data_root

ROOT = REPO_ROOT
SHARED = data_root()

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder, or skip."""
    if not (SHARED / "paintings").is_dir():
        pytest.skip(f"shared data not found at {SHARED} (set ARTRESTORE_DATA)")
    return SHARED


def synthetic_painting(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """A smooth, textured (h, w, 3) uint8 picture, a stand-in painting for fast tests."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(6 * xx + 1), np.cos(5 * yy), np.sin(4 * (xx + yy))], axis=2) * 0.35 + 0.5
    img = base + rng.normal(0, 0.03, base.shape)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


@pytest.fixture
def painting() -> np.ndarray:
    return synthetic_painting()


@pytest.fixture
def painting_folder(tmp_path: Path) -> Path:
    """A tiny folder-of-artists collection: 3 artists x 4 paintings of 80x100 px."""
    import cv2

    root = tmp_path / "paintings"
    for a, artist in enumerate(["Ann_Painter", "Bob_Brush", "Cy_Canvas"]):
        (root / artist).mkdir(parents=True)
        for i in range(4):
            img = synthetic_painting(80, 100, seed=10 * a + i)
            cv2.imwrite(str(root / artist / f"{artist[:3].lower()}_{i}.jpg"), img[:, :, ::-1])
    return root


@pytest.fixture
def style_folder(tmp_path: Path) -> Path:
    """A tiny style set: 2 styles x 3 images of 64x64 px."""
    import cv2

    root = tmp_path / "styles"
    for s, style in enumerate(["Baroque", "Impressionism"]):
        (root / style).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(root / style / f"{i}.jpg"), synthetic_painting(64, 64, seed=100 + 10 * s + i))
    return root

"""The letterboxed style set."""

from __future__ import annotations

import numpy as np
import pytest

from artrestore.data import letterbox_box, load_style_image, remove_letterbox, scan_style_set

from ..conftest import synthetic_painting


def test_removes_black_bars_with_jpeg_noise():
    rng = np.random.default_rng(0)
    content = synthetic_painting(224, 160)
    img = np.zeros((224, 224, 3), np.uint8)
    img[:, 32:192] = content
    img[:, :32] = rng.integers(0, 6, (224, 32, 3))  # JPEG-ish noise in the bars
    assert letterbox_box(img) == (32, 0, 192, 224)
    assert np.array_equal(remove_letterbox(img), content)


def test_dark_painting_is_not_cropped_away():
    dark = np.full((224, 224, 3), 4, np.uint8)
    assert letterbox_box(dark) == (0, 0, 224, 224)


@pytest.mark.data
def test_style_set_images_lose_their_borders(shared_data):
    records = scan_style_set(shared_data / "wikiart224")
    assert len(records) == 8000 and {r.style for r in records} == {
        "Baroque",
        "Impressionism",
        "Post_Impressionism",
        "Romanticism",
    }
    for rec in records[::997]:
        img = load_style_image(rec)
        edges = [img[0].mean(), img[-1].mean(), img[:, 0].mean(), img[:, -1].mean()]
        assert min(img.shape[:2]) >= 64 and min(edges) > 3 or img.mean() < 20

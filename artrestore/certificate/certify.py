"""Certify an image file: load the model's style certifier and the region mask, return the certificate."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..hub.style_certifier import StyleCertificate, StyleCertifier
from ..io import load_image, load_mask


def load_certifier(model: str | Path) -> StyleCertifier:
    """The ``style_certifier`` component of a model folder (or a certifier folder itself).

    Args:
        model: an exported model folder (with ``style_certifier/``) or a :class:`StyleCertifier` folder.
    """
    folder = Path(model)
    if (folder / "style_certifier").is_dir():
        folder = folder / "style_certifier"
    if not (folder / "config.json").is_file():
        raise ValueError(f"model: no style certifier in {model} (expected <model>/style_certifier/config.json)")
    return StyleCertifier.from_pretrained(str(folder)).eval()


def certify_file(image: str | Path, mask: str | Path, artist: str | None, model: str | Path) -> StyleCertificate:
    """The style certificate of the masked (restored) region of an image file.

    Args:
        image: the (restored) painting.
        mask: L image of the same size, white (>= 128) = the region to certify.
        artist: the artist to certify against, or None (the nearest artist of the undamaged part).
        model: see :func:`load_certifier`.
    """
    certifier = load_certifier(model)
    art = load_image(image)
    rgb = art.to_uint8()  # (H, W, 3)
    region = load_mask(mask, size=art.size)  # (H, W) bool
    if not region.any():
        raise ValueError("mask: no pixel >= 128, so there is no region to certify")
    return certifier.certify(np.ascontiguousarray(rgb[..., :3]), region, artist)

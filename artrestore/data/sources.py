"""Which images a training stage reads: the style set, or the training split of the artist-labelled paintings."""

from __future__ import annotations

from pathlib import Path

from .paintings import PaintingCollection
from .split import split_collection
from .wikiart import StyleRecord, scan_style_set

SOURCES = ("style", "paintings")


def training_sources(
    source: str, paintings: str | Path, style_set: str | Path
) -> PaintingCollection | list[StyleRecord]:
    """The training images of a stage (validation paintings are never included).

    Args:
        source: ``"style"`` (the 224 px style set) or ``"paintings"`` (the training split).
        paintings: folder of ``<Artist>/*.jpg`` paintings.
        style_set: folder of ``<Style>/*.jpg`` style-set images.

    Returns:
        The list of style records, or the training :class:`PaintingCollection`.
    """
    if source == "style":
        return scan_style_set(style_set)
    if source == "paintings":
        return split_collection(PaintingCollection.scan(paintings), "train")
    raise ValueError(f"source: expected one of {SOURCES}, got {source!r}")

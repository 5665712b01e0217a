"""Deterministic train/validation split by painting (never by crop), stratified by artist."""

from __future__ import annotations

import hashlib
import math

from .paintings import PaintingCollection


def _unit_hash(text: str, salt: str) -> float:
    digest = hashlib.sha1(f"{salt}|{text}".encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2.0**64


def split_ids(
    collection: PaintingCollection, val_fraction: float = 0.15, salt: str = "artrestore-v1"
) -> dict[str, set[str]]:
    """Split painting ids into ``train`` and ``val``.

    Within each artist, paintings are ranked by a salted hash of their id and the first ``round(n * f)`` go to
    validation, so every well-represented artist has validation works. Artists too small for that (``n * f < 1``)
    send each painting to validation with probability ``f``, again by hash. The result depends only on the ids.
    A collection that is one split already (``collection.split == "train"``, a training data pack) is not split
    again: all of it is ``train``.

    Args:
        collection: the paintings.
        val_fraction: share of paintings held out, in (0, 1).
        salt: changing it gives an independent split.

    Returns:
        ``{"train": ids, "val": ids}``, disjoint and covering the collection.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction: expected a number in (0, 1), got {val_fraction}")
    if collection.split == "train":
        return {"train": {r.painting_id for r in collection.records}, "val": set()}
    by_artist: dict[str, list[str]] = {}
    for r in collection.records:
        by_artist.setdefault(r.artist, []).append(r.painting_id)
    train: set[str] = set()
    val: set[str] = set()
    for ids in by_artist.values():
        ranked = sorted(ids, key=lambda i: _unit_hash(i, salt))
        n_val = int(math.floor(len(ids) * val_fraction + 0.5))
        if n_val == 0:
            chosen = {i for i in ids if _unit_hash(i, salt + "/small") < val_fraction}
        else:
            chosen = set(ranked[:n_val])
        val |= chosen
        train |= set(ids) - chosen
    return {"train": train, "val": val}


def split_collection(
    collection: PaintingCollection, split: str, val_fraction: float = 0.15, salt: str = "artrestore-v1"
) -> PaintingCollection:
    """The ``"train"``, ``"val"`` or ``"all"`` part of ``collection`` (see :func:`split_ids`).

    Raises:
        ValueError: ``split`` is none of those, or is ``"val"`` of a training data pack (it holds no validation
            paintings).
    """
    if split == "all":
        return collection
    if split not in ("train", "val"):
        raise ValueError(f"split: expected 'train', 'val' or 'all', got {split!r}")
    if split == "val" and collection.split == "train":
        raise ValueError(f"data: {collection.root} is a training data pack; it holds no validation paintings")
    return collection.subset(split_ids(collection, val_fraction, salt)[split])

"""A folder-of-artists painting collection: ``<root>/<Artist_Name>/*.jpg``, optional ``metadata.csv``."""

from __future__ import annotations

import csv
import dataclasses
import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp")
SPLIT_FILE = "split.json"  # in a root whose paintings all belong to one split (a training data pack)


def artist_key(name: str) -> str:
    """What tells artist names apart: letters and digits, case-folded (so "Claesz." and "Claesz" are one)."""
    return "".join(c for c in unicodedata.normalize("NFKD", name).casefold() if c.isalnum())


def artist_aliases(names: list[str]) -> dict[str, str]:
    """``{spelling: canonical}`` for names that differ only in case, punctuation or spaces; the canonical one is the
    most frequent spelling (on ties, the longest, then the first in sorted order)."""
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    groups: dict[str, list[str]] = {}
    for n in sorted(counts):
        groups.setdefault(artist_key(n), []).append(n)
    aliases = {}
    for spellings in groups.values():
        canonical = max(spellings, key=lambda n: (counts[n], len(n)))
        aliases.update({n: canonical for n in spellings if n != canonical})
    return aliases


@dataclass(frozen=True)
class PaintingRecord:
    """One painting of the collection.

    Attributes:
        path: the image file.
        artist: display name (from ``metadata.csv`` when present, else the folder name with spaces).
        painting_id: stable id, ``<folder>/<file stem>``; splits and seeds are derived from it.
        title: title from the metadata, may be empty.
    """

    path: Path
    artist: str
    painting_id: str
    title: str = ""


@dataclass
class PaintingCollection:
    """All paintings under a root folder, in a stable order.

    Args:
        root: folder whose subfolders are artists.
        records: filled by :meth:`scan`.
        split: the split every painting belongs to, when the root says so in ``split.json`` (a training data pack,
            ``"train"``); None for a collection to be split by :func:`~artrestore.data.split.split_ids`.
    """

    root: Path
    records: list[PaintingRecord] = field(default_factory=list)
    split: str | None = None

    @classmethod
    def scan(cls, root: str | Path) -> PaintingCollection:
        """Index ``root``. ``metadata.csv`` (columns ``file, artist[, title]``) is used when present, and so is
        ``split.json`` (``{"split": "train"}``, written by :func:`~artrestore.data.pack.build_data_pack`).

        Raises:
            ValueError: ``root`` is not a folder, holds no images in artist subfolders, or has a ``split.json``
                that does not name the train split.
        """
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"data: {root} is not a folder (expected <root>/<Artist_Name>/*.jpg)")
        meta: dict[str, dict[str, str]] = {}
        csv_path = root / "metadata.csv"
        if csv_path.exists():
            with open(csv_path, newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f):
                    # `file` may be relative to the root or to its parent (e.g. "paintings/Artist/x.jpg").
                    key = Path(row.get("file", "")).as_posix()
                    meta[key] = row
                    meta["/".join(Path(key).parts[-2:])] = row
        records = []
        for artist_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            for img in sorted(artist_dir.iterdir()):
                if img.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                rel = f"{artist_dir.name}/{img.name}"
                row = meta.get(rel, {})
                artist = " ".join((row.get("artist") or artist_dir.name.replace("_", " ")).split())
                records.append(PaintingRecord(img, artist, f"{artist_dir.name}/{img.stem}", row.get("title") or ""))
        if not records:
            raise ValueError(f"data: no images found in artist subfolders of {root}")
        aliases = artist_aliases([r.artist for r in records])
        records = [dataclasses.replace(r, artist=aliases.get(r.artist, r.artist)) for r in records]
        split = None
        if (root / SPLIT_FILE).exists():
            split = json.loads((root / SPLIT_FILE).read_text()).get("split")
            if split != "train":
                raise ValueError(f"data: {root / SPLIT_FILE} names the split {split!r}; only 'train' is known")
        return cls(root, records, split)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> PaintingRecord:
        return self.records[i]

    @property
    def artists(self) -> list[str]:
        """Sorted unique artist names."""
        return sorted({r.artist for r in self.records})

    def works_per_artist(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.records:
            counts[r.artist] = counts.get(r.artist, 0) + 1
        return counts

    def subset(self, ids: set[str]) -> PaintingCollection:
        """The paintings whose ``painting_id`` is in ``ids``."""
        return PaintingCollection(self.root, [r for r in self.records if r.painting_id in ids], self.split)

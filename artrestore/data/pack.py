"""A training data pack: the training split of the paintings and a sample of the style set, in one small folder.

A pack is what travels to another machine (a GPU, whose working tree is capped at 64 MiB) so that the training
commands run there unchanged, with ``--data <pack>/paintings --style-data <pack>/wikiart224``. Layout::

    <pack>/pack.json                              what was packed, from where, and how large it is
    <pack>/paintings/<Artist_dir>/<stem>.jpg      the train split only, longest side <= max_side, re-encoded
    <pack>/paintings/metadata.csv                 file, artist, title of every packed painting
    <pack>/paintings/split.json                   marks the folder as a training split (see below)
    <pack>/wikiart224/<Style>/<name>.jpg          up to N style-set images per style, copied byte for byte

Painting ids (``<Artist_dir>/<stem>``), artists and titles are the source collection's, so every seed and every
provenance derived from them is unchanged. ``split.json`` makes :func:`~artrestore.data.split.split_ids` put every
painting of the folder in ``train``: re-splitting a pack would hold some of its training paintings out, and the
validation paintings are not in it at all.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
from tqdm.auto import tqdm

from ..config import DataPackConfig
from .image_cache import load_training_image
from .paintings import SPLIT_FILE, PaintingCollection
from .split import split_collection
from .wikiart import scan_style_set

PACK_MANIFEST = "pack.json"
MIB = 2**20


def check_pack_settings(config: DataPackConfig) -> None:
    """Raise a ``ValueError`` naming the first setting of ``config`` out of range."""
    if config.max_side < 32:
        raise ValueError(f"max_side: expected at least 32 px, got {config.max_side}")
    if not 1 <= config.quality <= 100:
        raise ValueError(f"quality: expected a JPEG quality from 1 to 100, got {config.quality}")
    if config.style_per_class < 0:
        raise ValueError(f"style_per_class: expected 0 or more, got {config.style_per_class}")
    if not config.max_mib > 0:
        raise ValueError(f"max_mib: expected a positive size in MiB, got {config.max_mib}")


def check_pack_folder(out: str | Path) -> Path:
    """``out`` as a Path, if a pack may be written there: a new folder, or an empty one.

    Raises:
        ValueError: ``out`` is a file, or a folder that holds anything.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"out: {out} exists and is not an empty folder; a data pack is written to a new one")
    return out


def _style_sample(style_data: str | Path, per_class: int) -> list[tuple[str, Path]]:
    """``(style, path)`` of up to ``per_class`` images of each style, chosen by a hash of the file name (stable,
    and spread over the folder whatever its order)."""
    if per_class == 0:
        return []
    by_style: dict[str, list[Path]] = {}
    for record in scan_style_set(style_data):
        by_style.setdefault(record.style, []).append(record.path)

    def rank(path: Path) -> str:
        return hashlib.sha1(f"pack|{path.parent.name}/{path.name}".encode()).hexdigest()

    return [(style, p) for style, paths in by_style.items() for p in sorted(paths, key=rank)[:per_class]]


def _metadata_csv(rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["file", "artist", "title"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def build_data_pack(config: DataPackConfig, *, progress: bool = True) -> dict:
    """Write a training data pack (see the module docstring), or nothing if it would exceed ``config.max_mib``.

    Everything is encoded in memory first; the pack is written only when it fits, into a new hidden folder beside
    ``out`` that is then renamed, so ``out`` never holds half a pack.

    Args:
        config: :class:`~artrestore.config.DataPackConfig`: the paintings (only their train split is packed), the
            style set, the pack folder (new, or empty) and what goes in.
        progress: show a progress bar while the paintings are encoded.

    Returns:
        The manifest written to ``<out>/pack.json``.

    Raises:
        ValueError: a setting is out of range, ``out`` is not new or empty, ``data`` has no train split or is
            itself a pack, ``style_data`` has no images, or the pack would be larger than ``config.max_mib``
            (the message gives its size and what to lower).
    """
    check_pack_settings(config)
    out = check_pack_folder(config.out)
    data, style_data = config.data, config.style_data
    start = time.perf_counter()
    collection = PaintingCollection.scan(data)
    if collection.split is not None:
        raise ValueError(f"data: {data} is already a data pack ({SPLIT_FILE}); pack the original paintings")
    train = split_collection(collection, "train")
    styles = _style_sample(style_data, config.style_per_class) if config.style_per_class else []

    files: dict[str, bytes] = {}  # path inside the pack -> content
    rows = []
    for record in tqdm(train.records, desc="packing paintings", disable=not progress):
        rgb = load_training_image(record, config.max_side)  # (h, w, 3) uint8, longest side <= max_side
        ok, jpeg = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, config.quality])
        if not ok:
            raise ValueError(f"data: cannot encode {record.path}")
        rel = f"{record.painting_id}.jpg"
        files[f"paintings/{rel}"] = jpeg.tobytes()
        rows.append({"file": rel, "artist": record.artist, "title": record.title})
    files["paintings/metadata.csv"] = _metadata_csv(rows)
    files[f"paintings/{SPLIT_FILE}"] = json.dumps({"split": "train", "source": str(Path(data))}).encode()
    per_style: dict[str, int] = {}
    for style, path in styles:
        files[f"wikiart224/{style}/{path.name}"] = path.read_bytes()
        per_style[style] = per_style.get(style, 0) + 1

    manifest = {
        "paintings": len(rows),
        "artists": len({r["artist"] for r in rows}),
        "style_images": per_style,
        "painting_bytes": sum(len(v) for k, v in files.items() if k.startswith("paintings/")),
        "style_bytes": sum(len(v) for k, v in files.items() if k.startswith("wikiart224/")),
        "max_side": config.max_side,
        "quality": config.quality,
        "max_mib": config.max_mib,
        "data": str(Path(data)),
        "style_data": str(Path(style_data)) if styles else None,
        "split": "train",
        "usage": "--data <pack>/paintings --style-data <pack>/wikiart224",
    }
    manifest["bytes"] = sum(len(v) for v in files.values())  # every file but this manifest
    manifest["mib"] = round(manifest["bytes"] / MIB, 2)
    manifest["seconds"] = round(time.perf_counter() - start, 1)
    text = json.dumps(manifest, indent=1) + "\n"
    size = manifest["bytes"] + len(text.encode())
    if size > config.max_mib * MIB:
        raise ValueError(
            f"max_mib: the pack would take {size / MIB:.1f} MiB (paintings {manifest['painting_bytes'] / MIB:.1f}, "
            f"style set {manifest['style_bytes'] / MIB:.1f}), over {config.max_mib} MiB; lower max_side, quality or "
            "style_per_class. Nothing was written."
        )

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))  # a new folder beside out
    try:
        for rel, content in files.items():
            path = partial / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        (partial / PACK_MANIFEST).write_text(text)
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest

"""Training data packs: only the train split, the same painting ids, never re-split, never over the size cap."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from artrestore.cli import main
from artrestore.config import AutoencoderTrainConfig, DataPackConfig
from artrestore.data import PaintingCollection, split_collection
from artrestore.data.pack import PACK_MANIFEST, build_data_pack
from artrestore.data.sources import training_sources
from artrestore.training.autoencoder import train_autoencoder


def _config(painting_folder: Path, style_folder: Path, out: Path, **kwargs) -> DataPackConfig:
    settings = {"max_side": 64, "quality": 90, "style_per_class": 2, "max_mib": 1.0, **kwargs}
    return DataPackConfig(out=str(out), data=str(painting_folder), style_data=str(style_folder), **settings)


def test_pack_holds_the_train_split_with_its_ids_and_is_not_split_again(painting_folder, style_folder, tmp_path):
    out = tmp_path / "pack"
    manifest = build_data_pack(_config(painting_folder, style_folder, out), progress=False)
    source = PaintingCollection.scan(painting_folder)
    train = split_collection(source, "train")
    packed = PaintingCollection.scan(out / "paintings")
    # the same ids, artists and titles as the source's train split, and no validation painting
    assert [(r.painting_id, r.artist) for r in packed.records] == [(r.painting_id, r.artist) for r in train.records]
    assert packed.split == "train" and len(packed) == manifest["paintings"] == 9
    # a pack is never re-split: all of it is training data, and asking it for validation paintings fails
    assert [r.painting_id for r in split_collection(packed, "train").records] == [r.painting_id for r in packed]
    assert [r.painting_id for r in training_sources("paintings", out / "paintings", style_folder)] == [
        r.painting_id for r in packed
    ]
    with pytest.raises(ValueError, match="no validation paintings"):
        split_collection(packed, "val")
    for r in packed.records:
        assert max(cv2.imread(str(r.path)).shape[:2]) <= 64  # 80x100 sources, shrunk
    # the style-set sample: 2 of each style's 3, byte for byte
    copied = sorted((out / "wikiart224").rglob("*.jpg"))
    assert len(copied) == 4 and manifest["style_images"] == {"Baroque": 2, "Impressionism": 2}
    for path in copied:
        assert path.read_bytes() == (style_folder / path.parent.name / path.name).read_bytes()
    on_disk = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert json.loads((out / PACK_MANIFEST).read_text()) == manifest
    assert on_disk == manifest["bytes"] + (out / PACK_MANIFEST).stat().st_size <= 2**20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack", "paintings", "styles"]  # nothing left beside


def test_pack_over_the_cap_writes_nothing(painting_folder, style_folder, tmp_path):
    out = tmp_path / "pack"
    with pytest.raises(ValueError, match=r"max_mib: the pack would take .* Nothing was written"):
        build_data_pack(_config(painting_folder, style_folder, out, max_side=1000, max_mib=0.001), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["paintings", "styles"]


def test_pack_refuses_a_used_folder_bad_settings_and_a_pack_as_source(painting_folder, style_folder, tmp_path):
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="out: .* not an empty folder"):
        build_data_pack(_config(painting_folder, style_folder, used), progress=False)
    assert (used / "keep.txt").read_text() == "mine" and len(list(used.iterdir())) == 1
    for bad, match in [({"quality": 0}, "quality"), ({"max_side": 8}, "max_side"), ({"style_per_class": -1}, "style")]:
        with pytest.raises(ValueError, match=match):
            build_data_pack(_config(painting_folder, style_folder, tmp_path / "new", **bad), progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()  # an empty folder is fine
    build_data_pack(_config(painting_folder, style_folder, empty, style_per_class=0), progress=False)
    assert not (empty / "wikiart224").exists()
    with pytest.raises(ValueError, match="already a data pack"):
        build_data_pack(_config(empty / "paintings", style_folder, tmp_path / "again"), progress=False)


def test_split_file_must_name_the_train_split(painting_folder):
    (painting_folder / "split.json").write_text(json.dumps({"split": "val"}))
    with pytest.raises(ValueError, match="only 'train'"):
        PaintingCollection.scan(painting_folder)


def test_cli_packs_and_the_autoencoder_trains_from_the_pack(painting_folder, style_folder, tmp_path, capsys):
    out = tmp_path / "pack"
    args = ["pack-data", "--out", str(out), "--data", str(painting_folder), "--style-data", str(style_folder)]
    assert main([*args, "--max-side", "64", "--style-per-class", "1"]) == 0
    assert "9 training paintings of 3 artists and 2 style-set images" in capsys.readouterr().out
    assert main([*args, "--max-side", "64"]) == 2  # the folder is used now: an error, not an overwrite
    assert "not an empty folder" in capsys.readouterr().err
    for source, data in (("paintings", out / "paintings"), ("style", out / "wikiart224")):
        cfg = AutoencoderTrainConfig(
            out=str(tmp_path / f"vae_{source}"),
            source=source,
            data=str(out / "paintings"),
            style_data=str(data if source == "style" else out / "wikiart224"),
            steps=2,
            batch_size=2,
            crop=32,
            channels="8,16",
            lpips_weight=0.0,
            threads=1,
            warmup=1,
            log_every=1,
        )
        assert train_autoencoder(cfg)["steps"] == 2

"""Folder-of-artists collections and the split by painting."""

from __future__ import annotations

import pytest

from artrestore.data import PaintingCollection, split_collection, split_ids


def test_scan_uses_folder_names(painting_folder):
    c = PaintingCollection.scan(painting_folder)
    assert len(c) == 12 and c.artists == ["Ann Painter", "Bob Brush", "Cy Canvas"]
    assert c[0].painting_id == "Ann_Painter/ann_0"


def test_scan_uses_metadata_when_present(painting_folder):
    (painting_folder / "metadata.csv").write_text(
        "file,artist,title\npaintings/Ann_Painter/ann_1.jpg,Ann Q. Painter,Sunrise\n"
    )
    c = PaintingCollection.scan(painting_folder)
    rec = next(r for r in c.records if r.painting_id == "Ann_Painter/ann_1")
    assert rec.artist == "Ann Q. Painter" and rec.title == "Sunrise"


def test_scan_rejects_empty_or_missing(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        PaintingCollection.scan(tmp_path / "missing")
    (tmp_path / "empty" / "Nobody").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images"):
        PaintingCollection.scan(tmp_path / "empty")


def test_split_is_disjoint_complete_and_deterministic(painting_folder):
    c = PaintingCollection.scan(painting_folder)
    a, b = split_ids(c, 0.25), split_ids(c, 0.25)
    assert a == b
    assert not (a["train"] & a["val"]) and (a["train"] | a["val"]) == {r.painting_id for r in c.records}
    assert len(a["val"]) == 3  # one of four per artist


def test_split_does_not_depend_on_other_paintings(painting_folder):
    """Adding a painting of another artist never moves existing paintings between train and val."""
    c = PaintingCollection.scan(painting_folder)
    before = split_ids(c, 0.25)
    extra = c.subset({r.painting_id for r in c.records if not r.painting_id.startswith("Cy_")})
    after = split_ids(extra, 0.25)
    assert after["val"] <= before["val"] and after["train"] <= before["train"]


def test_split_collection_validates(painting_folder):
    c = PaintingCollection.scan(painting_folder)
    assert len(split_collection(c, "all")) == 12
    with pytest.raises(ValueError, match="split: expected"):
        split_collection(c, "test")
    with pytest.raises(ValueError, match="val_fraction"):
        split_ids(c, 1.5)


@pytest.mark.data
def test_shared_split_covers_main_artists(shared_data):
    c = PaintingCollection.scan(shared_data / "paintings")
    ids = split_ids(c)
    val = c.subset(ids["val"]).works_per_artist()
    main = [a for a, n in c.works_per_artist().items() if n >= 15]
    assert len(main) == 10 and all(val.get(a, 0) >= 2 for a in main)
    assert 0.12 < len(ids["val"]) / len(c) < 0.2


def test_artist_names_are_cleaned_and_near_duplicates_merged():
    from artrestore.data.paintings import artist_aliases

    names = ["Willem Claesz. Heda", "Willem Claesz Heda", "Claude Monet", "claude monet", "Claude Monet"]
    assert artist_aliases(names) == {"Willem Claesz Heda": "Willem Claesz. Heda", "claude monet": "Claude Monet"}
    assert artist_aliases(["A B", "C"]) == {}


def test_shared_collection_has_one_clean_name_per_artist(shared_data):
    from artrestore.data.paintings import artist_key

    artists = PaintingCollection.scan(shared_data / "paintings").artists
    assert all(a == " ".join(a.split()) for a in artists)  # no newlines or double spaces
    assert len({artist_key(a) for a in artists}) == len(artists)

"""No command loses a file: outputs are checked before any work, inputs are never replaced, existing files only
with --overwrite, and outputs get the umask's mode."""

from __future__ import annotations

import os
import stat

import numpy as np
import PIL.Image
import pytest

from artrestore.cli import main
from artrestore.io import save_png
from artrestore.output_paths import check_outputs

from .conftest import synthetic_painting


@pytest.fixture
def no_model(monkeypatch):
    """Loading a model fails loudly: a refusal must come before any heavy work."""
    import artrestore.restore as restore_module

    def fail(*args, **kwargs):
        raise AssertionError("the model was loaded before the output paths were checked")

    monkeypatch.setattr(restore_module, "load_pipeline", fail)


def _painting(path, seed=0):
    PIL.Image.fromarray(synthetic_painting(48, 64, seed=seed)).save(path)
    return path.read_bytes()


def _mask(path):
    m = np.zeros((48, 64), np.uint8)
    m[10:20, 10:30] = 255
    PIL.Image.fromarray(m).save(path)


def test_folder_mode_never_writes_over_an_input_of_the_folder(tmp_path, no_model, capsys):
    imgs, masks = tmp_path / "imgs", tmp_path / "masks"
    imgs.mkdir(), masks.mkdir()
    before = {"a.jpg": _painting(imgs / "a.jpg"), "a.png": _painting(imgs / "a.png", seed=1)}
    _mask(masks / "a.png")
    assert main(["restore", str(imgs), "--mask", str(masks), "--out", str(imgs)]) == 2
    err = capsys.readouterr().err
    assert "is an input file" in err and "a.png" in err
    assert {p.name: p.read_bytes() for p in imgs.iterdir()} == before


def test_inputs_with_the_same_stem_do_not_overwrite_each_others_output(tmp_path, no_model, capsys):
    imgs, masks = tmp_path / "imgs", tmp_path / "masks"
    imgs.mkdir(), masks.mkdir()
    _painting(imgs / "a.jpg"), _painting(imgs / "a.png", seed=1)
    _mask(masks / "a.png")
    assert main(["restore", str(imgs), "--mask", str(masks), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "two outputs" in err and "a.jpg" in err and "a.png" in err and not (tmp_path / "out").exists()


def test_an_existing_output_is_replaced_only_with_overwrite(tmp_path, no_model, capsys):
    _painting(tmp_path / "p.png")
    _mask(tmp_path / "m.png")
    (tmp_path / "restored.png").write_bytes(b"keep me")
    args = [
        "restore",
        str(tmp_path / "p.png"),
        "--mask",
        str(tmp_path / "m.png"),
        "--out",
        str(tmp_path / "restored.png"),
    ]
    assert main(args) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "restored.png").read_bytes() == b"keep me"
    with pytest.raises(AssertionError, match="output paths were checked"):  # with --overwrite it gets to the model
        main([*args, "--overwrite"])


def test_auto_mode_checks_the_detected_maps_it_will_write(tmp_path, no_model, capsys):
    _painting(tmp_path / "p.png")
    (tmp_path / "r_detected_mask.png").write_bytes(b"a mask drawn by hand")
    assert main(["restore", str(tmp_path / "p.png"), "--auto", "--out", str(tmp_path / "r.png")]) == 2
    assert "r_detected_mask.png already exists" in capsys.readouterr().err


def test_a_folder_named_like_a_png_is_refused_cleanly(tmp_path, no_model, capsys):
    _painting(tmp_path / "p.png")
    _mask(tmp_path / "m.png")
    (tmp_path / "x.png").mkdir()
    assert (
        main(["restore", str(tmp_path / "p.png"), "--mask", str(tmp_path / "m.png"), "--out", str(tmp_path / "x.png")])
        == 2
    )
    assert "is a folder" in capsys.readouterr().err
    with pytest.raises(ValueError, match="is a folder"):
        save_png(tmp_path / "x.png", np.zeros((4, 4, 3), np.uint8))
    assert not list(tmp_path.glob("**/.tmp-*"))


def test_certify_never_replaces_the_painting_with_json(tmp_path, capsys):
    before = _painting(tmp_path / "a.png")
    _mask(tmp_path / "m.png")
    assert (
        main(["certify", str(tmp_path / "a.png"), "--mask", str(tmp_path / "m.png"), "--out", str(tmp_path / "a.png")])
        == 2
    )
    assert ".json" in capsys.readouterr().err and (tmp_path / "a.png").read_bytes() == before
    (tmp_path / "c.json").write_text("{}")
    assert (
        main(
            ["certify", str(tmp_path / "a.png"), "--mask", str(tmp_path / "m.png"), "--out", str(tmp_path / "c.json")]
        )
        == 2
    )
    assert "already exists" in capsys.readouterr().err and (tmp_path / "c.json").read_text() == "{}"


def test_detect_refuses_to_overwrite_an_existing_mask(tmp_path, capsys):
    _painting(tmp_path / "p.png")
    (tmp_path / "mask.png").write_bytes(b"hand-corrected mask")
    args = [
        "detect",
        str(tmp_path / "p.png"),
        "--out-mask",
        str(tmp_path / "mask.png"),
        "--out-fade",
        str(tmp_path / "f.png"),
    ]
    assert main(args) == 2
    assert "mask.png already exists" in capsys.readouterr().err
    assert (tmp_path / "mask.png").read_bytes() == b"hand-corrected mask" and not (tmp_path / "f.png").exists()


def test_outputs_get_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        path = save_png(tmp_path / "o.png", np.zeros((4, 4, 3), np.uint8))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_check_outputs_names_the_option_and_accepts_new_files(tmp_path):
    (tmp_path / "in.png").write_bytes(b"x")
    assert check_outputs([tmp_path / "new.png"], inputs=[tmp_path / "in.png"], overwrite=False) == [
        tmp_path / "new.png"
    ]
    with pytest.raises(ValueError, match="^out_mask: .*in.png is an input file"):
        check_outputs([tmp_path / "in.png"], inputs=[tmp_path / "in.png"], overwrite=True, option="out_mask")
    with pytest.raises(ValueError, match="must be a .png file"):
        check_outputs([tmp_path / "o.jpg"], inputs=[], overwrite=False)

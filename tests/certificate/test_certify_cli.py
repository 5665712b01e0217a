"""``artrestore certify``: prints the certificate of a masked region, with clear errors."""

from __future__ import annotations

import json

import cv2
import numpy as np

from artrestore.cli import main
from tests.hub.conftest import ARTISTS, build_tiny_certifier


def _files(tmp_path, mask_value=255):
    img = np.random.default_rng(0).integers(0, 255, (80, 100, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "img.png"), img)
    mask = np.zeros((80, 100), np.uint8)
    mask[10:70, 20:80] = mask_value
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    build_tiny_certifier().save_pretrained(str(tmp_path / "model" / "style_certifier"))
    return img, mask


def test_certify_prints_json_and_writes_it(tmp_path, capsys):
    _files(tmp_path)
    argv = ["certify", str(tmp_path / "img.png"), "--mask", str(tmp_path / "mask.png"), "--artist", ARTISTS[0]]
    assert main([*argv, "--model", str(tmp_path / "model"), "--out", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr()
    printed = json.loads(out.out)
    assert printed == json.loads((tmp_path / "c.json").read_text())
    assert printed["artist"] == ARTISTS[0] and printed["blocks"]
    assert ("PASS" if printed["passed"] else "FAIL") in out.err


def test_certify_errors(tmp_path, capsys):
    _files(tmp_path, mask_value=0)
    base = ["certify", str(tmp_path / "img.png"), "--mask", str(tmp_path / "mask.png")]
    assert main([*base, "--model", str(tmp_path)]) == 2
    assert "no style certifier" in capsys.readouterr().err
    assert main([*base, "--model", str(tmp_path / "model")]) == 2
    assert "mask: no pixel >= 128" in capsys.readouterr().err

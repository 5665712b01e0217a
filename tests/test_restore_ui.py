"""Handlers of the Space's Restore tab: preview, editor layers to full-resolution damage, artists, variants."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest

from artrestore import restore_ui as ui

from .conftest import synthetic_painting
from .hub.conftest import ARTISTS, build_tiny_pipeline


@pytest.fixture(scope="module")
def pipe():
    p = build_tiny_pipeline()
    p.set_progress_bar_config(disable=True)
    return p


@pytest.fixture
def upload(tmp_path) -> ui.Upload:
    cv2.imwrite(str(tmp_path / "big.png"), synthetic_painting(1500, 2100, seed=1))
    return ui.load_upload(str(tmp_path / "big.png"))


def _layer(shape, box, alpha=255, colour=ui.DAMAGE_BRUSH):
    layer = np.zeros((*shape, 4), np.uint8)
    x0, y0, x1, y1 = box
    layer[y0:y1, x0:x1] = (*colour, alpha)
    return layer


def test_preview_fits_and_keeps_the_original(upload):
    assert max(upload.preview.shape[:2]) == ui.PREVIEW_SIDE and upload.art.pixels.shape[:2] == (1500, 2100)


def test_editor_layers_scale_to_full_resolution(upload):
    shape = upload.preview.shape[:2]  # (731, 1024)
    editor = {
        "background": upload.preview,
        "layers": [
            _layer(shape, (100, 100, 200, 150)),
            None,
            None,
            _layer(shape, (500, 300, 600, 400), alpha=128, colour=ui.FADING_BRUSH),
        ],
    }
    mask, fade = ui.damage_from_editor(editor, None, upload)
    assert mask.shape == (1500, 2100) and fade.shape == (1500, 2100)
    ys, xs = np.nonzero(mask)
    scale = 2100 / 1024
    assert abs(xs.min() - 100 * scale) <= 3 and abs(xs.max() - 200 * scale) <= 3
    assert 0.45 < fade[700, 1130] < 0.56 and fade[0, 0] == 0


def test_strokes_are_read_by_brush_not_by_layer_position(upload):
    """Deleting a layer (or reordering them) must not turn fading into paint loss."""
    shape = upload.preview.shape[:2]
    loss = _layer(shape, (100, 100, 200, 150))
    soft = _layer(shape, (500, 300, 600, 400), alpha=90, colour=ui.FADING_BRUSH)
    full = ui.damage_from_editor({"layers": [loss, None, None, soft]}, None, upload)
    for layers in ([loss, None, soft], [soft, loss], [np.maximum(loss, soft)]):  # a layer deleted, reordered, merged
        mask, fade = ui.damage_from_editor({"layers": layers}, None, upload)
        assert np.array_equal(mask, full[0]) and np.allclose(fade, full[1])
    mask, fade = ui.damage_from_editor({"layers": [soft]}, None, upload)  # fading only, on the first layer
    assert not mask.any() and fade.max() == pytest.approx(90 / 255, abs=0.01)


def test_a_stroke_of_another_colour_is_a_clear_error(upload):
    shape = upload.preview.shape[:2]
    green = _layer(shape, (10, 10, 40, 40), colour=(0, 200, 0))
    with pytest.raises(ValueError, match="#00c800.*neither the red damage brush"):
        ui.damage_from_editor({"layers": [green]}, None, upload)


def test_uploaded_mask_must_have_the_painting_size(upload, tmp_path):
    small = np.zeros((100, 100), np.uint8)
    small[10:20, 10:20] = 255
    cv2.imwrite(str(tmp_path / "m.png"), small)
    with pytest.raises(ValueError, match="mask_image"):
        ui.damage_from_editor(None, str(tmp_path / "m.png"), upload)
    full = np.zeros((1500, 2100), np.uint8)
    full[10:20, 10:20] = 255
    cv2.imwrite(str(tmp_path / "full.png"), full)
    mask, fade = ui.damage_from_editor(None, str(tmp_path / "full.png"), upload)
    assert mask.sum() == 100 and fade is None


def test_nothing_drawn_is_a_clear_error(upload):
    with pytest.raises(ValueError, match="draw the damage"):
        ui.damage_from_editor({"background": upload.preview, "layers": []}, None, upload)


def test_unreadable_upload_is_a_clear_error(tmp_path):
    (tmp_path / "x.png").write_bytes(b"not an image")
    with pytest.raises(ValueError):
        ui.load_upload(str(tmp_path / "x.png"))
    with pytest.raises(ValueError, match="upload a painting first"):
        ui.load_upload(None)


def test_artist_choices(pipe, tmp_path):
    assert ui.resolve_artist(pipe, ui.INFER, None, None) is None
    assert ui.resolve_artist(pipe, ARTISTS[1], None, None) == ARTISTS[1]
    with pytest.raises(ValueError, match="type a name"):
        ui.resolve_artist(pipe, ui.ADD_REFERENCES, None, " ")
    cv2.imwrite(str(tmp_path / "ref.png"), synthetic_painting(64, 64))
    assert ui.resolve_artist(pipe, ui.ADD_REFERENCES, [str(tmp_path / "ref.png")], "Zoe Z") == "Zoe Z"
    assert "Zoe Z" in pipe.memory_bank.artist_vectors


def test_variants_use_consecutive_seeds_and_keep_untouched_pixels(pipe, tmp_path):
    cv2.imwrite(str(tmp_path / "p.png"), synthetic_painting(120, 160, seed=2))
    up = ui.load_upload(str(tmp_path / "p.png"))
    mask = np.zeros((120, 160), bool)
    mask[40:70, 50:100] = True
    results = ui.restore_upload(pipe, up, mask, None, None, 2, 7, 2, tmp_path / "out")
    assert [r["seed"] for r in results] == [7, 8]
    a, b = (cv2.imread(r["path"])[:, :, ::-1] for r in results)
    src = up.art.pixels
    assert np.array_equal(a[~mask], src[~mask]) and not np.array_equal(a, b)
    with pytest.raises(ValueError, match="variants"):
        ui.restore_upload(pipe, up, mask, None, None, 2, 0, 9)
    plain = json.loads(ui.run_summary(results, mask, None, None))
    assert plain["started_from"] == "noise" and plain["palette"] == "the painting's own"
    moved = dataclasses.replace(results[0]["record"], palette={"from": "Ann A", "to": "Bo B", "gap": 0.31})
    said = json.loads(ui.run_summary([{**results[0], "record": moved}], mask, None, "Bo B"))["palette"]
    assert said.startswith("moved from Ann A's towards Bo B's") and "0.310" in said
    assert ui.palette_note(results[0]["record"]) == ""
    note = ui.palette_note(moved)
    assert "does not look like Bo B" in note and "most like Ann A" in note and ui.PALETTE_CHECKBOX in note
    with pytest.raises(ValueError, match="artist_palette: expected True or False"):
        ui.restore_upload(pipe, up, mask, None, None, 4, 7, 1, artist_palette="no")
    start = ui.restore_upload(pipe, up, mask, None, None, 4, 7, 2, tmp_path / "ex", strength=0.25)
    assert start[0]["record"].init == "patchmatch, strength 0.25"  # the model's fill, only the last of 4 steps
    summary = json.loads(ui.run_summary(start, mask, None, None))
    assert summary["started_from"] == "first fill (patchmatch, strength 0.25)"
    c = cv2.imread(start[0]["path"])[:, :, ::-1]
    assert np.array_equal(c[~mask], src[~mask]) and not np.array_equal(c, a)
    same = ui.restore_upload(pipe, up, mask, None, None, 4, 7, 2, tmp_path / "zero", strength=0)
    d, e = (cv2.imread(r["path"])[:, :, ::-1] for r in same)
    assert same[0]["record"].tiles == 0 and np.array_equal(d, e)  # no denoising: every variant is the fill
    with pytest.raises(ValueError, match="strength"):
        ui.restore_upload(pipe, up, mask, None, None, 4, 7, 1, strength=2)
    paths = ui.save_damage_maps(mask, None, tmp_path / "out", "p")
    assert (cv2.imread(paths[0], cv2.IMREAD_GRAYSCALE) > 0).sum() == mask.sum()


def test_the_palette_checkbox_keeps_the_paintings_own_colours(tmp_path):
    from .hub.test_artist_recogniser import build_tiny_recogniser

    cv2.imwrite(str(tmp_path / "p.png"), synthetic_painting(96, 96, seed=2))
    up = ui.load_upload(str(tmp_path / "p.png"))
    mask = np.zeros((96, 96), bool)
    mask[30:60, 30:70] = True
    pipe = build_tiny_pipeline(default_strength=0.0)
    pipe.set_progress_bar_config(disable=True)
    pipe.register_modules(artist_recogniser=build_tiny_recogniser(up.art.to_uint8()))
    moved = ui.restore_upload(pipe, up, mask, None, ARTISTS[1], 2, 0, 1, tmp_path / "a")[0]
    kept = ui.restore_upload(pipe, up, mask, None, ARTISTS[1], 2, 0, 1, tmp_path / "b", artist_palette=False)[0]
    assert f"does not look like {ARTISTS[1]}" in ui.palette_note(moved["record"])
    assert kept["record"].palette is None and ui.palette_note(kept["record"]) == ""
    a, b = (cv2.imread(r["path"])[:, :, ::-1] for r in (moved, kept))
    assert np.array_equal(a[~mask], b[~mask]) and not np.array_equal(a[mask], b[mask])


@pytest.mark.data
def test_examples_come_from_the_authored_masks(shared_data, tmp_path):
    rows = ui.example_cases(shared_data / "paintings", ui.Path(__file__).parents[1] / "examples" / "masks", tmp_path)
    assert len(rows) == 3  # the fading mask is not offered as a binary mask upload
    for painting, mask in rows:
        img, m = cv2.imread(painting), cv2.imread(mask, cv2.IMREAD_GRAYSCALE)
        assert img.shape[:2] == m.shape == (512, 512) and str(tmp_path) in painting


@pytest.mark.parametrize(
    "field, value, match",
    [("seed", 1.5, "seed: expected a whole number"), ("seed", "x", "seed"), ("steps", 10_000, "steps: expected")],
)
def test_seed_and_steps_are_validated_not_rounded(field, value, match):
    from artrestore.restore_ui import restore_upload

    args = {"seed": 0, "steps": 4, field: value}
    with pytest.raises(ValueError, match=match):
        restore_upload(None, None, np.zeros((4, 4), bool), None, None, args["steps"], args["seed"], 1)


def test_output_folders_of_old_runs_are_deleted(tmp_path):
    import os
    import time

    from artrestore.restore_ui import output_folder

    old = output_folder(tmp_path)
    (old / "restored.png").write_bytes(b"x")
    hour_ago = time.time() - 7200
    os.utime(old, (hour_ago, hour_ago))
    recent = output_folder(tmp_path)
    assert not old.exists() and recent.is_dir()
    again = output_folder(tmp_path)  # a fresh run keeps the other recent ones
    assert recent.is_dir() and again != recent
    stray = tmp_path / "user-file"
    stray.mkdir()
    os.utime(stray, (hour_ago, hour_ago))
    output_folder(tmp_path)
    assert stray.exists()  # only the app's own run folders are removed


def _source(artist, blocks, share=0.3):
    from types import SimpleNamespace

    return SimpleNamespace(
        artist=artist, blocks=blocks, share=share, painting=f"{artist}/work.jpg", box=(0, 0, 32, 32), thumbnail=None
    )


def test_attribution_shows_only_used_sources_and_says_why_another_artist():
    from types import SimpleNamespace

    attribution = SimpleNamespace(
        overlay=np.zeros((20, 30, 3), np.uint8),
        top_sources=[_source("Salvator Rosa", 5), _source("Claude Monet", 3), _source("Claude Monet", 0)],
    )
    overlay, gallery, note = ui.attribution_views(attribution, (40, 60), "Claude Monet")
    assert overlay.shape == (40, 60, 3)
    assert [c for _, c in gallery] == ["#1 Salvator Rosa, 5 blocks", "#2 Claude Monet, 3 blocks"]
    assert "not Claude Monet" in note and note.count("top source of") == 2
    _, _, inferred = ui.attribution_views(attribution, (20, 30), None)
    assert "no artist was chosen" in inferred
    none_used = SimpleNamespace(overlay=attribution.overlay, top_sources=[_source("A", 0)])
    assert ui.attribution_views(none_used, (20, 30))[1] == []
    assert ui.attribution_views(None, (20, 30)) == (None, [], "")  # denoised, nothing retrieved
    assert "PatchMatch" in ui.attribution_views(None, (20, 30), denoised=False)[2]  # the refined exemplar fill


def test_damage_zoom_crops_the_largest_damaged_region():
    before = np.zeros((400, 600, 3), np.uint8)
    after = before.copy()
    mask = np.zeros((400, 600), bool)
    mask[100:140, 300:360] = True  # the largest region
    mask[10:12, 10:12] = True
    after[mask] = 200
    b, a = ui.damage_zoom(before, after, mask, side=320)
    assert b.shape == a.shape and max(b.shape[:2]) == 320
    assert (a != b).any() and (a == 200).mean() > 0.1  # the region fills a good part of the close-up
    same = ui.damage_zoom(before, after, np.zeros((400, 600), bool))
    assert same[0] is before


def test_certificate_views_lead_with_the_plain_sentence(tmp_path):
    from tests.hub.conftest import build_tiny_certifier

    cert = build_tiny_certifier().certify(
        synthetic_painting(64, 96, seed=2)[..., ::-1].copy(), np.ones((64, 96), bool), ARTISTS[0]
    )
    text, plot, path = ui.certificate_views(cert, tmp_path, "x")
    assert text.startswith(("**PASS.** The restored area", "**FAIL.** The restored area"))
    assert text.index("Technical") > text.index("The restored area") and plot.ndim == 3
    assert json.loads(open(path).read())["summary"] == cert.summary


def test_an_upload_is_decoded_once_for_all_handlers(tmp_path):
    path = tmp_path / "p.png"
    cv2.imwrite(str(path), synthetic_painting(60, 80, seed=3))
    first = ui.load_upload(str(path))
    assert ui.load_upload(str(path)) is first  # the detect and restore handlers reuse the decoded painting
    assert not first.art.pixels.flags.writeable  # shared, so read-only
    cv2.imwrite(str(path), synthetic_painting(60, 90, seed=4))  # a new file at the same path is decoded again
    assert ui.load_upload(str(path)).art.pixels.shape == (60, 90, 3)


def test_detect_works_on_a_bounded_copy_of_a_huge_painting(tmp_path, monkeypatch):
    """Detect damage never runs the detector on more than DETECT_SIDE px: its layers live at the preview size."""
    from artrestore.hub.damage_detection import decide

    seen = []

    class Detector:  # records the size it is given, finds a loss in the middle
        def detect_damage(self, image):
            seen.append(image.size)
            w, h = image.size
            probs = np.zeros((h, w, 4), np.float32)
            probs[..., 0] = 1
            probs[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3] = (0, 0, 0, 1)
            return [decide(probs, np.zeros((h, w), np.float32))]

    monkeypatch.setattr(ui, "DETECT_SIDE", 300)
    monkeypatch.setattr(ui, "PREVIEW_SIDE", 200)
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), synthetic_painting(600, 900, seed=2))
    value, note = ui.detect_into_editor(Detector(), ui.load_upload(str(path)))
    assert seen == [(300, 200)]  # the 900 x 600 painting, detected at 300 x 200
    assert value["layers"][0].shape[:2] == value["background"].shape[:2] == (133, 200)
    assert 0.08 < (value["layers"][0][..., 3] > 0).mean() < 0.14 and "paint loss 11." in note


def test_detected_fading_comes_with_a_warning_that_it_is_only_its_cores(tmp_path):
    """A fading layer found by the detector is flagged as partial; binary damage alone gets no such note."""
    from artrestore.hub.damage_detection import decide

    class Detector:  # a loss in the middle, and fading in the top third when asked
        def __init__(self, fading: bool) -> None:
            self.fading = fading

        def detect_damage(self, image):
            w, h = image.size
            probs = np.zeros((h, w, 4), np.float32)
            probs[..., 0] = 1
            probs[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3] = (0, 0, 0, 1)
            fade = np.zeros((h, w), np.float32)
            if self.fading:
                fade[: h // 3] = 0.8
            return [decide(probs, fade, fade_threshold=0.45)]

    path = tmp_path / "p.png"
    cv2.imwrite(str(path), synthetic_painting(90, 120, seed=5))
    upload = ui.load_upload(str(path))
    _, with_fading = ui.detect_into_editor(Detector(True), upload)
    _, without = ui.detect_into_editor(Detector(False), upload)
    assert "**Fading:**" in with_fading and "violet brush" in with_fading
    assert "**Fading:**" not in without

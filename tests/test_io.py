"""artrestore.io: every format and mode loads without loss; bad files fail clearly; inputs are never modified."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from artrestore.io import load_fade_map, load_image, load_mask, save_artwork, save_png

from .conftest import synthetic_painting


def _rgb() -> np.ndarray:
    return synthetic_painting(40, 56)


def _srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_png_rgb_exact(tmp_path):
    arr = _rgb()
    Image.fromarray(arr).save(tmp_path / "a.png")
    art = load_image(tmp_path / "a.png")
    assert art.pixels.dtype == np.uint8 and np.array_equal(art.pixels, arr) and art.alpha is None


def test_jpeg_rgb(tmp_path):
    arr = _rgb()
    Image.fromarray(arr).save(tmp_path / "a.jpg", quality=95)
    art = load_image(tmp_path / "a.jpg")
    assert art.source_format == "JPEG" and art.pixels.shape == arr.shape
    assert np.array_equal(art.pixels, np.asarray(Image.open(tmp_path / "a.jpg").convert("RGB")))


def test_png_16bit_rgb_keeps_all_bits(tmp_path):
    rng = np.random.default_rng(0)
    arr16 = rng.integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "a16.png"), arr16[:, :, ::-1])
    art = load_image(tmp_path / "a16.png")
    assert art.bit_depth == 16 and np.array_equal(art.pixels, arr16)


def test_png_16bit_rgba(tmp_path):
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 65536, (12, 14, 4), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "a.png"), rgba[:, :, [2, 1, 0, 3]])
    art = load_image(tmp_path / "a.png")
    assert np.array_equal(art.pixels, rgba[:, :, :3]) and np.array_equal(art.alpha, rgba[:, :, 3])


def test_png_i16_gray(tmp_path):
    gray = (np.arange(24 * 32).reshape(24, 32) * 80).astype(np.uint16)
    Image.fromarray(gray).save(tmp_path / "g16.png")
    art = load_image(tmp_path / "g16.png")
    assert art.bit_depth == 16
    assert np.array_equal(art.pixels[:, :, 0], gray) and np.array_equal(art.pixels[:, :, 2], gray)


def test_tiff(tmp_path):
    arr = _rgb()
    Image.fromarray(arr).save(tmp_path / "a.tif")
    assert np.array_equal(load_image(tmp_path / "a.tif").pixels, arr)


def test_tiff_16bit_rgb(tmp_path):
    rng = np.random.default_rng(2)
    arr16 = rng.integers(0, 65536, (10, 12, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "a16.tif"), arr16[:, :, ::-1])
    art = load_image(tmp_path / "a16.tif")
    assert art.bit_depth == 16 and np.array_equal(art.pixels, arr16)


def test_webp_lossless(tmp_path):
    arr = _rgb()
    Image.fromarray(arr).save(tmp_path / "a.webp", lossless=True)
    art = load_image(tmp_path / "a.webp")
    assert art.source_format == "WEBP" and np.array_equal(art.pixels, arr)


def test_mode_L(tmp_path):
    gray = _rgb()[:, :, 0]
    Image.fromarray(gray, "L").save(tmp_path / "l.png")
    art = load_image(tmp_path / "l.png")
    assert art.source_mode == "L" and np.array_equal(art.pixels[:, :, 1], gray)


def test_mode_LA_keeps_alpha(tmp_path):
    gray = _rgb()[:, :, 0]
    alpha = np.full_like(gray, 77)
    Image.fromarray(np.dstack([gray, alpha]), "LA").save(tmp_path / "la.png")
    art = load_image(tmp_path / "la.png")
    assert np.array_equal(art.pixels[:, :, 0], gray) and np.array_equal(art.alpha, alpha)


def test_mode_P(tmp_path):
    im = Image.fromarray(_rgb()).quantize(16)
    im.save(tmp_path / "p.png")
    art = load_image(tmp_path / "p.png")
    assert art.source_mode == "P" and np.array_equal(art.pixels, np.asarray(im.convert("RGB")))


def test_mode_RGBA_keeps_alpha(tmp_path):
    rgba = np.dstack([_rgb(), np.arange(40 * 56, dtype=np.uint32).reshape(40, 56).astype(np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    art = load_image(tmp_path / "a.png")
    assert np.array_equal(art.pixels, rgba[:, :, :3]) and np.array_equal(art.alpha, rgba[:, :, 3])


def test_mode_CMYK(tmp_path):
    arr = _rgb()
    Image.fromarray(arr).convert("CMYK").save(tmp_path / "c.jpg", quality=98)
    art = load_image(tmp_path / "c.jpg")
    assert art.source_mode == "CMYK" and art.pixels.shape == arr.shape
    assert np.abs(art.pixels.astype(int) - arr).mean() < 12  # JPEG + naive CMYK round trip


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation(tmp_path, orientation):
    arr = synthetic_painting(20, 32, seed=orientation)
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(tmp_path / "o.png", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.png")).convert("RGB"))
    art = load_image(tmp_path / "o.png")
    assert art.orientation == orientation and np.array_equal(art.pixels, expected)


def test_icc_profile_kept_through_save(tmp_path):
    icc = _srgb_icc()
    Image.fromarray(_rgb()).save(tmp_path / "a.png", icc_profile=icc)
    art = load_image(tmp_path / "a.png")
    assert art.icc_profile == icc
    save_artwork(tmp_path / "out.png", art)
    back = Image.open(tmp_path / "out.png")
    assert back.info.get("icc_profile") == icc and np.array_equal(np.asarray(back), art.pixels)


def test_save_16bit_roundtrip_with_icc(tmp_path):
    rng = np.random.default_rng(3)
    arr16 = rng.integers(0, 65536, (9, 11, 3), dtype=np.uint16)
    save_png(tmp_path / "r.png", arr16, icc_profile=_srgb_icc())
    art = load_image(tmp_path / "r.png")
    assert np.array_equal(art.pixels, arr16) and art.icc_profile == _srgb_icc()


def test_rejects_non_image(tmp_path):
    (tmp_path / "x.png").write_text("this is not a picture")
    with pytest.raises(ValueError, match="not a readable image"):
        load_image(tmp_path / "x.png")


def test_rejects_missing_file(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_image(tmp_path / "nope.png")


def test_rejects_truncated_file(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(synthetic_painting(200, 200)).save(buf, "PNG")
    (tmp_path / "t.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_image(tmp_path / "t.png")


def test_rejects_truncated_jpeg(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(synthetic_painting(200, 200)).save(buf, "JPEG")
    (tmp_path / "t.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_image(tmp_path / "t.jpg")


def test_rejects_decompression_bomb(tmp_path):
    Image.new("L", (4000, 3000)).save(tmp_path / "big.png")
    with pytest.raises(ValueError, match="above the limit of 10 MP"):
        load_image(tmp_path / "big.png", max_megapixels=10)
    assert load_image(tmp_path / "big.png", max_megapixels=13).size == (4000, 3000)


def test_input_never_modified(tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray(_rgb()).save(src)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    art = load_image(src)
    art.pixels[:] = 0  # mutating the loaded copy must not touch the file
    with pytest.raises(ValueError, match="input file"):
        save_png(src, art.pixels, protect=[src])
    with pytest.raises(ValueError, match="input file"):
        save_png(tmp_path / "." / "in.png", art.pixels, protect=[src])
    save_png(tmp_path / "out.png", art.pixels, protect=[src])
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before


def test_save_requires_png_name(tmp_path):
    with pytest.raises(ValueError, match=r"\.png"):
        save_png(tmp_path / "out.jpg", _rgb())


def test_mask_white_is_damage(tmp_path):
    m = np.zeros((10, 12), np.uint8)
    m[2:5, 3:7] = 128
    m[6, 6] = 127
    Image.fromarray(m).save(tmp_path / "m.png")
    mask = load_mask(tmp_path / "m.png", size=(12, 10))
    assert mask.dtype == bool and mask.sum() == 12 and not mask[6, 6]


def test_mask_reads_coloured_strokes_and_ignores_transparent_pixels(tmp_path):
    rgb = np.zeros((10, 12, 3), np.uint8)
    rgb[2:5, 3:7] = (255, 0, 0)  # a red stroke (its luminance is 76)
    Image.fromarray(rgb).save(tmp_path / "red.png")
    assert load_mask(tmp_path / "red.png").sum() == 12
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., :3] = 255  # white everywhere, but only the stroke is opaque
    rgba[6:8, 1:4, 3] = 255
    Image.fromarray(rgba).save(tmp_path / "layer.png")
    assert load_mask(tmp_path / "layer.png").sum() == 6


def test_mask_says_how_many_faint_pixels_it_read_as_undamaged(tmp_path):
    m = np.zeros((10, 12), np.uint8)
    m[0, :5] = 255
    m[5, :3] = 60  # a soft grey brush
    Image.fromarray(m).save(tmp_path / "soft.png")
    with pytest.warns(UserWarning, match="3 pixels of soft.png are grey below half brightness .*5 damaged pixels"):
        mask = load_mask(tmp_path / "soft.png")
    assert mask.sum() == 5


def test_mask_size_mismatch_raises(tmp_path):
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(tmp_path / "m.png")
    with pytest.raises(ValueError, match="mask_image: size 12x10 does not match"):
        load_mask(tmp_path / "m.png", size=(13, 10))


def test_fade_map_continuous(tmp_path):
    f = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (4, 1))
    Image.fromarray(f).save(tmp_path / "f.png")
    fade = load_fade_map(Path(tmp_path / "f.png"))
    assert fade.dtype == np.float32 and fade[0, 0] == 0 and np.allclose(fade[0], f[0] / 255)


def test_save_grey_png_is_mode_L(tmp_path):
    m = (np.arange(60).reshape(6, 10) % 2 * 255).astype(np.uint8)
    save_png(tmp_path / "m.png", m)
    im = Image.open(tmp_path / "m.png")
    assert im.mode == "L" and np.array_equal(np.asarray(im), m)

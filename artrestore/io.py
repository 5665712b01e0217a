"""Image I/O that loses nothing.

Paintings are read into :class:`Artwork`, which keeps the original integer samples (8 or 16 bit), the alpha
channel and the ICC profile, with the EXIF orientation applied. Restorations are written as lossless PNG with the
same bit depth and profile. Nothing here ever writes over an input file.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
import warnings
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError

DEFAULT_MAX_MEGAPIXELS = 64.0
SUPPORTED_FORMATS = ("JPEG", "PNG", "TIFF", "WEBP")
SUPPORTED_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "I;16", "I;16B", "I;16L", "I", "F")

# EXIF orientation -> sequence of numpy ops (same semantics as PIL.ImageOps.exif_transpose).
_ORIENTATION_OPS = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


@dataclass
class Artwork:
    """A loaded painting, with everything needed to write it back without loss.

    Attributes:
        pixels: (h, w, 3) RGB samples, ``uint8`` or ``uint16`` exactly as stored (after EXIF orientation).
        alpha: (h, w) alpha channel of the same dtype, or ``None``.
        icc_profile: the embedded ICC profile bytes (sRGB for converted CMYK files), or ``None``.
        source_mode: the PIL mode of the file, e.g. ``"CMYK"`` or ``"I;16"``.
        source_format: the container format, e.g. ``"PNG"``.
        orientation: the EXIF orientation tag that was applied (1 = none).
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    icc_profile: bytes | None = None
    source_mode: str = "RGB"
    source_format: str = "PNG"
    orientation: int = 1

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as PIL reports sizes."""
        return self.pixels.shape[1], self.pixels.shape[0]

    @property
    def bit_depth(self) -> int:
        return 16 if self.pixels.dtype == np.uint16 else 8

    def to_float(self) -> np.ndarray:
        """(h, w, 3) float32 in [0, 1], full precision for 16-bit sources."""
        return self.pixels.astype(np.float32) / float(np.iinfo(self.pixels.dtype).max)

    def to_uint8(self) -> np.ndarray:
        """(h, w, 3) uint8; 16-bit samples are rounded."""
        if self.pixels.dtype == np.uint8:
            return self.pixels
        return np.round(self.pixels.astype(np.float64) / 257.0).astype(np.uint8)

    def to_pil(self) -> Image.Image:
        """8-bit RGB PIL image (for display)."""
        return Image.fromarray(np.ascontiguousarray(self.to_uint8()), "RGB")


def _open_checked(path: Path, max_megapixels: float) -> Image.Image:
    if not path.exists():
        raise ValueError(f"image: file not found: {path}")
    if path.is_dir():
        raise ValueError(f"image: expected a file, got a directory: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            previous = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None  # we apply our own, configurable limit below
            try:
                im = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = previous
    except UnidentifiedImageError as e:
        raise ValueError(
            f"image: {path.name} is not a readable image (accepted formats: {', '.join(SUPPORTED_FORMATS)})"
        ) from e
    megapixels = im.width * im.height / 1e6
    if megapixels > max_megapixels:
        im.close()
        raise ValueError(
            f"image: {path.name} is {im.width}x{im.height} = {megapixels:.1f} MP, above the limit of "
            f"{max_megapixels:g} MP (possible decompression bomb; raise max_megapixels to accept it)"
        )
    if im.format not in SUPPORTED_FORMATS:
        fmt = im.format
        im.close()
        raise ValueError(f"image: format {fmt} of {path.name} is not supported; accepted: {SUPPORTED_FORMATS}")
    if im.mode not in SUPPORTED_MODES:
        mode = im.mode
        im.close()
        raise ValueError(f"image: mode {mode} of {path.name} is not supported; accepted: {SUPPORTED_MODES}")
    previous_truncated = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        im.load()
    except (OSError, SyntaxError, struct.error, zlib.error) as e:
        im.close()
        raise ValueError(f"image: {path.name} is truncated or corrupt ({e})") from e
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous_truncated
    return im


def _is_16bit_colour(path: Path, im: Image.Image) -> bool:
    """PIL silently reduces 16-bit RGB(A) PNG/TIFF to 8 bits; detect those files to read them with OpenCV."""
    if im.mode not in ("RGB", "RGBA"):
        return False
    if im.format == "PNG":
        with open(path, "rb") as f:
            header = f.read(25)
        return len(header) == 25 and header[24] == 16  # IHDR bit depth
    if im.format == "TIFF":
        bits = im.tag_v2.get(258)  # BitsPerSample
        return bits is not None and max(bits if isinstance(bits, tuple) else (bits,)) == 16
    return False


def _cmyk_to_rgb(im: Image.Image) -> tuple[Image.Image, bytes | None]:
    icc = im.info.get("icc_profile")
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            rgb = ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
            return rgb, ImageCms.ImageCmsProfile(dst).tobytes()
        except (ImageCms.PyCMSError, OSError):
            pass
    return im.convert("RGB"), None


def load_image(path: str | os.PathLike, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> Artwork:
    """Read a painting without losing bit depth, alpha or colour profile.

    Args:
        path: a JPEG, PNG (8 or 16 bit), TIFF or WebP file in mode L, LA, P, RGB, RGBA, CMYK or I;16.
        max_megapixels: refuse images above this size (decompression-bomb guard).

    Returns:
        The :class:`Artwork`, EXIF orientation applied. The file itself is only read.

    Raises:
        ValueError: the file is missing, not an image, truncated, too large, or of an unsupported mode.
    """
    path = Path(path)
    im = _open_checked(path, max_megapixels)
    with im:
        mode, fmt = im.mode, im.format
        orientation = int(im.getexif().get(0x0112, 1) or 1)
        icc = im.info.get("icc_profile") or None
        alpha = None
        if _is_16bit_colour(path, im):
            raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if raw is None or raw.dtype != np.uint16:
                raise ValueError(f"image: could not decode the 16-bit samples of {path.name}")
            if raw.ndim == 3 and raw.shape[2] == 4:
                pixels, alpha = raw[:, :, 2::-1], raw[:, :, 3]
            else:
                pixels = raw[:, :, ::-1]
        elif mode in ("I;16", "I;16B", "I;16L", "I"):
            gray = np.asarray(im)
            gray = np.clip(gray, 0, 65535).astype(np.uint16)
            pixels = np.repeat(gray[:, :, None], 3, axis=2)
        elif mode == "F":
            gray = np.clip(np.asarray(im), 0.0, 1.0)
            pixels = np.repeat(np.round(gray * 65535).astype(np.uint16)[:, :, None], 3, axis=2)
        elif mode == "CMYK":
            rgb, icc = _cmyk_to_rgb(im)
            pixels = np.asarray(rgb)
        else:
            has_alpha = mode in ("LA", "RGBA", "PA") or (mode == "P" and "transparency" in im.info)
            target = "RGBA" if has_alpha else "RGB"
            im.load()
            converted = im if im.mode == target else im.convert(target)  # no extra copy of an RGB image
            if converted is not im:
                im.im = None  # drop the decoded original now: only the converted copy is needed
            arr = np.asarray(converted)  # (h, w, 3 or 4)
            del converted
            pixels = arr[:, :, :3] if has_alpha else arr
            alpha = np.ascontiguousarray(arr[:, :, 3]) if has_alpha else None
    op = _ORIENTATION_OPS.get(orientation)
    if op is not None:
        pixels = op(pixels)
        alpha = op(alpha) if alpha is not None else None
    if not (pixels.flags.c_contiguous and pixels.flags.writeable and pixels.flags.owndata):
        pixels = np.array(pixels, order="C")  # an owned, writable copy (one, only where needed)
    if alpha is not None and not (alpha.flags.c_contiguous and alpha.flags.writeable):
        alpha = np.array(alpha, order="C")
    return Artwork(pixels, alpha, icc, mode, fmt, orientation)


def load_mask(
    path: str | os.PathLike, size: tuple[int, int] | None = None, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS
) -> np.ndarray:
    """Read a damage mask as users draw it: a pixel is damaged when its brightest channel is at least half-bright
    (>= 128, or >= 32768 for 16 bit), so white, red or any bright stroke counts.

    Fully transparent pixels (alpha < half) are undamaged, whatever their colour. Faint pixels, not black but
    below the threshold (a soft grey brush, anti-aliased edges), are read as undamaged, and a warning says how
    many there were.

    Args:
        path: an image file; EXIF orientation is applied.
        size: expected (width, height). A mismatch raises instead of resizing.
        max_megapixels: size limit, as for :func:`load_image`.

    Returns:
        (h, w) bool array, True = damaged.
    """
    art = load_image(path, max_megapixels)
    _check_size("mask_image", art.size, size)
    half = 128 if art.bit_depth == 8 else 32768
    level = art.pixels.max(axis=2)  # (h, w) the brightest channel
    if art.alpha is not None:
        level = np.where(art.alpha >= half, level, 0)
    mask = level >= half
    faint = int(((level > 0) & ~mask).sum())
    if faint:
        warnings.warn(
            f"mask_image: {faint} pixels of {Path(path).name} are grey below half brightness and were read as "
            f"undamaged ({int(mask.sum())} damaged pixels read); paint damage white to include it",
            UserWarning,
            stacklevel=2,
        )
    return mask


def load_fade_map(
    path: str | os.PathLike, size: tuple[int, int] | None = None, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS
) -> np.ndarray:
    """Read a fading-strength map (L image, 0..255 = strength 0..1).

    Returns:
        (h, w) float32 in [0, 1]; exactly 0 where the file is black.
    """
    art = load_image(path, max_megapixels)
    _check_size("fade_map", art.size, size)
    return art.to_float()[:, :, 0].copy() if _is_gray(art.pixels) else art.to_float().mean(axis=2)


def _is_gray(pixels: np.ndarray) -> bool:
    return bool((pixels[:, :, 0] == pixels[:, :, 1]).all() and (pixels[:, :, 1] == pixels[:, :, 2]).all())


def _check_size(name: str, got: tuple[int, int], expected: tuple[int, int] | None) -> None:
    if expected is not None and tuple(got) != tuple(expected):
        raise ValueError(
            f"{name}: size {got[0]}x{got[1]} does not match the image size {expected[0]}x{expected[1]}; "
            "masks must have exactly the painting's size"
        )


def _png_with_icc(png: bytes, icc: bytes) -> bytes:
    """Insert an iCCP chunk right after IHDR (OpenCV cannot write ICC profiles itself)."""
    payload = b"ICC Profile\x00\x00" + zlib.compress(icc)
    chunk = struct.pack(">I", len(payload)) + b"iCCP" + payload
    chunk += struct.pack(">I", zlib.crc32(b"iCCP" + payload) & 0xFFFFFFFF)
    ihdr_end = 8 + 4 + 4 + 13 + 4
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def save_png(
    path: str | os.PathLike,
    pixels: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    icc_profile: bytes | None = None,
    protect: Iterable[str | os.PathLike] = (),
) -> Path:
    """Write a lossless PNG (8 or 16 bit, with alpha and ICC profile), atomically.

    Args:
        path: destination; must end in ``.png``.
        pixels: (h, w, 3) uint8 or uint16 RGB, or (h, w) grey (masks and fade maps are written as L PNG).
        alpha: optional (h, w) alpha of the same dtype.
        icc_profile: ICC profile bytes to embed.
        protect: input files that must never be written over; naming one of them raises.

    Returns:
        The written path.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"path: restorations are saved as lossless PNG; use a .png file name, got {path.name}")
    for p in protect:
        if Path(p).exists() and path.exists() and os.path.samefile(p, path):
            raise ValueError(f"path: {path} is an input file; refusing to write over it")
        if Path(p).resolve() == path.resolve():
            raise ValueError(f"path: {path} is an input file; refusing to write over it")
    grey = pixels.ndim == 2
    if not (grey or (pixels.ndim == 3 and pixels.shape[2] == 3)) or pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"pixels: expected (h, w, 3) or (h, w) uint8 or uint16, got {pixels.shape} {pixels.dtype}")
    if alpha is not None and (alpha.shape != pixels.shape[:2] or alpha.dtype != pixels.dtype):
        raise ValueError("alpha: must be (h, w) with the same dtype as pixels")
    bgr = pixels if grey else pixels[:, :, ::-1]
    data = np.dstack([bgr, alpha]) if alpha is not None else bgr
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(data), [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise ValueError(f"path: could not encode PNG for {path}")
    png = buf.tobytes()
    if icc_profile:
        png = _png_with_icc(png, icc_profile)
    if path.is_dir():
        raise ValueError(f"path: {path} is a folder; name a .png file inside it instead")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".png", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(png)
        os.chmod(tmp, 0o666 & ~_umask())  # as a plain open() would create it (mkstemp makes it 0600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_artwork(path: str | os.PathLike, art: Artwork, protect: Iterable[str | os.PathLike] = ()) -> Path:
    """Write an :class:`Artwork` as lossless PNG with its alpha and ICC profile."""
    return save_png(path, art.pixels, alpha=art.alpha, icc_profile=art.icc_profile, protect=protect)

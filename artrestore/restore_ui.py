"""Handlers behind the Space's Restore tab: upload, sketch the damage on a preview, restore at full resolution.

The editor shows a preview downscaled to fit :data:`PREVIEW_SIDE`; strokes are scaled back to the painting's own
size (nearest for the binary layers, bilinear for the soft fading layer), and the restoration runs on the
full-resolution original. Every failure is a ``ValueError`` naming what to fix; ``app.py`` shows it as a Gradio
error.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import PIL.Image

from .config import RestoreConfig
from .demo import MAX_UPLOAD_MEGAPIXELS
from .hub.settings import MAX_INFERENCE_STEPS, ComponentSwitches
from .io import Artwork, load_image, load_mask, save_artwork, save_png
from .restore import detected_fading_text, palette_change_text, restore_artwork

PREVIEW_SIDE = 1024
# Detect damage works on a copy at most this long (4x the preview, where its layers live): a 60 MP scan is not
# detected at full size only to be shrunk to the preview
DETECT_SIDE = 4096
OUTPUT_MAX_AGE_S = 3600.0  # the app's result files are kept for an hour after their run
BINARY_LAYERS = ("paint loss", "scratch", "crack")
FADE_LAYER = "fading (soft brush)"
LAYERS = (*BINARY_LAYERS, FADE_LAYER)
INFER = "Infer from the image"
ADD_REFERENCES = "New artist from reference images"
PALETTE_CHECKBOX = "Give the fill the named artist's palette where the painting does not look like them"
MAX_VARIANTS = 4


@dataclass
class Upload:
    """A loaded painting and its editor preview.

    Attributes:
        art: the full-resolution painting as loaded (bit depth, alpha and ICC profile kept).
        preview: (h, w, 3) uint8 downscaled copy shown in the editor.
        name: the uploaded file's stem (for the download name).
    """

    art: Artwork
    preview: np.ndarray
    name: str


def load_upload(path: str | None, max_megapixels: float = MAX_UPLOAD_MEGAPIXELS) -> Upload:
    """Read an uploaded painting and make its preview; the last upload is decoded once and shared by the upload,
    detect and restore handlers (a 60 MP scan is not decoded three times).

    Args:
        path: the uploaded file (None when nothing was uploaded).
        max_megapixels: size limit.
    """
    if not path:
        raise ValueError("image: upload a painting first")
    try:
        stat = os.stat(path)
    except OSError as e:
        raise ValueError(f"image: cannot read {Path(path).name}: {e.strerror}") from e
    return _decoded_upload(str(path), stat.st_size, stat.st_mtime_ns, float(max_megapixels))


@functools.lru_cache(maxsize=1)
def _decoded_upload(path: str, size: int, mtime_ns: int, max_megapixels: float) -> Upload:
    """:func:`load_upload`'s decoding, cached on the file's path, size and modification time."""
    art = load_image(path, max_megapixels=max_megapixels)  # raises a clear ValueError for unreadable files
    rgb = art.to_uint8()
    scale = min(1.0, PREVIEW_SIDE / max(rgb.shape[:2]))
    preview = rgb
    if scale < 1:
        size_px = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        preview = cv2.resize(rgb, size_px, interpolation=cv2.INTER_AREA)
    art.pixels.setflags(write=False)  # shared between handlers: nobody may change it in place
    return Upload(art, np.ascontiguousarray(preview), Path(path).stem)


def _alpha(layer: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """(h, w) float alpha in [0, 1] of an editor layer (RGBA, or RGB where any non-black pixel counts)."""
    if layer is None:
        return np.zeros(shape, np.float32)
    layer = np.asarray(layer)
    if layer.ndim == 3 and layer.shape[2] == 4:
        a = layer[:, :, 3].astype(np.float32) / 255
    elif layer.ndim == 3:
        a = (layer.max(axis=2) > 0).astype(np.float32)
    else:
        a = layer.astype(np.float32) / 255
    if a.shape != shape:
        a = cv2.resize(a, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return a


DAMAGE_BRUSH = (255, 32, 32)  # "#ff2020": paint loss, scratches, cracks (binary damage)
FADING_BRUSH = (160, 64, 224)  # "#a040e0": fading (the stroke's opacity is the fading strength)


def _hex(rgb) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in rgb)


def editor_roles(layers: list, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Binary damage and fading strength painted on editor layers, read by the brush colour of every stroke.

    The role of a stroke is its colour (the red damage brush or the violet fading brush), never the position of
    its layer, so deleting, adding or reordering layers cannot turn fading into paint loss. A stroke of another
    colour is ambiguous and raises a ``ValueError`` naming it.

    Args:
        layers: editor layers, (h, w, 4) RGBA (or RGB: every non-black pixel is damage) or None.
        shape: the preview's (h, w).

    Returns:
        (h, w) float32 damage opacity and (h, w) float32 fading strength, both in [0, 1].
    """
    damage = np.zeros(shape, np.float32)
    fading = np.zeros(shape, np.float32)
    red, violet = np.array(DAMAGE_BRUSH, np.float32), np.array(FADING_BRUSH, np.float32)
    for layer in layers:
        if layer is None:
            continue
        layer = np.asarray(layer)
        if layer.ndim != 3 or layer.shape[2] != 4:
            damage = np.maximum(damage, _alpha(layer, shape))
            continue
        if layer.shape[:2] != shape:
            layer = cv2.resize(layer, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
        alpha = layer[..., 3].astype(np.float32) / 255
        rgb = layer[..., :3].astype(np.float32)
        to_red = np.linalg.norm(rgb - red, axis=-1)
        to_violet = np.linalg.norm(rgb - violet, axis=-1)
        # faint edge pixels carry little colour information: only clearly painted pixels can be ambiguous
        unclear = (alpha >= 0.125) & (np.minimum(to_red, to_violet) > 90)
        if unclear.any():
            ys, xs = np.nonzero(unclear)
            colour = _hex(layer[ys[0], xs[0], :3])
            raise ValueError(
                f"mask: {int(unclear.sum())} painted pixels have the colour {colour}, which is neither the red "
                f"damage brush ({_hex(DAMAGE_BRUSH)}) nor the violet fading brush ({_hex(FADING_BRUSH)}); repaint "
                "them with one of those two brushes"
            )
        is_fading = to_violet < to_red
        damage = np.maximum(damage, np.where(is_fading, 0, alpha))
        fading = np.maximum(fading, np.where(is_fading, alpha, 0))
    return damage, fading


def damage_from_editor(
    editor: dict | None, mask_upload: str | None, upload: Upload
) -> tuple[np.ndarray, np.ndarray | None]:
    """Full-resolution damage from the editor layers (and/or an uploaded mask).

    Args:
        editor: the ImageEditor value (``{"background", "layers", "composite"}``); strokes are read by their brush
            colour (see :func:`editor_roles`), whatever layer they are on.
        mask_upload: path of an uploaded mask of the painting's full size, or None.
        upload: the painting.

    Returns:
        (H, W) bool mask and (H, W) float32 fade map in [0, 1] (None when nothing was painted with the fading
        brush).
    """
    h, w = upload.art.pixels.shape[:2]
    ph, pw = upload.preview.shape[:2]
    mask = np.zeros((h, w), bool)
    fade = None
    binary, soft = editor_roles(list((editor or {}).get("layers") or []), (ph, pw))
    if binary.any():
        mask |= cv2.resize((binary > 0).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    if soft.any():
        fade = np.clip(cv2.resize(soft, (w, h), interpolation=cv2.INTER_LINEAR), 0, 1)
    if mask_upload:
        mask |= load_mask(mask_upload, size=(w, h))  # a mask of another size raises instead of being resized
    if not mask.any() and (fade is None or not (fade > 0).any()):
        raise ValueError("mask: draw the damage on the painting (or upload a mask) before restoring")
    return mask, fade


LAYER_COLOURS = {"paint loss": DAMAGE_BRUSH, "scratch": DAMAGE_BRUSH, "crack": DAMAGE_BRUSH}
FADE_COLOUR = FADING_BRUSH


def detect_into_editor(pipe, upload: Upload) -> tuple[dict, str]:
    """Run the model's damage detector on the full-resolution painting and return an ImageEditor value whose
    layers (:data:`LAYERS` order) hold the detected paint loss, scratches, cracks and fading, ready to correct,
    with a Markdown line saying how much of the painting was marked (nothing is restored yet).

    Binary layers are opaque where the detector marked that type (downscaled to the preview with any coverage
    counting, so hair-thin cracks stay visible); the fading layer's alpha is the fade strength. Paintings longer
    than :data:`DETECT_SIDE` are detected on a copy of that size (the layers are at the preview's size anyway).
    """
    rgb = upload.art.to_uint8()
    scale = DETECT_SIDE / max(rgb.shape[:2])
    if scale < 1:
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    found = pipe.detect_damage(PIL.Image.fromarray(rgb))[0]
    ph, pw = upload.preview.shape[:2]
    layers = []
    for name, kind in zip(BINARY_LAYERS, ("loss", "scratch", "crack")):
        m = found.class_mask(kind).astype(np.float32)
        if m.shape != (ph, pw):
            m = cv2.resize(m, (pw, ph), interpolation=cv2.INTER_AREA)
        layer = np.zeros((ph, pw, 4), np.uint8)
        layer[m > 0] = (*LAYER_COLOURS[name], 255)
        layers.append(layer)
    f = found.fade if found.fade.shape == (ph, pw) else cv2.resize(found.fade, (pw, ph), interpolation=cv2.INTER_AREA)
    fade_layer = np.zeros((ph, pw, 4), np.uint8)
    fade_layer[..., :3] = FADE_COLOUR
    fade_layer[..., 3] = np.round(np.clip(f, 0, 1) * 255).astype(np.uint8)
    layers.append(fade_layer)
    if not found.mask.any() and not (found.fade > 0).any():
        raise ValueError("detect: the detector found no damage in this painting; draw it by hand")
    shares = {name: found.class_mask(kind).mean() for name, kind in zip(BINARY_LAYERS, ("loss", "scratch", "crack"))}
    shares["fading"] = (found.fade > 0).mean()
    found_text = ", ".join(f"{name} {100 * share:.2f} %" for name, share in shares.items())
    legend = ", ".join(f"Layer {i + 1} = {name}" for i, name in enumerate(LAYERS))
    note = (
        f"**Found** (share of the painting): {found_text}. Nothing has been restored: check the layers, erase what "
        "is intact paint, add what was missed, then press **Restore**. The editor numbers the layers it receives "
        f"({legend}); the brush colour decides what a stroke means (red: damage, violet: fading), so deleting "
        "or reordering layers changes nothing else."
    )
    if shares["fading"] > 0:
        note += (
            f" **Fading:** {detected_fading_text()}. Paint the rest of the faded area with the violet brush, or "
            "erase the layer."
        )
    return {"background": upload.preview, "layers": layers, "composite": None}, note


def resolve_artist(pipe, choice: str | None, references: list[str] | None, new_name: str | None) -> str | None:
    """The ``artist`` argument for the pipeline from the UI choice (adding a new artist when asked).

    Args:
        pipe: the loaded pipeline.
        choice: a bank artist, :data:`INFER` or :data:`ADD_REFERENCES`.
        references: uploaded reference image paths (for a new artist).
        new_name: the new artist's name.
    """
    if choice in (None, "", INFER):
        return None
    if choice == ADD_REFERENCES:
        if not new_name or not new_name.strip():
            raise ValueError("artist: type a name for the new artist")
        if not references:
            raise ValueError("references: upload at least one reference painting of the new artist")
        images = [load_upload(r).art.to_pil() for r in references]
        pipe.add_artist(new_name.strip(), images)
        return new_name.strip()
    if choice not in pipe.memory_bank.artist_vectors:
        raise ValueError(f"artist: {choice!r} is not in the memory bank")
    return choice


def restore_upload(
    pipe,
    upload: Upload,
    mask: np.ndarray,
    fade: np.ndarray | None,
    artist: str | None,
    steps: int,
    seed: int,
    variants: int,
    out_dir: str | Path | None = None,
    strength: float | None = None,
    artist_palette: bool = True,
) -> list[dict]:
    """Restore ``variants`` versions (seeds ``seed``, ``seed + 1``, ...) at full resolution and save them as PNG.

    Args:
        strength: share of the noise schedule denoised from the model's exemplar fill, in [0, 1] (0: none, the
            refined fill is the restoration and every variant is the same; 1: from noise); None: the model's
            ``default_strength``, as ``artrestore restore``.
        artist_palette: where the painting does not look like the named ``artist``, move the fill's colours to
            that artist's palette (False: the fill keeps the painting's own palette).

    Returns:
        Per variant: ``{"path", "preview" (uint8 at preview size), "zoom" (the largest damaged region before and
        after, at full resolution, for the first variant; else None), "seed", "record" (the pipeline's
        RestorationRecord), "attribution", "certificate"}`` (the last two as the pipeline gives them, possibly None).
    """
    if not 1 <= int(variants) <= MAX_VARIANTS:
        raise ValueError(f"variants: expected 1..{MAX_VARIANTS}, got {variants}")
    steps = _whole_number(steps, "steps", 1, MAX_INFERENCE_STEPS)
    seed = _whole_number(seed, "seed", 0, 2**32 - 1)
    out_dir = Path(out_dir or output_folder())
    if strength is not None and (isinstance(strength, bool) or not 0 <= float(strength) <= 1):
        raise ValueError(f"strength: expected a number in [0, 1], got {strength!r}")
    if not isinstance(artist_palette, bool):
        raise ValueError(f"artist_palette: expected True or False, got {artist_palette!r}")
    switches = None if artist_palette else ComponentSwitches(artist_palette=False)
    defaults = RestoreConfig(input="")  # the same first fill as `artrestore restore`
    init = defaults.init
    strength = None if strength is None else float(strength)
    results = []
    ph, pw = upload.preview.shape[:2]
    for v in range(int(variants)):
        restored, out = restore_artwork(
            pipe,
            upload.art,
            mask,
            fade,
            artist=artist,
            steps=int(steps),
            seed=int(seed) + v,
            init=init,
            strength=strength,
            switches=switches,
        )
        path = save_artwork(out_dir / f"{upload.name}_restored_seed{int(seed) + v}.png", restored)
        rgb = restored.to_uint8()
        preview = cv2.resize(rgb, (pw, ph), interpolation=cv2.INTER_AREA) if (ph, pw) != rgb.shape[:2] else rgb
        restored_region = mask | (fade > 0) if fade is not None else mask
        results.append(
            {
                "path": str(path),
                "preview": preview,
                "zoom": damage_zoom(upload.art.to_uint8(), rgb, restored_region) if v == 0 else None,
                "seed": int(seed) + v,
                "record": out.records[0],
                "attribution": out.attributions[0],
                "certificate": out.certificates[0],
            }
        )
    return results


def palette_note(record) -> str:
    """Markdown telling the user that the fill's colours were moved to the named artist's palette, and how to keep
    the painting's own (empty when nothing moved).

    Args:
        record: the first variant's ``RestorationRecord``.
    """
    change = getattr(record, "palette", None)
    if not change:
        return ""
    return (
        f"**Palette moved:** {palette_change_text(change)}. Untick *{PALETTE_CHECKBOX}* to keep the painting's own "
        "colours."
    )


def output_folder(root: str | Path | None = None, max_age_s: float = OUTPUT_MAX_AGE_S) -> Path:
    """A new folder for one run's files, under ``root`` (default: ``<temp>/artrestore-outputs``); the folders of
    runs older than ``max_age_s`` are deleted first, so the app's outputs stay bounded."""
    import shutil
    import time

    root = Path(root or Path(tempfile.gettempdir()) / "artrestore-outputs")
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("run-*"):
        try:
            if old.is_dir() and time.time() - old.stat().st_mtime > max_age_s:
                shutil.rmtree(old, ignore_errors=True)
        except FileNotFoundError:  # another request removed it first
            continue
    return Path(tempfile.mkdtemp(prefix="run-", dir=root))


def _whole_number(value, name: str, lo: int, hi: int) -> int:
    """``value`` as an int in [lo, hi] (1.0 is accepted, 1.5 and "x" are refused), else a ``ValueError``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not number.is_integer() or not lo <= number <= hi:
        raise ValueError(f"{name}: expected a whole number in {lo}..{hi}, got {value!r}")
    return int(number)


EXEMPLAR_NOTE = (
    "No memory-bank patch was used: at denoising strength 0 the losses are filled with this painting's own texture "
    "(PatchMatch), corrected by the exemplar refiner. Raise the strength above 0 to have the model draw on the bank."
)


def attribution_views(
    attribution,
    preview_shape: tuple[int, int],
    style_artist: str | None = None,
    thumb: int = 128,
    *,
    denoised: bool = True,
) -> tuple[np.ndarray | None, list, str]:
    """The attribution overlay at preview size, the gallery ``[(thumbnail, short caption)]`` of the sources that
    restored at least one block, and a Markdown note with each one's provenance and, for a patch of another artist
    than the restoration's, why it was retrieved.

    Args:
        attribution: a ``BlockAttribution`` or None (no retrieval).
        preview_shape: (h, w) of the preview.
        style_artist: the artist the restoration was conditioned on (None: the style was inferred).
        thumb: side of the gallery thumbnails (bank patches are decoded at a few dozen pixels).
        denoised: whether anything was denoised (False: the note says where the fill came from instead).
    """
    if attribution is None:
        return None, [], "" if denoised else EXEMPLAR_NOTE
    ph, pw = preview_shape
    overlay = np.asarray(attribution.overlay)
    if overlay.shape[:2] != (ph, pw):
        overlay = cv2.resize(overlay, (pw, ph), interpolation=cv2.INTER_AREA)
    from artrestore.hub.attribution import PALETTE

    gallery, lines = [], []
    used = [(rank, src) for rank, src in enumerate(attribution.top_sources, 1) if src.blocks > 0]
    for shown, (rank, src) in enumerate(used, 1):
        image = np.asarray(src.thumbnail) if src.thumbnail is not None else np.zeros((8, 8, 3), np.uint8)
        image = cv2.resize(image, (thumb, thumb), interpolation=cv2.INTER_NEAREST)
        colour = tuple(int(c) for c in PALETTE[(rank - 1) % len(PALETTE)])  # the overlay's colour for this source
        image = cv2.copyMakeBorder(image, 8, 8, 8, 8, cv2.BORDER_CONSTANT, value=colour)
        gallery.append((image, f"#{shown} {src.artist}, {src.blocks} blocks"))
        x0, y0, x1, y1 = src.box
        line = (
            f"{shown}. **{src.artist}**, {Path(src.painting).name} [{x0},{y0}-{x1},{y1}]: top source of "
            f"{src.blocks} restored blocks, {src.share:.0%} of the attention"
        )
        if style_artist is None:
            line += (
                " (no artist was chosen, so the memory bank was searched across all artists for patches like the "
                "paint around the damage)"
            )
        elif src.artist != style_artist:
            line += f" (not {style_artist}: the bank has no closer patch of {style_artist} for this context)"
        lines.append(line)
    note = (
        "Sources that restored at least one block:\n\n" + "\n".join(lines)
        if lines
        else ("No memory-bank patch was the top source of any restored block: the painting's own context restored it.")
    )
    return overlay, gallery, note


def damage_zoom(
    before: np.ndarray, after: np.ndarray, mask: np.ndarray, *, margin: float = 0.5, side: int = 640
) -> tuple[np.ndarray, np.ndarray]:
    """The largest damaged region, cropped from the painting before and after restoration, for a close look.

    Args:
        before: (H, W, 3) uint8 damaged painting.
        after: (H, W, 3) uint8 restoration.
        mask: (H, W) bool restored pixels (damage and fading).
        margin: context around the region, as a share of its size.
        side: the crops are resized so the longer side is this many pixels (upscaled with nearest neighbours, so
            pixels stay visible).
    """
    if not mask.any():
        return before, after
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = (int(v) for v in stats[biggest, :4])
    pad = int(round(margin * max(w, h))) + 8
    h_img, w_img = mask.shape
    x0, y0 = max(0, x - pad), max(0, y - pad)
    x1, y1 = min(w_img, x + w + pad), min(h_img, y + h + pad)
    crops = [np.ascontiguousarray(img[y0:y1, x0:x1]) for img in (before, after)]
    scale = side / max(crops[0].shape[:2])
    if scale != 1:
        size = (max(1, round(crops[0].shape[1] * scale)), max(1, round(crops[0].shape[0] * scale)))
        interp = cv2.INTER_NEAREST if scale > 1 else cv2.INTER_AREA
        crops = [cv2.resize(c, size, interpolation=interp) for c in crops]
    return crops[0], crops[1]


def certificate_views(certificate, folder: str | Path, name: str) -> tuple[str, np.ndarray | None, str | None]:
    """The certificate in words (Markdown: the plain sentence first, then what it rests on, then the technical
    lines), a plot of the restored blocks against genuine passages of the artist, and a JSON file.

    Args:
        certificate: a ``StyleCertificate`` or None (no certifier, or an artist it does not know).
        folder: where the JSON goes.
        name: file stem.
    """
    if certificate is None:
        return "No style certificate (the model has no certifier, or it does not know this artist).", None, None
    c = certificate
    verdict = {True: "PASS", False: "FAIL", None: "UNCALIBRATED"}[c.passed]
    rate = "n/a" if c.violation_rate != c.violation_rate else f"{c.violation_rate:.0%}"
    text = (
        f"**{verdict}.** {c.summary}\n\n{c.guarantee}\n\n"
        f"<small>Technical: {rate} of {len(c.blocks)} blocks above the {c.threshold_kind} threshold "
        f"{c.threshold:.3f} for {c.artist} ({c.artist_source}); pass if at most {c.max_violation_rate:.0%}; "
        f"conformal level {c.alpha:g}; embedding {c.embedding}, head {c.head_version}.</small>"
    )
    path = Path(folder) / f"{name}_certificate.json"
    path.write_text(json.dumps(c.to_json(), indent=1))
    return text, certificate_plot(c), str(path)


def certificate_plot(certificate) -> np.ndarray:
    """(h, w, 3) uint8 plot: the distribution of genuine passages' style distances (from the certificate's
    quantiles of them), the threshold, and each restored block as a marker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = certificate
    d = np.array(c.distances)
    fig, ax = plt.subplots(figsize=(6.4, 2.8), dpi=100)
    quantiles = np.asarray(c.genuine_quantiles, np.float64)
    if len(quantiles) > 1 and np.ptp(quantiles) > 0:
        q = np.maximum.accumulate(quantiles)
        widths = np.diff(q).clip(1e-4)
        density = (1 / (len(q) - 1)) / widths  # equal mass between consecutive quantiles
        ax.stairs(density / density.max(), q, fill=True, color="#BBBBBB", label=f"genuine {c.artist} passages")
    ax.axvline(c.threshold, color="black", ls="--", lw=1, label=f"threshold {c.threshold:.3f}")
    colours = ["#D55E00" if v else "#0072B2" for v in (b.violation for b in c.blocks)]
    jitter = np.random.default_rng(0).uniform(0.15, 0.85, len(d))
    ax.scatter(d, jitter, c=colours, s=36, zorder=3, edgecolors="white", label="restored blocks")
    ax.set_xlabel("style distance (lower = closer to the artist)")
    ax.set_yticks([])
    ax.set_ylim(0, 1.05)
    ax.set_title(f"Restored blocks against genuine {c.artist} passages", fontsize=10)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.9)
    fig.tight_layout()
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


def save_damage_maps(mask: np.ndarray, fade: np.ndarray | None, folder: str | Path, name: str) -> list[str]:
    """Write the full-resolution damage actually restored (L PNGs, editable and reusable with ``--mask``/``--fade``).

    Returns:
        The written paths (mask, then fade map when there is one).
    """
    folder = Path(folder)
    paths = [str(save_png(folder / f"{name}_damage_mask.png", mask.astype(np.uint8) * 255))]
    if fade is not None:
        paths.append(str(save_png(folder / f"{name}_fade_map.png", np.round(fade * 255).astype(np.uint8))))
    return paths


def mask_overlay(preview: np.ndarray, mask: np.ndarray, fade: np.ndarray | None) -> np.ndarray:
    """The damage that will be restored, drawn over the preview (red = mask, violet = fading strength)."""
    ph, pw = preview.shape[:2]
    m = cv2.resize(mask.astype(np.uint8), (pw, ph), interpolation=cv2.INTER_NEAREST) > 0
    out = preview.astype(np.float32)
    if fade is not None:
        f = cv2.resize(fade.astype(np.float32), (pw, ph), interpolation=cv2.INTER_AREA)[..., None]
        out = out * (1 - 0.6 * f) + np.array([160, 60, 220], np.float32) * 0.6 * f
    out[m] = out[m] * 0.3 + np.array([255, 30, 30], np.float32) * 0.7
    return np.clip(out, 0, 255).astype(np.uint8)


def run_summary(results: list[dict], mask: np.ndarray, fade: np.ndarray | None, artist: str | None) -> str:
    """A JSON record of the run (what was restored, with which settings)."""
    first = results[0]["record"].to_json()
    record = {
        "damaged_pixels": int(mask.sum()),
        "faded_pixels": int((fade > 0).sum()) if fade is not None else 0,
        "fading_restored_by": first.get("fading"),
        "artist": artist or "inferred from the image",
        "steps": first.get("steps"),
        "started_from": f"first fill ({first['init']})" if first.get("init") else "noise",
        "tiles": first.get("tiles"),
        "palette": (
            f"moved from {first['palette']['from']}'s towards {first['palette']['to']}'s (the painting does not look "
            f"like {first['palette']['to']}: distance gap {first['palette']['gap']:.3f})"
            if first.get("palette")
            else "the painting's own"
        ),
        "seeds": [r["seed"] for r in results],
        "memory_bank_rows_retrieved": len(first.get("retrieved", [])),
        "certificate": (
            {k: results[0]["certificate"].to_json()[k] for k in ("artist", "violation_rate", "threshold", "passed")}
            if results[0].get("certificate") is not None
            else None
        ),
        "files": [Path(r["path"]).name for r in results],
    }
    return json.dumps(record, indent=1)


def to_pil(array: np.ndarray) -> PIL.Image.Image:
    return PIL.Image.fromarray(np.ascontiguousarray(array))


def example_cases(data_root: str | Path, masks_dir: str | Path, cache_dir: str | Path, size: int = 512) -> list:
    """Example rows ``[painting, mask]`` for the Restore tab, built from the authored masks in ``examples/masks``.

    The paintings come from ``data_root`` (the shared data, never committed): each is resized and centre-cropped to
    ``size`` as the masks were drawn, damaged inside the mask by the simulator, and written to ``cache_dir``.
    Fading masks are left out (the tab takes binary masks as uploads). Returns ``[]`` when the data is absent.
    """
    from .damage import KINDS, DamageSimulator, derive_seed
    from .data import PaintingCollection, center_square

    root, masks_dir, cache_dir = Path(data_root), Path(masks_dir), Path(cache_dir)
    if not root.is_dir() or not masks_dir.is_dir():
        return []
    by_stem = {Path(r.painting_id).name: r for r in PaintingCollection.scan(root).records}
    rows = []
    for mask_path in sorted(masks_dir.glob("*_mask.png")):
        kind = next((k for k in KINDS if mask_path.name.endswith(f"_{k}_mask.png")), None)
        stem = mask_path.name[: -len(f"_{kind}_mask.png")] if kind else None
        if kind in (None, "fading") or stem not in by_stem:
            continue
        out = cache_dir / f"{stem}_{kind}_damaged.png"
        if not out.exists():
            clean = center_square(load_image(by_stem[stem].path).to_uint8(), size)
            mask = load_mask(mask_path, (size, size))
            sample = DamageSimulator().apply_mask(clean, mask, kind, derive_seed("example", stem, kind))
            save_png(out, sample.image)
        rows.append([str(out), str(mask_path)])
    return rows

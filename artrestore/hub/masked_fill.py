"""Masked fills: filling damaged pixels before encoding, thin damage in pixel space, and the per-step edit masks of
differential (fade) restoration.

The denoiser sees the damaged image with its holes filled by a smooth push-pull fill (the mean of the surrounding
colours at the coarsest scale that has any), so the masked-image latents carry colour context into the hole
instead of the black of SD-inpaint. Training uses the same function, so train and inference inputs match.

Before any component reads a painting, its damaged pixels are replaced by the same push-pull fill
(:func:`blank_damage`): what a hole holds, whether a scan's white, the simulator's damage or intact paint under a
mark, then changes nothing in the restoration.

Thin damage (cracks, scratches: connected parts no ``width`` x ``width`` square fits in) is split off the mask by
:func:`split_thin_damage` and filled in pixel space by :func:`fill_thin_damage`, a biharmonic fill of its
surroundings, instead of being denoised. Of the thin damage, only hairlines (:func:`split_hairlines`) keep that
fill; its wider stretches are given the texture-copying first fill like any loss.

Self-contained (torch and numpy; SciPy and scikit-image when installed, with torch fallbacks): this file ships with
exported checkpoints.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .damage_detection import binary_opening


def pushpull_fill(image: torch.Tensor, hole: torch.Tensor, levels: int = 12) -> torch.Tensor:
    """Fill ``hole`` pixels by pull (masked downsampling) then push (upsampling into the holes).

    Args:
        image: (b, c, H, W).
        hole: (b, 1, H, W), 1 where pixels are unknown (values in [0, 1] are treated as > 0.5 = unknown).
        levels: pyramid depth.

    Returns:
        (b, c, H, W): ``image`` outside the holes, a smooth fill inside.
    """
    known = (hole < 0.5).to(image.dtype)  # (b, 1, H, W)
    pyramid = [(image * known, known)]
    for _ in range(levels):
        val, w = pyramid[-1]
        if min(val.shape[-2:]) < 2:
            break
        val = F.avg_pool2d(val, 2, ceil_mode=True)
        w = F.avg_pool2d(w, 2, ceil_mode=True)
        pyramid.append((val, w))
    val, w = pyramid[-1]
    filled = val / w.clamp_min(1e-8)
    if (w <= 0).any():  # nothing known at all in some image: fill with mid-grey
        filled = torch.where(w > 0, filled, torch.full_like(filled, 0.5))
    for val, w in reversed(pyramid[:-1]):
        up = F.interpolate(filled, size=val.shape[-2:], mode="bilinear", align_corners=False)
        here = val / w.clamp_min(1e-8)
        alpha = w.clamp(0, 1)  # partly known coarse pixels keep their own mean
        filled = alpha * here + (1 - alpha) * up
    return image * known + filled * (1 - known)


def blank_damage(image: np.ndarray, mask: np.ndarray, *, margin: int = 64) -> np.ndarray:
    """``image`` with its ``mask`` pixels replaced by the push-pull fill of the undamaged ones (:func:`pushpull_fill`,
    on the damage's bounding box grown by ``margin``): what a hole holds (a scan's white, the simulator's damage, the
    paint under a mark) then reaches no component that reads the painting around it.

    Args:
        image: (H, W, 3) uint8.
        mask: (H, W) bool, the binary damage.
        margin: undamaged pixels around the damage's bounding box that the fill reads.

    Returns:
        (H, W, 3) uint8, equal to ``image`` outside ``mask``.
    """
    out = image.copy()
    if not mask.any():
        return out
    window = damage_window(mask, margin)
    x = torch.from_numpy(np.array(image[window][..., :3])).permute(2, 0, 1)[None].float()  # (1, 3, h, w), a copy
    hole = torch.from_numpy(np.array(mask[window]))[None, None].float()  # (1, 1, h, w)
    filled = pushpull_fill(x, hole)[0].permute(1, 2, 0).numpy()  # (h, w, 3) in 0..255
    region = mask[window]
    out[window][region] = np.clip(np.round(filled[region]), 0, 255).astype(np.uint8)
    return out


_LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


def _laplacian(x: torch.Tensor) -> torch.Tensor:
    """(b, c, H, W) -> the grid graph's 5-point Laplacian: each pixel's sum of (neighbour - pixel) over its neighbours
    inside the grid, so nothing beyond the border pulls on it (a symmetric operator, as conjugate gradients need)."""
    c = x.shape[1]
    kernel = x.new_tensor(_LAPLACIAN).view(1, 1, 3, 3).expand(c, 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=c)


def biharmonic_fill(
    image: torch.Tensor, hole: torch.Tensor, max_iterations: int = 300, tolerance: float = 1e-4
) -> torch.Tensor:
    """Fill ``hole`` pixels with the smoothest surface through their surroundings: the minimiser of the squared
    Laplacian (discrete biharmonic equation inside the holes), solved by conjugate gradients from a push-pull start.

    Made for thin damage (cracks, scratches): every hole pixel is close to known ones, so a few tens of iterations
    converge, and lines of colour that cross a crack continue through it. The Laplacian is the pixel grid's own
    (each pixel against its neighbours inside the image), so nothing beyond the image border pulls on a hole that
    reaches it: a hole at the border of a flat painting fills flat. Only the bounding box of the holes, with a 2 px
    margin, is computed.

    Args:
        image: (b, c, H, W).
        hole: (b, 1, H, W), 1 where pixels are unknown (> 0.5 counts as unknown).
        max_iterations: conjugate-gradient iterations at most.
        tolerance: stop when every residual norm falls below this share of its starting value.

    Returns:
        (b, c, H, W): ``image`` outside the holes, the biharmonic fill inside.
    """
    return _polyharmonic_fill(image, hole, 2, max_iterations, tolerance)


def harmonic_fill(
    image: torch.Tensor, hole: torch.Tensor, max_iterations: int = 300, tolerance: float = 1e-4
) -> torch.Tensor:
    """Fill ``hole`` pixels with the membrane through their border: the discrete Laplace equation inside the holes,
    solved by conjugate gradients from a push-pull start, as :func:`biharmonic_fill` (same border handling).

    A membrane continues the border's colours without overshoot (each filled pixel is a weighted mean of border
    pixels), which is what a broad estimate of a large hole's colours needs; it does not continue lines as the
    biharmonic fill does. Iterations grow with the holes' width, so large holes are best filled at a reduced size.
    The arguments are :func:`biharmonic_fill`'s; returns (b, c, H, W): ``image`` outside the holes, the harmonic
    fill inside.
    """
    return _polyharmonic_fill(image, hole, 1, max_iterations, tolerance)


def _polyharmonic_fill(
    image: torch.Tensor, hole: torch.Tensor, order: int, max_iterations: int, tolerance: float
) -> torch.Tensor:
    """The fill of ``hole`` that solves (-Laplacian)^order = 0 there (1: harmonic, 2: biharmonic)."""
    unknown = hole > 0.5  # (b, 1, H, W)
    if not bool(unknown.any()):
        return image.clone()
    rows = unknown.any(dim=(0, 1, 3)).nonzero()[:, 0]
    cols = unknown.any(dim=(0, 1, 2)).nonzero()[:, 0]
    y0, y1 = max(0, int(rows[0]) - 2), min(image.shape[-2], int(rows[-1]) + 3)
    x0, x1 = max(0, int(cols[0]) - 2), min(image.shape[-1], int(cols[-1]) + 3)
    x = image[..., y0:y1, x0:x1].float().contiguous()  # (b, c, h, w); a channels-last view is many times slower
    m = unknown[..., y0:y1, x0:x1].float().contiguous()
    known = x * (1 - m)

    def power(v: torch.Tensor) -> torch.Tensor:  # (-Laplacian)^order, a symmetric positive operator
        for _ in range(order):
            v = -_laplacian(v)
        return v

    def operator(v: torch.Tensor) -> torch.Tensor:  # the system restricted to the unknowns
        return power(v * m) * m

    u = pushpull_fill(x, m) * m  # (b, c, h, w) start
    r = -power(known) * m - operator(u)
    p = r.clone()
    rs = (r * r).sum((2, 3), keepdim=True)  # (b, c, 1, 1)
    stop = rs * tolerance**2
    for _ in range(max_iterations):
        if bool((rs <= stop).all()):
            break
        ap = operator(p)
        alpha = rs / (p * ap).sum((2, 3), keepdim=True).clamp_min(1e-30)
        u = u + alpha * p
        r = r - alpha * ap
        rs_next = (r * r).sum((2, 3), keepdim=True)
        p = r + rs_next / rs.clamp_min(1e-30) * p
        rs = rs_next
    out = image.clone()
    filled = (known + u * m).to(image.dtype)
    out[..., y0:y1, x0:x1] = torch.where(unknown[..., y0:y1, x0:x1], filled, image[..., y0:y1, x0:x1])
    return out


def edit_mask(strength: torch.Tensor, step: int, num_steps: int) -> torch.Tensor:
    """Which latent pixels may change at denoising step ``step`` of ``num_steps`` (differential diffusion).

    A pixel of change strength ``s`` is edited during the last ``s`` share of the steps: before that, it is reset
    to the input's latent noised to the current level. Binary damage has strength 1 (edited at every step).

    Args:
        strength: (b, 1, h, w) in [0, 1].
        step: 0-based step index.
        num_steps: number of steps.

    Returns:
        (b, 1, h, w) float in {0, 1}.
    """
    threshold = 1.0 - (step + 1) / num_steps
    return (strength > threshold).to(strength.dtype)


def split_thin_damage(mask: np.ndarray, width: int) -> np.ndarray:
    """The connected parts of ``mask`` that are thin everywhere: no ``width`` x ``width`` square fits anywhere in
    them (cracks, scratches). A part that holds a compact loss anywhere stays whole, thin branches included, so the
    denoiser never sees half of a damaged area as context.

    Args:
        mask: (H, W) bool.
        width: square side in px; 0 or 1 = nothing is thin.

    Returns:
        (H, W) bool.
    """
    thin = np.zeros_like(mask)
    if width <= 1 or not mask.any():
        return thin
    window = damage_window(mask, width)
    box = mask[window]
    core = binary_opening(box, width)
    thin[window] = box & ~reconstruct(core, box) if core.any() else box
    return thin


def compact_damage(mask: np.ndarray, width: int) -> np.ndarray:
    """The pixels of ``mask`` that a ``width`` x ``width`` square inside ``mask`` covers: the body of each loss,
    without cracks, scratches and the thin branches of a loss (the complement of :func:`split_hairlines`' test).

    Args:
        mask: (H, W) bool.
        width: square side in px; 0 or 1 = all of ``mask``.

    Returns:
        (H, W) bool, a subset of ``mask``.
    """
    if width <= 1 or not mask.any():
        return mask.copy()
    window = damage_window(mask, width)
    body = np.zeros_like(mask)
    body[window] = mask[window] & binary_opening(mask[window], width)
    return body


def damage_window(mask: np.ndarray, width: int) -> tuple[slice, slice]:
    """The bounding box of a non-empty ``mask`` grown by ``width`` on every side (clipped to the image): an opening
    with a ``width`` px square computed there equals the one computed on the whole image."""
    ys, xs = np.nonzero(mask)
    return (
        slice(max(0, ys.min() - width), min(mask.shape[0], ys.max() + 1 + width)),
        slice(max(0, xs.min() - width), min(mask.shape[1], xs.max() + 1 + width)),
    )


def split_pixel_space_damage(mask: np.ndarray, thin_px: int, hairline_px: int) -> tuple[np.ndarray, np.ndarray]:
    """The pipeline's split of binary damage: (thin parts, their hairlines), both (H, W) bool.

    The hairlines (:func:`split_hairlines` of the thin parts, :func:`split_thin_damage`) keep the biharmonic fill;
    everything else of ``mask`` is a loss for the exemplar fill and the denoiser. The fill is solved over the whole
    thin parts, so no hairline reads a damaged pixel of a wider stretch beside it.
    """
    thin = split_thin_damage(mask, thin_px)
    return thin, split_hairlines(thin, hairline_px)


def split_hairlines(thin: np.ndarray, width: int) -> np.ndarray:
    """The pixels of ``thin`` that no ``width`` x ``width`` square inside ``thin`` covers: hairlines (most cracks,
    fine scratches), where a smooth fill of the surroundings is right. Wider stretches of thin damage (a broad
    scratch) lose the painting's texture in a smooth fill and are left to the exemplar fill.

    Args:
        thin: (H, W) bool, thin damage (:func:`split_thin_damage`).
        width: square side in px; 0 or 1 = all of ``thin`` is hairline.

    Returns:
        (H, W) bool, a subset of ``thin``.
    """
    if width <= 1 or not thin.any():
        return thin.copy()
    return thin & ~compact_damage(thin, width)


def reconstruct(seed: np.ndarray, mask: np.ndarray, check_every: int = 16) -> np.ndarray:
    """Morphological reconstruction: the connected parts (8-neighbourhood) of ``mask`` that contain a ``seed``
    pixel. (H, W) bool arrays.

    SciPy's component labelling is used when it is installed; otherwise the seed is dilated inside the mask until
    nothing changes (the same result, but slow when long thin branches hang off the seed).
    """
    try:
        from scipy import ndimage
    except ImportError:
        pass
    else:
        labels, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
        keep = np.unique(labels[seed & mask])
        return np.isin(labels, keep[keep > 0])
    inside = torch.from_numpy(mask)[None, None].float()  # (1, 1, H, W)
    grown = torch.from_numpy(seed & mask)[None, None].float()
    while True:
        before = grown
        for _ in range(check_every):
            grown = F.max_pool2d(grown, 3, 1, 1) * inside
        if torch.equal(grown, before):
            return grown[0, 0].numpy() > 0.5


def fill_thin_damage(image: np.ndarray, thin: np.ndarray) -> np.ndarray:
    """Fill the ``thin`` pixels of an (H, W, 3) uint8 image with the biharmonic fill of their surroundings (only
    they change): colour lines that cross a crack continue through it.

    scikit-image's direct solver is used when it is installed; otherwise the same equation is solved by conjugate
    gradients in torch (``masked_fill.biharmonic_fill``; equal to within a grey level, but slower).
    """
    try:
        from skimage.restoration import inpaint_biharmonic
    except ImportError:
        x = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)[None].float() / 255.0  # (1, 3, H, W)
        filled = biharmonic_fill(x, torch.from_numpy(thin)[None, None].float())[0].permute(1, 2, 0).numpy() * 255.0
    else:
        filled = inpaint_biharmonic(image, thin, split_into_regions=True, channel_axis=-1) * 255.0
    out = image.copy()
    out[thin] = np.clip(np.round(filled[thin]), 0, 255).astype(np.uint8)
    return out

"""Masked PSNR and SSIM: fidelity measured only where the restoration was allowed to act."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _region(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """(b, 1, h, w) float region weights; all ones when ``mask`` is None."""
    if mask is None:
        return torch.ones_like(like[:, :1])
    if mask.ndim == 3:
        mask = mask[:, None]
    if mask.shape[0] != like.shape[0] or mask.shape[-2:] != like.shape[-2:]:
        raise ValueError(f"mask: expected (b, [1,] h, w) matching {tuple(like.shape)}, got {tuple(mask.shape)}")
    return mask.float()


def masked_psnr(
    x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None, max_val: float = 1.0
) -> torch.Tensor:
    """PSNR over the pixels in ``mask``.

    Args:
        x: (b, c, h, w) prediction.
        y: (b, c, h, w) reference.
        mask: (b, 1, h, w) or (b, h, w); non-zero = counted. None = whole image.
        max_val: the data range.

    Returns:
        (b,) PSNR in dB (``inf`` for identical regions, ``nan`` for empty masks).
    """
    if x.shape != y.shape:
        raise ValueError(f"x, y: shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    m = _region(mask, x)  # (b, 1, h, w)
    count = m.sum((1, 2, 3)) * x.shape[1]
    mse = (((x.float() - y.float()) ** 2) * m).sum((1, 2, 3)) / count
    return 10 * torch.log10(max_val**2 / mse)


def _gaussian(size: int, sigma: float) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def ssim_map(
    x: torch.Tensor, y: torch.Tensor, max_val: float = 1.0, window: int = 11, sigma: float = 1.5
) -> torch.Tensor:
    """Per-pixel SSIM (Gaussian window, Wang et al. 2004 constants), averaged over channels.

    Args:
        x: (b, c, h, w).
        y: (b, c, h, w).

    Returns:
        (b, h, w) SSIM map (reflect padding keeps the input size).
    """
    c = x.shape[1]
    g = _gaussian(window, sigma).to(x)
    kernel = (g[:, None] * g[None, :])[None, None].repeat(c, 1, 1, 1)  # (c, 1, k, k)
    pad = window // 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(t, (pad,) * 4, mode="reflect"), kernel, groups=c)

    x, y = x.float(), y.float()
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return s.mean(1)  # (b, h, w)


def masked_ssim(
    x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None, max_val: float = 1.0
) -> torch.Tensor:
    """Mean SSIM over the pixels in ``mask``.

    Args:
        x: (b, c, h, w) prediction.
        y: (b, c, h, w) reference.
        mask: (b, 1, h, w) or (b, h, w); None = whole image.

    Returns:
        (b,) mean SSIM.
    """
    if x.shape != y.shape:
        raise ValueError(f"x, y: shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    m = _region(mask, x)[:, 0]  # (b, h, w)
    return (ssim_map(x, y, max_val) * m).sum((1, 2)) / m.sum((1, 2))

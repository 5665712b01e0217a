"""CIEDE2000 colour difference on sRGB tensors."""

from __future__ import annotations

import math

import torch

# sRGB (D65) -> XYZ
_RGB_TO_XYZ = torch.tensor(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_WHITE = torch.tensor([0.95047, 1.0, 1.08883])


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] to CIELAB (D65).

    Args:
        rgb: (b, 3, h, w).

    Returns:
        (b, 3, h, w) L*, a*, b*.
    """
    rgb = rgb.double().clamp(0, 1)
    linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = torch.einsum("ij,bjhw->bihw", _RGB_TO_XYZ.to(linear), linear)  # (b, 3, h, w)
    xyz = xyz / _WHITE.to(xyz).view(1, 3, 1, 1)
    eps = 216 / 24389
    f = torch.where(xyz > eps, xyz.clamp_min(1e-12) ** (1 / 3), (24389 / 27 * xyz + 16) / 116)
    L = 116 * f[:, 1] - 16
    a = 500 * (f[:, 0] - f[:, 1])
    b = 200 * (f[:, 1] - f[:, 2])
    return torch.stack([L, a, b], dim=1)


def ciede2000_lab(lab1: torch.Tensor, lab2: torch.Tensor) -> torch.Tensor:
    """CIEDE2000 between two Lab tensors (b, 3, h, w) -> (b, h, w), with kL = kC = kH = 1."""
    L1, a1, b1 = lab1.unbind(1)
    L2, a2, b2 = lab2.unbind(1)
    c1, c2 = torch.hypot(a1, b1), torch.hypot(a2, b2)
    c_mean7 = ((c1 + c2) / 2) ** 7
    g = 0.5 * (1 - torch.sqrt(c_mean7 / (c_mean7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = torch.hypot(a1p, b1), torch.hypot(a2p, b2)
    h1p = torch.atan2(b1, a1p) % (2 * math.pi)
    h2p = torch.atan2(b2, a2p) % (2 * math.pi)

    dL = L2 - L1
    dC = c2p - c1p
    dh = h2p - h1p
    dh = torch.where(dh > math.pi, dh - 2 * math.pi, dh)
    dh = torch.where(dh < -math.pi, dh + 2 * math.pi, dh)
    dh = torch.where(c1p * c2p == 0, torch.zeros_like(dh), dh)
    dH = 2 * torch.sqrt(c1p * c2p) * torch.sin(dh / 2)

    L_mean = (L1 + L2) / 2
    C_mean = (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_mean = torch.where(
        torch.abs(h1p - h2p) > math.pi,
        torch.where(h_sum < 2 * math.pi, (h_sum + 2 * math.pi) / 2, (h_sum - 2 * math.pi) / 2),
        h_sum / 2,
    )
    h_mean = torch.where(c1p * c2p == 0, h_sum, h_mean)
    t = (
        1
        - 0.17 * torch.cos(h_mean - math.radians(30))
        + 0.24 * torch.cos(2 * h_mean)
        + 0.32 * torch.cos(3 * h_mean + math.radians(6))
        - 0.20 * torch.cos(4 * h_mean - math.radians(63))
    )
    d_theta = math.radians(30) * torch.exp(-(((torch.rad2deg(h_mean) - 275) / 25) ** 2))
    C_mean7 = C_mean**7
    r_c = 2 * torch.sqrt(C_mean7 / (C_mean7 + 25.0**7))
    s_l = 1 + 0.015 * (L_mean - 50) ** 2 / torch.sqrt(20 + (L_mean - 50) ** 2)
    s_c = 1 + 0.045 * C_mean
    s_h = 1 + 0.015 * C_mean * t
    r_t = -torch.sin(2 * d_theta) * r_c
    return torch.sqrt((dL / s_l) ** 2 + (dC / s_c) ** 2 + (dH / s_h) ** 2 + r_t * (dC / s_c) * (dH / s_h))


def delta_e2000(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-pixel CIEDE2000 colour difference of two sRGB images.

    Args:
        x: (b, 3, h, w) in [0, 1].
        y: (b, 3, h, w) in [0, 1].

    Returns:
        (b, h, w) float32 ΔE2000.
    """
    if x.ndim != 4 or x.shape[1] != 3 or x.shape != y.shape:
        raise ValueError(
            f"x, y: expected two (b, 3, h, w) tensors of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    return ciede2000_lab(rgb_to_lab(x), rgb_to_lab(y)).float()


def masked_delta_e(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean ΔE2000 over ``mask`` ((b, [1,] h, w); None = everywhere) -> (b,)."""
    de = delta_e2000(x, y)  # (b, h, w)
    if mask is None:
        return de.mean((1, 2))
    m = (mask[:, 0] if mask.ndim == 4 else mask).float()
    return (de * m).sum((1, 2)) / m.sum((1, 2))

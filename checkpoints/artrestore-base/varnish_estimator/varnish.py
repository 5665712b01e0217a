"""VarnishEstimator: estimates a painting's ageing colour transform and inverts it under the fade map.

Aged varnish acts on colour, not on structure: it desaturates, tints (yellow-brown) and lightens. Written as one
per-image transform of strength ``f`` per pixel (the fade map)::

    aged(I)  = l + (1 - l) * t ⊙ ((1 - d) I + d * luma(I))            # luma(I) = wᵀI, w = Rec. 601 weights
    faded(I) = (1 - f) I + f * aged(I) = M(f) I + f l                  # M(f) = diag(a) + u wᵀ

with ``a = (1 - f) + f (1 - l)(1 - d) t`` and ``u = f (1 - l) d t``. ``M(f)`` is a diagonal plus a rank-one matrix,
so the original colour follows in closed form (Sherman–Morrison), pixel by pixel, keeping every edge and brush stroke
of the input. The five numbers (d, l, t) are unknown; a small CNN reads the whole painting and its fade map and
predicts them, comparing the faded areas with the unfaded ones.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

LUMA = (0.299, 0.587, 0.114)
# Upper bounds of desaturation and lightening: at d -> 1 the transform loses chroma for good and cannot be inverted.
MAX_DESATURATION = 0.95
MAX_LIGHTENING = 0.8


def remove_varnish(image: torch.Tensor, fade: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Invert the ageing transform pixel by pixel.

    Args:
        image: (b, 3, h, w) faded image in [0, 1].
        fade: (b, 1, h, w) fading strength in [0, 1].
        params: (b, 5) desaturation d, lightening l and tint t (r, g, b), as :class:`VarnishEstimator` returns them.

    Returns:
        (b, 3, h, w) restored colours, clipped to [0, 1]; exactly ``image`` where ``fade`` is 0.
    """
    if params.ndim != 2 or params.shape[1] != 5:
        raise ValueError(f"params: expected (b, 5) desaturation, lightening, tint r/g/b, got {tuple(params.shape)}")
    d = params[:, 0].view(-1, 1, 1, 1)
    lighten = params[:, 1].view(-1, 1, 1, 1)
    tint = params[:, 2:].view(-1, 3, 1, 1)
    w = image.new_tensor(LUMA).view(1, 3, 1, 1)
    a = (1 - fade) + fade * (1 - lighten) * (1 - d) * tint  # (b, 3, h, w) diagonal of M(f)
    u = fade * (1 - lighten) * d * tint  # (b, 3, h, w) rank-one part
    y = image - fade * lighten  # (b, 3, h, w)
    ay, au = y / a, u / a
    coef = (w * ay).sum(1, keepdim=True) / (1 + (w * au).sum(1, keepdim=True))  # (b, 1, h, w)
    restored = (ay - au * coef).clamp(0, 1)
    return torch.where(fade > 0, restored, image)


def _masked_mean(feat: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(b, c, h, w), (b, 1, h, w) -> (b, c) weighted spatial mean (zeros where the weight sums to 0)."""
    return (feat * weight).sum((2, 3)) / weight.sum((2, 3)).clamp_min(1e-6)


class VarnishEstimator(ModelMixin, ConfigMixin):
    """Predicts the ageing transform (desaturation, lightening, tint) of a painting from the painting and its fade map.

    The network sees the painting at ``size`` px (longest side). Its features are pooled three ways: over unfaded
    paint, over faded paint weighted by strength, and over the whole image; an MLP maps the three to the five
    parameters. Pixels marked as binary damage (cracks, losses) are left out of both pools.

    Args:
        channels: widths of the strided convolution stages.
        size: longest side the painting is resized to before estimation.
    """

    @register_to_config
    def __init__(self, channels: tuple[int, ...] = (32, 64, 96, 128), size: int = 160) -> None:
        super().__init__()
        channels = tuple(channels)
        if len(channels) < 1 or size < 32:
            raise ValueError(f"channels, size: expected at least one stage and size >= 32, got {channels}, {size}")
        layers, c_in = [], 6  # rgb, fade, damage mask, rgb-luma chroma magnitude
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.GroupNorm(8, c), nn.SiLU()]
            layers += [nn.Conv2d(c, c, 3, padding=1), nn.GroupNorm(8, c), nn.SiLU()]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(3 * c_in, 128), nn.SiLU(), nn.Linear(128, 5))

    def forward(self, image: torch.Tensor, fade: torch.Tensor, damage: torch.Tensor | None = None) -> torch.Tensor:
        """Ageing parameters.

        Args:
            image: (b, 3, h, w) in [0, 1], any size (resized to ``size`` internally).
            fade: (b, 1, h, w) fading strength in [0, 1].
            damage: (b, 1, h, w) binary damage to ignore (cracks, losses), or None.

        Returns:
            (b, 5): desaturation in [0, 0.95], lightening in [0, 0.8], tint r, g, b in (0, 1].
        """
        if damage is None:
            damage = torch.zeros_like(fade)
        scale = self.config.size / max(image.shape[-2:])
        if scale < 1:
            hw = [max(8, round(s * scale)) for s in image.shape[-2:]]
            image, fade = F.interpolate(image, hw, mode="area"), F.interpolate(fade, hw, mode="area")
            damage = F.adaptive_max_pool2d(damage, hw)
        chroma = (image - (image * image.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)).abs().sum(1, True)
        x = torch.cat([image * 2 - 1, fade, damage, chroma], 1)  # (b, 6, h, w)
        feat = self.features(x)  # (b, c, h / 2^n, w / 2^n)
        hw = feat.shape[-2:]
        keep = 1 - F.adaptive_max_pool2d(damage, hw)  # (b, 1, h', w')
        f = F.adaptive_avg_pool2d(fade, hw)
        pooled = torch.cat(
            [_masked_mean(feat, keep * (f <= 0.02).float()), _masked_mean(feat, keep * f), feat.mean((2, 3))], 1
        )  # (b, 3c)
        raw = self.head(pooled)  # (b, 5)
        d = torch.sigmoid(raw[:, :1]) * MAX_DESATURATION
        lighten = torch.sigmoid(raw[:, 1:2]) * MAX_LIGHTENING
        tint = torch.sigmoid(raw[:, 2:] + 2.0)  # starts near 0.88 (mild tint)
        return torch.cat([d, lighten, tint], 1)

    @torch.no_grad()
    def estimate(self, image: np.ndarray, fade: np.ndarray, damage: np.ndarray | None = None) -> torch.Tensor:
        """The painting's ageing transform, estimated on its pixels outside ``damage``.

        Args:
            image: (h, w, 3) float32 in [0, 1].
            fade: (h, w) float32 fading strength in [0, 1].
            damage: (h, w) bool binary damage (excluded from the estimate), or None.

        Returns:
            (1, 5) parameters for :meth:`invert` (and :func:`remove_varnish`).
        """
        x = self._tensor(image).permute(2, 0, 1)[None]  # (1, 3, h, w)
        m = None if damage is None else self._tensor(damage.astype(np.float32))[None, None]
        return self(x, self._tensor(fade)[None, None], m)

    @torch.no_grad()
    def invert(self, image: np.ndarray, fade: np.ndarray, params: torch.Tensor, rows: int = 512) -> np.ndarray:
        """Invert the transform ``params`` pixel by pixel at full resolution, in bands of ``rows`` rows (bounded
        memory on full-resolution scans).

        Args:
            image: (h, w, 3) float32 in [0, 1].
            fade: (h, w) float32 fading strength in [0, 1].
            params: (1, 5) from :meth:`estimate`, e.g. estimated on another image of the same painting.
            rows: band height.

        Returns:
            (h, w, 3) float32 in [0, 1], bit-identical to ``image`` where ``fade`` is 0.
        """
        out = np.empty(image.shape, np.float32)
        for y0 in range(0, image.shape[0], rows):
            x = self._tensor(image[y0 : y0 + rows]).permute(2, 0, 1)[None]  # (1, 3, r, w)
            band = remove_varnish(x, self._tensor(fade[y0 : y0 + rows])[None, None], params)  # (1, 3, r, w)
            out[y0 : y0 + rows] = band[0].permute(1, 2, 0).float().cpu().numpy()  # unfaded pixels come back as given
        return out

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device, self.dtype)

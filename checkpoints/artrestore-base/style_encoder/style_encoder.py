"""StyleEncoder: a painting (or its undamaged part) to a unit-length style vector.

An artist's vector is the normalised mean of the vectors of a few reference works, so a new artist needs no
retraining. Self-contained (torch + diffusers only) for ``trust_remote_code`` export.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class StyleEncoder(ModelMixin, ConfigMixin):
    """Masked first- and second-order feature statistics of a small CNN, projected to ``style_dim``.

    Args:
        channels: CNN widths; each level halves the resolution.
        style_dim: output dimension.
    """

    @register_to_config
    def __init__(self, channels: tuple[int, ...] = (32, 64, 128), style_dim: int = 128) -> None:
        super().__init__()
        self.blocks = nn.ModuleList()
        c_prev = 3
        for c in channels:
            self.blocks.append(
                nn.Sequential(
                    nn.Conv2d(c_prev, c, 3, stride=2, padding=1), nn.SiLU(), nn.Conv2d(c, c, 3, padding=1), nn.SiLU()
                )
            )
            c_prev = c
        stats = 2 * sum(channels)
        self.proj = nn.Sequential(nn.Linear(stats, 2 * style_dim), nn.SiLU(), nn.Linear(2 * style_dim, style_dim))

    def forward(self, image: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Style vectors.

        Args:
            image: (b, 3, H, W) in [0, 1].
            valid: (b, 1, H, W), 1 where pixels may be used (e.g. the undamaged part); None = all.

        Returns:
            (b, style_dim) unit vectors.
        """
        h = image * 2 - 1
        w = torch.ones_like(image[:, :1]) if valid is None else valid.float()
        stats = []
        for block in self.blocks:
            h = block(h)  # (b, c, H / 2^l, W / 2^l)
            w = F.adaptive_avg_pool2d(w, h.shape[-2:]) if w.shape[-2:] != h.shape[-2:] else w
            wn = w / w.sum((2, 3), keepdim=True).clamp_min(1e-6)  # (b, 1, h, w)
            mean = (h * wn).sum((2, 3))  # (b, c)
            var = ((h - mean[..., None, None]) ** 2 * wn).sum((2, 3))
            stats += [mean, (var + 1e-6).sqrt()]
        return F.normalize(self.proj(torch.cat(stats, dim=1)), dim=1)

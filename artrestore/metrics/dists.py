"""DISTS (Ding et al., 2020): structure and texture similarity on VGG16 features with L2 pooling.

The learned per-channel weights (alpha, beta) are those shipped in the ``dists-pytorch`` package; the VGG16
backbone comes from :mod:`.backbones`. Distances are in [0, 1], lower = more similar.
"""

from __future__ import annotations

import functools
from importlib.resources import files

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .backbones import vgg16_features

_CHANNELS = (3, 64, 128, 256, 512, 512)
# VGG16 `features` ranges of the five stages (max pools at 4, 9, 16, 23 are replaced by L2 pooling).
_STAGES = ((0, 4), (5, 9), (10, 16), (17, 23), (24, 30))


class L2Pool(nn.Module):
    """Hanning-windowed L2 pooling with stride 2 (an anti-aliased replacement for max pooling)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        window = np.hanning(5)[1:-1]
        kernel = torch.tensor(np.outer(window, window), dtype=torch.float32)
        kernel = kernel / kernel.sum()
        self.register_buffer("kernel", kernel[None, None].repeat(channels, 1, 1, 1))  # (c, 1, 3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(x * x, self.kernel, stride=2, padding=1, groups=x.shape[1])
        return (out + 1e-12).sqrt()


class DISTSModel(nn.Module):
    """DISTS network: VGG16 stages with L2 pooling plus learned alpha/beta."""

    def __init__(self) -> None:
        super().__init__()
        features = vgg16_features()
        stages = []
        for i, (a, b) in enumerate(_STAGES):
            layers = [] if i == 0 else [L2Pool(_CHANNELS[i])]
            layers += [features[j] for j in range(a, b)]
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        weights = torch.load(str(files("DISTS_pytorch") / "weights.pt"), map_location="cpu", weights_only=True)
        self.register_buffer("alpha", weights["alpha"].reshape(1, -1, 1, 1).float())  # (1, 1475, 1, 1)
        self.register_buffer("beta", weights["beta"].reshape(1, -1, 1, 1).float())

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = (x - self.mean) / self.std
        feats = [x]
        for stage in self.stages:
            h = stage(h)
            feats.append(h)
        return feats

    def forward(self, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """(b,) distances of ``x`` and ``y`` ((b, 3, h, w) in [0, 1]); with ``weight`` ((b, 1, h, w) in [0, 1]),
        every mean, variance and covariance is taken over the pixels it covers, pooled to each stage's size."""
        fx, fy = self.features(x), self.features(y)
        total = self.alpha.sum() + self.beta.sum()
        alphas = torch.split(self.alpha / total, list(_CHANNELS), dim=1)
        betas = torch.split(self.beta / total, list(_CHANNELS), dim=1)
        c1 = c2 = 1e-6
        similarity = torch.zeros(x.shape[0], device=x.device)
        for a, b, u, v in zip(alphas, betas, fx, fy):
            w = None  # the plain spatial mean: the bench's path builds no weight map
            if weight is not None:
                w = F.adaptive_avg_pool2d(weight.to(u.dtype), u.shape[-2:])  # (b, 1, h_l, w_l)
                w = w / w.sum((2, 3), keepdim=True).clamp_min(1e-8)
            mean = functools.partial(_spatial_mean, weight=w)
            mu_u, mu_v = mean(u), mean(v)
            structure = (2 * mu_u * mu_v + c1) / (mu_u**2 + mu_v**2 + c1)
            var_u, var_v = mean((u - mu_u) ** 2), mean((v - mu_v) ** 2)
            cov = mean(u * v) - mu_u * mu_v
            texture = (2 * cov + c2) / (var_u + var_v + c2)
            similarity = similarity + (a * structure).sum((1, 2, 3)) + (b * texture).sum((1, 2, 3))
        return 1 - similarity  # (b,)


def _spatial_mean(t: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """(b, c, 1, 1) mean of (b, c, h, w) ``t`` over space, weighted by ``weight`` ((b, 1, h, w), summing to one)."""
    return t.mean((2, 3), keepdim=True) if weight is None else (t * weight).sum((2, 3), keepdim=True)


@functools.lru_cache(maxsize=1)
def dists_model() -> DISTSModel:
    """The shared, frozen DISTS model."""
    return DISTSModel().eval().requires_grad_(False)


@torch.no_grad()
def dists(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """DISTS distance.

    Args:
        x: (b, 3, h, w) in [0, 1].
        y: (b, 3, h, w) in [0, 1].

    Returns:
        (b,) distances in [0, 1].
    """
    if x.ndim != 4 or x.shape[1] != 3 or x.shape != y.shape:
        raise ValueError(
            f"x, y: expected two (b, 3, h, w) tensors of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    return dists_model().to(x.device)(x.float(), y.float())


def masked_dists(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """DISTS with its statistics taken over the pixels ``weight`` covers (a hole and its rim), differentiable in
    ``x`` and ``y``: a texture loss for training. With a weight of ones it equals :func:`dists`.

    Args:
        x: (b, 3, h, w) in [0, 1].
        y: (b, 3, h, w) in [0, 1].
        weight: (b, 1, h, w) pixel weights in [0, 1]; each image needs some nonzero weight.

    Returns:
        (b,) distances.
    """
    if x.ndim != 4 or x.shape[1] != 3 or x.shape != y.shape or weight.shape != (x.shape[0], 1, *x.shape[2:]):
        raise ValueError(
            f"x, y, weight: expected (b, 3, h, w) twice and (b, 1, h, w), got {tuple(x.shape)}, {tuple(y.shape)} "
            f"and {tuple(weight.shape)}"
        )
    return dists_model().to(x.device)(x, y, weight)

"""ArtRestoreUNet: the latent denoiser, conditioned on the masked image, the damage (FiLM), the artist's style
(AdaLN + cross-attention tokens) and retrieved memory-bank latents (cross-attention tokens).

Self-contained (torch + diffusers only): this file is copied into exported checkpoints for ``trust_remote_code``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """(b,) timesteps -> (b, dim) sinusoidal features."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.cos(), args.sin()], dim=1)


class AdaResBlock(nn.Module):
    """Residual block whose GroupNorms are scaled and shifted by the timestep + style embedding (AdaLN)."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, c_in), c_in, affine=False)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(min(groups, c_out), c_out, affine=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.ada1 = nn.Linear(emb_dim, 2 * c_in)
        self.ada2 = nn.Linear(emb_dim, 2 * c_out)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.ada1(emb)[..., None, None].chunk(2, dim=1)  # (b, c_in, 1, 1) each
        h = self.conv1(F.silu(self.norm1(x) * (1 + scale) + shift))
        scale, shift = self.ada2(emb)[..., None, None].chunk(2, dim=1)
        h = self.conv2(F.silu(self.norm2(h) * (1 + scale) + shift))
        return self.skip(x) + h


class TokenCrossAttention(nn.Module):
    """Cross-attention from latent pixels to condition tokens (style tokens and retrieved patches).

    With ``route_sources`` = r > 0, every latent pixel reads the retrieved tokens of only the r retrieved patches
    that receive most of its attention (summed over each patch's ``cells`` tokens and the heads); the other
    patches' weights are set to 0 and the rest renormalised (the first ``lead_tokens`` style tokens always stay).
    A block's restoration then depends on the patch it is attributed to, and on no other.

    The last attention probabilities are kept in ``last_probs`` when ``keep_probs`` is set (for attribution).

    Args:
        channels: feature channels.
        token_dim: width of the condition tokens.
        heads: attention heads.
        groups: GroupNorm groups.
        lead_tokens: tokens before the retrieved ones (the style tokens), never routed away.
        cells: consecutive tokens per retrieved patch.
        route_sources: retrieved patches each pixel may read (0: all).
    """

    def __init__(
        self,
        channels: int,
        token_dim: int,
        heads: int,
        groups: int,
        lead_tokens: int = 0,
        cells: int = 1,
        route_sources: int = 0,
    ) -> None:
        super().__init__()
        self.heads = heads
        self.lead_tokens, self.cells, self.route_sources = lead_tokens, cells, route_sources
        self.norm = nn.GroupNorm(min(groups, channels), channels)
        self.q = nn.Linear(channels, channels, bias=False)
        self.kv = nn.Linear(token_dim, 2 * channels, bias=False)
        self.out = nn.Linear(channels, channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.keep_probs = False
        self.last_probs: torch.Tensor | None = None

    def route(self, probs: torch.Tensor) -> torch.Tensor:
        """Keep each pixel's top ``route_sources`` retrieved patches: (b, heads, hw, n) -> same, renormalised."""
        b, heads, hw, n = probs.shape
        lead = self.lead_tokens
        sources = (n - lead) // self.cells
        if self.route_sources <= 0 or sources <= self.route_sources:
            return probs
        per_source = probs[..., lead:].reshape(b, heads, hw, sources, self.cells).sum((1, 4))  # (b, hw, sources)
        top = per_source.topk(self.route_sources, dim=-1).indices  # (b, hw, r)
        keep = torch.zeros_like(per_source, dtype=torch.bool).scatter_(-1, top, True)  # (b, hw, sources)
        keep = torch.cat([keep.new_ones(b, hw, lead), keep.repeat_interleave(self.cells, -1)], -1)  # (b, hw, n)
        routed = probs * keep[:, None]
        return routed / routed.sum(-1, keepdim=True).clamp_min(1e-12)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor, token_mask: torch.Tensor | None) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.q(self.norm(x).flatten(2).transpose(1, 2))  # (b, hw, c)
        k, v = self.kv(tokens).chunk(2, dim=-1)  # (b, n, c) each

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, t.shape[1], self.heads, c // self.heads).transpose(1, 2)  # (b, heads, n, c/heads)

        q, k, v = split(q), split(k), split(v)
        bias = None
        if token_mask is not None:  # (b, n) True = usable
            bias = torch.zeros(token_mask.shape, device=x.device, dtype=q.dtype)
            bias = bias.masked_fill(~token_mask, float("-inf"))[:, None, None, :]  # (b, 1, 1, n)
        if self.keep_probs or self.route_sources > 0:
            logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (b, heads, hw, n)
            probs = self.route((logits + bias if bias is not None else logits).softmax(-1))
            if self.keep_probs:
                self.last_probs = probs.detach()
            attn = probs @ v
        else:
            attn = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        attn = attn.transpose(1, 2).reshape(b, h * w, c)
        return x + self.out(attn).transpose(1, 2).reshape(b, c, h, w)


@dataclass
class ArtRestoreUNetOutput(BaseOutput):
    """Output of :class:`ArtRestoreUNet`.

    Attributes:
        sample: (b, out_channels, h, w) the model prediction (noise or v, as the scheduler is configured).
    """

    sample: torch.Tensor


class ArtRestoreUNet(ModelMixin, ConfigMixin):
    """Latent inpainting UNet with mask-adaptive FiLM, style AdaLN and cross-attention, and retrieval tokens.

    Inputs are concatenated as in SD-inpaint: noisy latents, masked-image latents and the latent-resolution mask.

    Args:
        latent_channels: channels of the VAE latents.
        block_channels: widths per resolution level (level 0 = latent resolution).
        attention_levels: which levels have cross-attention.
        style_dim: size of the style vector.
        style_tokens: number of cross-attention tokens made from the style vector.
        token_dim: width of every condition token.
        retrieval_dim: size of one retrieved memory-bank latent patch, flattened (0 disables retrieval tokens).
        retrieval_cells: cells per side each retrieved patch is split into, one token per cell (1: one token per
            patch). Cell tokens carry local content plus a learned cell-position embedding, so a latent pixel can
            attend to the part of a patch that matches it.
        retrieval_routing: retrieved patches each latent pixel reads in every cross-attention (its most attended
            ones; 0: all). An inference-time sparsification: with 1, each block follows one patch, which is what
            the attribution names.
        heads: attention heads.
        groups: GroupNorm groups.
    """

    @register_to_config
    def __init__(
        self,
        latent_channels: int = 4,
        block_channels: tuple[int, ...] = (64, 128, 128),
        attention_levels: tuple[bool, ...] = (False, True, True),
        style_dim: int = 128,
        style_tokens: int = 4,
        token_dim: int = 128,
        retrieval_dim: int = 4 * 4 * 4,
        retrieval_cells: int = 1,
        heads: int = 4,
        groups: int = 16,
        retrieval_routing: int = 1,
    ) -> None:
        super().__init__()
        block_channels, attention_levels = tuple(block_channels), tuple(attention_levels)
        if len(attention_levels) != len(block_channels):
            raise ValueError("attention_levels: need one flag per entry of block_channels")
        if not isinstance(retrieval_routing, int) or retrieval_routing < 0:
            raise ValueError(
                f"retrieval_routing: expected patches per pixel >= 0 (0 = all), got {retrieval_routing!r}"
            )
        route = {"lead_tokens": style_tokens, "cells": retrieval_cells**2, "route_sources": retrieval_routing}
        emb_dim = 4 * block_channels[0]
        self.time_mlp = nn.Sequential(nn.Linear(block_channels[0], emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.style_mlp = nn.Sequential(nn.Linear(style_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.null_style = nn.Parameter(torch.zeros(style_dim))  # used when no style is given (and for dropout)
        self.style_to_tokens = nn.Linear(style_dim, style_tokens * token_dim)
        if retrieval_dim % (latent_channels * retrieval_cells**2):
            raise ValueError(
                f"retrieval_cells: {retrieval_cells}^2 cells of {latent_channels} channels must divide retrieval_dim "
                f"({retrieval_dim})"
            )
        cell_dim = retrieval_dim // retrieval_cells**2
        self.retrieval_proj = nn.Linear(cell_dim, token_dim) if retrieval_dim > 0 else None
        self.cell_position = None  # (cells^2, token_dim): where a cell sits in its patch
        if retrieval_cells > 1:
            self.cell_position = nn.Parameter(0.02 * torch.randn(retrieval_cells**2, token_dim))
        self.token_type = nn.Parameter(torch.zeros(2, token_dim))  # style vs retrieved
        self.conv_in = nn.Conv2d(2 * latent_channels + 1, block_channels[0], 3, padding=1)

        self.down_res, self.down_attn, self.downsamplers = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        c_prev = block_channels[0]
        skip_channels = [c_prev]
        for i, (c, attn) in enumerate(zip(block_channels, attention_levels)):
            self.down_res.append(AdaResBlock(c_prev, c, emb_dim, groups))
            self.down_attn.append(TokenCrossAttention(c, token_dim, heads, groups, **route) if attn else nn.Identity())
            skip_channels.append(c)
            last = i == len(block_channels) - 1
            self.downsamplers.append(nn.Identity() if last else nn.Conv2d(c, c, 3, stride=2, padding=1))
            c_prev = c
        self.mid_res1 = AdaResBlock(c_prev, c_prev, emb_dim, groups)
        self.mid_attn = TokenCrossAttention(c_prev, token_dim, heads, groups, **route)
        self.mid_res2 = AdaResBlock(c_prev, c_prev, emb_dim, groups)

        self.up_res, self.up_attn, self.upsamplers = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for i, (c, attn) in reversed(list(enumerate(zip(block_channels, attention_levels)))):
            self.up_res.append(AdaResBlock(c_prev + skip_channels.pop(), c, emb_dim, groups))
            self.up_attn.append(TokenCrossAttention(c, token_dim, heads, groups, **route) if attn else nn.Identity())
            self.upsamplers.append(nn.Identity() if i == 0 else nn.Conv2d(c, c, 3, padding=1))
            c_prev = c
        self.norm_out = nn.GroupNorm(min(groups, c_prev), c_prev)
        self.conv_out = nn.Conv2d(c_prev + skip_channels.pop(), latent_channels, 3, padding=1)

    def condition_tokens(
        self, style: torch.Tensor, retrieved: torch.Tensor | None, retrieved_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-attention tokens: style tokens first, then retrieved patches.

        Args:
            style: (b, style_dim).
            retrieved: (b, k, retrieval_dim) flattened memory-bank latent patches, or None.
            retrieved_mask: (b, k) bool, False for padding slots, or None.

        Returns:
            ``tokens`` (b, style_tokens + k * cells^2, token_dim) and ``mask`` (b, style_tokens + k * cells^2) bool;
            retrieved patch ``j`` owns the ``cells^2`` consecutive tokens from ``style_tokens + j * cells^2``.
        """
        b = style.shape[0]
        cfg = self.config
        tokens = self.style_to_tokens(style).reshape(b, cfg.style_tokens, cfg.token_dim) + self.token_type[0]
        mask = torch.ones(b, cfg.style_tokens, dtype=torch.bool, device=style.device)
        if retrieved is not None and self.retrieval_proj is not None and retrieved.shape[1] > 0:
            cells = self.retrieval_cells(retrieved)  # (b, k, n_cells, cell_dim)
            r_tokens = self.retrieval_proj(cells) + self.token_type[1]  # (b, k, n_cells, token_dim)
            if self.cell_position is not None:
                r_tokens = r_tokens + self.cell_position
            tokens = torch.cat([tokens, r_tokens.flatten(1, 2)], dim=1)
            r_mask = (
                retrieved_mask
                if retrieved_mask is not None
                else torch.ones(retrieved.shape[:2], dtype=torch.bool, device=style.device)
            )
            mask = torch.cat([mask, r_mask.repeat_interleave(cells.shape[2], dim=1)], dim=1)
        return tokens, mask

    def retrieval_cells(self, retrieved: torch.Tensor) -> torch.Tensor:
        """Split flattened patches into cell features, source-major (the token order of :meth:`condition_tokens`).

        Args:
            retrieved: (b, k, c * p * p) flattened (c, p, p) latent patches.

        Returns:
            (b, k, cells^2, c * (p / cells)^2).
        """
        b, k, d = retrieved.shape
        c, n = self.config.latent_channels, self.config.retrieval_cells
        if n == 1:
            return retrieved[:, :, None]
        p = math.isqrt(d // c)
        if c * p * p != d or p % n:
            raise ValueError(f"retrieved: patches of {d} values do not split into {n}x{n} cells of {c} channels")
        s = p // n
        x = retrieved.reshape(b, k, c, n, s, n, s).permute(0, 1, 3, 5, 2, 4, 6)  # (b, k, n, n, c, s, s)
        return x.reshape(b, k, n * n, c * s * s)

    @staticmethod
    def _film(h: torch.Tensor, film: list[tuple[torch.Tensor, torch.Tensor]] | None, level: int) -> torch.Tensor:
        if film is None:
            return h
        gamma, beta = film[level]
        if gamma.shape[-2:] != h.shape[-2:]:
            gamma = F.interpolate(gamma, size=h.shape[-2:], mode="bilinear", align_corners=False)
            beta = F.interpolate(beta, size=h.shape[-2:], mode="bilinear", align_corners=False)
        return h * (1 + gamma) + beta

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        masked_latents: torch.Tensor,
        latent_mask: torch.Tensor,
        style: torch.Tensor | None = None,
        film: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
        retrieved: torch.Tensor | None = None,
        retrieved_mask: torch.Tensor | None = None,
        return_dict: bool = True,
        *,
        token_style: torch.Tensor | None = None,
        style_adaln: bool = True,
    ) -> ArtRestoreUNetOutput | tuple[torch.Tensor]:
        """Predict the noise (or v) of ``sample``.

        Args:
            sample: (b, c, h, w) noisy latents.
            timestep: scalar or (b,) timesteps.
            masked_latents: (b, c, h, w) latents of the image with the damage blanked.
            latent_mask: (b, 1, h, w) damage at latent resolution (1 = to restore).
            style: (b, style_dim) style vectors, or None (the learned null style).
            film: per-level (gamma, beta) from :class:`FiLMMaskEncoder`, or None (no modulation).
            retrieved: (b, k, retrieval_dim) retrieved latent patches, or None.
            retrieved_mask: (b, k) bool validity of the retrieved slots.
            return_dict: return :class:`ArtRestoreUNetOutput` (else a tuple).
            token_style: (b, style_dim) style the cross-attention tokens are made from (None: ``style``).
            style_adaln: shift and scale the norms by the style (False: by the timestep alone).

        Returns:
            The prediction, (b, c, h, w).
        """
        b = sample.shape[0]
        levels = len(self.config.block_channels)
        if sample.shape[-1] % 2 ** (levels - 1) or sample.shape[-2] % 2 ** (levels - 1):
            raise ValueError(f"sample: latent sides must be multiples of {2 ** (levels - 1)}, got {sample.shape[-2:]}")
        t = torch.as_tensor(timestep, device=sample.device).flatten()
        t = t.expand(b) if t.numel() == 1 else t
        if style is None:
            style = self.null_style[None].expand(b, -1)
        emb = self.time_mlp(timestep_embedding(t, self.config.block_channels[0]))  # (b, e)
        if style_adaln:
            emb = emb + self.style_mlp(style)
        token_style = style if token_style is None else token_style
        tokens, token_mask = self.condition_tokens(token_style, retrieved, retrieved_mask)

        h = self.conv_in(torch.cat([sample, masked_latents, latent_mask], dim=1))  # (b, c0, h, w)
        skips = [h]
        for level, (res, attn, down) in enumerate(zip(self.down_res, self.down_attn, self.downsamplers)):
            h = self._film(res(h, emb), film, level)
            h = attn(h, tokens, token_mask) if isinstance(attn, TokenCrossAttention) else h
            skips.append(h)
            h = down(h)
        h = self.mid_res2(self.mid_attn(self.mid_res1(h, emb), tokens, token_mask), emb)
        for i, (res, attn, up) in enumerate(zip(self.up_res, self.up_attn, self.upsamplers)):
            level = levels - 1 - i
            h = self._film(res(torch.cat([h, skips.pop()], dim=1), emb), film, level)
            h = attn(h, tokens, token_mask) if isinstance(attn, TokenCrossAttention) else h
            if level > 0:
                h = up(F.interpolate(h, scale_factor=2, mode="nearest"))
        out = self.conv_out(torch.cat([F.silu(self.norm_out(h)), skips.pop()], dim=1))
        return ArtRestoreUNetOutput(sample=out) if return_dict else (out,)

    def attention_modules(self) -> list[TokenCrossAttention]:
        """Every cross-attention module (for attribution hooks)."""
        return [m for m in self.modules() if isinstance(m, TokenCrossAttention)]

"""ExemplarRefiner: a pixel-space network that improves an exemplar (PatchMatch) fill of the damaged pixels.

The refiner sees the exemplar fill, the undamaged painting around it, the hole and the style vector, and predicts a
residual that is added to the fill inside the hole only. Its last layer starts at zero, so before training it
returns the exemplar fill exactly: training can only learn what improves on the exemplar, and pixels outside the
hole are never touched. Self-contained (torch + diffusers only) for ``trust_remote_code`` export.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class StyleResBlock(nn.Module):
    """Residual block whose group norms are modulated by the style vector (AdaLN-style scale and shift)."""

    def __init__(self, c_in: int, c_out: int, style_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(8, c_in, affine=False)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(8, c_out, affine=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.mod = nn.Linear(style_dim, 2 * (c_in + c_out))
        nn.init.zeros_(self.mod.weight)
        nn.init.zeros_(self.mod.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.c_in = c_in

    @staticmethod
    def _modulate(norm: nn.GroupNorm, x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        """SiLU(GroupNorm(x) * (1 + scale) + shift), (b, c, h, w); one style needs no broadcast pass of its own."""
        if x.shape[0] == 1:  # inference: the modulation is the norm's own affine step
            h = F.group_norm(x, norm.num_groups, 1 + scale[0], shift[0], norm.eps)
        else:
            h = norm(x) * (1 + scale[..., None, None]) + shift[..., None, None]
        return F.silu(h, inplace=not torch.is_grad_enabled())

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        c_out = self.conv1.out_channels
        s1, b1, s2, b2 = self.mod(style).split([self.c_in, self.c_in, c_out, c_out], dim=1)  # (b, c) each
        h = self.conv1(self._modulate(self.norm1, x, s1, b1))  # (b, c_out, h, w)
        h = self.conv2(self._modulate(self.norm2, h, s2, b2))
        return self.skip(x) + h


class SpectralBlock(nn.Module):
    """Global mixing at the bottleneck: a 1x1 convolution on the 2-D Fourier transform of the features, so every
    position sees the whole tile (the spectral transform of LaMa's fast Fourier convolutions). Its output layer
    starts at zero: added to a trained refiner, the block changes nothing until it is trained."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(8, channels)
        self.spectral = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = F.silu(self.norm(h))  # (b, c, h, w)
        freq = torch.fft.rfft2(x.float(), norm="ortho")  # (b, c, h, w // 2 + 1), complex
        mixed = F.silu(self.spectral(torch.cat([freq.real, freq.imag], dim=1)))  # (b, 2c, h, w // 2 + 1)
        real, imag = mixed.chunk(2, dim=1)
        y = torch.fft.irfft2(torch.complex(real, imag), s=x.shape[-2:], norm="ortho").to(h.dtype)  # (b, c, h, w)
        return h + self.out(y)


class ContextAttention(nn.Module):
    """Copying from the undamaged paint: every position attends to the bottleneck positions whose cells hold no hole
    pixel, and adds what it reads there (the contextual attention of DeepFill v2, learned instead of PatchMatch's
    fixed colour distance). Its output layer starts at zero: added to a trained refiner, the block changes nothing
    until it is trained.

    Args:
        channels: feature width.
        heads: attention heads (``channels`` must be a multiple).
        chunk: query positions attended at once, which bounds the attention matrix on large tiles.
    """

    def __init__(self, channels: int, heads: int = 4, chunk: int = 1024) -> None:
        super().__init__()
        self.heads, self.chunk = heads, chunk
        self.norm = nn.GroupNorm(8, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, h: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        """``h`` (b, c, h, w) plus what each position reads from the known cells; ``hole`` (b, 1, H, W) at the
        input's resolution, 1 = hole."""
        b, c, hh, ww = h.shape
        known = F.adaptive_max_pool2d(hole.to(h.dtype), (hh, ww)).flatten(1) < 0.5  # (b, hw): no hole pixel
        known = known | ~known.any(1, keepdim=True)  # all hole: attend everywhere rather than nowhere
        q, k, v = self.qkv(self.norm(h)).reshape(b, 3, self.heads, c // self.heads, hh * ww).unbind(1)
        q, k, v = (t.transpose(-1, -2) for t in (q, k, v))  # (b, heads, hw, d)
        bias = torch.zeros(known.shape, dtype=q.dtype, device=q.device).masked_fill(~known, float("-inf"))
        bias = bias[:, None, None, :]  # (b, 1, 1, hw)
        read = torch.cat(
            [
                F.scaled_dot_product_attention(q[:, :, i : i + self.chunk], k, v, attn_mask=bias)
                for i in range(0, hh * ww, self.chunk)
            ],
            dim=2,
        )  # (b, heads, hw, d)
        read = read.transpose(-1, -2).reshape(b, c, hh, ww)
        return h + self.out(read)


class DetailBlock(nn.Module):
    """A residual block at full resolution, wider than the level it sits on: more capacity where the 2-8 px
    detail (strokes, edges) is drawn. Its output layer starts at zero, so a new block changes nothing until it
    trains.

    Args:
        channels: feature width of the full-resolution level.
        hidden: width inside the block.
    """

    def __init__(self, channels: int, hidden: int = 64) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(8, channels)
        self.conv1 = nn.Conv2d(channels, hidden, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden, channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """(b, c, H, W) -> (b, c, H, W)."""
        return h + self.conv2(F.silu(self.conv1(F.silu(self.norm(h)))))


class ExemplarRefiner(ModelMixin, ConfigMixin):
    """A style-conditioned U-Net that corrects an exemplar fill; the identity before training.

    Args:
        channels: widths per level; each level after the first halves the resolution.
        style_dim: size of the style vector (the style encoder's).
        dilations: dilation rates of the bottleneck's convolutions (they widen the receptive field, so that a
            large hole sees its surroundings).
        global_blocks: spectral blocks after the bottleneck (:class:`SpectralBlock`: every position sees the whole
            tile); 0 = none.
        attention_blocks: context-attention blocks after those (:class:`ContextAttention`: every position reads
            from the cells outside the hole); 0 = none.
        detail_blocks: full-resolution blocks after the decoder (:class:`DetailBlock`); 0 = none.
        layout_input: also read a layout of the hole, the membrane through its border
            (:func:`~.membrane_layout.membrane_image`), so that every position of a large hole sees a continuation
            of its whole border, far beyond the receptive field; :meth:`forward` then needs ``layout``.
    """

    @register_to_config
    def __init__(
        self,
        channels: tuple[int, ...] = (32, 64, 128),
        style_dim: int = 128,
        dilations: tuple[int, ...] = (2, 4, 8),
        global_blocks: int = 0,
        attention_blocks: int = 0,
        detail_blocks: int = 0,
        layout_input: bool = False,
    ) -> None:
        super().__init__()
        in_ch = 3 + 3 + 1 + (3 if layout_input else 0)  # exemplar fill, known pixels (zero in the hole), hole, layout
        self.null_style = nn.Parameter(torch.zeros(style_dim))
        self.stem = nn.Conv2d(in_ch, channels[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.pools = nn.ModuleList()
        c_prev = channels[0]
        for i, c in enumerate(channels):
            self.pools.append(nn.Conv2d(c_prev, c_prev, 3, stride=2, padding=1) if i else nn.Identity())
            self.down.append(StyleResBlock(c_prev, c, style_dim))
            c_prev = c
        self.mid = nn.ModuleList([nn.Conv2d(c_prev, c_prev, 3, padding=d, dilation=d) for d in dilations])
        self.spectral = nn.ModuleList([SpectralBlock(c_prev) for _ in range(global_blocks)])
        self.attention = nn.ModuleList([ContextAttention(c_prev) for _ in range(attention_blocks)])
        self.up = nn.ModuleList()
        for i in reversed(range(len(channels) - 1)):
            self.up.append(StyleResBlock(c_prev + channels[i], channels[i], style_dim))
            c_prev = channels[i]
        self.detail = nn.ModuleList([DetailBlock(c_prev) for _ in range(detail_blocks)])
        self.out = nn.Conv2d(c_prev, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    @property
    def stride(self) -> int:
        """Input sides must be multiples of this."""
        return 2 ** (len(self.config.channels) - 1)

    def forward(
        self,
        exemplar: torch.Tensor,
        image: torch.Tensor,
        mask: torch.Tensor,
        style: torch.Tensor | None = None,
        *,
        layout: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The refined fill.

        Args:
            exemplar: (b, 3, H, W) exemplar fill in [0, 1] (equal to ``image`` outside the hole).
            image: (b, 3, H, W) painting in [0, 1]; its hole pixels are ignored.
            mask: (b, 1, H, W), 1 = hole (the only pixels that change).
            style: (b, style_dim) style vectors; None = the null style.
            layout: (b, 3, H, W) in [0, 1], the membrane fill of the hole; read only with ``layout_input``.

        Returns:
            (b, 3, H, W) in [0, 1]: ``image`` outside the hole, the corrected exemplar inside.
        """
        b = exemplar.shape[0]
        if style is None:
            style = self.null_style[None].expand(b, -1)
        known = image * (1 - mask)
        inputs = [exemplar * 2 - 1, known * 2 - 1, mask]
        if self.config.layout_input:
            if layout is None:
                raise ValueError("layout: this refiner reads a layout (layout_input=True); pass membrane_image(...)")
            inputs.append(layout.to(exemplar.dtype) * 2 - 1)
        x = torch.cat(inputs, dim=1)  # (b, 7, H, W), (b, 10, H, W) with the layout
        h = self.stem(x)  # (b, c0, H, W)
        skips = []
        for pool, block in zip(self.pools, self.down):
            h = block(pool(h), style)  # (b, c_l, H / 2^l, W / 2^l)
            skips.append(h)
        for conv in self.mid:
            h = h + conv(F.silu(h))
        for block in self.spectral:
            h = block(h)
        for block in self.attention:
            h = block(h, mask)
        skips.pop()
        for block in self.up:
            skip = skips.pop()
            h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = block(torch.cat([h, skip], dim=1), style)
        for block in self.detail:
            h = block(h)  # (b, c0, H, W)
        residual = self.out(F.silu(h))  # (b, 3, H, W)
        refined = (exemplar + residual).clamp(0, 1)
        return image * (1 - mask) + refined * mask

"""Block-wise attribution: which memory-bank patches each restored block came from, and how much.

The denoiser attends from every latent pixel to style tokens and to the retrieved memory-bank patches. An
:class:`AttributionRecorder` hooks every cross-attention module (forward hooks, nothing threaded through the
denoising loop), and sums the attention mass each retrieved patch receives, over heads, layers (resized to the
latent grid) and denoising steps. Per block of ``block_size`` pixels the mass is normalised into shares.

``weighting="attention"`` (the default) sums the plain attention probabilities. With ``weighting="value"`` each
attention weight is multiplied by the size of what the token adds to the pixel through that head,
``|W_out,h v_h(token)|`` (Kobayashi et al., EMNLP 2020, "Attention is not only a weight"). On the deletion test of
the shipped model the plain attention identified the causal source better (2.64x against 2.30x).

Self-contained (torch, numpy, PIL): this file ships with exported checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

# Colours of the top sources in the overlay (colour-blind friendly: Okabe-Ito, then Tol's muted).
PALETTE = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
    (136, 34, 85),
)


@dataclass
class SourcePatch:
    """One memory-bank patch behind a restoration.

    Attributes:
        row: bank row.
        artist: the patch's artist.
        painting: painting file (bank provenance).
        box: (x0, y0, x1, y1) pixel box of the patch in that painting.
        share: share of the restored region's retrieval attention that went to this patch.
        blocks: number of blocks where it is the top source.
        thumbnail: the patch decoded from its bank latent (PIL RGB), or None.
    """

    row: int
    artist: str
    painting: str
    box: tuple[int, int, int, int]
    share: float
    blocks: int
    thumbnail: PIL.Image.Image | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "artist": self.artist,
            "painting": self.painting,
            "box": list(self.box),
            "share": round(self.share, 4),
            "blocks": self.blocks,
        }


@dataclass
class BlockAttribution:
    """Attribution of one restored image.

    Attributes:
        block_size: block side in pixels; block (i, j) covers rows ``i*block_size`` .. and columns ``j*block_size`` ..
        restored: (nb_h, nb_w) bool, blocks with restored pixels.
        source: (nb_h, nb_w) int64, bank row of each block's top source (-1 where nothing was restored).
        share: (nb_h, nb_w) float, that source's share of the block's retrieval attention.
        retrieval_mass: (nb_h, nb_w) float, share of the block's attention that went to retrieved patches at all
            (the rest went to the style tokens).
        rows: (n,) bank rows with any attention.
        shares: (n, nb_h, nb_w) float, every source's share per block (rows as in ``rows``).
        region_mass: (n,) attention mass of every source summed over the restored pixels, layers and steps.
        top_sources: the sources with the largest share of the whole region, best first.
        overlay: the restored image with each block tinted by its top source's colour (``PALETTE`` order of
            ``top_sources``; grey for other sources).
    """

    block_size: int
    restored: np.ndarray
    source: np.ndarray
    share: np.ndarray
    retrieval_mass: np.ndarray
    rows: np.ndarray
    shares: np.ndarray
    region_mass: np.ndarray
    top_sources: list[SourcePatch] = field(default_factory=list)
    overlay: PIL.Image.Image | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable summary (maps as nested lists; thumbnails and overlay left out)."""
        return {
            "block_size": self.block_size,
            "source": self.source.tolist(),
            "share": np.round(self.share, 4).tolist(),
            "retrieval_mass": np.round(self.retrieval_mass, 4).tolist(),
            "top_sources": [s.to_json() for s in self.top_sources],
        }


WEIGHTINGS = ("attention", "value")


@torch.no_grad()
def value_norms(module: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """Size of what each token adds to a pixel's output through each head of a ``TokenCrossAttention``.

    Args:
        module: the attention module (``kv``, ``out``, ``heads``).
        tokens: (n, token_dim) its condition tokens.

    Returns:
        (heads, n) norms ``|W_out[:, head] v_head(token)|``.
    """
    v = module.kv(tokens).chunk(2, dim=-1)[1].float()  # (n, c)
    n, c = v.shape
    heads = module.heads
    w = module.out.weight.float().reshape(c, heads, c // heads).permute(1, 0, 2)  # (heads, c_out, c / heads)
    per_head = torch.einsum("hod,nhd->hno", w, v.reshape(n, heads, c // heads))  # (heads, n, c_out)
    return per_head.norm(dim=-1)


class AttributionRecorder:
    """Collects the cross-attention mass on retrieved tokens through forward hooks on the denoiser.

    Usage: ``attach()``, then per tile ``begin_tile()`` before denoising and ``end_tile(y, x, region, rows)`` after,
    then ``result(...)``, then ``detach()``.

    Args:
        unet: the denoiser; its ``attention_modules()`` are hooked.
        image_size: (H, W) of the painting.
        block_size: attribution block side in pixels.
        weighting: ``"attention"`` or ``"value"`` (attention times the norm of each token's per-head output).
    """

    def __init__(
        self, unet: torch.nn.Module, image_size: tuple[int, int], block_size: int = 16, weighting: str = "attention"
    ) -> None:
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting: expected one of {WEIGHTINGS}, got {weighting!r}")
        self.weighting = weighting
        self.unet = unet
        self.style_tokens = int(unet.config.style_tokens)
        self.cells = int(unet.config.retrieval_cells) ** 2  # tokens per retrieved patch
        self.block_size = block_size
        h, w = image_size
        self.grid = (-(-h // block_size), -(-w // block_size))
        self.image_size = (h, w)
        self.mass: dict[int, np.ndarray] = {}  # bank row -> (nb_h, nb_w) attention mass
        self.style_mass = np.zeros(self.grid, np.float64)
        self.region_px = np.zeros(self.grid, np.float64)
        self._handles: list[Any] = []
        self._tile: torch.Tensor | None = None  # (k + 1, h, w) per-tile mass on the finest attention grid
        self._active = False

    def attach(self) -> AttributionRecorder:
        for module in self.unet.attention_modules():
            module.keep_probs = True
            self._handles.append(module.register_forward_hook(self._hook))
        return self

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        for module in self.unet.attention_modules():
            module.keep_probs = False
            module.last_probs = None
        self._handles = []

    def begin_tile(self) -> None:
        """Start recording a tile."""
        self._active, self._tile = True, None

    def _hook(self, module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if not self._active or module.last_probs is None:
            return
        x = inputs[0]  # (1, c, h, w)
        if self.weighting == "value":
            probs = (module.last_probs[0].float() * value_norms(module, inputs[1][0])[:, None, :]).sum(0)  # (hw, n)
        else:
            probs = module.last_probs[0].float().mean(0)  # (hw, n): mean over heads
        h, w = x.shape[-2:]
        style = probs[:, : self.style_tokens].sum(-1, keepdim=True)  # (hw, 1)
        retrieved = probs[:, self.style_tokens :]  # (hw, k * cells)
        retrieved = retrieved.reshape(retrieved.shape[0], -1, self.cells).sum(-1)  # (hw, k): a patch's cells summed
        maps = torch.cat([retrieved, style], dim=1).T.reshape(1, -1, h, w)  # (1, k + 1, h, w)
        if self._tile is None:
            self._tile = torch.zeros_like(maps[0])
        if maps.shape[-2:] != self._tile.shape[-2:]:
            if maps.shape[-1] > self._tile.shape[-1]:  # keep the finest grid seen
                self._tile = F.interpolate(self._tile[None], size=maps.shape[-2:], mode="bilinear")[0]
            else:
                maps = F.interpolate(maps, size=self._tile.shape[-2:], mode="bilinear", align_corners=False)
        self._tile += maps[0]

    def end_tile(self, y: int, x: int, region: np.ndarray, rows: np.ndarray) -> None:
        """Add the finished tile's mass to the block grid.

        Args:
            y, x: tile origin in the (padded) painting.
            region: (s, s) bool, restored pixels of the tile (padding beyond the painting is ignored).
            rows: (k,) bank rows of the tile's retrieved tokens, in token order (-1 for empty slots).
        """
        self._active = False
        if self._tile is None or self._tile.shape[0] != len(rows) + 1:
            self._tile = None
            return
        s = region.shape[0]
        px = F.interpolate(self._tile[None], size=(s, s), mode="bilinear", align_corners=False)[0]  # (k+1, s, s)
        px = px.numpy() * region[None]
        h, w = self.image_size
        px, reg = px[:, : max(0, h - y), : max(0, w - x)], region[: max(0, h - y), : max(0, w - x)]
        b = self.block_size
        oy, ox = y % b, x % b
        ph, pw = -(-(reg.shape[0] + oy) // b) * b, -(-(reg.shape[1] + ox) // b) * b
        canvas = np.zeros((px.shape[0] + 1, ph, pw), np.float64)
        canvas[:-1, oy : oy + reg.shape[0], ox : ox + reg.shape[1]] = px
        canvas[-1, oy : oy + reg.shape[0], ox : ox + reg.shape[1]] = reg
        blocks = canvas.reshape(canvas.shape[0], ph // b, b, pw // b, b).sum((2, 4))  # (k + 2, bh, bw)
        by, bx = y // b, x // b
        gh, gw = min(blocks.shape[1], self.grid[0] - by), min(blocks.shape[2], self.grid[1] - bx)
        sl = (slice(by, by + gh), slice(bx, bx + gw))
        for j, row in enumerate(np.asarray(rows)):
            if row >= 0:
                self.mass.setdefault(int(row), np.zeros(self.grid, np.float64))[sl] += blocks[j, :gh, :gw]
        self.style_mass[sl] += blocks[-2, :gh, :gw]
        self.region_px[sl] += blocks[-1, :gh, :gw]
        self._tile = None

    def result(
        self, restored: np.ndarray, region: np.ndarray, bank: Any, decode: Any | None = None, top: int = 8
    ) -> BlockAttribution:
        """Assemble the :class:`BlockAttribution`.

        Args:
            restored: (H, W, 3) uint8 restored painting (for the overlay).
            region: (H, W) bool, restored pixels (only they are tinted in the overlay).
            bank: the memory bank (provenance and latents).
            decode: ``fn((n, c, p, p) latents) -> (n, 3, P, P)`` in [0, 1] for thumbnails, or None.
            top: number of top sources reported.
        """
        restored_blocks = self.region_px > 0
        rows = np.array(sorted(self.mass), np.int64)
        mass = np.stack([self.mass[r] for r in rows]) if len(rows) else np.zeros((0, *self.grid))  # (n, bh, bw)
        total = mass.sum(0)
        shares = np.divide(mass, total[None], out=np.zeros_like(mass), where=total[None] > 0)
        best = shares.argmax(0) if len(rows) else np.zeros(self.grid, np.int64)
        has = restored_blocks & (total > 0)
        source = np.where(has, rows[best] if len(rows) else -1, -1).astype(np.int64)
        share = np.where(has, np.take_along_axis(shares, best[None], 0)[0] if len(rows) else 0, 0.0)
        all_mass = total + self.style_mass
        retrieval_mass = np.divide(total, all_mass, out=np.zeros_like(total), where=all_mass > 0)

        region_share = mass.sum((1, 2)) / max(mass.sum(), 1e-12)  # (n,)
        order = np.argsort(-region_share)[:top]
        thumbs: list[PIL.Image.Image | None] = [None] * len(order)
        if decode is not None and len(order):
            with torch.no_grad():
                pix = decode(bank.latents[torch.from_numpy(rows[order])])  # (n, 3, P, P)
            arr = (pix.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
            thumbs = [PIL.Image.fromarray(a) for a in arr]
        top_sources = []
        for thumb, j in zip(thumbs, order):
            prov = bank.provenance[int(rows[j])]
            top_sources.append(
                SourcePatch(
                    row=int(rows[j]),
                    artist=prov.artist,
                    painting=prov.painting,
                    box=tuple(int(v) for v in prov.box),
                    share=float(region_share[j]),
                    blocks=int((source == rows[j]).sum()),
                    thumbnail=thumb,
                )
            )
        attribution = BlockAttribution(
            self.block_size, restored_blocks, source, share, retrieval_mass, rows, shares, mass.sum((1, 2))
        )
        attribution.top_sources = top_sources
        attribution.overlay = attribution_overlay(restored, region, attribution)
        return attribution


def attribution_overlay(
    image: np.ndarray, region: np.ndarray, attribution: BlockAttribution, alpha: float = 0.6
) -> PIL.Image.Image:
    """Tint the restored pixels of ``image`` (H, W, 3 uint8; ``region`` (H, W) bool) by their block's top source
    (``PALETTE`` in ``top_sources`` order, grey for other sources), stronger where its share is larger; the other
    pixels are dimmed so the restored region stands out."""
    colours = {s.row: PALETTE[i % len(PALETTE)] for i, s in enumerate(attribution.top_sources)}
    b = attribution.block_size
    bh, bw = attribution.source.shape
    tint = np.zeros((bh, bw, 3), np.float32)
    weight = np.zeros((bh, bw), np.float32)
    for (i, j), row in np.ndenumerate(attribution.source):
        if row >= 0:
            tint[i, j] = colours.get(int(row), (128, 128, 128))
            weight[i, j] = alpha * (0.5 + 0.5 * float(attribution.share[i, j]))
    out = np.empty_like(image)  # (H, W, 3) everything dimmed to 60 % ...
    for y in range(0, image.shape[0], 1024):  # integer rounding (3x + 2) // 5 == round(0.6 x); strips keep it small
        out[y : y + 1024] = (image[y : y + 1024].astype(np.uint16) * 3 + 2) // 5
    out[region] = image[region]  # ... but the restored pixels
    ys, xs = np.nonzero(region)
    if len(ys):  # tint inside the bounding box of the region only (full-size float maps would cost GBs)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        rows, cols = np.arange(y0, y1) // b, np.arange(x0, x1) // b
        tint_px = tint[rows][:, cols]  # (h, w, 3)
        weight_px = weight[rows][:, cols][..., None] * region[y0:y1, x0:x1, None]  # (h, w, 1)
        box = out[y0:y1, x0:x1].astype(np.float32)
        out[y0:y1, x0:x1] = np.clip(np.round(box * (1 - weight_px) + tint_px * weight_px), 0, 255).astype(np.uint8)
    return PIL.Image.fromarray(out)

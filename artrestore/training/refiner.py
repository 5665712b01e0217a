"""Training of the ExemplarRefiner: a pool of exemplar-filled training crops, then L1 + LPIPS-vgg (+ DISTS over the
hole, + an adversarial term over the hole, + a style loss).

The exemplar fill (PatchMatch) of a crop costs about as much as a training step, so the fills are computed once
into a pool (``pool.npz`` in the run folder, built in parallel, resumable by shard) and reused with flips and
quarter turns. The masks are the training simulator's binary damage plus, with probability ``large_holes``, a
rectangle or a union of ellipses covering 20-60 % of the crop; the bench's held-out mask families are never drawn.
LPIPS-alex, the yardstick, is never used in training.

Style swap (``swap_prob`` > 0): a crop of a bank artist A is conditioned, with that probability, on the bank vector
of another artist B, and instead of LPIPS to the clean crop it is trained to move the hole's VGG channel statistics
(relu1_2..relu3_3 mean and log-std) by B's average minus A's average, measured on the pool's clean crops, away from
the same crop restored for A (no gradient), while the hole L1 keeps the content. Measuring the move from the
restoration for A, not from the clean crop, leaves out the fill's own error, which the refiner cannot see.
Conditioned on its own artist a crop is trained as before, so the restoration for the true artist stays a
reconstruction and the one for a wrong artist is painted towards that artist.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from dataclasses import dataclass
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
from ..hub.membrane_layout import membrane_image, membrane_shift, reduced_membrane, wide_holes
from ..hub.settings import PipelineSettings
from .adversarial import AdversarialSettings, AdversarialTerm
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
    rng = np.random.default_rng(derive_seed(config.seed if config.pool_seed is None else config.pool_seed, index))
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


# pixels of undamaged paint around the hole that the DISTS term also compares; the term is taken at half size, as the
# bench scores DISTS on 512 px paintings (256 px short side), which also makes it four times cheaper
DISTS_RIM = 8
STAT_LAYERS = 3  # relu1_2, relu2_2, relu3_3 of the LPIPS-vgg backbone


def masked_stats(features: list[torch.Tensor], weight: torch.Tensor) -> torch.Tensor:
    """Per-channel mean and log-std of the first ``STAT_LAYERS`` feature maps over the pixels ``weight`` covers.

    Args:
        features: VGG feature maps, (b, c_l, h_l, w_l) each.
        weight: (b, 1, H, W) pixel weights in [0, 1] (the hole, or ones), pooled to each map's size.

    Returns:
        (b, 2 * sum(c_l)): [means of each layer..., log-stds of each layer...].
    """
    means, stds = [], []
    for f in features[:STAT_LAYERS]:
        w = F.adaptive_avg_pool2d(weight, f.shape[-2:])  # (b, 1, h, w)
        total = w.sum((2, 3)).clamp_min(1e-6)  # (b, 1)
        mu = (f * w).sum((2, 3)) / total  # (b, c)
        var = ((f - mu[..., None, None]) ** 2 * w).sum((2, 3)) / total
        means.append(mu)
        stds.append((var + 1e-6).sqrt().log())
    return torch.cat(means + stds, dim=1)


def lpips_from_features(model: torch.nn.Module, feats0: list, feats1: list) -> torch.Tensor:
    """(b,) LPIPS of an ``lpips.LPIPS`` model from its backbone's feature maps (one VGG pass serves two losses)."""
    import lpips as lpips_pkg

    total = 0.0
    for k, (a, b) in enumerate(zip(feats0, feats1)):
        diff = (lpips_pkg.normalize_tensor(a) - lpips_pkg.normalize_tensor(b)) ** 2  # (b, c, h, w)
        total = total + model.lins[k](diff).mean((2, 3))  # (b, 1)
    return total[:, 0]


@dataclass
class SwapTable:
    """What style swaps need: per source its bank artist, per bank artist its vector and mean VGG statistics.

    Attributes:
        artists: bank artists of the sources (index order of the tensors below).
        vectors: (n_artists, style_dim) the bank's artist vectors.
        stats: (n_artists, d) mean statistics of each artist's clean pool crops, in units of ``scale``.
        scale: (d,) standard deviation of each statistic over the measured crops.
        eligible: (n_artists,) bool, artists with enough pool crops to swap from and to.
        source_artist: (n_sources,) index into ``artists``, -1 where the source's artist is not in the bank.
    """

    artists: list[str]
    vectors: torch.Tensor
    stats: torch.Tensor
    scale: torch.Tensor
    eligible: torch.Tensor
    source_artist: torch.Tensor

    def state(self) -> dict:
        return {k: getattr(self, k) for k in ("artists", "vectors", "stats", "scale", "eligible", "source_artist")}


@torch.no_grad()
def swap_table(config: RefinerTrainConfig, sources: list, pool: Path, per_artist: int = 48) -> SwapTable:
    """Measure the :class:`SwapTable` (at most ``per_artist`` clean pool crops per artist; cached in the run)."""
    from ..hub.memory_bank import StyleMemoryBank
    from ..metrics.lpips import lpips_model

    path = Path(config.out) / "swap_table.pt"
    if path.exists():
        return SwapTable(**torch.load(path, weights_only=True))
    bank = StyleMemoryBank.from_pretrained(config.memory_bank).artist_vectors
    names = [getattr(s, "artist", None) for s in sources]
    artists = sorted({n for n in names if n in bank})
    index = {a: i for i, a in enumerate(artists)}
    source_artist = torch.tensor([index.get(n, -1) for n in names])
    data = np.load(pool)
    all_crops = data["crops"]  # (n_pool, s, s, 3) uint8; an npz member is read from disk at every access
    crop_artist = source_artist[torch.from_numpy(data["sources"]).long()]  # (n_pool,)
    vgg = lpips_model("vgg")
    measured: dict[int, torch.Tensor] = {}  # artist index -> (n, d) statistics of its crops
    for a in range(len(artists)):
        picks = torch.nonzero(crop_artist == a)[:, 0]
        if len(picks) < config.swap_min_crops:
            continue
        crops = torch.from_numpy(all_crops[picks[:per_artist].numpy()]).permute(0, 3, 1, 2).float() / 255.0
        feats = (vgg.net(vgg.scaling_layer(chunk * 2 - 1)) for chunk in crops.split(16))
        measured[a] = torch.cat([masked_stats(f, torch.ones_like(f[0][:, :1])) for f in feats])
    if len(measured) < 2:
        raise ValueError(f"swap_min_crops: fewer than two bank artists have {config.swap_min_crops} pool crops")
    scale = torch.cat(list(measured.values())).std(0) + 1e-3  # (d,)
    stats = torch.zeros(len(artists), scale.shape[0])
    eligible = torch.zeros(len(artists), dtype=torch.bool)
    for a, rows in measured.items():
        stats[a], eligible[a] = rows.mean(0), True
    vectors = torch.stack([bank[a] for a in artists])
    table = SwapTable(artists, vectors, stats / scale, scale, eligible, source_artist)
    torch.save(table.state(), path)
    return table


class RefinerPool(Dataset):
    """Items of the pool with a random flip and quarter turn (deterministic in the index).

    With a :class:`SwapTable`, a crop of an eligible bank artist is conditioned on another eligible artist's vector
    with probability ``swap_prob`` (then ``swap`` is 1 and ``swap_delta`` the artists' gap in scaled statistics);
    a crop not swapped, of any bank artist, on that artist's own bank vector with probability ``artist_condition``;
    otherwise on its source's own style vector.
    """

    def __init__(
        self,
        path: str | Path,
        styles: torch.Tensor,
        length: int,
        seed: int = 0,
        *,
        table: SwapTable | None = None,
        swap_prob: float = 0.0,
        artist_condition: float = 0.0,
    ) -> None:
        data = np.load(path)
        self.crops, self.masks, self.fills = data["crops"], data["masks"], data["fills"]
        self.sources = data["sources"]
        self.styles, self.length, self.seed = styles, length, seed
        self.table, self.swap_prob, self.artist_condition = table, swap_prob, artist_condition

    def __len__(self) -> int:
        return self.length

    def _condition(self, src: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, float, torch.Tensor]:
        """(style vector, anchor style vector, swap flag, (d,) statistics shift) of one crop; the anchor is the
        crop's own artist's vector for a swap, else the style vector itself."""
        table = self.table
        if table is None:
            return self.styles[src], self.styles[src], 0.0, torch.zeros(0)
        none = torch.zeros(table.stats.shape[1])
        a = int(table.source_artist[src])
        swap, by_artist = rng.random() < self.swap_prob, rng.random() < self.artist_condition
        if a >= 0 and bool(table.eligible[a]) and swap:
            others = [b for b in torch.nonzero(table.eligible)[:, 0].tolist() if b != a]
            b = others[int(rng.integers(len(others)))]
            return table.vectors[b], table.vectors[a], 1.0, table.stats[b] - table.stats[a]
        if a >= 0 and by_artist:
            return table.vectors[a], table.vectors[a], 0.0, none
        return self.styles[src], self.styles[src], 0.0, none

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng(derive_seed(self.seed, index))
        i = int(rng.integers(len(self.crops)))
        k, flip = int(rng.integers(4)), bool(rng.integers(2))

        def aug(a: np.ndarray) -> np.ndarray:
            a = np.rot90(a, k, axes=(0, 1))
            return np.ascontiguousarray(a[:, ::-1] if flip else a)

        def chw(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(aug(a)).permute(2, 0, 1).float() / 255.0

        style, anchor, swap, delta = self._condition(int(self.sources[i]), rng)
        return {
            "clean": chw(self.crops[i]),  # (3, s, s)
            "exemplar": chw(self.fills[i]),  # (3, s, s)
            "mask": torch.from_numpy(aug(self.masks[i]))[None].float(),  # (1, s, s)
            "style": style,  # (style_dim,)
            "anchor_style": anchor,  # (style_dim,) the own artist's vector of a swapped crop
            "swap": torch.tensor(swap),  # ()
            "swap_delta": delta,  # (d,), empty without a swap table
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


def through_layout(
    out: torch.Tensor,
    clean: torch.Tensor,
    mask: torch.Tensor,
    *,
    weight: float,
    sigma: float = PipelineSettings.layout_sigma,
    scale: int = 4,
) -> torch.Tensor:
    """``out`` after the pipeline's membrane-layout stage (:func:`~..hub.membrane_layout.blend_membrane_layout`),
    differentiably: inside the holes' wide parts, ``weight`` of its low-pass (``sigma``) is replaced by the
    membrane's through the holes' border, so that a refiner can be trained on what the restoration is judged on.

    Args:
        out: (b, 3, s, s) the refiner's output in [0, 1].
        clean: (b, 3, s, s) the painting; only its pixels outside ``mask`` are read.
        mask: (b, 1, s, s), 1 = hole.
        weight: share of the low-pass replaced (the pipeline's ``layout_weight``).
        sigma: Gaussian scale in pixels (the pipeline's ``layout_sigma``).
        scale: the membrane and the low-pass are computed this many times smaller.

    Returns:
        (b, 3, s, s) float32, equal to ``out`` outside the holes' wide parts.
    """
    h, w = out.shape[-2:]
    pad = (0, -w % scale, 0, -h % scale)
    with torch.autocast(out.device.type, enabled=False):  # conjugate gradients need float32
        m = F.pad((mask > 0.5).float(), pad, mode="replicate")  # (b, 1, h', w')
        with torch.no_grad():
            membrane, _ = reduced_membrane(F.pad(clean.float(), pad, mode="replicate"), m, scale=scale, tolerance=1e-3)
            holes = (mask[:, 0] > 0.5).cpu().numpy()
            wide = torch.from_numpy(np.stack([wide_holes(hole, sigma) for hole in holes]))[:, None].to(out.device)
        shift = membrane_shift(F.pad(out.float(), pad, mode="replicate"), m, membrane, sigma=sigma, scale=scale)
        blended = (out.float() + weight * shift[..., :h, :w]).clamp(0, 1)
        return torch.where(wide, blended, out.float())


def refiner_loss(
    config: RefinerTrainConfig, table: SwapTable | None = None, adversarial: AdversarialTerm | None = None
):
    """``loss_fn(model, batch)``: hole L1 + LPIPS-vgg of the composite (+ DISTS over the hole, + the adversarial
    term, which steps its discriminator on each call, + Gram style loss on VGG features); for style-swapped crops the
    LPIPS term gives way to the swap loss (see the module docstring)."""
    from ..metrics.dists import masked_dists
    from ..metrics.lpips import lpips_model

    vgg = lpips_model("vgg")

    def loss_fn(model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        clean, exemplar, mask, style = batch["clean"], batch["exemplar"], batch["mask"], batch["style"]
        swap = batch["swap"].float()  # (b,)
        vgg.to(clean.device)  # the batch's device (a GPU too); a no-op once there
        drop = (torch.rand(style.shape[0], device=style.device) < config.style_dropout) & (swap == 0)
        core = model.module if hasattr(model, "module") else model
        style = torch.where(drop[:, None], core.null_style[None].expand_as(style), style)
        layout = membrane_image(clean, mask) if core.config["layout_input"] else None  # (b, 3, s, s) or None
        out = model(exemplar, clean, mask, style, layout=layout)  # (b, 3, s, s)
        if config.layout_blend > 0:  # scored after the membrane-layout stage, as the pipeline restores
            out = through_layout(out, clean, mask, weight=config.layout_blend)
        hole = mask.sum().clamp_min(1)
        l1 = ((out - clean).abs() * mask).sum() / (3 * hole)
        feats_out = vgg.net(vgg.scaling_layer(out * 2 - 1))
        with torch.no_grad():
            feats_ref = vgg.net(vgg.scaling_layer(clean * 2 - 1))
        keep = 1 - swap
        perceptual = (lpips_from_features(vgg, feats_out, feats_ref) * keep).sum() / keep.sum().clamp_min(1)
        loss = config.l1_weight * l1 + config.lpips_weight * perceptual
        logs = {"l1": l1.item(), "lpips_vgg": perceptual.item()}
        if config.dists_weight > 0:
            rim = F.max_pool2d(mask, 2 * DISTS_RIM + 1, stride=1, padding=DISTS_RIM)  # (b, 1, s, s) hole + rim
            half = [F.avg_pool2d(t, 2) for t in (out, clean, rim)]  # (b, c, s/2, s/2): the scale the bench scores
            texture = (masked_dists(*half) * keep).sum() / keep.sum().clamp_min(1)
            loss = loss + config.dists_weight * texture
            logs["dists"] = texture.item()
        if adversarial is not None:
            adv, adv_logs = adversarial.loss(out, clean, mask)
            loss = loss + adv
            logs.update(adv_logs)
        if config.style_weight > 0:
            style_term = sum(F.mse_loss(gram(a), gram(b)) for a, b in zip(feats_out[:3], feats_ref[:3]))
            loss = loss + config.style_weight * style_term
            logs["style"] = style_term.item()
        if table is not None:  # every log row has the column (NaN for a batch without swaps)
            logs["swap"] = float("nan")
        if table is not None and swap.any():
            scale = table.scale.to(out.device, out.dtype)
            idx = swap.bool()
            moved = masked_stats([f[idx] for f in feats_out], mask[idx]) / scale  # (n_swap, d)
            with torch.no_grad():  # the same crop restored for its own artist: the anchor the gap is measured from
                anchor = model(  # (n_swap, 3, s, s)
                    exemplar[idx],
                    clean[idx],
                    mask[idx],
                    batch["anchor_style"][idx],
                    layout=None if layout is None else layout[idx],
                )
                feats_anchor = vgg.net(vgg.scaling_layer(anchor * 2 - 1))
                target = masked_stats(feats_anchor, mask[idx]) / scale + batch["swap_delta"][idx]
            swap_term = ((moved - target) ** 2).mean(1).mean()
            loss = loss + config.swap_weight * swap_term
            logs["swap"] = swap_term.item()
        with torch.no_grad():
            logs["exemplar_l1"] = float(((exemplar - clean).abs() * mask).sum() / (3 * hole))
        return loss, logs

    return loss_fn


# the optional block kinds of a refiner: config key -> the module list holding them
EXTRA_BLOCKS = {"global_blocks": "spectral", "attention_blocks": "attention", "detail_blocks": "detail"}


def with_extra_blocks(model: ExemplarRefiner, *, layout_input: bool = False, **counts: int) -> ExemplarRefiner:
    """``model`` with at least as many blocks of each kind in ``counts`` (:data:`EXTRA_BLOCKS`: ``global_blocks``
    spectral, ``attention_blocks`` context-attention, ``detail_blocks`` full-resolution), and with the layout input
    when ``layout_input``: the new blocks, and the stem's weights of the new input channels, start at zero, so the
    refiner's output is unchanged until they are trained. Returns ``model`` itself when it already has them all."""
    unknown = set(counts) - set(EXTRA_BLOCKS)
    if unknown:
        raise ValueError(f"counts: unknown block kinds {sorted(unknown)}; accepted: {', '.join(EXTRA_BLOCKS)}")
    wanted = {k: max(counts.get(k, 0), model.config[k]) for k in EXTRA_BLOCKS}
    wanted["layout_input"] = bool(layout_input or model.config.get("layout_input", False))
    if all(model.config.get(k, False) == v for k, v in wanted.items()):
        return model
    config = {k: v for k, v in model.config.items() if not k.startswith("_")}
    grown = ExemplarRefiner(**{**config, **wanted})
    state = model.state_dict()
    stem = grown.stem.weight  # (c0, in_ch, 3, 3)
    if state["stem.weight"].shape != stem.shape:  # the new input channels start at zero
        padded = torch.zeros_like(stem)
        padded[:, : state["stem.weight"].shape[1]] = state["stem.weight"]
        state = {**state, "stem.weight": padded}
    missing, unexpected = grown.load_state_dict(state, strict=False)
    if unexpected or not all(k.startswith(tuple(f"{m}." for m in EXTRA_BLOCKS.values())) for k in missing):
        raise ValueError(f"cannot grow the refiner: missing {missing}, unexpected {unexpected}")
    return grown


def build_refiner(config: RefinerTrainConfig, *, style_dim: int, init: str | None) -> ExemplarRefiner:
    """The refiner a ``train-refiner`` run with ``config`` starts from: ``init`` grown by the run's extra blocks and
    layout input (:func:`with_extra_blocks`), or, without ``init``, a new one with ``config.channels``."""
    blocks = {k: getattr(config, k) for k in EXTRA_BLOCKS}
    if init:
        return with_extra_blocks(ExemplarRefiner.from_pretrained(init), layout_input=config.layout_input, **blocks)
    channels = tuple(int(c) for c in config.channels.split(","))
    return ExemplarRefiner(channels=channels, style_dim=style_dim, layout_input=config.layout_input, **blocks)


def train_refiner(config: RefinerTrainConfig) -> dict:
    """Build the pool (once), then train the refiner (resumable from ``config.out``).

    Raises:
        ValueError: bad ``adv_*`` settings (any ``adv_weight`` but 0 turns the term on), or a ``layout_blend``
            outside [0, 1], before the pool is built.
    """
    if isinstance(config.layout_blend, bool) or not 0 <= config.layout_blend <= 1:
        raise ValueError(f"layout_blend: expected a share in [0, 1], got {config.layout_blend!r}")
    adversarial_settings = None
    if config.adv_weight != 0:
        adversarial_settings = AdversarialSettings(
            config.adv_weight, lr=config.adv_lr, r1=config.adv_r1, warmup=config.adv_warmup
        )
    path = build_pool(config)
    sources = _sources(config)
    styles_path = Path(config.out) / "source_styles.pt"
    if styles_path.exists():
        styles = torch.load(styles_path, weights_only=True)
    else:
        styles = source_styles(config, sources)
        torch.save(styles, styles_path)
    table = None
    if config.swap_prob > 0 or config.artist_condition > 0:
        table = swap_table(config, sources, path)
    dataset = RefinerPool(
        path,
        styles,
        length=config.steps * config.batch_size,
        seed=config.seed,
        table=table,
        swap_prob=config.swap_prob,
        artist_condition=config.artist_condition,
    )
    model = build_refiner(config, style_dim=int(styles.shape[1]), init=config.init)
    scales = {".mod.": config.style_lr_scale} if config.style_lr_scale != 1 else None
    adversarial = None if adversarial_settings is None else AdversarialTerm(adversarial_settings, seed=config.seed)
    return train(
        model,
        dataset,
        refiner_loss(config, table, adversarial),
        config,
        title="exemplar refiner",
        lr_scales=scales,
        extra_state=[adversarial] if adversarial is not None else None,
    )

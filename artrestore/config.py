"""Run settings: one typed dataclass per command, and the argparse CLI generated from them.

Defaults live here and only here. Each field's ``metadata["help"]`` becomes its ``--help`` text.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from .damage.types import KINDS
from .hub.settings import PipelineSettings
from .paths import REPO_ROOT, data_path, default_model


def opt(default: object, help: str, **kwargs: object) -> object:
    """A dataclass field with a help text (``field(default=..., metadata={"help": ...})``)."""
    if callable(default) and not isinstance(default, type):
        return field(default_factory=default, metadata={"help": help, **kwargs})
    return field(default=default, metadata={"help": help, **kwargs})


def _ablation_names() -> list[str]:
    """The names of every ablation variant (imported here, not at module level: the bench imports this module)."""
    from .bench.ablation import ABLATIONS

    return list(ABLATIONS)


def paintings_option(help: str = "folder of <Artist>/*.jpg paintings") -> object:
    """The ``--data`` option of every command that reads the paintings (default: the shared data's)."""
    return opt(lambda: data_path("paintings"), help)


@dataclass
class LoopSettings:
    """Optimisation and bookkeeping settings common to every training run (resumable from ``out``)."""

    out: str = opt("runs/train", "run folder (an existing run there is resumed)")
    steps: int = opt(1000, "optimiser steps in total")
    stop_after: int | None = opt(
        None, "end the run (checkpoint, final/) after this step; the learning-rate schedule still spans --steps"
    )
    max_minutes: float | None = opt(
        None,
        "end the run (checkpoint, final/) once it has trained this many minutes in this process, resumable like "
        "--stop-after (for a machine lent for a fixed time)",
    )
    batch_size: int = opt(8, "batch size per process")
    lr: float = opt(1e-3, "peak AdamW learning rate (linear warm-up, cosine decay)")
    warmup: int = opt(100, "warm-up steps")
    weight_decay: float = opt(1e-4, "AdamW weight decay")
    ema_decay: float = opt(0.999, "EMA decay of the exported weights (0 disables EMA)")
    grad_clip: float = opt(1.0, "gradient-norm clip (0 disables)")
    checkpoint_every: int = opt(250, "save a resumable checkpoint every N steps")
    keep_checkpoints: int = opt(2, "number of checkpoints kept")
    log_every: int = opt(10, "loss-log line every N steps")
    seed: int = opt(0, "data and initialisation seed")
    threads: int = opt(2, "torch threads per process")
    workers: int = opt(0, "DataLoader worker processes")
    mixed_precision: str = opt(
        "no", "no, or bf16: bfloat16 autocast of the model and the losses (a GPU, or a CPU with AVX512-BF16 or AMX)"
    )


@dataclass
class BenchConfig:
    """Settings of ``artrestore bench``."""

    data: str = paintings_option()
    out: str = opt("bench_out", "output folder for results.md, results.json and the plots")
    masks: str | None = opt(None, "folder of <id>_<kind>_mask.png masks to use instead of simulated damage")
    methods: str = opt(
        "none,telea,ns,biharmonic,patchmatch",
        "comma-separated method names; artrestore or artrestore@<sampler><steps> (e.g. artrestore@ddim8) = the model",
    )
    model: str = opt(default_model, "ArtRestore model folder for the artrestore methods")
    refiner: str | None = opt(
        None, "exemplar refiner folder (`train-refiner`) to use in the artrestore methods instead of the model's own"
    )
    kinds: str = opt(
        ",".join(KINDS),
        "comma-separated damage kinds (table rows): simulated ones, or the held-out mask families polygon, lines, "
        "strokes, polygon_lines (never drawn by the training simulator)",
    )
    size: int = opt(512, "paintings are resized (short side) and centre-cropped to size x size")
    limit: int | None = opt(None, "use at most this many paintings")
    min_works: int = opt(0, "only paintings of artists with at least this many works in the collection")
    split: str = opt("val", "which part of the data: val, train or all (split by painting)")
    seed: int = opt(0, "base seed of the synthetic damage")
    craquelure_dir: str | None = opt(None, "real crack maps for the 'crack' kind (default: synthetic cracks)")
    threads: int = opt(2, "CPU threads for torch and OpenCV")
    examples: int = opt(1, "save visual comparisons for this many paintings")
    shard: str | None = opt(None, "i/n: run only every n-th painting starting at i (merge shards with bench-merge)")


@dataclass
class BenchMergeConfig:
    """Settings of ``artrestore bench-merge``: combine the results of bench shards into one report."""

    inputs: str = opt("", "comma-separated result folders of the shards (each with results.json)")
    out: str = opt("bench_out", "output folder of the merged report")


@dataclass
class DetectBenchConfig:
    """Settings of ``artrestore bench-detect``: damage detection quality and speed."""

    detector: str = opt("runs/detector/final", "folder of a saved DamageDetector (save_pretrained layout)")
    data: str = paintings_option()
    craquelure: str = opt(lambda: data_path("craquelure"), "real crack close-ups and maps")
    out: str = opt("runs/bench_detect", "output folder for results.md, results.json and plot.png")
    size: int = opt(512, "synthetic cases: paintings resized and centre-cropped to size x size")
    limit: int | None = opt(None, "use at most this many validation paintings")
    seed: int = opt(0, "base seed of the synthetic damage")
    threads: int = opt(2, "CPU threads")
    speed_megapixels: float = opt(2.0, "size of the timed full-resolution run, in megapixels")
    intact_side: int = opt(768, "longer side of the undamaged validation paintings (false-positive check)")


@dataclass
class DetectorCalibrationConfig:
    """Settings of ``artrestore calibrate-detector``: tune the detector's thresholds on held-out training cases."""

    detector: str = opt("runs/detector/final", "folder of a saved DamageDetector (save_pretrained layout)")
    out: str | None = opt(None, "where to save the calibrated detector (default: over the input folder)")
    report: str = opt("runs/calibrate_detector", "folder for calibration.json and calibration.png")
    data: str = paintings_option()
    craquelure: str = opt(lambda: data_path("craquelure"), "real crack close-ups and maps")
    paintings: int = opt(40, "training paintings given fresh simulated damage of every kind")
    real: int = opt(60, "real craquelure close-ups of the training files")
    size: int = opt(512, "synthetic cases: paintings resized and centre-cropped to size x size")
    intact: int = opt(40, "undamaged training paintings on which the thresholds must mark little")
    intact_side: int = opt(768, "longer side of the undamaged paintings")
    max_intact_share: float = opt(
        0.0015, "largest mean share of an undamaged painting each threshold (damage, fading) may mark"
    )
    seed: int = opt(0, "base seed of the simulated damage")
    threads: int = opt(2, "CPU threads")


@dataclass
class DetectConfig:
    """Settings of ``artrestore detect``: find the damage in one painting and write editable masks."""

    image: str = field(metadata={"help": "the damaged painting", "positional": True})
    out_mask: str = opt("mask.png", "binary damage mask to write (L PNG, white = damaged)")
    out_fade: str = opt("fade.png", "fading-strength map to write (L PNG, 0..255)")
    out_types: str | None = opt(None, "optional colour-coded damage-type map (PNG)")
    detector: str = opt(default_model, "model folder with damage_detector/, or a saved DamageDetector folder")
    tile: int = opt(PipelineSettings.detector_tile, "tile side for full-resolution inference")
    overlap: int = opt(PipelineSettings.detector_overlap, "tile overlap in pixels (feathered)")
    damage_threshold: float | None = opt(
        None, "probability of any damage needed to mark a pixel (default: calibrated)"
    )
    fade_threshold: float | None = opt(None, "weakest fading strength that is reported (default: calibrated)")
    overwrite: bool = opt(False, "replace output files that already exist (inputs are never replaced)")
    threads: int = opt(2, "CPU threads")


@dataclass
class DamageGridConfig:
    """Settings of ``artrestore damage-grid``."""

    image: str | None = opt(None, "painting to damage (default: the first validation painting of the shared data)")
    out: str = opt("docs/damage_grid.png", "output image (.png, or .jpg for a smaller file)")
    size: int = opt(320, "tile size in pixels")
    seed: int = opt(0, "damage seed")
    craquelure_source: str = opt("synthetic", "synthetic, real or both")
    craquelure_dir: str | None = opt(lambda: data_path("craquelure", "masks"), "real crack maps (for real/both)")


def _unwrap_optional(tp: object) -> tuple[object, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one ``--flag`` per field of the dataclass ``cls`` (types, defaults and help taken from it)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp, optional = _unwrap_optional(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        if tp is bool:
            parser.add_argument(
                flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default, help=help_text
            )
            continue
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        suffix = "" if required else f" (default: {default})"
        if f.metadata.get("positional"):
            parser.add_argument(f.name, type=tp, help=help_text, metavar=f.name.upper())
            continue
        parser.add_argument(
            flag,
            dest=f.name,
            type=tp,
            default=default,
            required=required and not optional,
            help=help_text + suffix,
            metavar=f.name.upper(),
        )


def dataclass_from_args(cls: type, namespace: argparse.Namespace) -> object:
    """Build ``cls`` from the parsed arguments that :func:`add_dataclass_arguments` declared."""
    return cls(**{f.name: getattr(namespace, f.name) for f in dataclasses.fields(cls)})


@dataclass
class DetectorTrainConfig(LoopSettings):
    """Settings of ``artrestore train-detector``: synthetic damage on painting crops plus real craquelure."""

    out: str = opt("runs/detector", "run folder (an existing run there is resumed)")
    data: str = paintings_option()
    craquelure: str = opt(lambda: data_path("craquelure"), "real crack close-ups and maps")
    crop: int = opt(192, "training crop side in pixels")
    real_share: float = opt(0.25, "share of samples that are real craquelure close-ups")
    channels: str = opt("8,16,32,64,96", "detector widths per resolution level")
    class_weights: str = opt("1,2,2,1.5", "cross-entropy weights of none,crack,scratch,loss")
    fade_loss: str = opt("bce", "fading term: bce (learns the expected strength) or l1 (the median; collapses to 0)")
    init: str | None = opt(None, "start from these detector weights (a save_pretrained folder)")
    fade_channels: str = opt("", "widths of a separate 1/4-resolution fading branch (empty: the main head's output)")
    fade_only: bool = opt(False, "train only the fading branch; the damage classes stay bit-identical to --init")
    steps: int = opt(3000, "optimiser steps in total")
    batch_size: int = opt(8, "batch size per process")
    lr: float = opt(2e-3, "peak AdamW learning rate (linear warm-up, cosine decay)")


@dataclass
class VarnishTrainConfig(LoopSettings):
    """Settings of ``artrestore train-varnish``: the ageing-transform estimator that restores faded colour."""

    out: str = opt("runs/varnish", "run folder (an existing run there is resumed)")
    data: str = paintings_option()
    crop: int = opt(192, "training crop side in pixels")
    size: int = opt(160, "longest side the estimator resizes a painting to")
    channels: str = opt("32,64,96,128", "widths of the estimator's strided stages")
    mixed_share: float = opt(0.3, "share of samples with mixed damage (fading under cracks and losses)")
    steps: int = opt(3000, "optimiser steps in total")
    batch_size: int = opt(16, "batch size per process")
    lr: float = opt(1e-3, "peak AdamW learning rate (linear warm-up, cosine decay)")


@dataclass
class AutoencoderTrainConfig(LoopSettings):
    """Settings of ``artrestore train-vae``: the latent autoencoder, on clean multi-scale crops."""

    out: str = opt("runs/vae", "run folder (an existing run there is resumed)")
    source: str = opt("style", "training images: style (the 224 px style set) or paintings (train split)")
    data: str = paintings_option()
    style_data: str = opt(lambda: data_path("wikiart224"), "folder of <Style>/*.jpg")
    init: str | None = opt(None, "start from these autoencoder weights (e.g. the style-set stage's final/)")
    crop: int = opt(128, "training crop side in pixels")
    architecture: str = opt(
        "kl",
        "kl: diffusers' AutoencoderKL (--channels); patch: a linear patch codec fitted to the training patches, "
        "with nonlinear corrections that start at zero (--patch-size, --hidden-channels, --num-blocks)",
    )
    channels: str = opt("32,64,128", "encoder widths; the latent stride is 2^(levels-1) (kl)")
    patch_size: int = opt(4, "latent stride (patch)")
    hidden_channels: int = opt(64, "width of the correction networks (patch)")
    num_blocks: int = opt(2, "residual blocks per correction network (patch; 0: the linear codec alone)")
    fit_crops: int = opt(256, "training crops the linear codec is fitted to before training (patch, without --init)")
    latent_channels: int = opt(4, "latent channels")
    lpips_weight: float = opt(0.5, "weight of the LPIPS-vgg reconstruction loss")
    kl_weight: float = opt(1e-6, "weight of the KL term")
    decoder_only: bool = opt(
        False,
        "fine-tune the decoder alone on the frozen encoder's mean latents (needs --init): the latent space, and so "
        "every denoiser trained on it, stays valid",
    )
    steps: int = opt(3000, "optimiser steps in total")
    batch_size: int = opt(8, "batch size per process")
    lr: float = opt(1e-3, "peak AdamW learning rate (linear warm-up, cosine decay)")


@dataclass
class DiffusionTrainConfig(LoopSettings):
    """Settings of ``artrestore train``: the denoiser, FiLM mask encoder and style encoder (the VAE is frozen)."""

    out: str = opt("runs/diffusion", "run folder (an existing run there is resumed)")
    vae: str = opt(
        "runs/vae/final", "trained autoencoder folder (save_pretrained of an AutoencoderKL or a PatchAutoencoder)"
    )
    source: str = opt("style", "training images: style (the 224 px style set) or paintings (train split)")
    data: str = paintings_option()
    style_data: str = opt(lambda: data_path("wikiart224"), "folder of <Style>/*.jpg")
    init: str | None = opt(None, "start from this run's final/ (e.g. the style-set stage), or a stopped run's latest/")
    crop: int = opt(128, "training crop side in pixels")
    min_scale: float = opt(0.25, "smallest multi-scale crop factor (1 = native resolution only)")
    block_channels: str = opt("64,128,128", "denoiser widths per level")
    style_dim: int = opt(128, "style vector size")
    retrieved: int = opt(8, "retrieved patch tokens per sample (0 disables retrieval)")
    style_dropout: float = opt(0.15, "probability of training with the null style")
    retrieval_dropout: float = opt(0.15, "probability of training without retrieved tokens")
    oracle_retrieval: float = opt(
        0.0, "probability that 4 of a sample's retrieved tokens are its own clean quadrants (teaches content lookup)"
    )
    retrieval_cells: int | None = opt(
        None,
        "cells per side each retrieved patch is split into, one token per cell (1: one token per patch); "
        "None keeps the init's layout (1 for a new model)",
    )
    large_holes: float = opt(
        0.0, "probability that a sample also loses a rectangle of 30-60 percent of the crop (context cannot explain)"
    )
    freeze_style: bool = opt(False, "keep the style encoder fixed (a memory bank built with it stays valid)")
    prediction_type: str = opt("v_prediction", "denoiser target: v_prediction or epsilon")
    perceptual_weight: float = opt(
        0.0,
        "weight of LPIPS-vgg between the decoded clean-latent prediction (composited into the crop's undamaged "
        "pixels) and the clean crop, weighted by each sample's signal share alpha_t^2 (0 disables)",
    )
    steps: int = opt(2000, "optimiser steps in total")
    batch_size: int = opt(8, "batch size per process")
    lr: float = opt(5e-4, "peak AdamW learning rate (linear warm-up, cosine decay)")


@dataclass
class RefinerTrainConfig(LoopSettings):
    """Settings of ``artrestore train-refiner``: the ExemplarRefiner on a pool of PatchMatch-filled crops."""

    out: str = opt("runs/refiner", "run folder (an existing run and pool there are resumed)")
    data: str = paintings_option()
    style_data: str = opt(lambda: data_path("wikiart224"), "folder of <Style>/*.jpg")
    style_set: bool = opt(True, "also crop the 224 px style set (turn off for crops above 224 px: no upscaled crops)")
    style_encoder: str = opt(lambda: str(Path(default_model()) / "style_encoder"), "frozen style encoder folder")
    init: str | None = opt(None, "start from this refiner folder (e.g. a previous run's final/)")
    channels: str = opt("24,48,96,128", "refiner widths per level")
    global_blocks: int = opt(
        0, "spectral (whole-tile) blocks at the bottleneck; added to an --init refiner, they start at zero"
    )
    attention_blocks: int = opt(
        0,
        "context-attention blocks at the bottleneck (each position reads from cells outside the hole); added to an "
        "--init refiner, they start at zero",
    )
    detail_blocks: int = opt(
        0, "wider residual blocks at full resolution before the output; added to an --init refiner, they start at zero"
    )
    layout_input: bool = opt(
        False,
        "also feed the refiner the membrane through the hole's border (a layout); added to an --init refiner, its "
        "input weights start at zero",
    )
    crop: int = opt(128, "training crop side in pixels")
    min_scale: float = opt(0.25, "smallest multi-scale crop factor")
    large_holes: float = opt(0.5, "probability that a crop also loses a rectangle or ellipses (20-60 percent)")
    patch_size: int = opt(3, "PatchMatch patch size of the exemplar fills")
    pool_size: int = opt(4000, "exemplar-filled crops in the pool")
    pool_workers: int = opt(2, "processes that build the pool")
    pool_seed: int | None = opt(None, "seed of the pool's crops, damage and fills (default: --seed)")
    layout_blend: float = opt(
        0.0,
        "score the refiner after the membrane-layout stage: this share of its output's low-pass inside wide holes is "
        "replaced by the membrane's before the losses (the pipeline's layout_weight; 0: the refiner alone)",
    )
    style_dropout: float = opt(0.2, "probability of training with the null style")
    l1_weight: float = opt(0.2, "weight of the hole L1 (1.0 for a first stage from scratch, then 0.2)")
    lpips_weight: float = opt(1.0, "weight of LPIPS-vgg on the composite")
    style_weight: float = opt(0.0, "weight of the Gram style loss on VGG features (0 disables)")
    dists_weight: float = opt(0.0, "weight of DISTS over the hole and an 8 px rim (a texture term; 0 disables)")
    memory_bank: str = opt(lambda: str(Path(default_model()) / "memory_bank"), "memory bank with the artist vectors")
    artist_condition: float = opt(
        0.0, "probability that a crop of a bank artist is conditioned on the artist's vector, not its own style"
    )
    swap_prob: float = opt(
        0.0, "probability that a crop of a bank artist is conditioned on another artist (style swap, 0 disables)"
    )
    swap_weight: float = opt(1.0, "weight of the style-swap loss: hole VGG statistics moved by the artists' gap")
    swap_min_crops: int = opt(20, "pool crops an artist needs to take part in style swaps")
    style_lr_scale: float = opt(1.0, "learning-rate factor of the style modulation layers (the artist's say)")
    adv_weight: float = opt(0.0, "weight of the adversarial term over the hole (a patch discriminator; 0 disables)")
    adv_lr: float = opt(1e-4, "Adam learning rate of the discriminator")
    adv_r1: float = opt(1.0, "R1 gradient penalty of the discriminator on the clean crops")
    adv_warmup: int = opt(50, "steps the discriminator trains alone before the refiner sees its loss")
    steps: int = opt(4000, "optimiser steps in total")
    batch_size: int = opt(6, "batch size per process")
    lr: float = opt(5e-4, "peak AdamW learning rate (linear warm-up, cosine decay)")


@dataclass
class RestoreConfig:
    """Settings of ``artrestore restore``: one painting, or every image of a folder."""

    input: str = field(metadata={"help": "damaged painting, or a folder of them", "positional": True})
    out: str = opt("restored.png", "output PNG (or folder, when the input is a folder)")
    mask: str | None = opt(None, "damage mask (white = damaged), or a folder of <image stem>.png masks")
    fade: str | None = opt(None, "fading-strength map (0..255), or a folder of <image stem>.png maps")
    auto: bool = opt(False, "detect the damage with the model's detector (writes <out>_detected_mask/fade.png)")
    artist: str | None = opt(None, "memory-bank artist; default: infer the style from the painting")
    artist_palette: bool = opt(
        True,
        "with --artist: where the painting does not look like that artist, move the fill's colours to the artist's "
        "palette (--no-artist-palette keeps the painting's own)",
    )
    steps: int | None = opt(None, "denoising steps (default: the model's own)")
    seed: int = opt(0, "noise seed")
    retrieval: str = opt("filter", "memory-bank retrieval: filter (artist only), boost or none")
    init: str | None = opt(
        None, "first fill of the holes: none (denoise from noise) or a classical method (default: the model's own)"
    )
    strength: float | None = opt(
        None, "share of the noise schedule run from the first fill, in [0, 1] (0: no denoising; default: the model's)"
    )
    fading: str | None = opt(None, "faded areas: invert (varnish inversion) or diffuse (default: invert if possible)")
    guidance_scale: float | None = opt(None, "style and retrieval guidance (1: off; default: the model's)")
    model: str = opt(default_model, "model folder or Hub id (env ARTRESTORE_MODEL overrides the bundled one)")
    overwrite: bool = opt(False, "replace output files that already exist (inputs are never replaced)")
    threads: int = opt(2, "CPU threads")


@dataclass
class ExportConfig:
    """Settings of ``artrestore export``: a Hub-style model folder from a training run."""

    run: str = opt("runs/diffusion_cells", "`artrestore train` run folder")
    out: str = opt(default_model, "folder to write (replaced)")
    data: str = paintings_option("paintings; the train split fills the bank")
    sampler: str = opt("DPMSolverMultistepScheduler", "stock diffusers sampler class")
    default_steps: int = opt(
        PipelineSettings.default_steps, "the pipeline's default denoising steps (4: the best quality per CPU second)"
    )
    bank_side: int = opt(512, "longer side of the paintings when cutting memory-bank patches")
    certifier: str | None = opt("runs/certifier/final", "style certifier folder (`artrestore train-certifier`)")
    detector: str | None = opt(
        "runs/detector_vote", "damage detector folder (`train-detector`, then `calibrate-detector`)"
    )
    varnish: str | None = opt("runs/varnish/final", "varnish estimator folder (`artrestore train-varnish`)")
    refiner: str | None = opt(
        None, "exemplar refiner folder (`artrestore train-refiner`); it corrects the first fill of paint losses"
    )
    recogniser: str | None = opt(
        None, "artist recogniser folder (`artrestore train-recogniser`); it gives fills a named artist's palette"
    )
    retrieval_routing: int = opt(
        PipelineSettings.retrieval_routing, "retrieved patches each latent pixel reads (0: all; 1: the attributed one)"
    )
    thin_damage_px: int = opt(
        PipelineSettings.thin_damage_px, "damage thinner than this everywhere (cracks, scratches): biharmonic fill"
    )
    hairline_px: int = opt(
        PipelineSettings.hairline_px, "of that thin damage, only what is narrower than this keeps the biharmonic fill"
    )
    code_only: bool = opt(
        False, "only write the pipeline's and components' code into --out (an existing model folder); no rebuild"
    )
    update: bool = opt(
        False,
        "rewrite --out (an existing model folder) from itself, with --refiner, --recogniser, --thin-damage-px, "
        "--hairline-px (each setting it changes is printed) and this version's defaults of the settings it lacks",
    )
    decoder: str | None = opt(None, "autoencoder whose decoder replaces the run's (`train-vae --decoder-only`)")
    model_card: str = opt(lambda: str(REPO_ROOT / "model_card.md"), "model card text")


@dataclass
class PushConfig:
    """Settings of ``artrestore push``: upload a model folder to the Hugging Face Hub."""

    repo_id: str = field(metadata={"help": "Hub repository, e.g. user/artrestore-base"})
    folder: str = opt(default_model, "model folder to upload")
    private: bool = opt(False, "create the repository as private")
    dry_run: bool = opt(False, "only list what would be uploaded (with each file's size and LFS status)")
    space: str | None = opt(None, "also publish the app as a Gradio Space with this Hub id (e.g. user/artrestore)")


@dataclass
class DataPackConfig:
    """Settings of ``artrestore pack-data``: the training data in one small folder, to train from on another machine
    with ``--data <out>/paintings --style-data <out>/wikiart224``."""

    out: str = opt("runs/data_pack", "pack folder to write (new, or empty)")
    data: str = paintings_option("folder of <Artist>/*.jpg paintings; only the train split is packed")
    style_data: str = opt(lambda: data_path("wikiart224"), "folder of <Style>/*.jpg")
    max_side: int = opt(768, "longest side of a packed painting in px (the trainers read at most 1024)")
    quality: int = opt(90, "JPEG quality of the re-encoded paintings, 1-100")
    style_per_class: int = opt(250, "style-set images per style, copied unchanged (0: none)")
    max_mib: float = opt(64.0, "largest size of the whole pack in MiB; a larger one is not written")


@dataclass
class DeviceKitConfig:
    """Settings of ``artrestore device-kit``: a folder inside the repository that, carried with its working tree,
    lets ``train-refiner`` run on a lent GPU machine with no network (data, loss backbone, models, wheels, script).
    """

    out: str = opt("runs/device_kit", "kit folder to write: new or empty, inside the repository and ignored by git")
    repo: str = opt(".", "the repository whose working tree travels with the kit")
    data: str = paintings_option("folder of <Artist>/*.jpg paintings; only the train split is packed")
    max_side: int = opt(512, "longest side of a packed painting in px (the benches restore 512 px paintings)")
    quality: int = opt(90, "JPEG quality of the packed paintings, 1-100")
    model: str = opt(default_model, "model folder whose frozen style encoder the refiner is trained with")
    init: str | None = opt(None, "refiner folder to start from (its channels must match); default: from scratch")
    train_args: str = opt(
        "--channels 24,48,96,128 --crop 256 --batch-size 24 --lr 5e-4 --warmup 200 --steps 20000 "
        "--max-minutes 5 --pool-size 4000 --pool-workers 15 --l1-weight 1.0 --dists-weight 1.0 "
        "--mixed-precision bf16 --checkpoint-every 500 --threads 8 --workers 4",
        "train-refiner options of the run (the kit sets --data, --style-encoder, --init and --out itself)",
    )
    call_minutes: float = opt(
        9.0,
        "minutes the whole command may take there (one call may run 10): the pool is built first, and training gets "
        "what is left less a minute to collect the results (never more than the run's own --max-minutes)",
    )
    wheels: bool = opt(True, "download the wheels of the packages the device lacks (needs PyPI here)")
    python_version: str = opt("3.12", "the device's Python, for the wheels")
    leave_out: str = opt(
        "checkpoints,docs", "top-level folders of the repository that need not travel (left out by sparse checkout)"
    )
    max_mib: float = opt(64.0, "largest size of what travels: the working tree without leave_out, and the kit")


@dataclass
class BandBenchConfig:
    """Settings of ``artrestore bench-bands``: how much a perfect layout or perfect detail of a method's fill would
    be worth, on validation paintings (a diagnostic with the ground truth)."""

    method: str = opt("artrestore", "the restoration method (any name `artrestore bench --methods` accepts)")
    model: str = opt(default_model, "ArtRestore model folder for the artrestore methods")
    data: str = paintings_option()
    kinds: str = opt("large_loss,polygon,polygon_lines", "comma-separated damage kinds or mask families")
    sigmas: str = opt("2,4,8,16,32", "comma-separated Gaussian scales (px) that split layout from detail")
    size: int = opt(512, "paintings are resized (short side) and centre-cropped to size x size")
    limit: int = opt(12, "the first N validation paintings")
    seed: int = opt(0, "damage seed (the bench's)")
    out: str = opt("bench_out/bands", "output folder (bands.json, bands.md)")
    threads: int = opt(2, "CPU threads")


@dataclass
class VaeBenchConfig:
    """Settings of ``artrestore bench-vae``: autoencoder reconstruction quality on held-out paintings."""

    vae: str = opt("runs/vae/final", "autoencoder folder")
    data: str = paintings_option()
    split: str = opt("val", "which paintings: val, train or all")
    size: int = opt(512, "paintings are resized (short side) and centre-cropped to size x size")
    limit: int | None = opt(None, "use at most this many paintings")
    out: str = opt("bench_out/vae_bench.json", "result file")
    threads: int = opt(2, "CPU threads")


@dataclass
class StyleSpaceBenchConfig:
    """Settings of ``artrestore bench-style-space``: how often each of the model's style spaces names a held-out
    painting's artist."""

    model: str = opt(default_model, "ArtRestore model folder")
    data: str = paintings_option()
    split: str = opt("val", "which paintings: val, train or all")
    size: int = opt(512, "paintings are resized (short side) and centre-cropped to size x size")
    min_works: int = opt(15, "only paintings of artists with at least this many works (15: the ten main artists)")
    limit: int | None = opt(None, "use at most this many paintings")
    out: str = opt("bench_out/style_space", "output folder (style_space.json, style_space.md)")
    threads: int = opt(2, "CPU threads")


@dataclass
class LargeBenchConfig:
    """Settings of ``artrestore bench-large``: peak memory and time on one full-resolution painting."""

    model: str = opt(default_model, "ArtRestore model folder")
    data: str = paintings_option()
    painting: int = opt(0, "index of the validation painting to upscale")
    width: int = opt(4000, "width in pixels")
    height: int = opt(3000, "height in pixels")
    kind: str = opt("large_loss", "damage kind to simulate")
    artist: str | None = opt(
        None, "artist to name (the artist recogniser, and the palette change where it fires, run only when one is)"
    )
    out: str = opt("bench_out/large.json", "result file")
    threads: int = opt(2, "CPU threads")


@dataclass
class AppLoadBenchConfig:
    """Settings of ``artrestore bench-app``: the app's peak memory on a huge upload and a burst of clients."""

    model: str | None = opt(None, "model folder for the app (default: the app's own, ARTRESTORE_MODEL or the bundle)")
    data: str = paintings_option()
    out: str = opt("bench_out/app_load", "output folder for app_load.md and app_load.json")
    large_megapixels: float = opt(60.0, "size of the large upload in megapixels")
    clients: int = opt(20, "clients in the burst")
    steps: int = opt(8, "denoising steps of every restoration request")
    start_timeout: float = opt(300.0, "seconds to wait for the app to serve")


@dataclass
class CertifierTrainConfig:
    """Settings of ``artrestore train-certifier``: the style certificate's embedding head, centroids, thresholds."""

    data: str = paintings_option()
    out: str = opt("runs/certifier", "run folder (patch statistics are cached there)")
    per_painting: int = opt(4, "random-offset blocks per painting, besides its block grid (for the heads)")
    block_size: int = opt(128, "side of the certified blocks at the working size")
    working_side: int = opt(512, "longer side paintings are certified at")
    embed_dim: int = opt(64, "embedding size of each head")
    hidden_dim: int = opt(512, "hidden width of each projection head")
    n_heads: int = opt(2, "independently trained heads, ensembled (their unit embeddings concatenated)")
    epochs: int = opt(60, "training epochs of each head")
    lr: float = opt(1e-3, "peak learning rate of the head")
    alpha: float = opt(0.05, "conformal level: genuine patches exceed the threshold with probability <= alpha")
    min_paintings: int = opt(5, "fewest calibration paintings for an artist-specific threshold (else pooled)")
    min_heldout_paintings: int = opt(
        3, "fewest held-out paintings for an artist's own verified rate in its certificates (else the overall rate)"
    )
    folds: int = opt(5, "folds of the out-of-fold calibration over the training paintings")
    head_version: str = opt("vggstats-mlp2-oof-v2-certify-geometry", "recorded in every certificate")
    patch_seed: int = opt(0, "seed of the patch positions")
    seed: int = opt(10, "seed of the first head (head i uses seed + i)")
    threads: int = opt(2, "CPU threads")


@dataclass
class RecogniserTrainConfig:
    """Settings of ``artrestore train-recogniser``: the artist recogniser behind a named artist's palette."""

    data: str = paintings_option()
    out: str = opt("runs/recogniser", "run folder (block statistics are cached there)")
    per_painting: int = opt(8, "random-offset blocks per painting, besides its block grid (for the heads)")
    block_size: int = opt(128, "side of the blocks read at the working size")
    working_side: int = opt(512, "longer side paintings are read at")
    embed_dim: int = opt(64, "embedding size of each head")
    hidden_dim: int = opt(256, "hidden width of each projection head")
    n_heads: int = opt(2, "independently trained heads, ensembled")
    epochs: int = opt(60, "training epochs of each head")
    lr: float = opt(1e-3, "peak learning rate of the heads")
    folds: int = opt(5, "folds of the out-of-fold calibration of the gate over the training paintings")
    gate_alpha: float = opt(0.05, "share of paintings whose own artist the gate may call implausible")
    min_paintings: int = opt(5, "fewest training paintings of an artist for the gate to judge it")
    palette_strength: float = opt(1.0, "how far restored pixels move towards a named implausible artist's palette")
    patch_seed: int = opt(0, "seed of the block positions and the folds")
    seed: int = opt(10, "seed of the first head (head i uses seed + i)")
    threads: int = opt(2, "CPU threads")


@dataclass
class CertifyBenchConfig:
    """Settings of ``artrestore bench-certify``: the certificate's coverage and discrimination on unseen paintings."""

    data: str = paintings_option()
    model: str = opt(default_model, "model folder (its style_certifier, and the pipeline for the restorations)")
    out: str = opt("bench_out/certify", "output folder for certify.md and certify.json")
    size: int = opt(512, "longer side of the paintings")
    restorations: bool = opt(True, "also measure pass rates and discrimination on restorations (runs the model)")
    limit: int | None = opt(None, "at most this many main-artist paintings for the restorations")
    min_works: int = opt(15, "artists with at least this many works are the main artists")
    seed: int = opt(0, "region seed")
    threads: int = opt(2, "torch threads")


@dataclass
class CertifyConfig:
    """Settings of ``artrestore certify``: the style certificate of a region of a (restored) painting."""

    image: str = field(metadata={"help": "the (restored) painting", "positional": True})
    mask: str = field(metadata={"help": "L image, white = the region to certify (e.g. the restored damage)"})
    artist: str | None = opt(None, "artist to certify against; default: the nearest artist of the undamaged part")
    model: str = opt(default_model, "model folder holding style_certifier/ (or a certifier folder)")
    out: str | None = opt(None, "also write the certificate JSON here (a .json file)")
    overwrite: bool = opt(False, "replace --out if it already exists")


@dataclass
class AblateConfig:
    """Settings of ``artrestore ablate``: the bench with model components switched off, one variant at a time."""

    variants: str = opt(
        lambda: ",".join(_ablation_names()), "comma-separated variants of artrestore.bench.ablation.ABLATIONS"
    )
    baselines: str = opt("patchmatch", "classical methods run alongside, for scale")
    data: str = paintings_option()
    out: str = opt("bench_out/ablation", "output folder")
    model: str = opt(default_model, "ArtRestore model folder")
    kinds: str = opt("large_loss,mixed,fading", "comma-separated damage kinds")
    size: int = opt(512, "paintings are resized (short side) and centre-cropped to size x size")
    limit: int | None = opt(4, "use at most this many validation paintings")
    min_works: int = opt(0, "only paintings of artists with at least this many works (15: the ten main artists)")
    split: str = opt("val", "paintings to restore: 'val' (held out) or 'train' (for choosing settings only)")
    guidance_scale: float | None = opt(None, "guidance on style and retrieval for every variant (default: model's)")
    strength: float | None = opt(
        None, "strength of every variant (1: from noise; default: the model's, where nothing is denoised)"
    )
    threads: int = opt(2, "CPU threads")
    examples: int = opt(1, "save visual comparisons for this many paintings")


@dataclass
class AttributionBenchConfig:
    """Settings of ``artrestore bench-attribution``: the deletion test of the attribution maps."""

    data: str = paintings_option()
    out: str = opt("bench_out/attribution", "output folder")
    model: str = opt(default_model, "ArtRestore model folder")
    kind: str = opt("large_loss", "simulated damage kind")
    size: int = opt(512, "paintings are resized (short side) and centre-cropped to size x size")
    limit: int = opt(16, "validation paintings")
    sources_per_painting: int = opt(3, "top sources withdrawn per painting (each against one random source)")
    strength: float = opt(1.0, "denoising strength (the memory bank is used only above 0; 1: from noise)")
    seed: int = opt(0, "damage seed")
    threads: int = opt(2, "CPU threads")

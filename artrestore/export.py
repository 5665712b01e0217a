"""Export: build the memory bank from the training paintings and write a Hub-style model folder.

The folder holds ``model_index.json``, one subfolder per component (safetensors + config.json, and each custom
component's own ``.py`` file), the memory bank (faiss index + metadata), the pipeline's ``.py`` files and a model
card, so it loads with ``DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)`` anywhere diffusers,
torch and faiss are installed.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .data import PaintingCollection, split_collection
from .data.image_cache import load_training_image
from .hub import PipelineSettings, StyleEncoder, StyleMemoryBank
from .hub.memory_bank import BANK_PATCH_LATENT, Provenance
from .models.autoencoder import load_autoencoder

HUB_SOURCE = Path(__file__).resolve().parent / "hub"  # the one copy of the code every model folder ships
# the Hub stores files over 10 MB through Git LFS: the weights and the memory bank's faiss index (uploaded with the
# folder by `artrestore push`; not kept in the project's own repository, whose bundled weights are plain git files)
LFS_SUFFIXES = (".safetensors", ".faiss")
HUB_GITATTRIBUTES = "".join(f"*{suffix} filter=lfs diff=lfs merge=lfs -text\n" for suffix in LFS_SUFFIXES)
# stock diffusers samplers a model can be exported with, by the short names bench methods use (artrestore@ddim8)
SAMPLERS = {
    "dpm": "DPMSolverMultistepScheduler",
    "ddim": "DDIMScheduler",
    "euler": "EulerDiscreteScheduler",
    "unipc": "UniPCMultistepScheduler",
}


def make_sampler(name: str, train_config: dict):
    """A stock diffusers sampler built from the training scheduler's config.

    Args:
        name: a sampler class name, one of the values of :data:`SAMPLERS`.
        train_config: the training ``DDPMScheduler`` config.
    """
    import diffusers

    if name not in SAMPLERS.values():
        raise ValueError(f"sampler: expected one of {tuple(SAMPLERS.values())}, got {name!r}")
    extra = {"timestep_spacing": "trailing"}
    if name == "DPMSolverMultistepScheduler":
        extra["algorithm_type"] = "dpmsolver++"
    return getattr(diffusers, name).from_config(train_config, **extra)


def patch_grid(image: np.ndarray, patch: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Non-overlapping ``patch`` x ``patch`` patches of an (h, w, 3) image: (n, p, p, 3) and their (y, x)."""
    h, w = image.shape[:2]
    coords = [(y, x) for y in range(0, h - patch + 1, patch) for x in range(0, w - patch + 1, patch)]
    return np.stack([image[y : y + patch, x : x + patch] for y, x in coords]), coords


@torch.no_grad()
def build_memory_bank(
    vae,
    style_encoder: StyleEncoder,
    paintings: PaintingCollection,
    bank_side: int = 512,
    patch: int = 64,
    batch: int = 64,
) -> StyleMemoryBank:
    """Patch embeddings, pooled patch latents and provenance of ``paintings``, plus one vector per artist.

    Args:
        vae: the autoencoder (``scaling_factor`` set).
        style_encoder: the trained style encoder (embeds patches and whole works).
        paintings: the training paintings (never the validation split).
        bank_side: paintings are resized so their longer side is this many pixels before cutting patches.
        patch: patch side in pixels at that size.
        batch: patches per forward pass.

    Returns:
        The filled :class:`StyleMemoryBank`.
    """
    c = vae.config.latent_channels
    bank = StyleMemoryBank(dim=style_encoder.config.style_dim, latent_shape=(c, BANK_PATCH_LATENT, BANK_PATCH_LATENT))
    bank.register_to_config(patch_size=patch)
    per_artist: dict[str, list[torch.Tensor]] = {}
    for record in tqdm(paintings.records, desc="memory bank"):
        full = load_training_image(record, max_side=4096)
        scale = bank_side / max(full.shape[:2])
        img = cv2.resize(
            full, (round(full.shape[1] * scale), round(full.shape[0] * scale)), interpolation=cv2.INTER_AREA
        )
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255  # (1, 3, h, w)
        per_artist.setdefault(record.artist, []).append(style_encoder(x)[0])
        patches, coords = patch_grid(img, patch)
        embs, lats = [], []
        for i in range(0, len(patches), batch):
            p = torch.from_numpy(patches[i : i + batch]).permute(0, 3, 1, 2).float() / 255  # (n, 3, patch, patch)
            embs.append(style_encoder(p))
            z = vae.encode(p * 2 - 1).latent_dist.mean * vae.config.scaling_factor  # (n, c, patch/s, patch/s)
            lats.append(F.adaptive_avg_pool2d(z, BANK_PATCH_LATENT))
        prov = [
            Provenance(
                record.artist,
                record.painting_id,
                (round(x0 / scale), round(y0 / scale), round((x0 + patch) / scale), round((y0 + patch) / scale)),
            )
            for y0, x0 in coords
        ]
        bank.add(torch.cat(embs), torch.cat(lats), prov)
    for artist, vecs in per_artist.items():
        bank.set_artist_vector(artist, F.normalize(torch.stack(vecs).mean(0), dim=0))
    return bank


def folder_size(folder: str | Path) -> int:
    """Total bytes of the files under ``folder``."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def stale_bundle_files(folder: str | Path) -> list[str]:
    """The code files of a model folder that differ from :mod:`artrestore.hub` or are missing (those of optional
    components the folder was exported without are not expected)."""
    from .hub import BUNDLE_FILES

    folder = Path(folder)
    index_file = folder / "model_index.json"
    index = json.loads(index_file.read_text()) if index_file.is_file() else {}

    def expected(target: str) -> bool:
        component, _, module = target.rpartition("/")
        if not component:  # the pipeline's own modules
            return True
        entry = index.get(component)  # a component's code only where model_index names its module
        return (folder / component).is_dir() and (not index or (isinstance(entry, list) and entry[0] == module[:-3]))

    return [
        target
        for target, source in BUNDLE_FILES.items()
        if expected(target)
        and (not (folder / target).is_file() or (folder / target).read_bytes() != (HUB_SOURCE / source).read_bytes())
    ]


def sync_bundle_code(folder: str | Path, model_card: str | None = None) -> list[str]:
    """Write the pipeline's and the components' code from :mod:`artrestore.hub` (and the model card) into a model
    folder; no weight, config or memory-bank file is touched.

    Args:
        folder: an exported model folder (with ``model_index.json``).
        model_card: the folder's README.md text, or None to leave it.

    Returns:
        The folder-relative paths that changed.

    Raises:
        ValueError: when ``folder`` is not a model folder.
    """
    from .hub import BUNDLE_FILES

    folder = Path(folder)
    if not (folder / "model_index.json").is_file():
        raise ValueError(f"folder: {folder} has no model_index.json (build it with `artrestore export`)")
    changed = stale_bundle_files(folder)
    for target in changed:
        (folder / target).write_bytes((HUB_SOURCE / BUNDLE_FILES[target]).read_bytes())
    card = folder / "README.md"
    if model_card is not None and (not card.is_file() or card.read_text() != model_card):
        card.write_text(model_card)
        changed.append("README.md")
    return changed


def write_hub_folder(pipe, out: str | Path, model_card: str, max_mb: float = 120.0) -> Path:
    """Save ``pipe`` as a Hub-style folder that loads with ``trust_remote_code`` (no ``artrestore`` needed).

    Args:
        pipe: an :class:`ArtRestorePipeline`.
        out: target folder (replaced if it exists).
        model_card: README.md text.
        max_mb: size budget; exceeding it raises ``ValueError``.

    Returns:
        The folder.
    """
    from .hub import COMPONENTS, CUSTOM_AUTOENCODERS

    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    pipe.save_pretrained(str(out), safe_serialization=True)
    index = json.loads((out / "model_index.json").read_text())
    index["_class_name"] = ["pipeline_artrestore", "ArtRestorePipeline"]
    for name, (module, class_name) in COMPONENTS.items():
        if getattr(pipe, name, None) is not None:  # optional components left out keep [null, null]
            index[name] = [module, class_name]
    vae_class = type(pipe.vae).__name__
    if vae_class in CUSTOM_AUTOENCODERS:  # its module travels in vae/, as a custom component's does
        index["vae"] = [CUSTOM_AUTOENCODERS[vae_class], vae_class]
    (out / "model_index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    sync_bundle_code(out, model_card)
    pickles = [p for p in out.rglob("*") if p.suffix in (".bin", ".pt", ".pkl", ".ckpt")]
    if pickles:
        raise ValueError(f"out: pickle files were written ({pickles}); only safetensors are allowed")
    size = folder_size(out) / 2**20
    if size > max_mb:
        raise ValueError(f"out: the exported folder is {size:.1f} MB, over the {max_mb:.0f} MB budget")
    return out


def export_run(
    run: str | Path,
    out: str | Path,
    data: str | Path,
    sampler: str,
    default_steps: int,
    model_card: str,
    bank_side: int = 512,
    certifier: str | Path | None = None,
    detector: str | Path | None = None,
    varnish: str | Path | None = None,
    retrieval_routing: int = PipelineSettings.retrieval_routing,
    thin_damage_px: int = PipelineSettings.thin_damage_px,
    decoder: str | Path | None = None,
    refiner: str | Path | None = None,
    *,
    recogniser: str | Path | None = None,
    hairline_px: int = PipelineSettings.hairline_px,
) -> Path:
    """Build the pipeline from a ``artrestore train`` run folder and write it with :func:`write_hub_folder`.

    Args:
        run: run folder with ``final/{unet,mask_encoder,style_encoder}``, ``vae/`` and ``scheduler/``.
        out: target folder.
        data: painting collection; only its training split goes into the memory bank.
        sampler: stock diffusers sampler class name (see :data:`SAMPLERS`).
        default_steps: the pipeline's default number of denoising steps.
        model_card: README.md text.
        bank_side: longer side of the paintings when cutting bank patches.
        certifier: a saved :class:`StyleCertifier` folder (``artrestore train-certifier``), or None.
        detector: a saved :class:`DamageDetector` folder (``artrestore train-detector``), or None.
        varnish: a saved :class:`VarnishEstimator` folder (``artrestore train-varnish``), or None.
        refiner: a saved :class:`ExemplarRefiner` folder (``artrestore train-refiner``), or None.
        recogniser: a saved :class:`ArtistRecogniser` folder (``artrestore train-recogniser``), or None.
        retrieval_routing: retrieved patches each latent pixel reads (0: all; see :class:`ArtRestoreUNet`).
        thin_damage_px: damage thin everywhere below this width is filled in pixel space (the pipeline's setting).
        hairline_px: of that thin damage, only stretches narrower than this keep the pixel-space fill.
        decoder: an autoencoder folder whose decoder replaces the run's (``artrestore train-vae --decoder-only``);
            its encoder must be the run's, bit for bit, so the latent space the denoiser learned is unchanged.
    """
    from diffusers import DDPMScheduler

    from .hub import (
        ArtistRecogniser,
        ArtRestorePipeline,
        ArtRestoreUNet,
        DamageDetector,
        ExemplarRefiner,
        FiLMMaskEncoder,
        StyleCertifier,
        VarnishEstimator,
    )

    run = Path(run)
    for part in ("final/unet", "final/mask_encoder", "final/style_encoder", "vae", "scheduler"):
        if not (run / part).is_dir():
            raise ValueError(f"run: {run} has no {part}/ (is it an `artrestore train` run folder?)")
    vae = load_autoencoder(run / "vae")
    if decoder is not None:
        replace_decoder(vae, load_autoencoder(decoder))
    style_encoder = StyleEncoder.from_pretrained(str(run / "final" / "style_encoder")).eval()
    train_paintings = split_collection(PaintingCollection.scan(data), "train")
    bank = build_memory_bank(vae, style_encoder, train_paintings, bank_side=bank_side)
    pipe = ArtRestorePipeline(
        vae=vae,
        unet=ArtRestoreUNet.from_pretrained(str(run / "final" / "unet"), retrieval_routing=retrieval_routing).eval(),
        mask_encoder=FiLMMaskEncoder.from_pretrained(str(run / "final" / "mask_encoder")).eval(),
        style_encoder=style_encoder,
        memory_bank=bank,
        scheduler=make_sampler(sampler, DDPMScheduler.load_config(str(run / "scheduler"))),
        style_certifier=StyleCertifier.from_pretrained(str(certifier)).eval() if certifier else None,
        damage_detector=DamageDetector.from_pretrained(str(detector)).eval() if detector else None,
        varnish_estimator=VarnishEstimator.from_pretrained(str(varnish)).eval() if varnish else None,
        exemplar_refiner=ExemplarRefiner.from_pretrained(str(refiner)).eval() if refiner else None,
        artist_recogniser=ArtistRecogniser.from_pretrained(str(recogniser)).eval() if recogniser else None,
        default_steps=default_steps,
        thin_damage_px=thin_damage_px,
        hairline_px=hairline_px,
    )
    return write_hub_folder(pipe, out, model_card)


def update_bundle(
    folder: str | Path,
    model_card: str,
    *,
    refiner: str | Path | None = None,
    recogniser: str | Path | None = None,
    settings: dict[str, int | float | str | bool] | None = None,
) -> Path:
    """Rewrite an exported model folder from itself: its components and weights as they are, the exemplar refiner
    or the artist recogniser replaced (or added) when ``refiner`` or ``recogniser`` is given, the pipeline settings
    in ``settings`` written over the folder's, and the settings the folder lacks written into ``model_index.json``
    with their shipped defaults (:class:`PipelineSettings`); no training run is needed.

    Args:
        folder: an exported model folder (replaced only once the new one is complete).
        model_card: README.md text.
        refiner: a saved :class:`ExemplarRefiner` folder, or None to keep the folder's own (or none).
        recogniser: a saved :class:`ArtistRecogniser` folder, or None to keep the folder's own (or none).
        settings: pipeline settings (names of :class:`PipelineSettings` fields) that replace the folder's.
    """
    import tempfile

    from .hub import ArtistRecogniser, ArtRestorePipeline, ExemplarRefiner

    folder = Path(folder)
    if not (folder / "model_index.json").is_file():
        raise ValueError(f"out: {folder} has no model_index.json (build it with `artrestore export`)")
    unknown = sorted(set(settings or {}) - {f.name for f in dataclasses.fields(PipelineSettings)})
    if unknown:
        raise ValueError(f"settings: {unknown} are not pipeline settings (accepted: the fields of PipelineSettings)")
    pipe = ArtRestorePipeline.from_pretrained(str(folder))
    if settings:
        pipe.register_to_config(**settings)
    if refiner is not None:
        pipe.register_modules(exemplar_refiner=ExemplarRefiner.from_pretrained(str(refiner)).eval())
    if recogniser is not None:
        pipe.register_modules(artist_recogniser=ArtistRecogniser.from_pretrained(str(recogniser)).eval())
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        staged = write_hub_folder(pipe, Path(tmp) / folder.name, model_card)
        for config in staged.glob("*/config.json"):  # keep where each kept component came from
            before = folder / config.parent.name / "config.json"
            if before.is_file() and "_name_or_path" in (old := json.loads(before.read_text())):
                new = json.loads(config.read_text())
                new["_name_or_path"] = old["_name_or_path"]
                config.write_text(json.dumps(new, indent=2, sort_keys=True) + "\n")
        backup = Path(tmp) / "previous"
        folder.rename(backup)
        staged.rename(folder)
    return folder


def replace_decoder(vae, donor) -> None:
    """Copy ``donor``'s decoder (and post-quantisation conv) into ``vae``, in place.

    Args:
        vae: the autoencoder the denoiser was trained with (``AutoencoderKL`` or ``PatchAutoencoder``).
        donor: one of the same kind with the same encoder and a fine-tuned decoder.

    Raises:
        ValueError: when the donor's encoder differs from ``vae``'s (its latents would mean something else).
    """
    ours, theirs = vae.state_dict(), donor.state_dict()
    if ours.keys() != theirs.keys() or any(ours[k].shape != theirs[k].shape for k in ours):
        raise ValueError("decoder: the autoencoder's architecture differs from the run's")
    encoder = [k for k in ours if k.startswith(("encoder", "quant_conv."))]  # a PatchAutoencoder's encoder_* too
    if not all(torch.equal(ours[k], theirs[k]) for k in encoder):
        raise ValueError("decoder: its encoder differs from the run's (fine-tune it with train-vae --decoder-only)")
    decoder = ("decoder", "post_quant_conv.")
    vae.load_state_dict({k: theirs[k] if k.startswith(decoder) else v for k, v in ours.items()})


def upload_listing(root: Path, files: list[Path]) -> tuple[list[str], float]:
    """``path<TAB>bytes<TAB>lfs|git`` per file (relative to ``root``), plus the generated ``.gitattributes``; and
    the total in MB."""
    lines = [
        f"{p.as_posix()}\t{(root / p).stat().st_size}\t{'lfs' if p.suffix in LFS_SUFFIXES else 'git'}" for p in files
    ]
    lines.append(f".gitattributes\t{len(HUB_GITATTRIBUTES)}\tgit (generated: {', '.join(LFS_SUFFIXES)} under LFS)")
    return lines, sum((root / p).stat().st_size for p in files) / 2**20


def push_folder(folder: str | Path, repo_id: str, private: bool = False, dry_run: bool = False) -> list[str]:
    """Upload a model folder to the Hugging Face Hub with ``huggingface_hub``.

    Args:
        folder: the exported folder.
        repo_id: target repository (``user/name``).
        private: create it private.
        dry_run: only list the files and sizes that would be uploaded.

    Returns:
        Report lines.
    """
    folder = Path(folder)
    if not (folder / "model_index.json").is_file():
        raise ValueError(f"folder: {folder} has no model_index.json (build it with `artrestore export`)")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"repo_id: expected 'owner/name', got {repo_id!r}")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    files = [p for p in files if p.name != ".gitattributes"]  # the Hub's own is uploaded instead
    lines, total = upload_listing(folder, [p.relative_to(folder) for p in files])
    if dry_run:
        return [f"would upload {len(files) + 1} files ({total:.1f} MB) from {folder} to {repo_id}:", *lines]
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, private=private, exist_ok=True)
    api.upload_file(path_or_fileobj=HUB_GITATTRIBUTES.encode(), path_in_repo=".gitattributes", repo_id=repo_id)
    info = api.upload_folder(
        repo_id=repo_id, folder_path=str(folder), ignore_patterns=["**/__pycache__/**", ".gitattributes"]
    )
    return [f"uploaded {len(files)} files ({total:.1f} MB) to {repo_id}: {info}"]


# what a Gradio Space of the app needs: the app, its package, the pins, the Space card (README.md's YAML front
# matter) and the bundled model it loads by default; never tests, docs, runs or virtual environments
SPACE_FILES = ("app.py", "requirements.txt", "README.md", "pyproject.toml")
SPACE_FOLDERS = ("artrestore", "examples", "checkpoints/artrestore-base")


def space_files(root: str | Path | None = None) -> list[Path]:
    """The files of the project that a Space of the app is made of, relative to ``root`` (the project)."""
    from .paths import REPO_ROOT

    root = Path(root or REPO_ROOT)
    files = [Path(f) for f in SPACE_FILES if (root / f).is_file()]
    for folder in SPACE_FOLDERS:
        files += sorted(
            p.relative_to(root)
            for p in (root / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc" and p.name != ".gitattributes"
        )
    return files


def push_space(
    space_id: str, *, private: bool = False, dry_run: bool = False, root: str | Path | None = None
) -> list[str]:
    """Publish the app as a Gradio Space: the app, the package and the bundled model (weights through LFS).

    Args:
        space_id: target Space (``user/name``).
        private: create it private.
        dry_run: only list the files, their sizes and whether they go through LFS.
        root: the project folder (default: this checkout).

    Returns:
        Report lines.
    """
    from .paths import REPO_ROOT

    if space_id.count("/") != 1 or not all(space_id.split("/")):
        raise ValueError(f"space: expected 'owner/name', got {space_id!r}")
    root = Path(root or REPO_ROOT)
    if not (root / "app.py").is_file() or "sdk: gradio" not in (root / "README.md").read_text():
        raise ValueError(f"space: {root} has no app.py with a Gradio Space card (README.md front matter)")
    files = space_files(root)
    lines, total = upload_listing(root, files)
    if dry_run:
        return [f"would upload {len(files) + 1} files ({total:.1f} MB) from {root} to the Space {space_id}:", *lines]
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    api.upload_file(
        path_or_fileobj=HUB_GITATTRIBUTES.encode(), path_in_repo=".gitattributes", repo_id=space_id, repo_type="space"
    )
    info = api.upload_folder(
        repo_id=space_id,
        repo_type="space",
        folder_path=str(root),
        allow_patterns=[p.as_posix() for p in files],
    )
    return [f"uploaded {len(files) + 1} files ({total:.1f} MB) to the Space {space_id}: {info}"]

"""Export: the Hub-style folder, loading it with and without the artrestore package, and the push dry run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from artrestore.export import folder_size, write_hub_folder
from artrestore.hub.pipeline_artrestore import ArtRestorePipeline

from .hub.conftest import build_tiny_pipeline

REMOTE_LOAD = r"""
import importlib.abc, importlib.util, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("artrestore", "pipelines"):
            raise ModuleNotFoundError(name)
        return None

sys.meta_path.insert(0, Block())
try:
    import artrestore  # noqa: F401
    raise SystemExit("artrestore is importable")
except ModuleNotFoundError:
    pass
import numpy as np, PIL.Image, torch
from diffusers import DiffusionPipeline

folder, image, mask, out = sys.argv[1:5]
pipe = DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)
pipe.set_progress_bar_config(disable=True)
assert type(pipe).__name__ == "ArtRestorePipeline", type(pipe)
assert "artrestore" not in sys.modules
res = pipe(image=PIL.Image.open(image).convert("RGB"), mask_image=PIL.Image.open(mask),
           generator=torch.Generator().manual_seed(0), output_type="np")
np.save(out, res.images[0])
print(type(pipe.unet).__module__)
print("attribution", type(res.attributions[0]).__name__)
print("certificate", type(res.certificates[0]).__name__)
if getattr(pipe, "damage_detector", None) is not None:
    print("detected", pipe.detect_damage(PIL.Image.open(image).convert("RGB"))[0].mask.shape)
if getattr(pipe, "varnish_estimator", None) is not None:
    faded = pipe(image=PIL.Image.open(image).convert("RGB"), fade_map=PIL.Image.open(mask), output_type="np")
    print("fading", faded.records[0].fading)
"""


def load_without_artrestore(folder: Path, image: Path, mask: Path, tmp_path: Path) -> tuple[np.ndarray, str]:
    """Run :data:`REMOTE_LOAD` in a fresh Python (artrestore blocked); returns the restored array and its stdout."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_MODULES_CACHE=str(tmp_path / "modules"), HF_HUB_OFFLINE="1")
    out = tmp_path / "out.npy"
    proc = subprocess.run(
        [sys.executable, "-c", REMOTE_LOAD, str(folder), str(image), str(mask), str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return np.load(out), proc.stdout


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, ArtRestorePipeline]:
    pipe = build_tiny_pipeline(certifier=True, detector=True, varnish=True)
    pipe.set_progress_bar_config(disable=True)
    folder = write_hub_folder(pipe, tmp_path_factory.mktemp("hub") / "artrestore-tiny", "# tiny\n")
    return folder, pipe


def _inputs(tmp: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    img = PIL.Image.fromarray(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8))
    m = np.zeros((90, 120), np.uint8)
    m[30:60, 40:80] = 255
    img.save(tmp / "img.png")
    PIL.Image.fromarray(m).save(tmp / "mask.png")
    return tmp / "img.png", tmp / "mask.png"


def _restore(pipe: ArtRestorePipeline, image: Path, mask: Path) -> np.ndarray:
    """The in-memory pipeline's restoration that a loaded folder must reproduce."""
    args = dict(image=PIL.Image.open(image).convert("RGB"), mask_image=PIL.Image.open(mask), output_type="np")
    return pipe(**args, generator=torch.Generator().manual_seed(0)).images[0]


def test_folder_layout(exported):
    folder, _ = exported
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == ["pipeline_artrestore", "ArtRestorePipeline"]
    assert index["unet"] == ["denoiser", "ArtRestoreUNet"] and index["vae"] == ["diffusers", "AutoencoderKL"]
    for f in (
        "pipeline_artrestore.py",
        "crop_plan.py",
        "masked_fill.py",
        "README.md",
        "unet/denoiser.py",
        "memory_bank/index.faiss",
        "memory_bank/provenance.json",
        "unet/diffusion_pytorch_model.safetensors",
        "attribution.py",
        "damage_detection.py",
        "style_certifier/style_certifier.py",
        "damage_detector/detector.py",
        "varnish_estimator/varnish.py",
        "varnish_estimator/config.json",
    ):
        assert (folder / f).is_file(), f
    assert index["varnish_estimator"] == ["varnish", "VarnishEstimator"]
    assert not [p for p in folder.rglob("*") if p.suffix in (".bin", ".pt", ".pkl")]
    assert folder_size(folder) < 120 * 2**20


def test_artrestore_pipeline_from_pretrained_matches(exported, tmp_path):
    folder, pipe = exported
    image, mask = _inputs(tmp_path)
    loaded = ArtRestorePipeline.from_pretrained(folder)
    loaded.set_progress_bar_config(disable=True)
    args = dict(image=PIL.Image.open(image).convert("RGB"), mask_image=PIL.Image.open(mask), output_type="np")
    a = pipe(**args, generator=torch.Generator().manual_seed(0)).images
    b = loaded(**args, generator=torch.Generator().manual_seed(0)).images
    assert np.abs(a.astype(int) - b).max() <= 1  # same weights; float summation order may flip a rounding
    assert loaded.memory_bank.artists == pipe.memory_bank.artists
    assert type(loaded.unet).__module__ == "artrestore.hub.denoiser"  # no code from the folder ran


@pytest.mark.slow
def test_trust_remote_code_without_artrestore(exported, tmp_path):
    folder, pipe = exported
    image, mask = _inputs(tmp_path)
    restored, stdout = load_without_artrestore(folder, image, mask, tmp_path)
    assert "artrestore" not in stdout  # the UNet class came from the folder's denoiser.py
    assert "attribution BlockAttribution" in stdout and "certificate StyleCertificate" in stdout
    assert "detected (90, 120)" in stdout
    assert "fading invert" in stdout  # the varnish estimator came from the folder's varnish.py
    expected = _restore(pipe, image, mask)
    assert np.abs(restored.astype(int) - expected).max() <= 1


@pytest.fixture(scope="module")
def exported_patch(tmp_path_factory) -> tuple[Path, ArtRestorePipeline]:
    pipe = build_tiny_pipeline(patch_vae=True)
    pipe.set_progress_bar_config(disable=True)
    return write_hub_folder(pipe, tmp_path_factory.mktemp("hub") / "artrestore-patch", "# tiny\n"), pipe


def test_a_patch_autoencoder_travels_with_its_code_and_loads(exported_patch, exported, tmp_path):
    from artrestore.export import stale_bundle_files
    from artrestore.hub import PatchAutoencoder

    folder, pipe = exported_patch
    index = json.loads((folder / "model_index.json").read_text())
    assert (
        index["vae"] == ["patch_autoencoder", "PatchAutoencoder"] and (folder / "vae/patch_autoencoder.py").is_file()
    )
    assert stale_bundle_files(folder) == []
    kl_folder, _ = exported
    assert not (kl_folder / "vae/patch_autoencoder.py").exists() and stale_bundle_files(kl_folder) == []
    loaded = ArtRestorePipeline.from_pretrained(folder)
    loaded.set_progress_bar_config(disable=True)
    assert isinstance(loaded.vae, PatchAutoencoder) and loaded.latent_stride == 2
    image, mask = _inputs(tmp_path)
    args = dict(image=PIL.Image.open(image).convert("RGB"), mask_image=PIL.Image.open(mask), output_type="np")
    a = pipe(**args, generator=torch.Generator().manual_seed(0)).images
    b = loaded(**args, generator=torch.Generator().manual_seed(0)).images
    assert np.abs(a.astype(int) - b).max() <= 1


@pytest.mark.slow
def test_a_patch_autoencoder_loads_with_trust_remote_code_without_artrestore(exported_patch, tmp_path):
    folder, pipe = exported_patch
    image, mask = _inputs(tmp_path)
    restored, _ = load_without_artrestore(folder, image, mask, tmp_path)
    expected = _restore(pipe, image, mask)
    assert np.abs(restored.astype(int) - expected).max() <= 1


def test_export_refuses_over_budget(tmp_path):
    pipe = build_tiny_pipeline()
    with pytest.raises(ValueError, match="over the 0 MB budget"):
        write_hub_folder(pipe, tmp_path / "x", "# card", max_mb=0.0001)


def test_replace_decoder_keeps_the_encoder_and_refuses_another_latent_space():
    from artrestore.export import replace_decoder
    from artrestore.models.autoencoder import build_autoencoder

    torch.manual_seed(0)
    vae = build_autoencoder((8, 16))
    donor = build_autoencoder((8, 16))
    donor.encoder.load_state_dict(vae.encoder.state_dict())
    donor.quant_conv.load_state_dict(vae.quant_conv.state_dict())
    encoder_before = {k: v.clone() for k, v in vae.encoder.state_dict().items()}
    replace_decoder(vae, donor)
    assert all(torch.equal(v, vae.encoder.state_dict()[k]) for k, v in encoder_before.items())
    assert all(torch.equal(v, donor.decoder.state_dict()[k]) for k, v in vae.decoder.state_dict().items())
    assert torch.equal(vae.post_quant_conv.weight, donor.post_quant_conv.weight)
    with pytest.raises(ValueError, match="encoder differs"):
        replace_decoder(vae, build_autoencoder((8, 16)))
    with pytest.raises(ValueError, match="architecture"):
        replace_decoder(vae, build_autoencoder((8, 32)))


def test_replace_decoder_works_on_a_patch_autoencoder_too():
    from artrestore.export import replace_decoder
    from artrestore.hub import PatchAutoencoder

    torch.manual_seed(0)
    vae, donor = (PatchAutoencoder(patch_size=2, latent_channels=4, hidden_channels=8, num_blocks=1) for _ in "ab")
    donor.load_state_dict(
        {k: v if k.startswith("decoder") else vae.state_dict()[k] for k, v in donor.state_dict().items()}
    )
    replace_decoder(vae, donor)
    assert all(torch.equal(v, donor.state_dict()[k]) for k, v in vae.state_dict().items())
    with pytest.raises(ValueError, match="encoder differs"):
        replace_decoder(vae, PatchAutoencoder(patch_size=2, latent_channels=4, hidden_channels=8, num_blocks=1))


def test_space_dry_run_lists_the_app_package_and_model_with_lfs_status(capsys):
    from artrestore.cli import main

    code = main(["push", "--repo-id", "someone/artrestore-base", "--space", "someone/artrestore", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0 and "to the Space someone/artrestore" in out
    space = out.split("to the Space someone/artrestore:")[1]
    rows = {line.split("\t")[0]: line.split("\t")[-1] for line in space.splitlines() if "\t" in line}
    assert rows["app.py"] == "git" and rows["requirements.txt"] == "git" and rows["README.md"] == "git"
    assert rows["artrestore/hub/pipeline_artrestore.py"] == "git"
    assert rows["checkpoints/artrestore-base/unet/diffusion_pytorch_model.safetensors"] == "lfs"
    assert rows["checkpoints/artrestore-base/memory_bank/index.faiss"] == "lfs"
    assert ".gitattributes" in rows
    assert not [p for p in rows if p.startswith(("tests/", "docs/", "runs/", ".venv/")) or "__pycache__" in p]
    assert main(["push", "--repo-id", "someone/m", "--space", "no-slash", "--dry-run"]) == 2
    assert "space: expected 'owner/name'" in capsys.readouterr().err


def test_update_bundle_adds_a_refiner_and_keeps_every_weight(tmp_path):
    from artrestore.export import update_bundle
    from artrestore.hub import ExemplarRefiner

    pipe = build_tiny_pipeline()
    folder = write_hub_folder(pipe, tmp_path / "model", "# tiny\n")
    index = json.loads((folder / "model_index.json").read_text())
    del index["default_strength"]  # a folder exported before the setting existed
    (folder / "model_index.json").write_text(json.dumps(index))
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*.safetensors")}
    ExemplarRefiner(channels=(8, 16), style_dim=16, dilations=(2,)).save_pretrained(tmp_path / "refiner")
    update_bundle(folder, "# tiny v2\n", refiner=tmp_path / "refiner", settings={"hairline_px": 7})
    index = json.loads((folder / "model_index.json").read_text())
    assert index["exemplar_refiner"] == ["exemplar_refiner", "ExemplarRefiner"] and index["default_strength"] == 0.0
    assert index["hairline_px"] == 7 and index["thin_damage_px"] == pipe.config.thin_damage_px
    assert (folder / "exemplar_refiner" / "exemplar_refiner.py").is_file()
    assert all((folder / rel).read_bytes() == data for rel, data in before.items())
    assert (folder / "README.md").read_text() == "# tiny v2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "refiner"]  # no staging folder left behind
    with pytest.raises(ValueError, match="model_index.json"):
        update_bundle(tmp_path / "refiner", "# card\n")
    with pytest.raises(ValueError, match="settings: \\['hairline'\\]"):
        update_bundle(folder, "# card\n", settings={"hairline": 4})


def test_export_update_writes_the_pixel_settings_and_says_what_it_changed(tmp_path, capsys):
    from artrestore.cli import main
    from artrestore.hub import PipelineSettings

    pipe = build_tiny_pipeline()
    folder = write_hub_folder(pipe, tmp_path / "model", "# tiny\n")
    index = json.loads((folder / "model_index.json").read_text())
    index["hairline_px"] = 0  # a folder that ships another setting than this version's default
    (folder / "model_index.json").write_text(json.dumps(index))
    card = tmp_path / "card.md"
    card.write_text("# tiny v2\n")
    args = ["export", "--update", "--out", str(folder), "--model-card", str(card)]
    assert main(args + ["--hairline-px", "0", "--thin-damage-px", str(pipe.config.thin_damage_px)]) == 0
    assert json.loads((folder / "model_index.json").read_text())["hairline_px"] == 0
    assert "->" not in capsys.readouterr().out  # nothing changed, nothing reported
    assert main(args + ["--thin-damage-px", str(pipe.config.thin_damage_px)]) == 0
    assert json.loads((folder / "model_index.json").read_text())["hairline_px"] == PipelineSettings.hairline_px
    assert f"hairline_px: 0 -> {PipelineSettings.hairline_px}" in capsys.readouterr().out

"""The bundled checkpoints/artrestore-base: a complete Hub-style folder that loads both ways and restores."""

from __future__ import annotations

import json

import numpy as np
import PIL.Image
import pytest
import torch

from artrestore import ArtRestorePipeline
from artrestore.export import folder_size, stale_bundle_files, sync_bundle_code
from artrestore.hub import BUNDLE_FILES, COMPONENTS

from .conftest import ROOT, synthetic_painting
from .test_export import load_without_artrestore

BUNDLED = ROOT / "checkpoints" / "artrestore-base"


def test_folder_is_complete_and_within_budget():
    index = json.loads((BUNDLED / "model_index.json").read_text())
    assert index["_class_name"] == ["pipeline_artrestore", "ArtRestorePipeline"]
    for name in (
        "vae",
        "unet",
        "mask_encoder",
        "style_encoder",
        "memory_bank",
        "scheduler",
        "style_certifier",
        "damage_detector",
        "varnish_estimator",
    ):
        assert (BUNDLED / name).is_dir(), name
    for f in (
        "README.md",
        "pipeline_artrestore.py",
        "crop_plan.py",
        "masked_fill.py",
        "memory_bank/index.faiss",
        "memory_bank/provenance.json",
        "unet/denoiser.py",
        "unet/config.json",
    ):
        assert (BUNDLED / f).is_file(), f
    assert not [p for p in BUNDLED.rglob("*") if p.suffix in (".bin", ".pt", ".pkl", ".ckpt")]
    assert folder_size(BUNDLED) <= 120 * 2**20


def test_pipeline_and_component_files_match_the_source():
    """The shipped .py files and model card are the project's own, not stale copies (`make sync-model`)."""
    index = json.loads((BUNDLED / "model_index.json").read_text())
    for name, (module, class_name) in COMPONENTS.items():
        if name == "exemplar_refiner" and index.get(name) in (None, [None, None]):
            continue  # optional, and not bundled until it beats its exemplar fill on the bench
        assert index[name] == [module, class_name], name
    assert len(BUNDLE_FILES) >= 16
    assert stale_bundle_files(BUNDLED) == [], "the bundle's code is stale: run `make sync-model`"
    assert (BUNDLED / "README.md").read_text() == (ROOT / "model_card.md").read_text(), "run `make sync-model`"


def test_stale_code_is_found_and_synced_without_touching_anything_else(tmp_path):
    """A copy of the bundle's code and configs (no weights): an edited or missing file is reported, and the sync
    rewrites exactly the code and the card."""
    import shutil

    copy = tmp_path / "model"
    for p in BUNDLED.rglob("*"):
        if p.is_file() and p.suffix in (".py", ".json", ".md"):
            (copy / p.relative_to(BUNDLED)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(p, copy / p.relative_to(BUNDLED))
    assert stale_bundle_files(copy) == []
    (copy / "crop_plan.py").write_text("# edited by hand\n")
    (copy / "unet" / "denoiser.py").unlink()
    configs = {p: p.read_bytes() for p in copy.rglob("*.json")}
    assert stale_bundle_files(copy) == ["crop_plan.py", "unet/denoiser.py"]
    assert sorted(sync_bundle_code(copy, "# card\n")) == ["README.md", "crop_plan.py", "unet/denoiser.py"]
    assert stale_bundle_files(copy) == [] and (copy / "README.md").read_text() == "# card\n"
    assert {p: p.read_bytes() for p in copy.rglob("*.json")} == configs
    with pytest.raises(ValueError, match="model_index.json"):
        sync_bundle_code(tmp_path)


def test_model_card_metadata_matches_the_current_bench_report():
    """The Hub's model-index results are the numbers of docs/results/bench_512.md, not a stale copy."""
    import yaml

    card = (ROOT / "model_card.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["license"] == "apache-2.0" and meta["pipeline_tag"] == "image-to-image"
    assert "inpainting" in meta["tags"]
    metrics = meta["model-index"][0]["results"][0]["metrics"]
    report = {}
    for line in (ROOT / "docs" / "results" / "bench_512.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) > 4 and cells[1] in ("artrestore", "patchmatch"):
            report[(cells[0].replace("_", " "), cells[1])] = (float(cells[3]), float(cells[4]))
    assert len(metrics) == 12
    for m in metrics:
        kind = m["name"].split(", ")[1].split(" (")[0]
        column = 0 if m["type"] == "lpips" else 1
        assert m["value"] == report[(kind, "artrestore")][column], m["name"]
        assert f"PatchMatch {report[(kind, 'patchmatch')][column]:.4f}" in m["name"], m["name"]


@pytest.fixture(scope="module")
def bundled():
    pipe = ArtRestorePipeline.from_pretrained(BUNDLED)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_restores_odd_size_and_keeps_untouched_pixels(bundled):
    img = synthetic_painting(1017, 1531, seed=9)
    mask = np.zeros((1017, 1531), np.uint8)
    mask[500:540, 700:790] = 255
    mask[3, 0:1531:2] = 255  # a dotted 1 px line across the whole width
    out = bundled(
        image=PIL.Image.fromarray(img),
        mask_image=PIL.Image.fromarray(mask),
        generator=torch.Generator().manual_seed(0),
        output_type="np",
    ).images[0]
    m = mask > 0
    assert out.shape == img.shape and np.array_equal(out[~m], img[~m]) and (out[m] != img[m]).any()
    assert len(bundled.memory_bank) > 1000 and len(bundled.memory_bank.artist_vectors) >= 10


@pytest.mark.slow
def test_trust_remote_code_load_without_artrestore(tmp_path):
    img = synthetic_painting(96, 128, seed=1)
    PIL.Image.fromarray(img).save(tmp_path / "i.png")
    m = np.zeros((96, 128), np.uint8)
    m[30:60, 40:90] = 255
    PIL.Image.fromarray(m).save(tmp_path / "m.png")
    out, stdout = load_without_artrestore(BUNDLED, tmp_path / "i.png", tmp_path / "m.png", tmp_path)
    assert np.array_equal(out[m == 0], img[m == 0]) and (out[m > 0] != img[m > 0]).any()
    assert "fading invert" in stdout


def test_code_defaults_are_the_shipped_settings():
    """One definition of every default: the pipeline, export and the CLI agree with the bundle's saved config."""
    import dataclasses
    import inspect

    from artrestore.config import ExportConfig
    from artrestore.export import export_run
    from artrestore.hub import ArtRestoreUNet, PipelineSettings

    index = json.loads((BUNDLED / "model_index.json").read_text())
    unet = json.loads((BUNDLED / "unet" / "config.json").read_text())
    settings = PipelineSettings()
    saved = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings) if f.name in index}
    assert len(saved) >= 9 and saved == {k: index[k] for k in saved}
    assert unet["retrieval_routing"] == settings.retrieval_routing
    assert (
        inspect.signature(ArtRestoreUNet.__init__).parameters["retrieval_routing"].default == unet["retrieval_routing"]
    )
    init = inspect.signature(ArtRestorePipeline.__init__).parameters
    assert {k: init[k].default for k in saved} == saved
    export = ExportConfig()
    exported = inspect.signature(export_run).parameters
    for name in ("default_steps", "thin_damage_px", "retrieval_routing"):
        assert getattr(export, name) == getattr(settings, name), name
    for name in ("thin_damage_px", "retrieval_routing"):
        assert exported[name].default == getattr(settings, name), name


def test_shipped_artist_names_are_clean_and_distinct():
    from artrestore.data.paintings import artist_key
    from artrestore.hub.memory_bank import StyleMemoryBank
    from artrestore.hub.style_certifier import StyleCertifier

    bank = StyleMemoryBank.from_pretrained(str(BUNDLED / "memory_bank"))
    names = StyleCertifier.load_config(str(BUNDLED / "style_certifier"))["artists"]
    for artists in (bank.artists, names):
        assert all(a == " ".join(a.split()) for a in artists)  # no newline or double space
        assert len({artist_key(a) for a in artists}) == len(artists)  # no two spellings of one name


@pytest.mark.slow
def test_the_detector_leaves_intact_paintings_alone(shared_data):
    """On the validation paintings as they are (no damage), at 768 px, the bundled detector marks at most 0.5 % of
    the pixels as damage or fading on average (every marked pixel would be repainted by ``restore --auto``)."""
    from artrestore.data import PaintingCollection, split_collection
    from artrestore.data.image_cache import load_training_image
    from artrestore.hub import DamageDetector
    from artrestore.hub.damage_detection import decide, decision_settings, predict_tiled

    detector = DamageDetector.from_pretrained(str(BUNDLED / "damage_detector")).eval()
    settings = decision_settings(detector)
    shares = []
    for record in split_collection(PaintingCollection.scan(shared_data / "paintings"), "val").records:
        found = decide(*predict_tiled(detector, load_training_image(record, 768)), **settings)
        shares.append(float((found.mask | (found.fade > 0)).mean()))
    assert len(shares) >= 60 and np.mean(shares) <= 0.005

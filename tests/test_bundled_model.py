"""The bundled checkpoints/artrestore-base: a complete Hub-style folder that loads both ways and restores."""

from __future__ import annotations

import json

import numpy as np
import PIL.Image
import pytest
import torch

from artrestore.export import COMPONENT_SOURCES, CUSTOM_COMPONENTS, PIPELINE_FILES, folder_size
from pipelines.pipeline_artrestore import ArtRestorePipeline

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
    """The shipped .py files are the project's own, not stale copies."""
    index = json.loads((BUNDLED / "model_index.json").read_text())
    pairs = {name: f"pipelines/{name}" for name in PIPELINE_FILES}
    for name, (module, _) in CUSTOM_COMPONENTS.items():
        if index.get(name, [None])[0] is not None:
            pairs[f"{name}/{module}.py"] = f"artrestore/{COMPONENT_SOURCES.get(name, 'models')}/{module}.py"
    assert len(pairs) >= 10
    for shipped, source in pairs.items():
        assert (BUNDLED / shipped).read_text() == (ROOT / source).read_text(), f"{shipped} is stale: re-export"


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


def test_trust_remote_code_load_without_artrestore(tmp_path):
    img = synthetic_painting(96, 128, seed=1)
    PIL.Image.fromarray(img).save(tmp_path / "i.png")
    m = np.zeros((96, 128), np.uint8)
    m[30:60, 40:90] = 255
    PIL.Image.fromarray(m).save(tmp_path / "m.png")
    out, stdout = load_without_artrestore(BUNDLED, tmp_path / "i.png", tmp_path / "m.png", tmp_path)
    assert np.array_equal(out[m == 0], img[m == 0]) and (out[m > 0] != img[m > 0]).any()
    assert "fading invert" in stdout

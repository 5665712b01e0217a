"""The package's public API: what a user imports, from anywhere, and what the install does not claim."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT

OUTSIDE = r"""
import importlib.util, inspect, sys
assert importlib.util.find_spec("pipelines") is None, "the install claims the top-level name 'pipelines'"
import artrestore.config  # the settings and the CLI load without diffusers
assert "diffusers" not in sys.modules
from artrestore import ArtRestorePipeline, ComponentSwitches, PipelineSettings, RestorationRecord, load_image
assert ArtRestorePipeline.__module__ == "artrestore.hub.pipeline_artrestore"
defaults = {k: p.default for k, p in inspect.signature(ArtRestorePipeline.__init__).parameters.items()}
assert all(defaults[k] == v for k, v in vars(PipelineSettings()).items() if k in defaults), defaults
assert defaults["default_steps"] == PipelineSettings.default_steps and "hairline_px" in defaults
print("ok")
"""


def test_public_imports_from_outside_the_checkout(tmp_path):
    """Run from an unrelated folder, so the checkout is not on the path: only the installed package is."""
    done = subprocess.run([sys.executable, "-c", OUTSIDE], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_no_top_level_pipelines_package_in_the_checkout():
    assert not (ROOT / "pipelines").exists()
    import artrestore

    assert set(artrestore.__all__) >= {"ArtRestorePipeline", "load_image", "load_mask"}


def test_readme_example_loads_an_exif_rotated_photo_upright(tmp_path):
    """The README loads images as the CLI does (``load_image``): a phone photo stored sideways comes out upright,
    where ``PIL.Image.open`` alone would hand the pipeline the sideways pixels."""
    import numpy as np
    import PIL.Image

    from artrestore import load_image

    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:, :30] = 255  # left half white as stored
    exif = PIL.Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    PIL.Image.fromarray(stored).save(tmp_path / "photo.jpg", exif=exif, quality=95)
    assert PIL.Image.open(tmp_path / "photo.jpg").size == (60, 40)
    upright = load_image(tmp_path / "photo.jpg").to_pil()
    assert upright.size == (40, 60) and upright.mode == "RGB"
    assert np.asarray(upright)[:30].mean() > 200 and np.asarray(upright)[30:].mean() < 50  # white on top

"""Where the project's files are found: the shared data sets and the bundled model (one helper for every default)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_MODEL = REPO_ROOT / "checkpoints" / "artrestore-base"


def data_root() -> Path:
    """The shared data sets: ``$ARTRESTORE_DATA`` if set, else ``../shared/data`` beside the project."""
    return Path(os.environ.get("ARTRESTORE_DATA", REPO_ROOT.parent / "shared" / "data"))


def data_path(*parts: str) -> str:
    """A path under :func:`data_root`, e.g. ``data_path("paintings")``."""
    return str(data_root().joinpath(*parts))


def default_model() -> str:
    """The model folder commands use by default: ``$ARTRESTORE_MODEL`` if set, else the bundled model."""
    return os.environ.get("ARTRESTORE_MODEL", str(BUNDLED_MODEL))

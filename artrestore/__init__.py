"""ArtRestore: restore damaged paintings with ArtRestore-Diffusion.

``from artrestore import ArtRestorePipeline`` gives the pipeline (imported on first use, so that the command line
and the settings load without diffusers); :func:`load_image` and :func:`load_mask` read files the way the CLI and
the app do (EXIF orientation applied, colour converted, masks read leniently).
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "ArtRestorePipeline": "artrestore.hub",
    "ArtRestorePipelineOutput": "artrestore.hub",
    "ComponentSwitches": "artrestore.hub",
    "PipelineSettings": "artrestore.hub",
    "RestorationRecord": "artrestore.hub",
    "load_image": "artrestore.io",
    "load_mask": "artrestore.io",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'artrestore' has no attribute {name!r}")

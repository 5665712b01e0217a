"""Full-resolution run: peak memory and time of ArtRestore on a large painting (default 4000x3000)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from ..config import LargeBenchConfig, RestoreConfig
from ..damage import DamageSimulator, derive_seed
from ..data import PaintingCollection, split_collection
from ..io import Artwork, load_image
from ..restore import load_pipeline, restore_artwork
from .memory import PeakMemory


def run_large_bench(config: LargeBenchConfig) -> dict:
    """Upscale a validation painting to ``width`` x ``height``, damage it, restore it, and measure.

    Args:
        config: :class:`~artrestore.config.LargeBenchConfig`.

    Returns:
        ``{"size", "kind", "artist", "palette", "seconds", "peak_rss_mb", "extra_mb", "tiles", "untouched_changed",
        ...}``, ``palette`` being the record's palette change (None where none was made); also written to
        ``config.out`` as JSON and printed as a table by the CLI.
    """
    torch.set_num_threads(config.threads)
    cv2.setNumThreads(config.threads)
    painting = split_collection(PaintingCollection.scan(config.data), "val").records[config.painting]
    src = load_image(painting.path).to_uint8()
    big = cv2.resize(src, (config.width, config.height), interpolation=cv2.INTER_CUBIC)
    sample = DamageSimulator().simulate(big, config.kind, derive_seed("large", config.kind))
    pipe = load_pipeline(config.model, config.threads)
    pipe.set_progress_bar_config(disable=True)
    art = Artwork(sample.image)
    defaults = RestoreConfig(input="")
    with PeakMemory(interval=0.02) as mem:
        t0 = time.perf_counter()
        fade = sample.fade if sample.fade.any() else None
        restored, out = restore_artwork(
            pipe, art, sample.mask, fade, artist=config.artist, init=defaults.init, strength=defaults.strength
        )
        seconds = time.perf_counter() - t0
    region = sample.mask | (np.round(sample.fade * 255) > 0)
    result = {
        "painting": painting.painting_id,
        "size": f"{config.width}x{config.height}",
        "kind": config.kind,
        "artist": config.artist,
        "palette": out.records[0].palette,
        "damaged_share": float(region.mean()),
        "tiles": out.records[0].tiles,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(mem.peak_mb, 0),
        "extra_mb": round(mem.extra_mb, 0),
        "untouched_changed": int((restored.pixels[~region] != sample.image[~region]).any(axis=-1).sum()),
        "threads": config.threads,
    }
    Path(config.out).parent.mkdir(parents=True, exist_ok=True)
    Path(config.out).write_text(json.dumps(result, indent=1))
    return result

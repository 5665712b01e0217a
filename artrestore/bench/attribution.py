"""The deletion test of the attribution maps: are the attributed sources the ones the restoration depends on?

For each validation painting with simulated damage: restore it, and for each of the top sources of the
attribution (as the top source of some blocks), withdraw that source from the memory bank and restore again with
the same seed; then withdraw instead a random other retrieved source. The blocks attributed to the withdrawn top
source should change much more in the first case. Reported: the ratio of the mean block change (top / random).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import PIL.Image
import torch
from tqdm.auto import tqdm

from ..damage import DamageSimulator, derive_seed
from ..data import PaintingCollection, center_square, split_collection
from ..io import load_image


def block_change(a: np.ndarray, b: np.ndarray, region: np.ndarray, blocks: np.ndarray, block: int) -> np.ndarray:
    """Mean absolute difference (0..255) of two restorations over the restored pixels of each block.

    Args:
        a, b: (H, W, 3) uint8 restorations.
        region: (H, W) bool restored pixels.
        blocks: (n, 2) block indices (row, column).
        block: block side in pixels.

    Returns:
        (n,) mean change per block.
    """
    diff = np.abs(a.astype(np.float32) - b.astype(np.float32)).mean(-1)  # (H, W)
    out = []
    for by, bx in blocks:
        sl = (slice(by * block, (by + 1) * block), slice(bx * block, (bx + 1) * block))
        m = region[sl]
        out.append(float(diff[sl][m].mean()) if m.any() else 0.0)
    return np.array(out)


def run_deletion_test(config) -> dict:
    """Run the deletion test on the validation split; writes ``deletion.json`` and ``deletion.md``.

    Args:
        config: :class:`~artrestore.config.AttributionBenchConfig`.

    Returns:
        ``ratio`` (mean change when the top source is withdrawn / mean change when a random retrieved source is),
        ``median_block_ratio``, ``share_blocks_top_larger``, per-painting records, timings.
    """
    from ..restore import load_pipeline

    pipe = load_pipeline(config.model, config.threads)
    pipe.set_progress_bar_config(disable=True)
    paintings = split_collection(PaintingCollection.scan(config.data), "val").records[: config.limit]
    simulator = DamageSimulator()
    records, top_changes, rand_changes = [], [], []
    start = time.time()
    for painting in tqdm(paintings, desc="deletion test"):
        clean = center_square(load_image(painting.path).to_uint8(), config.size)
        seed = derive_seed(config.seed, painting.painting_id, config.kind)
        sample = simulator.simulate(clean, config.kind, seed)
        artist = painting.artist if painting.artist in pipe.memory_bank.artist_vectors else None
        image = PIL.Image.fromarray(sample.image)
        mask = PIL.Image.fromarray(sample.mask.astype(np.uint8) * 255)

        def run(exclude: list[int], image=image, mask=mask, artist=artist) -> tuple[np.ndarray, object]:
            with pipe.memory_bank.excluding(exclude):
                out = pipe(
                    image,
                    mask,
                    artist=artist,
                    strength=config.strength,
                    generator=torch.Generator().manual_seed(0),
                    certify=False,
                )
            return np.asarray(out.images[0]), out.attributions[0]

        base, att = run([])
        if att is None or not att.top_sources:
            continue
        rng = np.random.default_rng(seed)
        region = sample.mask
        for src in att.top_sources[: config.sources_per_painting]:
            blocks = np.argwhere(att.source == src.row)  # (n, 2)
            if len(blocks) == 0:
                continue
            others = [int(r) for r in att.rows if r != src.row]
            if not others:
                continue
            rand_row = int(rng.choice(others))
            with_top_out, _ = run([src.row])
            with_rand_out, _ = run([rand_row])
            c_top = block_change(base, with_top_out, region, blocks, att.block_size)
            c_rand = block_change(base, with_rand_out, region, blocks, att.block_size)
            top_changes.append(c_top)
            rand_changes.append(c_rand)
            records.append(
                {
                    "painting": painting.painting_id,
                    "source": src.row,
                    "source_painting": src.painting,
                    "random_source": rand_row,
                    "blocks": int(len(blocks)),
                    "change_top": float(c_top.mean()),
                    "change_random": float(c_rand.mean()),
                }
            )
    if not records:
        raise ValueError("model: no attribution was produced (does the model retrieve memory-bank patches?)")
    top = np.concatenate(top_changes)
    rand = np.concatenate(rand_changes)
    per_block = top / np.maximum(rand, 1e-6)
    result = {
        "config": dataclasses.asdict(config),
        "paintings": len({r["painting"] for r in records}),
        "sources_tested": len(records),
        "blocks": int(len(top)),
        "mean_change_top": float(top.mean()),
        "mean_change_random": float(rand.mean()),
        "ratio": float(top.mean() / max(rand.mean(), 1e-9)),
        "median_block_ratio": float(np.median(per_block)),
        "share_blocks_top_larger": float((top > rand).mean()),
        "seconds": round(time.time() - start, 1),
        "records": records,
    }
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "deletion.json").write_text(json.dumps(result, indent=1))
    (out / "deletion.md").write_text(
        "| paintings | sources withdrawn | blocks | mean change, top source withdrawn | mean change, random source "
        "withdrawn | ratio | median block ratio | blocks where top > random |\n|---|---|---|---|---|---|---|---|\n"
        f"| {result['paintings']} | {result['sources_tested']} | {result['blocks']} | {result['mean_change_top']:.3f} "
        f"| {result['mean_change_random']:.3f} | {result['ratio']:.2f}x | {result['median_block_ratio']:.2f}x | "
        f"{result['share_blocks_top_larger']:.0%} |\n"
    )
    return result

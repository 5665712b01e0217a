"""Does the certificate's guarantee hold where it is used? Genuine paint certified through ``certify()`` itself.

Genuine paintings that calibration never saw are given damage-like regions (three small elliptical losses, or one
large one), and ``certifier.certify(painting, region, true_artist)`` is called on the untouched paint there. Each
certificate's block violations count against the threshold's promise; a "FAIL" is a false fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

REGION_KINDS = ("small_losses", "large_loss")


def genuine_region(shape: tuple[int, int], kind: str, rng: np.random.Generator) -> np.ndarray:
    """A damage-like region on an (h, w) painting: ``"small_losses"`` (three ellipses of 1.5-5 % of the longer
    side in radius) or ``"large_loss"`` (one ellipse of 8-16 %)."""
    if kind not in REGION_KINDS:
        raise ValueError(f"kind: expected one of {REGION_KINDS}, got {kind!r}")
    h, w = shape
    side = max(h, w)
    yy, xx = np.mgrid[:h, :w]
    region = np.zeros((h, w), bool)
    count, radius = (3, (0.015, 0.05)) if kind == "small_losses" else (1, (0.08, 0.16))
    for _ in range(count):
        ry, rx = rng.uniform(*radius, 2) * side
        cy, cx = rng.uniform(ry, max(ry + 1, h - ry)), rng.uniform(rx, max(rx + 1, w - rx))
        t = rng.uniform(0, np.pi)
        dy, dx = yy - cy, xx - cx
        u, v = dy * np.cos(t) + dx * np.sin(t), -dy * np.sin(t) + dx * np.cos(t)
        region |= (u / ry) ** 2 + (v / rx) ** 2 <= 1
    return region


@dataclass
class CoverageRow:
    """One certificate of genuine paint."""

    painting: str
    artist: str
    kind: str
    blocks: int
    violations: int
    passed: bool | None


def certify_genuine(
    certifier,
    paintings: Sequence[tuple[str, str, np.ndarray]],
    kinds: Sequence[str] = REGION_KINDS,
    seed: int = 0,
) -> list[CoverageRow]:
    """Certify genuine paint of each painting against its own artist, once per region kind.

    Args:
        certifier: a :class:`~artrestore.hub.StyleCertifier`.
        paintings: (painting id, artist, (H, W, 3) uint8 image) of paintings calibration never saw; artists the
            certifier does not know are skipped.
        kinds: region kinds of :func:`genuine_region`.
        seed: region seed (each painting and kind draws its own).
    """
    rows = []
    for p, (pid, artist, image) in enumerate(paintings):
        if artist not in certifier.artist_names:
            continue
        for k, kind in enumerate(kinds):
            region = genuine_region(image.shape[:2], kind, np.random.default_rng([seed, p, k]))
            cert = certifier.certify(image, region, artist)
            rows.append(
                CoverageRow(pid, artist, kind, len(cert.blocks), sum(b.violation for b in cert.blocks), cert.passed)
            )
    return rows


def block_rate(rows: Sequence[CoverageRow], bootstrap: int = 2000, seed: int = 0) -> dict[str, float]:
    """Share of certified genuine blocks over the threshold, with a 95 % interval from resampling paintings.

    Returns:
        ``rate``, ``low``, ``high``, ``blocks``, ``paintings``, and ``false_fail`` (share of certificates that fail)
        with ``fail_low`` / ``fail_high``.
    """
    if not rows:
        return {"rate": float("nan"), "low": float("nan"), "high": float("nan"), "blocks": 0, "paintings": 0}
    ids = sorted({r.painting for r in rows})
    index = {p: i for i, p in enumerate(ids)}
    blocks = np.zeros(len(ids))
    over = np.zeros(len(ids))
    certs = np.zeros(len(ids))
    fails = np.zeros(len(ids))
    for r in rows:
        i = index[r.painting]
        blocks[i] += r.blocks
        over[i] += r.violations
        certs[i] += 1
        fails[i] += r.passed is False
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(ids), (bootstrap, len(ids)))  # (bootstrap, paintings)
    rates = over[draws].sum(1) / np.maximum(blocks[draws].sum(1), 1)
    fail_rates = fails[draws].sum(1) / np.maximum(certs[draws].sum(1), 1)
    return {
        "rate": float(over.sum() / max(blocks.sum(), 1)),
        "low": float(np.quantile(rates, 0.025)),
        "high": float(np.quantile(rates, 0.975)),
        "false_fail": float(fails.sum() / max(certs.sum(), 1)),
        "fail_low": float(np.quantile(fail_rates, 0.025)),
        "fail_high": float(np.quantile(fail_rates, 0.975)),
        "blocks": int(blocks.sum()),
        "certificates": int(certs.sum()),
        "paintings": len(ids),
    }


def coverage_by_artist(rows: Sequence[CoverageRow], min_paintings: int = 1) -> dict[str, dict[str, float]]:
    """:func:`block_rate` for each artist with at least ``min_paintings`` paintings among ``rows``."""
    out = {}
    for artist in sorted({r.artist for r in rows}):
        mine = [r for r in rows if r.artist == artist]
        if len({r.painting for r in mine}) >= min_paintings:
            out[artist] = block_rate(mine)
    return out

"""Coverage of the certificate on genuine paint: regions, rates with intervals by painting, and certify() rows."""

from __future__ import annotations

import numpy as np
import pytest

from artrestore.certificate.coverage import (
    REGION_KINDS,
    CoverageRow,
    block_rate,
    certify_genuine,
    coverage_by_artist,
    genuine_region,
)
from tests.hub.conftest import ARTISTS, build_tiny_certifier


@pytest.mark.parametrize("kind, share", [("small_losses", (0.001, 0.05)), ("large_loss", (0.01, 0.2))])
def test_genuine_regions_are_damage_sized(kind, share):
    for seed in range(5):
        region = genuine_region((300, 400), kind, np.random.default_rng(seed))
        assert region.shape == (300, 400) and share[0] <= region.mean() <= share[1]
    with pytest.raises(ValueError, match="kind"):
        genuine_region((10, 10), "blob", np.random.default_rng(0))


def test_block_rate_counts_blocks_and_resamples_paintings():
    rows = [CoverageRow("p1", "a", "small_losses", 4, 1, True), CoverageRow("p2", "a", "small_losses", 6, 4, False)]
    r = block_rate(rows)
    assert r["rate"] == pytest.approx(0.5) and r["blocks"] == 10 and r["paintings"] == 2
    assert r["false_fail"] == pytest.approx(0.5) and r["certificates"] == 2
    assert 0.25 - 1e-9 <= r["low"] <= r["rate"] <= r["high"] <= 4 / 6 + 1e-9  # between the two paintings' own rates
    assert block_rate([])["paintings"] == 0
    by = coverage_by_artist([*rows, CoverageRow("p3", "b", "large_loss", 2, 0, True)], min_paintings=2)
    assert list(by) == ["a"]


def test_certify_genuine_certifies_every_known_painting_once_per_kind():
    certifier = build_tiny_certifier()
    rng = np.random.default_rng(0)
    paintings = [(f"p{i}", ARTISTS[i % 2], rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)) for i in range(3)]
    paintings.append(("unknown", "Nobody", paintings[0][2]))
    rows = certify_genuine(certifier, paintings)
    assert len(rows) == 3 * len(REGION_KINDS) and {r.painting for r in rows} == {"p0", "p1", "p2"}
    assert all(r.blocks >= 1 and 0 <= r.violations <= r.blocks for r in rows)
    again = certify_genuine(certifier, paintings)
    assert [r.violations for r in again] == [r.violations for r in rows]  # regions are seeded

from __future__ import annotations

import numpy as np
import pytest

from artrestore.bench.report import by_hole_width, hole_width, hole_width_markdown, worse_share


def _record(method: str, painting: str, kind: str, lpips: float) -> dict:
    return {"method": method, "painting": painting, "kind": kind, "lpips": lpips}


def test_worse_share_counts_cases_beyond_the_tolerance_per_kind():
    records = [
        _record("patchmatch", "a", "polygon", 0.100),
        _record("patchmatch", "b", "polygon", 0.100),
        _record("patchmatch", "a", "lines", 0.050),
        _record("model", "a", "polygon", 0.104),  # 4 % worse: within the tolerance
        _record("model", "b", "polygon", 0.106),  # 6 % worse
        _record("model", "a", "lines", 0.040),
        _record("model", "c", "lines", 9.0),  # no reference case: left out
    ]
    share = worse_share(records, "model", "patchmatch")
    assert share == {"polygon": (1, 2), "lines": (0, 1), "all": (1, 3)}
    assert worse_share(records, "model", "patchmatch", tolerance=0.01)["all"] == (2, 3)


def test_worse_share_skips_non_finite_scores():
    records = [_record("patchmatch", "a", "polygon", float("nan")), _record("model", "a", "polygon", 0.1)]
    assert worse_share(records, "model", "patchmatch") == {}


def test_hole_width_is_twice_the_reach_from_undamaged_paint():
    mask = np.zeros((200, 200), bool)
    assert hole_width(mask) == 0.0
    yy, xx = np.mgrid[:200, :200]
    mask[(yy - 100) ** 2 + (xx - 100) ** 2 <= 40**2] = True  # a round loss of 80 px
    assert hole_width(mask) == pytest.approx(80, abs=2)
    line = np.zeros((200, 200), bool)
    line[100:103, 10:190] = True  # a 3 px crack, long
    assert hole_width(line) == 3.0
    edge = np.zeros((50, 50), bool)
    edge[:, :10] = True  # on the edge: 10 px from the paint, as a 20 px hole would be
    assert hole_width(edge) == pytest.approx(19, abs=1)


def _hole_record(method: str, painting: str, width: float, lpips: float, dists: float) -> dict:
    return {"method": method, "painting": painting, "kind": "mixed", "hole_px": width, "lpips": lpips, "dists": dists}


def test_by_hole_width_compares_with_the_reference_on_the_same_cases():
    records = [
        _hole_record("patchmatch", "a", 5.0, 0.010, 0.020),
        _hole_record("model", "a", 5.0, 0.009, 0.022),
        _hole_record("patchmatch", "b", 100.0, 0.100, 0.050),
        _hole_record("model", "b", 100.0, 0.080, 0.050),
        _hole_record("model", "c", 100.0, 9.000, 9.000),  # no reference case: left out
        _hole_record("model", "d", 0.0, 9.000, 9.000),  # no binary hole: left out
    ]
    rows = by_hole_width(records, ["patchmatch", "model"], "patchmatch")
    got = {(r["lo"], r["method"]): r for r in rows}
    assert set(got) == {(4.0, "patchmatch"), (4.0, "model"), (64.0, "patchmatch"), (64.0, "model")}
    assert got[(64.0, "model")]["n"] == 1 and got[(64.0, "model")]["lpips_change"] == pytest.approx(-0.2)
    assert got[(4.0, "model")]["dists_change"] == pytest.approx(0.1)
    assert got[(64.0, "patchmatch")]["lpips_change"] == 0.0 and got[(64.0, "model")]["hi"] == 128.0
    table = hole_width_markdown(rows, "patchmatch")
    assert "| 4-8 | model | 1 | 0.0090 | 0.0220 | -10.0% / +10.0% |" in table

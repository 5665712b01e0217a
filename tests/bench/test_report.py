from __future__ import annotations

from artrestore.bench.report import worse_share


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

"""The faiss style memory bank."""

from __future__ import annotations

import pytest
import torch

from artrestore.hub.memory_bank import Provenance, StyleMemoryBank


@pytest.fixture
def bank() -> StyleMemoryBank:
    torch.manual_seed(0)
    b = StyleMemoryBank(dim=8, latent_shape=(4, 2, 2))
    emb = torch.eye(8)[:6]  # orthogonal: each query below has one exact match
    latents = torch.arange(6).float()[:, None, None, None].expand(6, 4, 2, 2).clone()
    prov = [Provenance("Monet" if i < 3 else "Degas", f"p{i}.jpg", (0, 0, 32, 32)) for i in range(6)]
    b.add(emb, latents, prov)
    return b


def test_exact_match_comes_first(bank):
    r = bank.search(torch.eye(8)[[1, 4]], k=2, artist=None)
    assert r.indices[:, 0].tolist() == [1, 4] and r.valid.all()
    assert float(r.latents[0, 0, 0, 0, 0]) == 1 and float(r.latents[1, 0, 0, 0, 0]) == 4


def test_artist_filter_and_boost(bank):
    q = torch.eye(8)[[4]]  # a Degas patch
    filtered = bank.search(q, k=4, artist="Monet", mode="filter")
    assert all(bank.provenance[i].artist == "Monet" for i in filtered.indices[0] if i >= 0)
    assert filtered.valid.sum() == 3 and not filtered.valid[0, 3]  # only 3 Monet patches: one empty slot
    boosted = bank.search(q + 0.05 * torch.eye(8)[[0]], k=2, artist="Monet", mode="boost", boost=1.0)
    assert bank.provenance[int(boosted.indices[0, 0])].artist == "Monet"
    with pytest.raises(ValueError, match="not in the memory bank"):
        bank.search(q, k=2, artist="Vermeer")


def test_exclude_removes_a_source(bank):
    r = bank.search(torch.eye(8)[[1]], k=1, exclude={1})
    assert int(r.indices[0, 0]) != 1


def test_save_load_roundtrip(bank, tmp_path):
    bank.set_artist_vector("Turner", torch.ones(8))
    bank.save_pretrained(tmp_path / "bank")
    loaded = StyleMemoryBank.from_pretrained(tmp_path / "bank")
    assert len(loaded) == 6 and loaded.artists == ["Degas", "Monet", "Turner"]
    assert torch.allclose(loaded.artist_vectors["Turner"], torch.ones(8) / 8**0.5)
    assert loaded.provenance[2] == bank.provenance[2]
    r1, r2 = bank.search(torch.eye(8)[[2]], 3), loaded.search(torch.eye(8)[[2]], 3)
    assert (r1.indices == r2.indices).all() and torch.equal(r1.latents, r2.latents)


def test_inconsistent_inputs_raise(bank):
    with pytest.raises(ValueError, match="same number"):
        bank.add(torch.randn(2, 8), torch.randn(3, 4, 2, 2), [])


def _brute_force(emb, query, rows, k):
    """Reference top-k by inner product of unit vectors over ``rows``."""
    e = torch.nn.functional.normalize(emb, dim=1)
    s = (e[rows] @ torch.nn.functional.normalize(query, dim=1)[0]).tolist()
    return [r for _, r in sorted(zip(s, rows), key=lambda t: -t[0])[:k]]


def test_filter_is_exact_when_the_artist_is_far_from_the_query():
    # 300 "Monet" patches near the query and 5 "Degas" patches far from it: a search that filters a global
    # top-m pool would find no Degas patch; the filter must return Degas's own top-k.
    torch.manual_seed(0)
    near = torch.nn.functional.normalize(torch.randn(300, 16) * 0.1 + torch.eye(16)[0], dim=1)
    far = torch.nn.functional.normalize(torch.randn(5, 16) * 0.1 - torch.eye(16)[0], dim=1)
    emb = torch.cat([near, far])
    bank = StyleMemoryBank(dim=16, latent_shape=(4, 2, 2))
    prov = [Provenance("Monet" if i < 300 else "Degas", f"p{i}.jpg", (0, 0, 8, 8)) for i in range(305)]
    bank.add(emb, torch.randn(305, 4, 2, 2), prov)
    q = torch.eye(16)[[0]]
    r = bank.search(q, k=4, artist="Degas", mode="filter")
    assert r.valid.all()
    assert r.indices[0].tolist() == _brute_force(emb, q, list(range(300, 305)), 4)
    with bank.excluding([r.indices[0, 0]]):  # withdrawing a row brings in the next of the same artist
        r2 = bank.search(q, k=4, artist="Degas", mode="filter")
    assert r2.indices[0].tolist() == _brute_force(emb, q, [i for i in range(300, 305) if i != r.indices[0, 0]], 4)
    boosted = bank.search(q, k=6, artist="Degas", mode="boost", boost=10.0)  # a huge boost puts all 5 first
    assert sorted(boosted.indices[0, :5].tolist()) == list(range(300, 305))
    assert bank.provenance[int(boosted.indices[0, 5])].artist == "Monet"
    plain = bank.search(q, k=6, artist="Degas", mode="boost", boost=0.0)  # no boost = the global ranking
    assert plain.indices[0].tolist() == _brute_force(emb, q, list(range(305)), 6)


def test_renaming_merges_an_artist_into_another(bank):
    bank.set_artist_vector("Monet", torch.eye(8)[0])
    bank.set_artist_vector("Degas", torch.eye(8)[1])
    bank.rename_artists({"Degas": "Monet"})
    assert bank.artists == ["Monet"] and {p.artist for p in bank.provenance} == {"Monet"}
    torch.testing.assert_close(
        bank.artist_vectors["Monet"], torch.nn.functional.normalize(torch.eye(8)[:2].sum(0), dim=0)
    )
    assert len(bank._artist_rows("Monet")) == 6  # the artist filter sees the merged patches

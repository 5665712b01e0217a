"""Exemplar refiner training: its sources, the pool of exemplar fills and the loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from artrestore.config import RefinerTrainConfig
from artrestore.damage import derive_seed
from artrestore.data import PaintingCollection
from artrestore.data.split import split_collection
from artrestore.hub import ExemplarRefiner
from artrestore.hub.membrane_layout import blend_membrane_layout
from artrestore.hub.memory_bank import StyleMemoryBank
from artrestore.training.refiner import (
    RefinerPool,
    SwapTable,
    _sources,
    build_pool,
    large_hole,
    lpips_from_features,
    masked_stats,
    refiner_loss,
    swap_table,
    through_layout,
)


def test_sources_are_the_train_paintings_then_the_style_set_only_when_asked(painting_folder, style_folder):
    train = split_collection(PaintingCollection.scan(painting_folder), "train").records
    assert train, "the fixture's split must hold training paintings"
    both = _sources(RefinerTrainConfig(data=str(painting_folder), style_data=str(style_folder)))
    assert [getattr(s, "painting_id", None) for s in both[: len(train)]] == [r.painting_id for r in train]
    assert len(both) == len(train) + 6
    alone = _sources(RefinerTrainConfig(data=str(painting_folder), style_data=str(style_folder), style_set=False))
    assert [r.painting_id for r in alone] == [r.painting_id for r in train]


@pytest.mark.parametrize("seed", range(4))
def test_large_holes_cover_a_fifth_to_two_thirds(seed):
    share = large_hole(64, np.random.default_rng(seed)).mean()
    assert 0.05 < share < 0.7


def test_pool_fills_only_the_holes_and_the_loss_sees_the_exemplar(painting_folder, tmp_path):
    pytest.importorskip("patchmatch")
    config = RefinerTrainConfig(
        out=str(tmp_path / "run"), data=str(painting_folder), style_set=False, crop=48, pool_size=3, pool_workers=1
    )
    data = np.load(build_pool(config))
    assert data["crops"].shape == data["fills"].shape == (3, 48, 48, 3) and data["masks"].any(axis=(1, 2)).all()
    keep = ~data["masks"][..., None]
    assert np.array_equal(np.where(keep, data["fills"], 0), np.where(keep, data["crops"], 0))
    pool = RefinerPool(tmp_path / "run" / "pool.npz", torch.zeros(len(_sources(config)), 8), length=4)
    batch = torch.utils.data.default_collate([pool[i] for i in range(2)])
    model = ExemplarRefiner(channels=(8, 16), style_dim=8)
    loss, logs = refiner_loss(config)(model, batch)
    # the untrained refiner returns the exemplar, so its hole L1 is the exemplar's own
    assert loss.item() > 0 and logs["l1"] == pytest.approx(logs["exemplar_l1"], rel=1e-5)
    assert "dists" not in logs
    config.dists_weight = 2.0
    with_texture, logs = refiner_loss(config)(model, batch)
    assert logs["dists"] > 0 and with_texture.item() == pytest.approx(loss.item() + 2.0 * logs["dists"], rel=1e-4)


def test_pool_seed_draws_the_pool_apart_from_the_training_seed(painting_folder, tmp_path):
    pytest.importorskip("patchmatch")

    def pool(name: str, **seeds: int) -> dict[str, np.ndarray]:
        config = RefinerTrainConfig(
            out=str(tmp_path / name),
            data=str(painting_folder),
            style_set=False,
            crop=48,
            pool_size=2,
            pool_workers=1,
            **seeds,
        )
        return dict(np.load(build_pool(config)))

    reused, drawn, other = pool("a", seed=3, pool_seed=1), pool("b", seed=1), pool("c", seed=3)
    assert all(np.array_equal(reused[k], drawn[k]) for k in ("crops", "masks", "fills", "sources"))
    assert not all(np.array_equal(reused[k], other[k]) for k in ("crops", "masks"))


def test_masked_stats_are_channel_mean_and_log_std_of_the_covered_pixels():
    f = torch.rand(2, 64, 8, 8)
    feats = [f, torch.rand(2, 128, 4, 4), torch.rand(2, 256, 2, 2)]
    full = masked_stats(feats, torch.ones(2, 1, 8, 8))
    assert full.shape == (2, 2 * (64 + 128 + 256))
    assert torch.allclose(full[:, :64], f.mean((2, 3)), atol=1e-6)
    assert torch.allclose(full[:, 448 : 448 + 64], f.std((2, 3), unbiased=False).log(), atol=1e-4)
    left = torch.zeros(2, 1, 8, 8)
    left[..., :4] = 1
    changed = [x.clone() for x in feats]
    for x in changed:
        x[..., x.shape[-1] // 2 :] += 5  # only the uncovered right half changes
    assert torch.allclose(masked_stats(feats, left), masked_stats(changed, left), atol=1e-5)


def _table(n_sources: int) -> SwapTable:
    stats = torch.arange(3 * 896, dtype=torch.float32).view(3, 896) / 1000
    return SwapTable(
        artists=["A", "B", "C"],
        vectors=torch.eye(3, 8),
        stats=stats,
        scale=torch.ones(896),
        eligible=torch.tensor([True, True, False]),
        source_artist=torch.tensor([0, 1, 2, -1][:n_sources]),
    )


def _pool(tmp_path: Path, sources: list[int]) -> Path:
    n = len(sources)
    path = tmp_path / "pool.npz"
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8)
    np.savez(path, crops=crops, masks=np.ones((n, 32, 32), bool), fills=crops, sources=np.array(sources))
    return path


def _source_of(pool: RefinerPool, index: int) -> int:
    """The source of a pool item, drawn as ``RefinerPool.__getitem__`` draws it."""
    return int(pool.sources[int(np.random.default_rng(derive_seed(pool.seed, index)).integers(len(pool.crops)))])


def test_style_swaps_condition_on_another_eligible_artist_with_its_gap(tmp_path):
    table = _table(4)
    own = torch.full((4, 8), 9.0)
    pool = RefinerPool(_pool(tmp_path, [0, 1, 2, 3]), own, length=64, table=table, swap_prob=1.0)
    for i in range(64):
        item, src = pool[i], _source_of(pool, i)
        if src in (0, 1):  # eligible artists always swap to the other eligible one
            other = 1 - src
            assert item["swap"] == 1 and torch.equal(item["style"], table.vectors[other])
            assert torch.equal(item["anchor_style"], table.vectors[src])  # restored for its own artist
            assert torch.allclose(item["swap_delta"], table.stats[other] - table.stats[src])
        else:  # an ineligible (C) or unknown artist keeps its own style vector and no gap
            assert item["swap"] == 0 and torch.equal(item["style"], own[src]) and not item["swap_delta"].any()


def test_artist_conditioning_uses_the_bank_vector_and_unknown_artists_their_own(tmp_path):
    own = torch.full((4, 8), 9.0)
    pool = RefinerPool(_pool(tmp_path, [0, 1, 2, 3]), own, length=32, table=_table(4), artist_condition=1.0)
    seen = set()
    for i in range(32):
        item, src = pool[i], _source_of(pool, i)
        seen.add(src)
        expected = own[src] if src == 3 else torch.eye(3, 8)[src]
        assert item["swap"] == 0 and torch.equal(item["style"], expected)
    assert seen == {0, 1, 2, 3}


def test_swap_loss_is_zero_for_a_reconstruction_without_gap_and_grows_with_the_gap(tmp_path):
    config = RefinerTrainConfig(out=str(tmp_path), swap_prob=1.0)
    table = _table(4)
    clean = torch.rand(2, 3, 32, 32)
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1

    class Echo(torch.nn.Module):  # returns the clean crop: a perfect reconstruction
        null_style = torch.zeros(8)
        config = {"layout_input": False}

        def forward(self, exemplar, image, hole, style, *, layout=None):
            return image

    batch = {
        "clean": clean,
        "exemplar": clean,
        "mask": mask,
        "style": torch.zeros(2, 8),
        "anchor_style": torch.zeros(2, 8),
        "swap": torch.ones(2),
        "swap_delta": torch.zeros(2, 896),
    }
    loss_fn = refiner_loss(config, table)
    _, logs = loss_fn(Echo(), batch)
    assert logs["swap"] == pytest.approx(0.0, abs=1e-8) and logs["lpips_vgg"] == 0.0
    _, moved = loss_fn(Echo(), {**batch, "swap_delta": torch.full((2, 896), 0.5)})
    assert moved["swap"] == pytest.approx(0.25, rel=1e-4)
    _, unswapped = loss_fn(Echo(), {**batch, "swap": torch.zeros(2)})
    assert np.isnan(unswapped["swap"])  # the column is logged on every step, NaN without swaps

    class Fill(Echo):  # returns the exemplar whatever the style: a fill unlike the clean crop, moved by no artist
        def forward(self, exemplar, image, hole, style, *, layout=None):
            return image * (1 - hole) + exemplar * hole

    rough = {**batch, "exemplar": torch.rand(2, 3, 32, 32)}
    _, fill_logs = loss_fn(Fill(), rough)
    assert fill_logs["swap"] == pytest.approx(0.0, abs=1e-8)  # the fill's own error is not the artist's gap
    _, fill_moved = loss_fn(Fill(), {**rough, "swap_delta": torch.full((2, 896), 0.5)})
    assert fill_moved["swap"] == pytest.approx(0.25, rel=1e-4)


def test_swap_table_measures_bank_artists_with_enough_pool_crops(painting_folder, tmp_path):
    pytest.importorskip("patchmatch")
    bank = StyleMemoryBank(dim=8)
    for name in ("Ann Painter", "Bob Brush"):
        bank.set_artist_vector(name, torch.rand(8))
    bank.save_pretrained(str(tmp_path / "bank"))
    config = RefinerTrainConfig(
        out=str(tmp_path / "run"),
        data=str(painting_folder),
        style_set=False,
        crop=32,
        pool_size=12,
        pool_workers=1,
        memory_bank=str(tmp_path / "bank"),
        swap_min_crops=1,
    )
    sources = _sources(config)
    table = swap_table(config, sources, build_pool(config))
    assert table.artists == ["Ann Painter", "Bob Brush"]
    names = [s.artist for s in sources]
    assert [table.artists[i] if i >= 0 else None for i in table.source_artist.tolist()] == [
        n if n in table.artists else None for n in names
    ]
    assert table.stats.shape == (2, 896) and table.scale.shape == (896,) and (table.scale > 0).all()
    assert (tmp_path / "run" / "swap_table.pt").exists()
    assert swap_table(config, sources, tmp_path / "run" / "pool.npz").artists == table.artists  # from the cache


def test_lpips_from_features_equals_the_lpips_model():
    from artrestore.metrics.lpips import lpips_model

    vgg = lpips_model("vgg")
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    feats = [vgg.net(vgg.scaling_layer(t)) for t in (x, y)]
    with torch.no_grad():
        assert torch.allclose(lpips_from_features(vgg, *feats), vgg(x, y).flatten(), atol=1e-6)


def test_growing_a_trained_refiner_keeps_its_output_until_the_new_blocks_train():
    from artrestore.hub.exemplar_refiner import ExemplarRefiner
    from artrestore.hub.membrane_layout import membrane_image
    from artrestore.training.refiner import with_extra_blocks

    torch.manual_seed(0)
    trained = ExemplarRefiner(channels=(8, 16), style_dim=4, dilations=(2,)).eval()
    for p in trained.parameters():
        p.data.normal_(0, 0.2)
    grown = with_extra_blocks(trained, global_blocks=2, attention_blocks=1, detail_blocks=1).eval()
    assert grown.config.global_blocks == 2 and len(grown.spectral) == 2 and len(grown.attention) == 1
    assert len(grown.detail) == 1
    assert with_extra_blocks(grown, global_blocks=1, attention_blocks=1, detail_blocks=1) is grown  # as many already
    with pytest.raises(ValueError, match="unknown block kinds"):
        with_extra_blocks(trained, fourier_blocks=1)
    reading = with_extra_blocks(grown, layout_input=True).eval()  # the stem's layout channels start at zero
    assert reading.config.layout_input and reading.stem.weight.shape[1] == 10
    assert with_extra_blocks(reading, layout_input=False) is reading  # a refiner keeps its layout input
    g = torch.Generator().manual_seed(1)
    image = torch.rand(1, 3, 32, 32, generator=g)
    mask = (torch.rand(1, 1, 32, 32, generator=g) > 0.6).float()
    exemplar = image * (1 - mask) + torch.rand(1, 3, 32, 32, generator=g) * mask
    style = torch.randn(1, 4, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(grown(exemplar, image, mask, style), trained(exemplar, image, mask, style))
        layout = membrane_image(image, mask)
        torch.testing.assert_close(
            reading(exemplar, image, mask, style, layout=layout), grown(exemplar, image, mask, style)
        )
        with pytest.raises(ValueError, match="layout: this refiner reads a layout"):
            reading(exemplar, image, mask, style)
        reading.stem.weight.data[:, 7:].normal_(0, 0.2)  # the layout, once trained, is felt
        assert not torch.allclose(
            reading(exemplar, image, mask, style, layout=layout), grown(exemplar, image, mask, style)
        )
        for blocks in (grown.attention, grown.spectral, grown.detail):  # each new block, once trained, is felt
            before = grown(exemplar, image, mask, style)
            for p in blocks.parameters():
                p.data.normal_(0, 0.2)
            assert not torch.allclose(grown(exemplar, image, mask, style), before)


def _layout_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth painting, a fill 60 grey levels too bright in a 36 x 46 px loss, and a 6 px stroke too thin for a
    layout at 16 px."""
    yy, xx = np.mgrid[:96, :96]
    clean = np.clip(np.stack([xx * 2, yy * 2, 255 - xx - yy], -1), 0, 255).astype(np.uint8)
    hole = np.zeros((96, 96), bool)
    hole[30:66, 24:70] = True
    hole[8:14, 4:92] = True  # the stroke
    fill = clean.astype(np.int16)
    fill[hole] += 60
    return clean, hole, np.clip(fill, 0, 255).astype(np.uint8)


def test_through_layout_is_the_pipelines_membrane_layout_stage_and_passes_gradients():
    clean, hole, fill = _layout_case()
    shipped = blend_membrane_layout(fill, hole, sigma=16, weight=0.5)  # (H, W, 3) uint8, the pipeline's stage

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255

    out = tensor(fill).requires_grad_()
    mask = torch.from_numpy(hole)[None, None].float()
    blended = through_layout(out, tensor(clean), mask, weight=0.5, sigma=16)
    assert np.abs(blended[0].detach().permute(1, 2, 0).numpy() * 255 - shipped).max() <= 1.0  # rounding apart
    assert torch.equal(blended[..., :20, :], out[..., :20, :])  # the stroke keeps its fill, as in the pipeline
    assert (blended - out).abs()[..., 40:56, 34:60].mean() > 0.05  # the loss's bright layout is pulled down
    blended[..., 30:66, 24:70].sum().backward()
    assert out.grad[..., 40:56, 34:60].abs().min() > 0  # the refiner still gets a gradient through the stage
    assert torch.equal(through_layout(out, tensor(clean), mask, weight=0.0), out.detach())


def test_train_refiner_refuses_a_layout_blend_outside_zero_to_one_before_the_pool(tmp_path, monkeypatch):
    from artrestore.training import refiner

    def no_pool(config):
        raise AssertionError("the pool was built before the settings were checked")

    monkeypatch.setattr(refiner, "build_pool", no_pool)
    with pytest.raises(ValueError, match="layout_blend"):
        refiner.train_refiner(RefinerTrainConfig(out=str(tmp_path), layout_blend=1.5))


def test_the_loss_scores_the_output_after_the_layout_stage_when_asked(painting_folder, tmp_path):
    clean, hole, fill = _layout_case()
    batch = {
        "clean": torch.from_numpy(clean).permute(2, 0, 1)[None].float() / 255,
        "exemplar": torch.from_numpy(fill).permute(2, 0, 1)[None].float() / 255,
        "mask": torch.from_numpy(hole)[None, None].float(),
        "style": torch.zeros(1, 8),
        "swap": torch.zeros(1),
    }
    model = ExemplarRefiner(channels=(8, 16), style_dim=8)  # untrained: returns the too-bright fill
    config = RefinerTrainConfig(out=str(tmp_path), data=str(painting_folder), style_dropout=0.0)
    _, alone = refiner_loss(config)(model, batch)
    config.layout_blend = 0.5
    _, through = refiner_loss(config)(model, batch)
    assert through["l1"] < 0.9 * alone["l1"] and through["exemplar_l1"] == alone["exemplar_l1"]

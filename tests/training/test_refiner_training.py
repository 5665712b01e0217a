"""Exemplar refiner training: its sources, the pool of exemplar fills and the loss."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from artrestore.config import RefinerTrainConfig
from artrestore.data import PaintingCollection
from artrestore.data.split import split_collection
from artrestore.hub import ExemplarRefiner
from artrestore.training.refiner import RefinerPool, _sources, build_pool, large_hole, refiner_loss

from ..conftest import synthetic_painting


@pytest.fixture
def style_folder(tmp_path: Path) -> Path:
    root = tmp_path / "styles"
    for s, style in enumerate(["Baroque", "Impressionism"]):
        (root / style).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(root / style / f"{i}.jpg"), synthetic_painting(64, 64, seed=100 + 10 * s + i))
    return root


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

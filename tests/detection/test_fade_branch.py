"""The detector's separate fading branch: added on top of trained weights and trained alone."""

from __future__ import annotations

import json

import pytest
import torch

from artrestore.data import PaintingCollection
from artrestore.detection import DamageDetector
from artrestore.training.detector import DetectorSamples, detector_loss, detector_to_train


def test_branch_replaces_the_fade_output_and_sets_the_multiple():
    torch.manual_seed(0)
    plain = DamageDetector(channels=(4, 8)).eval()
    branched = DamageDetector(channels=(4, 8), fade_channels=(8, 8, 8)).eval()
    assert plain.multiple == 2 and branched.multiple == 16
    branched.load_state_dict(plain.state_dict(), strict=False)
    x = torch.rand(1, 3, 32, 48)
    a, b = plain(x), branched(x)
    assert b.shape == a.shape == (1, 5, 32, 48)
    assert torch.equal(a[:, :4], b[:, :4]) and not torch.allclose(a[:, 4], b[:, 4])
    with pytest.raises(ValueError, match="fade_channels"):
        DamageDetector(fade_channels=(8,))
    with pytest.raises(ValueError, match="no fading branch"):
        plain.freeze_all_but_fading()


def test_branch_added_to_saved_weights_keeps_them(tmp_path):
    torch.manual_seed(0)
    DamageDetector(channels=(4, 8), damage_threshold=0.6).save_pretrained(tmp_path / "base")
    config = json.loads((tmp_path / "base" / "config.json").read_text())
    del config["fade_channels"]  # saved before the branch existed, like the shipped detector
    (tmp_path / "base" / "config.json").write_text(json.dumps(config))
    model = detector_to_train(str(tmp_path / "base"), (99,), (8, 8))
    base = DamageDetector.from_pretrained(tmp_path / "base")
    assert model.config.damage_threshold == 0.6 and tuple(model.config.fade_channels) == (8, 8)
    for k, v in base.state_dict().items():
        assert torch.equal(model.state_dict()[k], v)
    model.save_pretrained(tmp_path / "branched")
    with pytest.raises(ValueError, match="already has a fading branch"):
        detector_to_train(str(tmp_path / "branched"), (4, 8), (16, 16))


def test_fade_only_training_leaves_the_damage_classes_bit_identical(painting_folder):
    torch.manual_seed(0)
    model = DamageDetector(channels=(4, 8), fade_channels=(8, 8))
    model.eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        before = model(x)
    model.freeze_all_but_fading()
    model.train()
    assert not model.stem.training and model.fade_stem.training
    ds = DetectorSamples(PaintingCollection.scan(painting_folder), [], crop=32, length=4, real_share=0.0)
    batch = torch.utils.data.default_collate([ds[i] for i in range(4)])
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        loss, _ = detector_loss(model, batch, (1.0, 2.0, 2.0, 1.5), "bce")
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        after = model(x)
    assert torch.equal(before[:, :4], after[:, :4])
    assert not torch.equal(before[:, 4], after[:, 4])

"""The adversarial texture term: its discriminator, its losses, its own training step and its checkpointing."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from artrestore.training.adversarial import (
    AdversarialSettings,
    AdversarialTerm,
    PatchDiscriminator,
    discriminator_loss,
    fake_targets,
    generator_loss,
    r1_penalty,
)
from artrestore.training.trainer import train

from .test_trainer import _settings


def _hole(b: int = 2, size: int = 32) -> torch.Tensor:
    mask = torch.zeros(b, 1, size, size)
    mask[..., 8:24, 8:24] = 1
    return mask


def test_discriminator_gives_one_logit_per_patch_and_the_targets_follow_the_hole():
    logits = PatchDiscriminator((8, 16))(torch.rand(2, 3, 64, 64))
    assert logits.shape[:2] == (2, 1) and 8 <= logits.shape[-1] <= 16
    share = fake_targets(_hole(size=64), logits.shape[-2:])
    assert share.shape == logits.shape and share.min() == 0 and share.max() == 1
    assert fake_targets(torch.zeros(1, 1, 64, 64), (8, 8)).sum() == 0


def test_losses_reward_the_right_side():
    share = fake_targets(_hole(), (8, 8))
    right = torch.where(share > 0.5, -5.0, 5.0)  # the discriminator calls the hole fake and the rest real
    wrong = -right
    real = torch.full_like(share, 5.0)
    assert discriminator_loss(real, right, share) < discriminator_loss(real, wrong, share)
    assert discriminator_loss(-real, right, share) > discriminator_loss(real, right, share)
    # the generator is scored on the hole's patches only: outside them its logits do not count
    outside = right.clone()
    outside[share == 0] = -50.0
    assert generator_loss(right, share) == pytest.approx(generator_loss(outside, share).item())
    assert generator_loss(wrong, share) < generator_loss(right, share)


def test_r1_penalty_is_zero_for_a_constant_discriminator_and_positive_otherwise():
    x = torch.rand(2, 3, 16, 16, requires_grad=True)
    assert r1_penalty(x.sum((1, 2, 3)) * 0, x) == 0
    assert r1_penalty(PatchDiscriminator((4,))(x), x) > 0


@pytest.mark.parametrize("field, value", [("weight", 0.0), ("lr", 0.0), ("r1", -1.0), ("warmup", -1)])
def test_bad_settings_are_refused_naming_the_option(field, value):
    with pytest.raises(ValueError, match=f"adv_{field}"):
        AdversarialSettings(**{"weight": 1.0, field: value})


@pytest.mark.parametrize("field, value", [("adv_weight", -0.1), ("adv_lr", 0.0)])
def test_train_refiner_refuses_bad_settings_before_building_the_pool(tmp_path, monkeypatch, field, value):
    from artrestore.config import RefinerTrainConfig
    from artrestore.training import refiner

    def no_pool(config):
        raise AssertionError("the pool was built before the settings were checked")

    monkeypatch.setattr(refiner, "build_pool", no_pool)
    config = RefinerTrainConfig(out=str(tmp_path), **{"adv_weight": 1.0, field: value})
    with pytest.raises(ValueError, match=field):
        refiner.train_refiner(config)


def test_warmup_trains_the_discriminator_alone_then_the_generator_gets_a_gradient_and_the_discriminator_none():
    torch.manual_seed(0)
    term = AdversarialTerm(AdversarialSettings(weight=0.5, warmup=2, channels=(4, 8)), seed=1)
    clean, mask = torch.rand(2, 3, 32, 32), _hole()
    restored = torch.where(mask > 0, 0.5, clean).requires_grad_(True)
    before = [p.detach().clone() for p in term.disc.parameters()]
    for _ in range(2):
        loss, logs = term.loss(restored, clean, mask)
        assert loss.item() == 0 and not loss.requires_grad and logs["d_loss"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, term.disc.parameters())), "the discriminator stepped"
    loss, logs = term.loss(restored, clean, mask)
    assert loss.item() == pytest.approx(0.5 * logs["adv"], rel=1e-5) and term.steps == 3
    term.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    assert restored.grad is not None and restored.grad[mask.expand_as(restored) > 0].abs().sum() > 0
    assert all(p.grad is None for p in term.disc.parameters()), "the generator's backward leaves the discriminator"


def test_the_discriminator_learns_to_find_a_smooth_fill_in_noise():
    torch.manual_seed(0)
    term = AdversarialTerm(AdversarialSettings(weight=1.0, lr=2e-3, r1=0.1, warmup=1000, channels=(8, 16)))
    mask = _hole(4)
    for _ in range(60):
        clean = torch.rand(4, 3, 32, 32)
        restored = torch.where(mask > 0, F.avg_pool2d(clean, 9, 1, 4), clean)  # a blurred hole in noise
        _, logs = term.loss(restored, clean, mask)
    assert logs["d_fake_hole"] < logs["d_real"] - 1, logs  # the blurred hole scores well below the paint


def test_the_term_is_checkpointed_and_resumed_with_the_run(tmp_path):
    """A generator trained with the term, stopped and resumed, continues with the discriminator it had."""
    from artrestore.detection import DamageDetector

    from .test_trainer import _Squares

    terms = []

    def loss_fn(model, batch):
        out = torch.sigmoid(model(batch["image"])[:, :3])  # (b, 3, h, w)
        mask = (batch["classes"] == 3).float()[:, None]
        adv, logs = terms[-1].loss(out, batch["image"], mask)
        return F.l1_loss(out, batch["image"]) + adv, logs

    settings = AdversarialSettings(weight=0.1, warmup=2, channels=(4, 8))
    terms.append(AdversarialTerm(settings))
    torch.manual_seed(0)
    run = tmp_path / "run"
    train(DamageDetector(channels=(4, 8)), _Squares(), loss_fn, _settings(run, stop_after=6), extra_state=[terms[-1]])
    stopped = {k: v.clone() for k, v in terms[-1].disc.state_dict().items()}
    terms.append(AdversarialTerm(settings))  # a fresh process: a new, untrained discriminator
    train(DamageDetector(channels=(4, 8)), _Squares(), loss_fn, _settings(run, steps=6), extra_state=[terms[-1]])
    resumed = terms[-1]
    assert resumed.steps == 6, "the resumed run found its step count in the checkpoint"
    assert all(torch.equal(stopped[k], v) for k, v in resumed.disc.state_dict().items())
    assert resumed.optimizer.state_dict()["state"], "and the discriminator's optimiser state"

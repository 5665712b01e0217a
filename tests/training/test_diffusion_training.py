"""Denoiser training: samples, loss, a short run with export-ready outputs, and 2-process DDP."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from artrestore.config import DiffusionTrainConfig
from artrestore.data import PaintingCollection
from artrestore.models.autoencoder import build_autoencoder
from artrestore.training.diffusion import (
    DiffusionSamples,
    RestorationModel,
    build_model,
    diffusion_loss,
    init_latent_scale,
    large_hole_masks,
    make_scheduler,
    perceptual_term,
    predicted_clean,
    quadrant_tokens,
    train_diffusion,
    with_oracle_tokens,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tiny_vae(tmp_path):
    torch.manual_seed(0)
    vae = build_autoencoder((8, 16))
    vae.save_pretrained(tmp_path / "vae")
    return tmp_path / "vae"


def _tiny_patch_vae():
    """A frozen 4-channel PatchAutoencoder (stride 2) whose linear maps are fitted to random crops."""
    from artrestore.hub.patch_autoencoder import PatchAutoencoder

    torch.manual_seed(0)
    vae = PatchAutoencoder(patch_size=2, latent_channels=4, hidden_channels=8, num_blocks=1)
    vae.fit_linear(torch.rand(2, 3, 32, 32) * 2 - 1)
    return vae.requires_grad_(False)


def _config(tmp_path, data, vae, **kw) -> DiffusionTrainConfig:
    base = dict(
        out=str(tmp_path / "run"),
        vae=str(vae),
        source="paintings",
        data=str(data),
        crop=32,
        block_channels="32,64",
        style_dim=16,
        steps=2,
        batch_size=2,
        threads=1,
        warmup=1,
        log_every=1,
    )
    return DiffusionTrainConfig(**{**base, **kw})


def test_samples_carry_context_crops(painting_folder):
    ds = DiffusionSamples(PaintingCollection.scan(painting_folder), 32, length=3, seed=1)
    item = ds[1]
    assert item["context"].shape == (2, 3, 32, 32) and item["clean"].shape == (3, 32, 32)
    assert torch.equal(ds[1]["context"], item["context"])  # deterministic per index


def test_quadrant_tokens_shape():
    z = torch.randn(3, 4, 16, 16)
    tokens = quadrant_tokens(z)
    assert tokens.shape == (3, 4, 4 * 8 * 8)
    assert torch.allclose(tokens[0, 0].reshape(4, 8, 8), z[0, :, :8, :8])  # top-left quadrant, already 8x8


def test_oracle_tokens_are_the_own_quadrants_in_shuffled_slots():
    torch.manual_seed(0)
    ctx, own = torch.randn(64, 8, 5), torch.randn(64, 4, 5)
    mixed = with_oracle_tokens(ctx, own, 0.5)
    assert mixed.shape == ctx.shape
    has_own = [all(any(torch.equal(o, t) for t in mixed[i]) for o in own[i]) for i in range(64)]
    assert 16 < sum(has_own) < 48  # about half of the samples
    for i in range(64):  # every slot still holds one of the sample's own tokens or context tokens
        pool = list(ctx[i]) + list(own[i])
        assert all(any(torch.equal(t, p) for p in pool) for t in mixed[i])
    positions = [j for i in range(64) if has_own[i] for j in range(8) if torch.equal(mixed[i, j], own[i, 0])]
    assert len(set(positions)) > 3  # shuffled: the own quadrant is not always in the same slot
    assert torch.equal(with_oracle_tokens(ctx, own, 0.0).sort(1).values, ctx.sort(1).values)


def test_large_holes_cover_their_share_as_one_rectangle():
    holes = large_hole_masks(200, 64, torch.Generator().manual_seed(0))
    assert holes.shape == (200, 1, 64, 64)
    share = holes.mean((1, 2, 3))
    assert share.min() >= 0.25 and share.max() <= 0.65  # 30-60 % up to rounding and clamping at the border
    rows, cols = holes[:, 0].amax(2), holes[:, 0].amax(1)  # (n, 64) each: the rows and columns it spans
    assert torch.equal(rows.sum(1) * cols.sum(1), holes.sum((1, 2, 3)))  # a filled rectangle
    assert not torch.equal(holes[0], holes[1])


def test_loss_with_large_holes_and_cell_tokens(painting_folder, tmp_path, tiny_vae):
    from diffusers import AutoencoderKL

    cfg = _config(
        tmp_path,
        painting_folder,
        tiny_vae,
        large_holes=1.0,
        retrieval_cells=2,
        oracle_retrieval=1.0,
        retrieval_dropout=0.0,
    )
    vae = AutoencoderKL.from_pretrained(tiny_vae).requires_grad_(False)
    model = build_model(cfg, vae)
    assert model.unet.config.retrieval_cells == 2
    with torch.no_grad():  # zero-initialised attention outputs would block the gradient to the tokens at step 0
        for m in model.unet.attention_modules():
            m.out.weight.normal_(0, 0.05)
    ds = DiffusionSamples(PaintingCollection.scan(painting_folder), 32, length=2)
    batch = torch.utils.data.default_collate([ds[0], ds[1]])
    loss, _ = diffusion_loss(vae, make_scheduler("v_prediction"), cfg)(model, batch)
    loss.backward()
    assert torch.isfinite(loss)
    assert model.unet.cell_position.grad is not None and model.unet.cell_position.grad.abs().sum() > 0


def test_init_can_reshape_the_retrieval_tokens(painting_folder, tmp_path, tiny_vae):
    """A later stage may switch an init to cell tokens: the re-shaped projection starts fresh (finite), everything
    else is the init's; with no setting the saved layout is kept."""
    train_diffusion(_config(tmp_path, painting_folder, tiny_vae, out=str(tmp_path / "first")))
    first = tmp_path / "first" / "final"
    before = RestorationModel.from_pretrained(first)
    reshaped = RestorationModel.from_pretrained(first, retrieval_cells=2)
    assert reshaped.unet.config.retrieval_cells == 2 and before.unet.config.retrieval_cells == 1
    assert all(torch.isfinite(p).all() for p in reshaped.unet.parameters())
    assert reshaped.unet.retrieval_proj.weight.abs().max() < 1.0
    old = before.unet.state_dict()
    for name, value in reshaped.unet.state_dict().items():
        if not name.startswith(("retrieval_proj", "cell_position")):
            assert torch.equal(value, old[name]), name
    summary = train_diffusion(_config(tmp_path, painting_folder, tiny_vae, init=str(first), retrieval_cells=2))
    assert summary["steps"] == 2
    assert RestorationModel.from_pretrained(tmp_path / "run" / "final").unet.config.retrieval_cells == 2
    train_diffusion(
        _config(tmp_path, painting_folder, tiny_vae, init=str(tmp_path / "run" / "final"), out=str(tmp_path / "3"))
    )
    assert RestorationModel.from_pretrained(tmp_path / "3" / "final").unet.config.retrieval_cells == 2


def test_a_stage_can_start_from_a_stopped_runs_latest(painting_folder, tmp_path, tiny_vae):
    """A stopped run has latent_scale.json and latest/ but no vae/ yet: --init reads the scale it was trained with;
    a folder with neither beside it, or without a unet, is refused by name before any loading."""
    train_diffusion(_config(tmp_path, painting_folder, tiny_vae, out=str(tmp_path / "first")))
    first = tmp_path / "first"
    shutil.rmtree(first / "vae")
    (first / "latent_scale.json").write_text(json.dumps({"scaling_factor": 0.625}))
    assert init_latent_scale(str(first / "final")) == 0.625
    train_diffusion(_config(tmp_path, painting_folder, tiny_vae, init=str(first / "final")))
    assert json.loads((tmp_path / "run" / "latent_scale.json").read_text())["scaling_factor"] == 0.625
    (first / "latent_scale.json").unlink()
    with pytest.raises(ValueError, match="^init: .*neither latent_scale.json nor vae/"):
        init_latent_scale(str(first / "final"))
    with pytest.raises(ValueError, match="^init: expected a run's final/"):
        train_diffusion(_config(tmp_path, painting_folder, tiny_vae, init=str(tmp_path), out=str(tmp_path / "x")))
    assert not (tmp_path / "x").exists()


def test_frozen_style_encoder_is_not_trained(painting_folder, tmp_path, tiny_vae):
    cfg = _config(tmp_path, painting_folder, tiny_vae, oracle_retrieval=0.5, freeze_style=True)
    train_diffusion(_config(tmp_path, painting_folder, tiny_vae, out=str(tmp_path / "first")))
    cfg = _config(
        tmp_path,
        painting_folder,
        tiny_vae,
        oracle_retrieval=0.5,
        freeze_style=True,
        init=str(tmp_path / "first" / "final"),
    )
    train_diffusion(cfg)
    before = RestorationModel.from_pretrained(tmp_path / "first" / "final")
    after = RestorationModel.from_pretrained(tmp_path / "run" / "final")
    for (name, a), b in zip(before.style_encoder.state_dict().items(), after.style_encoder.state_dict().values()):
        assert torch.equal(a, b), name
    assert any(not torch.equal(a, b) for a, b in zip(before.unet.parameters(), after.unet.parameters()))


def test_loss_reaches_every_trainable_component(painting_folder, tmp_path, tiny_vae):
    from diffusers import AutoencoderKL

    cfg = _config(tmp_path, painting_folder, tiny_vae, style_dropout=0.0, retrieval_dropout=0.0)
    vae = AutoencoderKL.from_pretrained(tiny_vae).requires_grad_(False)
    model = build_model(cfg, vae)
    for m in (model.unet, model.mask_encoder):  # zero-initialised heads would block the gradient at step 0
        with torch.no_grad():
            for p in m.parameters():
                if p.abs().sum() == 0:
                    p.normal_(0, 0.05)
    ds = DiffusionSamples(PaintingCollection.scan(painting_folder), 32, length=2)
    batch = torch.utils.data.default_collate([ds[0], ds[1]])
    loss, logs = diffusion_loss(vae, make_scheduler("v_prediction"), cfg)(model, batch)
    loss.backward()
    assert torch.isfinite(loss) and "mse_region" in logs
    for part in (
        model.unet.conv_in,
        model.mask_encoder.stem[0],
        model.style_encoder.proj[0],
        model.unet.retrieval_proj,
    ):
        assert part.weight.grad is not None and part.weight.grad.abs().sum() > 0


def test_short_run_writes_components_vae_and_scheduler(painting_folder, tmp_path, tiny_vae):
    summary = train_diffusion(_config(tmp_path, painting_folder, tiny_vae))
    run = tmp_path / "run"
    assert summary["steps"] == 2
    loaded = RestorationModel.from_pretrained(run / "final")
    assert loaded.unet.config.block_channels == [32, 64] or tuple(loaded.unet.config.block_channels) == (32, 64)
    assert json.loads((run / "vae" / "config.json").read_text())["scaling_factor"] == pytest.approx(
        json.loads((run / "latent_scale.json").read_text())["scaling_factor"]
    )
    assert (run / "scheduler" / "scheduler_config.json").exists() and (run / "loss_curve.png").exists()


def test_a_patch_autoencoder_can_be_the_frozen_autoencoder(painting_folder, tmp_path):
    _tiny_patch_vae().save_pretrained(tmp_path / "patch")
    summary = train_diffusion(_config(tmp_path, painting_folder, tmp_path / "patch"))
    run = tmp_path / "run"
    assert summary["steps"] == 2 and RestorationModel.from_pretrained(run / "final").unet is not None
    assert json.loads((run / "vae" / "config.json").read_text())["_class_name"] == "PatchAutoencoder"


def test_bad_settings_raise(painting_folder, tmp_path, tiny_vae):
    with pytest.raises(ValueError, match="source"):
        train_diffusion(_config(tmp_path, painting_folder, tiny_vae, source="web"))
    with pytest.raises(ValueError, match="vae: no autoencoder folder"):
        train_diffusion(_config(tmp_path, painting_folder, tmp_path / "nowhere"))


@pytest.mark.slow
def test_two_process_ddp(painting_folder, tmp_path, tiny_vae):
    """2 steps of a tiny `artrestore train` in 2 processes: real MULTI_CPU DDP on gloo."""
    cfg = _config(tmp_path, painting_folder, tiny_vae)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "artrestore.cli", "train"]
    for key in (
        "out",
        "vae",
        "source",
        "data",
        "crop",
        "block_channels",
        "style_dim",
        "steps",
        "batch_size",
        "threads",
        "warmup",
        "log_every",
    ):
        cmd += ["--" + key.replace("_", "-"), str(getattr(cfg, key))]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["distributed_type"] == "DistributedType.MULTI_CPU"


@pytest.mark.parametrize("prediction_type", ["v_prediction", "epsilon"])
def test_predicted_clean_inverts_the_noising(prediction_type):
    scheduler = make_scheduler(prediction_type)
    g = torch.Generator().manual_seed(0)
    z0, noise = torch.randn(3, 4, 8, 8, generator=g), torch.randn(3, 4, 8, 8, generator=g)
    t = torch.tensor([0, 500, 990])
    zt = scheduler.add_noise(z0, noise, t)
    target = scheduler.get_velocity(z0, noise, t) if prediction_type == "v_prediction" else noise
    torch.testing.assert_close(predicted_clean(scheduler, zt, target, t), z0, atol=2e-3, rtol=1e-3)


def test_perceptual_term_adds_weighted_lpips_vgg_of_the_decoded_prediction(painting_folder, tmp_path):
    vae = _tiny_patch_vae()
    plain_cfg = _config(tmp_path, painting_folder, tmp_path, style_dropout=0.0, retrieval_dropout=0.0)
    model = build_model(plain_cfg, vae)
    with torch.no_grad():  # a zero-initialised output would give the same prediction for every input
        model.unet.conv_out.weight.normal_(0, 0.05)
    ds = DiffusionSamples(PaintingCollection.scan(painting_folder), 32, length=2)
    batch = torch.utils.data.default_collate([ds[0], ds[1]])
    scheduler = make_scheduler("v_prediction")
    plain_fn = diffusion_loss(vae, scheduler, plain_cfg)
    term_fn = diffusion_loss(vae, scheduler, dataclasses.replace(plain_cfg, perceptual_weight=2.0))
    torch.manual_seed(1)
    plain, logs = plain_fn(model, batch)
    assert "lpips_vgg" not in logs
    torch.manual_seed(1)  # the same timesteps and noise
    with_term, logs = term_fn(model, batch)
    assert logs["lpips_vgg"] > 0
    assert with_term.item() == pytest.approx(plain.item() + 2.0 * logs["lpips_vgg"], rel=1e-4)
    with_term.backward()
    assert model.unet.conv_out.weight.grad.abs().sum() > 0


def test_perceptual_term_sees_only_the_region_and_weighs_samples_by_their_signal():
    from artrestore.metrics.lpips import lpips_model

    vae = _tiny_patch_vae()
    vgg, scheduler = lpips_model("vgg"), make_scheduler("v_prediction")
    clean = torch.rand(2, 3, 32, 32)
    noisy, pred = torch.randn(2, 4, 16, 16), torch.randn(2, 4, 16, 16)
    region = torch.zeros(2, 1, 32, 32)
    t = torch.tensor([10, 800])
    assert perceptual_term(vgg, vae, scheduler, noisy, pred, t, clean, region).item() == 0  # nothing restored
    region[..., 8:24, 8:24] = 1
    both = perceptual_term(vgg, vae, scheduler, noisy, pred, t, clean, region)
    z0 = predicted_clean(scheduler, noisy, pred, t)
    decoded = (vae.decode(z0 / vae.config.scaling_factor).sample.clamp(-1, 1) + 1) / 2
    plain = vgg((clean * (1 - region) + decoded * region) * 2 - 1, clean * 2 - 1).flatten()  # (2,)
    signal = scheduler.alphas_cumprod[t]
    assert both.item() == pytest.approx(float((plain * signal).mean()), rel=1e-5) and signal[0] > 3 * signal[1]
    t_last = torch.tensor([999, 999])  # pure noise: nothing to punish
    assert perceptual_term(vgg, vae, scheduler, noisy, pred, t_last, clean, region).item() < 1e-3 * both.item()

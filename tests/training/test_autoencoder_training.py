"""Autoencoder training: data, loss and a short resumable run."""

from __future__ import annotations

import torch

from artrestore.config import AutoencoderTrainConfig
from artrestore.data import PaintingCollection
from artrestore.models.autoencoder import build_autoencoder
from artrestore.training.autoencoder import CleanCrops, autoencoder_loss, train_autoencoder


def test_clean_crops_are_deterministic(painting_folder):
    ds = CleanCrops(PaintingCollection.scan(painting_folder).records, crop=32, length=4, seed=3)
    assert ds[2]["image"].shape == (3, 32, 32) and torch.equal(ds[2]["image"], ds[2]["image"])


def test_loss_backpropagates_through_lpips(painting_folder):
    ds = CleanCrops(PaintingCollection.scan(painting_folder).records, crop=32, length=2)
    batch = torch.utils.data.default_collate([ds[0], ds[1]])
    vae = build_autoencoder((8, 16))
    loss, logs = autoencoder_loss(0.5, 1e-6)(vae, batch)
    loss.backward()
    assert set(logs) == {"l1", "kl", "lpips_vgg"}
    assert vae.encoder.conv_in.weight.grad is not None


def test_short_run_on_paintings(painting_folder, tmp_path):
    cfg = AutoencoderTrainConfig(
        out=str(tmp_path / "vae"),
        source="paintings",
        data=str(painting_folder),
        steps=2,
        batch_size=2,
        crop=32,
        channels="8,16",
        threads=1,
        warmup=1,
        log_every=1,
    )
    summary = train_autoencoder(cfg)
    assert summary["steps"] == 2 and (tmp_path / "vae" / "final" / "config.json").exists()


def _decoder_only_config(painting_folder, tmp_path) -> AutoencoderTrainConfig:
    """Three decoder-only steps from the autoencoder saved in ``tmp_path / "init"``, into ``tmp_path / "dec"``."""
    return AutoencoderTrainConfig(
        out=str(tmp_path / "dec"),
        source="paintings",
        data=str(painting_folder),
        init=str(tmp_path / "init"),
        decoder_only=True,
        steps=3,
        batch_size=2,
        crop=32,
        threads=1,
        warmup=1,
        lr=1e-2,
        ema_decay=0,
        log_every=1,
    )


def test_decoder_only_run_keeps_the_latent_space(painting_folder, tmp_path):
    from diffusers import AutoencoderKL

    build_autoencoder((8, 16)).save_pretrained(tmp_path / "init")
    train_autoencoder(_decoder_only_config(painting_folder, tmp_path))
    before = AutoencoderKL.from_pretrained(tmp_path / "init").state_dict()
    after = AutoencoderKL.from_pretrained(tmp_path / "dec" / "final").state_dict()
    for name, value in before.items():
        if name.startswith(("encoder.", "quant_conv.")):
            assert torch.equal(value, after[name]), name
    changed = [n for n in before if n.startswith("decoder.") and not torch.equal(before[n], after[n])]
    assert changed, "the decoder did not train"


def test_decoder_only_needs_an_init(painting_folder, tmp_path):
    import pytest

    cfg = AutoencoderTrainConfig(
        out=str(tmp_path / "d"), source="paintings", data=str(painting_folder), decoder_only=True
    )
    with pytest.raises(ValueError, match="decoder_only"):
        train_autoencoder(cfg)


def test_patch_architecture_starts_as_the_fitted_linear_codec_and_trains(painting_folder, tmp_path):
    from artrestore.hub.patch_autoencoder import PatchAutoencoder
    from artrestore.models.autoencoder import load_autoencoder

    cfg = AutoencoderTrainConfig(
        out=str(tmp_path / "patch"),
        source="paintings",
        data=str(painting_folder),
        architecture="patch",
        patch_size=4,
        latent_channels=6,
        hidden_channels=8,
        num_blocks=1,
        fit_crops=4,
        steps=2,
        batch_size=2,
        crop=32,
        threads=1,
        warmup=1,
        ema_decay=0,
        log_every=1,
        checkpoint_every=1,
    )
    summary = train_autoencoder(cfg)
    vae = load_autoencoder(tmp_path / "patch" / "final")
    assert summary["steps"] == 2 and isinstance(vae, PatchAutoencoder) and vae.latent_stride == 4
    header = (tmp_path / "patch" / "loss_log.csv").read_text().splitlines()[0].split(",")
    assert "kl" not in header and "l1" in header, "deterministic latents: no KL term"
    crops = CleanCrops(PaintingCollection.scan(painting_folder).records, crop=32, length=4, seed=9)
    x = torch.stack([crops[i]["image"] for i in range(4)]) * 2 - 1
    unfitted = PatchAutoencoder(patch_size=4, latent_channels=6, hidden_channels=8, num_blocks=1)
    with torch.no_grad():
        error, error_unfitted = (torch.nn.functional.l1_loss(m(x).sample, x) for m in (vae, unfitted))
    assert error < 0.1 and error < 0.2 * error_unfitted, "the run starts from the codec fitted to training crops"


def test_unknown_architecture_is_refused_before_any_work(painting_folder, tmp_path):
    import pytest

    cfg = AutoencoderTrainConfig(out=str(tmp_path / "x"), data=str(painting_folder), architecture="vqgan")
    with pytest.raises(ValueError, match="architecture: expected one of"):
        train_autoencoder(cfg)
    assert not (tmp_path / "x").exists()


def test_decoder_only_run_of_a_patch_autoencoder_keeps_its_encoder(painting_folder, tmp_path):
    from artrestore.hub.patch_autoencoder import PatchAutoencoder

    init = PatchAutoencoder(patch_size=4, latent_channels=6, hidden_channels=8, num_blocks=1)
    init.fit_linear(torch.rand(2, 3, 32, 32) * 2 - 1)
    init.save_pretrained(tmp_path / "init")
    train_autoencoder(_decoder_only_config(painting_folder, tmp_path))
    before = init.state_dict()
    after = PatchAutoencoder.from_pretrained(tmp_path / "dec" / "final").state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items() if k.startswith("encoder"))
    assert any(not torch.equal(v, after[k]) for k, v in before.items() if k.startswith("decoder"))

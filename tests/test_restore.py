"""`artrestore restore` (file and folder mode), `artrestore push --dry-run` and the model as a bench method."""

from __future__ import annotations

import json

import numpy as np
import PIL.Image
import pytest

from artrestore.bench import run_bench
from artrestore.cli import main
from artrestore.config import BenchConfig
from artrestore.export import write_hub_folder
from artrestore.io import Artwork, load_image, save_png

from .conftest import synthetic_painting
from .hub.conftest import ARTISTS, build_tiny_pipeline


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return write_hub_folder(build_tiny_pipeline(), tmp_path_factory.mktemp("m") / "tiny", "# tiny\n")


def _damage(tmp_path, name="p", h=80, w=100, bits=8):
    img = synthetic_painting(h, w, seed=3)
    if bits == 16:
        img = img.astype(np.uint16) * 257 + 3
    save_png(tmp_path / f"{name}.png", img)
    mask = np.zeros((h, w), np.uint8)
    mask[20:40, 30:60] = 255
    PIL.Image.fromarray(mask).save(tmp_path / f"{name}_mask.png")
    return tmp_path / f"{name}.png", tmp_path / f"{name}_mask.png", mask > 0


@pytest.mark.parametrize("bits", [8, 16])
def test_restore_one_file_keeps_bit_depth_and_untouched_pixels(tiny_model, tmp_path, bits, capsys):
    image, mask_path, mask = _damage(tmp_path, bits=bits)
    out = tmp_path / "out.png"
    code = main(["restore", str(image), "--mask", str(mask_path), "--out", str(out), "--model", str(tiny_model)])
    assert code == 0 and "wrote" in capsys.readouterr().out
    src, res = load_image(image), load_image(out)
    assert res.pixels.dtype == src.pixels.dtype and res.size == src.size
    assert np.array_equal(res.pixels[~mask], src.pixels[~mask])
    assert not np.array_equal(res.pixels[mask], src.pixels[mask])


def test_restore_folder_mode(tiny_model, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "masks").mkdir()
    for name in ("a", "b"):
        _damage(tmp_path / "in", name)
        (tmp_path / "in" / f"{name}_mask.png").rename(tmp_path / "masks" / f"{name}.png")
    code = main(
        [
            "restore",
            str(tmp_path / "in"),
            "--mask",
            str(tmp_path / "masks"),
            "--out",
            str(tmp_path / "out"),
            "--model",
            str(tiny_model),
        ]
    )
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]


def test_restore_passes_init_and_strength_through(tiny_model, tmp_path):
    """--init/--strength reach the pipeline: the restored pixels change, the others do not."""
    image, mask_path, mask = _damage(tmp_path)
    base = ["restore", str(image), "--mask", str(mask_path), "--model", str(tiny_model)]
    assert main([*base, "--out", str(tmp_path / "plain.png")]) == 0
    assert main([*base, "--out", str(tmp_path / "init.png"), "--init", "patchmatch", "--strength", "0.5"]) == 0
    plain, init = load_image(tmp_path / "plain.png").pixels, load_image(tmp_path / "init.png").pixels
    assert not np.array_equal(plain[mask], init[mask]) and np.array_equal(plain[~mask], init[~mask])


def test_restore_says_when_the_fill_took_the_named_artists_palette_and_can_keep_its_own(tmp_path, capsys):
    from .hub.test_artist_recogniser import build_tiny_recogniser

    image, mask_path, mask = _damage(tmp_path, h=96, w=96)
    pipe = build_tiny_pipeline(default_strength=0.0)
    pipe.register_modules(artist_recogniser=build_tiny_recogniser(load_image(image).to_uint8()))
    model = write_hub_folder(pipe, tmp_path / "m", "# tiny\n")
    base = ["restore", str(image), "--mask", str(mask_path), "--model", str(model)]
    assert main([*base, "--out", str(tmp_path / "own.png"), "--artist", ARTISTS[0]]) == 0
    assert "palette" not in capsys.readouterr().out  # the painting looks like its own artist: nothing moved
    assert main([*base, "--out", str(tmp_path / "other.png"), "--artist", ARTISTS[1]]) == 0
    out = capsys.readouterr().out
    assert f"does not look like {ARTISTS[1]}" in out and f"from {ARTISTS[0]}'s palette" in out
    assert "--no-artist-palette" in out
    argv = [*base, "--out", str(tmp_path / "kept.png"), "--artist", ARTISTS[1], "--no-artist-palette"]
    assert main(argv) == 0
    assert "palette" not in capsys.readouterr().out
    other, kept = load_image(tmp_path / "other.png").pixels, load_image(tmp_path / "kept.png").pixels
    assert not np.array_equal(other[mask], kept[mask]) and np.array_equal(other[~mask], kept[~mask])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--out", "x.jpg"], "out: restorations are written as lossless PNG"),
        (["--artist", "Nobody"], "artist: 'Nobody' is unknown"),
        (["--fading", "invert"], "fading: 'invert' needs a varnish_estimator"),
        (["--mask", "MISSING"], "does not exist"),
        (["--mask", None], "mask: give --mask and/or --fade"),
    ],
)
def test_restore_errors_are_one_line(tiny_model, tmp_path, capsys, args, message):
    image, mask_path, _ = _damage(tmp_path)
    argv = [
        "restore",
        str(image),
        "--model",
        str(tiny_model),
        "--out",
        str(tmp_path / "o.png"),
        "--mask",
        str(mask_path),
    ]
    if args[0] == "--mask":
        i = argv.index("--mask")
        del argv[i : i + 2]
        if args[1] is not None:
            argv += ["--mask", str(tmp_path / args[1])]
    else:
        argv += args
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_restore_refuses_to_overwrite_the_input(tiny_model, tmp_path, capsys):
    image, mask_path, _ = _damage(tmp_path)
    assert (
        main(["restore", str(image), "--mask", str(mask_path), "--out", str(image), "--model", str(tiny_model)]) == 2
    )
    assert "refusing to write over it" in capsys.readouterr().err


def test_push_dry_run_lists_the_folder(tiny_model, capsys):
    assert main(["push", "--repo-id", "someone/artrestore-tiny", "--folder", str(tiny_model), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would upload" in out and "model_index.json" in out and "memory_bank/index.faiss" in out
    assert "memory_bank/index.faiss\t" in out and out.split("memory_bank/index.faiss\t")[1].split("\n")[0].endswith(
        "lfs"
    )
    assert "model_index.json\t" in out and out.split("model_index.json\t")[1].split("\n")[0].endswith("git")
    assert ".gitattributes" in out  # the Hub needs LFS for files over 10 MB
    assert main(["push", "--repo-id", "no-slash", "--folder", str(tiny_model), "--dry-run"]) == 2


def test_model_is_a_bench_method(tiny_model, painting_folder, tmp_path):
    config = BenchConfig(
        data=str(painting_folder),
        out=str(tmp_path / "b"),
        methods="telea,artrestore,artrestore@ddim3,artrestore+telea@dpm2~0.5",
        model=str(tiny_model),
        size=64,
        split="all",
        limit=1,
        kinds="small_loss,fading",
        examples=0,
    )
    results = run_bench(config)
    methods = {r["method"] for r in results["records"]}
    assert methods == {"telea", "artrestore", "artrestore@ddim3", "artrestore+telea@dpm2~0.5"}
    assert all(r["untouched_changed"] == 0 for r in results["records"])
    assert json.loads((tmp_path / "b" / "results.json").read_text())["rows"]


def test_restore_auto_detects_and_writes_the_maps_used(tmp_path, capsys):
    pipe = build_tiny_pipeline(detector=True)
    head = pipe.damage_detector.head  # answer "paint loss" left of x = 50, nothing elsewhere
    import torch

    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor([5.0, -5.0, -5.0, -5.0, -5.0]))
    folder = write_hub_folder(pipe, tmp_path / "model", "# tiny\n")
    image, mask_path, _ = _damage(tmp_path)
    out = tmp_path / "auto.png"
    # the fake detector marks every pixel, so no style can be inferred: the artist is named
    args = ["restore", str(image), "--auto", "--out", str(out), "--model", str(folder), "--artist", ARTISTS[0]]
    assert main(args) == 2 and "detector found no damage" in capsys.readouterr().err
    with torch.no_grad():
        pipe.damage_detector.head.bias.copy_(torch.tensor([-5.0, -5.0, -5.0, 5.0, -5.0]))
    folder = write_hub_folder(pipe, tmp_path / "model", "# tiny\n")
    assert main(args) == 0
    written = capsys.readouterr().out
    assert "auto_detected_mask.png" in written and (tmp_path / "auto_detected_mask.png").exists()
    assert load_image(out).size == load_image(image).size
    assert "--auto found fading" not in written  # binary damage only: no fading note
    with torch.no_grad():  # fading everywhere too: the note names the fade map written
        pipe.damage_detector.head.bias.copy_(torch.tensor([-5.0, -5.0, -5.0, 5.0, 5.0]))
    folder = write_hub_folder(pipe, tmp_path / "model", "# tiny\n")
    assert main([*args[:4], str(tmp_path / "faded.png"), *args[5:]]) == 0
    written = capsys.readouterr().out
    assert "--auto found fading" in written and f"Check {tmp_path / 'faded_detected_fade.png'}" in written
    assert main([*args[:2], "--mask", str(mask_path), *args[2:]]) == 2
    assert "auto: --auto finds the damage itself" in capsys.readouterr().err


def test_first_fill_is_computed_only_for_damage_the_denoiser_restores(monkeypatch):
    """Thin damage gets the pipeline's pixel-space fill, so a first fill of it would be thrown away: none is made."""
    import artrestore.baselines as baselines
    from artrestore.restore import restore_artwork

    pipe = build_tiny_pipeline()
    pipe.set_progress_bar_config(disable=True)
    pipe.register_to_config(thin_damage_px=5)
    calls = []
    real = baselines.get_method
    monkeypatch.setattr(baselines, "get_method", lambda name: calls.append(name) or real(name))
    art = Artwork(np.random.default_rng(0).integers(0, 255, (64, 80, 3), dtype=np.uint8))
    scratch = np.zeros((64, 80), bool)
    scratch[30, 5:75] = True  # 1 px wide: thin everywhere
    _, out = restore_artwork(pipe, art, scratch, None, init="patchmatch", strength=0.5)
    assert calls == [] and out.records[0].init is None and out.records[0].thin_pixels_filled == 70
    hole = scratch.copy()
    hole[10:25, 10:30] = True  # and a loss
    _, out = restore_artwork(pipe, art, hole, None, init="patchmatch", strength=0.5)
    assert calls == ["patchmatch"] and out.records[0].init == "given, strength 0.5"

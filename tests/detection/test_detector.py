"""DamageDetector, tiled inference and post-processing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from artrestore.damage import DamageType
from artrestore.detection import DamageDetector, decide, predict_tiled

from ..conftest import synthetic_painting


@pytest.fixture(scope="module")
def tiny() -> DamageDetector:
    torch.manual_seed(0)
    return DamageDetector(channels=(4, 8, 8)).eval()


def test_output_shape_and_size_check(tiny):
    out = tiny(torch.rand(2, 3, 32, 48))
    assert out.shape == (2, 5, 32, 48)
    with pytest.raises(ValueError, match="multiples of 4"):
        tiny(torch.rand(1, 3, 30, 48))


def test_save_and_load_roundtrip(tiny, tmp_path):
    tiny.save_pretrained(tmp_path / "det")
    loaded = DamageDetector.from_pretrained(tmp_path / "det").eval()
    x = torch.rand(1, 3, 16, 16)
    assert loaded.config.channels == [4, 8, 8] or tuple(loaded.config.channels) == (4, 8, 8)
    assert torch.allclose(loaded(x), tiny(x))


def test_tiled_equals_whole_image_when_one_tile(tiny):
    img = synthetic_painting(64, 80)
    probs, fade = predict_tiled(tiny, img, tile=128, overlap=16)
    with torch.no_grad():
        logits = tiny(torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255)[0]
    assert np.allclose(probs, logits[:4].softmax(0).permute(1, 2, 0).numpy(), atol=1e-5)
    assert np.allclose(fade, logits[4].sigmoid().numpy(), atol=1e-5)


def test_tiling_handles_odd_sizes_and_seams(tiny):
    img = synthetic_painting(101, 157)
    probs, fade = predict_tiled(tiny, img, tile=48, overlap=8)
    assert probs.shape == (101, 157, 4) and fade.shape == (101, 157)
    assert np.allclose(probs.sum(-1), 1, atol=1e-5)
    whole, _ = predict_tiled(tiny, img, tile=256, overlap=16)
    assert np.abs(probs - whole).mean() < 0.05  # overlapping tiles agree with a single pass away from borders


@pytest.mark.parametrize("length", [100, 1024, 1030, 1414, 3000, 4000])
def test_tiles_cover_with_the_overlap_and_no_more_tiles_than_needed(length):
    from artrestore.hub.damage_detection import _tiles

    side, starts = _tiles(length, 1024, 64, 16)
    assert starts[0] == 0 and starts[-1] + side == length and side <= max(1024, length if length <= 1024 else 0)
    assert all(b - a <= side - 63 for a, b in zip(starts, starts[1:]))  # neighbours overlap by >= 63 px (rounding)
    assert len(starts) == (1 if length <= 1024 else -(-(length - 64) // (1024 - 64)))


def test_thresholds_travel_with_the_detector(tmp_path):
    from artrestore.detection.detect import detect_damage

    torch.manual_seed(0)
    det = DamageDetector(channels=(4, 8), damage_threshold=0.99, fade_threshold=0.5, type_weights=(1, 2, 3)).eval()
    det.save_pretrained(tmp_path / "d")
    loaded = DamageDetector.from_pretrained(tmp_path / "d").eval()
    assert (loaded.config.damage_threshold, loaded.config.fade_threshold) == (0.99, 0.5)
    assert list(loaded.config.type_weights) == [1, 2, 3]
    img = synthetic_painting(40, 40)
    strict = detect_damage(loaded, img)
    loose = detect_damage(loaded, img, damage_threshold=0.01, fade_threshold=0.0)
    assert strict.mask.sum() <= loose.mask.sum() and loose.mask.all()  # an untrained net's p(damage) > 0.01
    with pytest.raises(ValueError, match="damage_threshold"):
        DamageDetector(channels=(4, 8), damage_threshold=1.0)


def test_decide_thresholds_and_formats():
    probs = np.zeros((4, 4, 4), np.float32)
    probs[..., 0] = 1
    probs[0, 0] = [0.2, 0.7, 0.1, 0.0]  # crack
    probs[1, 1] = [0.3, 0.1, 0.1, 0.5]  # loss
    fade = np.zeros((4, 4), np.float32)
    fade[3, 3] = 0.5
    fade[2, 2] = 0.01  # below threshold: exactly 0
    d = decide(probs, fade)
    assert d.mask.sum() == 2 and d.types[0, 0] == DamageType.CRACK and d.types[1, 1] == DamageType.LOSS
    assert d.fade[2, 2] == 0 and d.types[3, 3] == DamageType.FADE
    assert d.mask_image().mode == "L" and np.asarray(d.mask_image())[0, 0] == 255
    assert np.asarray(d.fade_map())[3, 3] == 128
    assert d.class_mask("crack").sum() == 1
    weighted = decide(probs, fade, type_weights=(1.0, 1.0, 2.0))  # loss weighted up: 0.7 vs 0.0 still crack
    assert weighted.types[0, 0] == DamageType.CRACK and weighted.types[1, 1] == DamageType.LOSS
    scratchy = decide(probs, fade, type_weights=(1.0, 8.0, 1.0))  # scratch 0.8 beats crack 0.7 and loss 0.5
    assert scratchy.types[0, 0] == DamageType.SCRATCH and scratchy.types[1, 1] == DamageType.SCRATCH
    assert np.array_equal(scratchy.mask, d.mask)  # weights choose the type, never whether a pixel is damaged
    with pytest.raises(ValueError, match="type_weights"):
        decide(probs, fade, type_weights=(1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="name"):
        d.class_mask("mould")
    fade[0, 3] = 1.0
    off = decide(probs, fade, fade_threshold=1.0)  # 1 = fading switched off, even at full strength
    assert not off.fade.any() and not (off.types == DamageType.FADE).any() and np.array_equal(off.mask, d.mask)
    with pytest.raises(ValueError, match="fade_threshold"):
        decide(probs, fade, fade_threshold=1.5)


def test_type_vote_unifies_compact_damage_and_leaves_thin_lines():
    probs = np.zeros((40, 40, 4), np.float32)
    probs[..., 0] = 1
    probs[5:15, 5:15] = [0.0, 0.0, 0.0, 1.0]  # a 10x10 loss ...
    probs[6:9, 6:9] = [0.0, 0.6, 0.0, 0.4]  # ... with a corner the network calls crack
    probs[30, 2:38] = [0.0, 1.0, 0.0, 0.0]  # a 1 px crack line
    probs[20:24, 30:34] = [0.0, 0.0, 0.7, 0.3]  # a 4x4 flake called scratch: its own window majority
    fade = np.zeros((40, 40), np.float32)
    plain = decide(probs, fade)
    assert (plain.types[6:9, 6:9] == DamageType.CRACK).all()
    voted = decide(probs, fade, type_vote=15)
    assert (voted.types[5:15, 5:15] == DamageType.LOSS).all()  # the corner takes the blob's type
    assert (voted.types[30, 2:38] == DamageType.CRACK).all()  # thin lines are opened away: unchanged
    assert (voted.types[20:24, 30:34] == DamageType.SCRATCH).all()
    assert np.array_equal(voted.mask, plain.mask)  # the vote changes types, never the mask
    assert np.array_equal(voted.types[plain.types != voted.types], np.full(9, DamageType.LOSS, np.uint8))
    with pytest.raises(ValueError, match="type_vote"):
        decide(probs, fade, type_vote=-1)


def test_detect_command_writes_pipeline_masks(tiny, tmp_path):
    import cv2
    from PIL import Image

    from artrestore.cli import main

    tiny.save_pretrained(tmp_path / "det")
    src = tmp_path / "p.png"
    cv2.imwrite(str(src), synthetic_painting(70, 90))
    code = main(
        [
            "detect",
            str(src),
            "--detector",
            str(tmp_path / "det"),
            "--out-mask",
            str(tmp_path / "m.png"),
            "--out-fade",
            str(tmp_path / "f.png"),
            "--out-types",
            str(tmp_path / "t.png"),
            "--tile",
            "64",
            "--overlap",
            "8",
        ]
    )
    assert code == 0
    mask, fade = Image.open(tmp_path / "m.png"), Image.open(tmp_path / "f.png")
    assert mask.mode == "L" and fade.mode == "L" and mask.size == (90, 70)
    assert set(np.unique(np.asarray(mask))) <= {0, 255}
    assert main(["detect", str(src), "--detector", str(tmp_path / "det"), "--out-mask", str(src)]) == 2

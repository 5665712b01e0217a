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
    with pytest.raises(ValueError, match="name"):
        d.class_mask("mould")


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

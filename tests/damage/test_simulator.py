"""The damage simulator: deterministic, confined to its masks, and each kind looks like what it claims."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from artrestore.damage import KINDS, DamageConfig, DamageSimulator, DamageType, derive_seed, scratches, simulate_damage

from ..conftest import synthetic_painting


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return synthetic_painting(160, 200)


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_per_seed(image, kind):
    a = simulate_damage(image, kind, seed=7)
    b = simulate_damage(image, kind, seed=7)
    c = simulate_damage(image, kind, seed=8)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask) and np.array_equal(a.fade, b.fade)
    assert not (np.array_equal(a.image, c.image) and np.array_equal(a.fade, c.fade))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_changes_only_inside_mask_and_fade(image, kind, seed):
    s = simulate_damage(image, kind, seed)
    changed = (s.image != image).any(axis=2)
    assert not (changed & ~s.touched).any()
    assert s.touched.any(), "every kind must damage something"
    assert s.image.dtype == np.uint8 and s.mask.dtype == bool and s.fade.dtype == np.float32
    assert s.types.shape == image.shape[:2] and s.kind == kind and s.seed == seed


@pytest.mark.parametrize("kind", KINDS)
def test_type_map_matches_masks(image, kind):
    s = simulate_damage(image, kind, 3)
    assert np.array_equal(s.types > 0, s.touched)
    assert not ((s.types == DamageType.FADE) & s.mask).any()


def test_single_kinds_use_their_type_code(image):
    expected = {
        "scratch": DamageType.SCRATCH,
        "crack": DamageType.CRACK,
        "small_loss": DamageType.LOSS,
        "large_loss": DamageType.LOSS,
        "fading": DamageType.FADE,
    }
    for kind, code in expected.items():
        s = simulate_damage(image, kind, 5)
        assert set(np.unique(s.types)) == {0, int(code)}, kind


def test_fading_is_continuous_and_binary_free(image):
    s = simulate_damage(image, "fading", 4)
    assert not s.mask.any()
    assert 0 < s.fade.max() <= 1 and len(np.unique(s.fade)) > 50
    assert (s.fade == 0).any(), "outside the faded areas the map must be exactly 0"


def test_fading_desaturates(image):
    s = simulate_damage(image, "fading", 4)
    strong = s.fade > 0.5
    sat = lambda a: a.max(axis=2).astype(int) - a.min(axis=2)  # noqa: E731
    assert sat(s.image)[strong].mean() < sat(image)[strong].mean()


def test_scratch_width_is_1_to_6_px():
    from skimage.morphology import skeletonize

    widths = []
    for seed in range(16):
        m = scratches((256, 256), np.random.default_rng(seed), count=1)
        assert m.any(), f"seed {seed}: the scratch left the image"
        dist = cv2.distanceTransform(np.pad(m, 8).astype(np.uint8), cv2.DIST_L2, 5)
        assert dist.max() <= 3.6, f"seed {seed}: a scratch wider than 6 px"
        widths.append(m.sum() / skeletonize(m).sum())
    assert min(widths) < 1.6 and max(widths) > 4.0, f"widths should span 1-6 px, got {min(widths)}-{max(widths)}"


def test_large_loss_bigger_than_small_loss():
    img = synthetic_painting(256, 256)
    small = np.mean([simulate_damage(img, "small_loss", s).mask.mean() for s in range(6)])
    large = np.mean([simulate_damage(img, "large_loss", s).mask.mean() for s in range(6)])
    assert 0.002 < small < 0.08 and 0.05 < large < 0.5 and large > 3 * small


def test_mixed_combines_several_types():
    img = synthetic_painting(256, 256)
    counts = [len(set(np.unique(simulate_damage(img, "mixed", s).types)) - {0}) for s in range(6)]
    assert min(counts) >= 2


def test_unknown_kind_raises(image):
    with pytest.raises(ValueError, match="kind: expected one of"):
        simulate_damage(image, "mould", 0)


def test_bad_image_raises():
    with pytest.raises(ValueError, match=r"image: expected an \(h, w, 3\) uint8"):
        simulate_damage(np.zeros((32, 32), np.uint8), "crack", 0)


def test_real_source_requires_folder():
    with pytest.raises(ValueError, match="craquelure_dir"):
        DamageConfig("real", None)
    with pytest.raises(ValueError, match="craquelure_source"):
        DamageConfig("fractal")


def test_apply_mask_uses_given_mask(image):
    mask = np.zeros(image.shape[:2], bool)
    mask[40:60, 50:90] = True
    s = DamageSimulator().apply_mask(image, mask, "large_loss", 1)
    assert np.array_equal(s.mask, mask) and ((s.image != image).any(2) <= mask).all()
    fade = np.zeros(image.shape[:2], np.float32)
    fade[:, :50] = 0.8
    f = DamageSimulator().apply_mask(image, fade, "fading", 1)
    assert not f.mask.any() and np.array_equal(f.fade, fade)


def test_derive_seed_is_stable():
    assert derive_seed("Claude_Monet/x", "crack") == derive_seed("Claude_Monet/x", "crack")
    assert derive_seed("a", "crack") != derive_seed("a", "scratch")
    assert derive_seed("a") == 937752454  # sha1-based: independent of PYTHONHASHSEED and platform

"""Masked fills shared by training and inference: push-pull hole filling, blanking the damage, the differential edit
masks, and the pixel-space fill of thin damage."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from artrestore.hub.masked_fill import blank_damage, edit_mask, pushpull_fill


def test_pushpull_keeps_known_pixels_and_fills_holes_from_their_surroundings():
    torch.manual_seed(0)
    image = torch.rand(2, 3, 40, 56)
    hole = torch.zeros(2, 1, 40, 56)
    hole[:, :, 10:25, 20:40] = 1
    filled = pushpull_fill(image, hole)
    known = (hole < 0.5).expand_as(image)
    assert torch.equal(filled[known], image[known])  # bit-identical outside the holes
    inside = filled[~known].view(2, 3, -1)
    lo, hi = image.amin((2, 3))[..., None], image.amax((2, 3))[..., None]
    assert ((inside >= lo - 1e-6) & (inside <= hi + 1e-6)).all()  # a mean of known colours, never beyond them
    flat = torch.full((1, 3, 33, 17), 0.3)
    assert torch.allclose(pushpull_fill(flat, hole[:1, :, :33, :17]), flat)  # a flat painting fills flat


def test_pushpull_fill_follows_the_nearer_side_and_handles_empty_images():
    image = torch.zeros(1, 1, 32, 64)
    image[..., 32:] = 1.0  # dark left half, bright right half
    hole = torch.zeros(1, 1, 32, 64)
    hole[..., 8:24, 8:56] = 1
    filled = pushpull_fill(image, hole)[0, 0]
    assert filled[16, 10] < 0.5 < filled[16, 53]  # each side of the hole takes the colour nearer to it
    assert torch.equal(pushpull_fill(torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8)), torch.full((1, 3, 8, 8), 0.5))
    soft = hole * 0.6  # values above 0.5 count as unknown
    assert torch.equal(pushpull_fill(image, soft)[0, 0], filled)


def test_blank_damage_reads_only_the_undamaged_pixels():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (70, 90, 3)).astype(np.uint8)
    mask = np.zeros((70, 90), bool)
    mask[20:40, 10:50] = True
    mask[60:62, 0:90] = True  # a crack across the whole painting
    blanked = blank_damage(image, mask)
    for hole_colour in (0, 255):  # what the holes hold changes nothing
        other = image.copy()
        other[mask] = hole_colour
        assert np.array_equal(blank_damage(other, mask), blanked)
    assert np.array_equal(blanked[~mask], image[~mask])
    assert not np.array_equal(blanked[mask], image[mask])
    lo, hi = image[~mask].min(0), image[~mask].max(0)  # (3,) each: a mean of undamaged colours, never beyond them
    assert ((blanked[mask] >= lo) & (blanked[mask] <= hi)).all()
    assert np.array_equal(blank_damage(image, np.zeros_like(mask)), image)


def test_training_uses_the_same_fill_as_inference():
    import artrestore.hub.tile_denoising as inference
    import artrestore.training.diffusion as training

    assert training.pushpull_fill is inference.pushpull_fill is pushpull_fill


@pytest.mark.parametrize("num_steps", [1, 4, 10])
def test_edit_mask_edits_a_pixel_during_the_last_share_of_steps_given_by_its_strength(num_steps):
    strength = torch.tensor([0.0, 0.25, 0.5, 0.999, 1.0]).view(1, 1, 1, 5)
    edits = torch.stack([edit_mask(strength, i, num_steps) for i in range(num_steps)])[:, 0, 0, 0]  # (steps, 5)
    assert set(edits.unique().tolist()) <= {0.0, 1.0}
    assert edits[:, 0].sum() == 0 and edits[:, -1].sum() == num_steps  # untouched / binary damage
    assert edits[-1, 1:].all()  # every damaged pixel is edited at the last step
    for j, s in enumerate(strength.flatten().tolist()):
        first = int(np.argmax(edits[:, j].numpy())) if edits[:, j].any() else num_steps
        assert (edits[first:, j] == 1).all()  # once edited, edited until the end
        assert abs(edits[:, j].sum().item() - s * num_steps) < 1 + 1e-6  # the share of steps is the strength


def test_thin_split_keeps_whole_parts_and_fill_is_biharmonic(monkeypatch):
    from skimage.restoration import inpaint_biharmonic

    import artrestore.hub.masked_fill as module
    from artrestore.hub.masked_fill import biharmonic_fill

    mask = np.zeros((60, 80), bool)
    mask[5:50, 10:13] = True  # 3 px wide line
    mask[30:45, 40:60] = True  # loss ...
    mask[44, 60:78] = True  # ... with a thin tail
    assert module.split_thin_damage(mask, 4).sum() == 45 * 3  # the line, not the tail of the loss
    assert module.split_thin_damage(mask, 0).sum() == 0
    assert module.split_thin_damage(mask, 25).sum() == mask.sum()  # nothing holds a 25 px square
    seed = np.zeros_like(mask)
    seed[35, 50] = True
    assert (module.reconstruct(seed, mask) == (mask & (np.arange(80)[None] >= 40))).all()
    rng = np.random.default_rng(0)
    for trial in range(6):  # the split works on the damage's bounding box; the same as on the whole image
        spots = np.zeros((90, 120), bool)
        for _ in range(4):
            y, x, h, w = rng.integers(0, 90), rng.integers(0, 120), rng.integers(1, 16), rng.integers(1, 16)
            spots[y : y + h, x : x + w] = True
        if trial % 2:
            spots[:, :3] = False  # bounding box away from the left border
        whole = spots & ~module.reconstruct(module.binary_opening(spots, 5), spots)
        assert np.array_equal(module.split_thin_damage(spots, 5), whole)
    blobs = rng.random((60, 80)) > 0.55
    seeds = rng.random((60, 80)) > 0.98
    labelled = module.reconstruct(seeds, blobs)
    monkeypatch.setitem(sys.modules, "scipy", None)  # without SciPy: geodesic dilation, the same parts
    assert np.array_equal(module.reconstruct(seeds, blobs), labelled) and labelled.any() and not labelled.all()
    monkeypatch.undo()

    y, x = np.mgrid[0:60, 0:80]
    image = np.stack([128 + 60 * np.sin(x / 9.0), 100 + x, 50 + y * 2], -1).clip(0, 255).astype(np.uint8)
    image[mask] = 0
    thin = module.split_thin_damage(mask, 4)
    filled = module.fill_thin_damage(image, thin)
    assert np.array_equal(filled[~thin], image[~thin])
    reference = np.clip(np.round(inpaint_biharmonic(image, thin, channel_axis=-1) * 255), 0, 255)
    assert np.abs(filled[thin].astype(float) - reference[thin]).max() <= 1
    t = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255  # the torch solver, used without scikit-image
    ours = biharmonic_fill(t, torch.from_numpy(thin)[None, None].float(), tolerance=1e-6)[0].permute(1, 2, 0)
    assert np.abs(ours.numpy()[thin] * 255 - reference[thin]).max() <= 1.5
    assert torch.equal(biharmonic_fill(t, torch.zeros(1, 1, 60, 80)), t)
    monkeypatch.setitem(sys.modules, "skimage", None)  # a model loaded without scikit-image: the torch solver
    fallback = module.fill_thin_damage(image, thin)
    assert np.array_equal(fallback[~thin], image[~thin])
    assert np.abs(fallback[thin].astype(float) - reference[thin]).max() <= 2


def test_hairlines_are_the_thin_damage_no_square_covers():
    from artrestore.hub.damage_detection import binary_opening
    from artrestore.hub.masked_fill import split_hairlines, split_pixel_space_damage, split_thin_damage

    mask = np.zeros((80, 100), bool)
    mask[10:12, 5:95] = True  # a 2 px crack
    mask[40:46, 5:95] = True  # a 6 px scratch
    thin = split_thin_damage(mask, 9)
    assert thin.sum() == mask.sum()  # both are thin at 9 px
    hair = split_hairlines(thin, 4)
    assert hair[10:12, 5:95].all() and not hair[40:46].any()  # the crack keeps the smooth fill, the scratch does not
    parts, hairlines = split_pixel_space_damage(mask, 9, 4)  # the pipeline's split: both steps
    assert np.array_equal(parts, thin) and np.array_equal(hairlines, hair)
    assert np.array_equal(split_hairlines(thin, 0), thin) and np.array_equal(split_hairlines(thin, 7), thin)
    rng = np.random.default_rng(1)
    for _ in range(4):  # on the damage's bounding box: the same as on the whole image
        lines = np.zeros((70, 90), bool)
        for _ in range(3):
            y, x, w = rng.integers(5, 60), rng.integers(0, 40), rng.integers(1, 7)
            lines[y : y + w, x : x + 50] = True
        expected = lines & ~binary_opening(lines, 4)
        assert np.array_equal(split_hairlines(lines, 4), expected)
        assert not (split_hairlines(lines, 4) & ~lines).any()


def test_plan_sends_wide_thin_damage_to_the_exemplar_path_and_fills_hairlines_from_clean_paint():
    import PIL.Image

    from artrestore.hub.damage_plan import plan_damage

    y, x = np.mgrid[0:80, 0:100]
    image = np.stack([100 + x, 80 + y, 60 + 0 * x], -1).astype(np.uint8)
    mask = np.zeros((80, 100), bool)
    mask[40:46, 5:95] = True  # a 6 px scratch ...
    mask[10:40, 50:52] = True  # ... with a 2 px crack running into it
    damaged = image.copy()
    damaged[mask] = 255  # white paint loss

    def plan(hairline_px: int):
        return plan_damage(
            damaged,
            PIL.Image.fromarray(mask.astype(np.uint8) * 255),
            None,
            None,
            fading="diffuse",
            thin_damage_px=9,
            hairline_px=hairline_px,
            varnish_estimator=None,
        )

    split = plan(4)
    crack = np.zeros_like(mask)
    crack[10:40, 50:52] = True
    assert np.array_equal(split.thin, crack) and np.array_equal(split.mask, mask & ~crack)
    assert np.array_equal(split.changed, mask)
    assert np.array_equal(split.image[~mask], damaged[~mask])  # nothing else changes
    # the crack's fill reads clean paint only, also where it meets the scratch (no white bleeds in)
    err = np.abs(split.image[crack].astype(int) - image[crack].astype(int))
    assert err.max() <= 6
    whole = plan(0)  # without the hairline split all the thin damage keeps the smooth fill
    assert np.array_equal(whole.thin, mask) and not whole.mask.any()
    assert np.array_equal(whole.image[crack], split.image[crack])


def test_compact_damage_keeps_the_body_of_a_loss_and_drops_cracks_and_branches():
    from artrestore.hub.masked_fill import compact_damage

    mask = np.zeros((60, 80), bool)
    mask[10:30, 10:40] = True  # a loss
    mask[18:22, 40:70] = True  # its thin branch, 4 px wide
    mask[45:48, 5:75] = True  # a separate crack
    body = compact_damage(mask, 9)
    assert body[10:30, 10:40].all() and not body[:, 40:].any() and not body[40:].any()
    assert np.array_equal(compact_damage(mask, 0), mask) and not compact_damage(np.zeros_like(mask), 9).any()

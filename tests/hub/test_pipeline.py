"""ArtRestorePipeline: inputs, untouched pixels at any size, determinism, style and retrieval wiring."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch

from artrestore.hub import ComponentSwitches, remove_varnish
from artrestore.hub.tile_denoising import DenoiseSettings, TileInputs

from .conftest import ARTISTS, build_tiny_pipeline


def _painting(w: int, h: int, seed: int = 0) -> PIL.Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h)], axis=-1)
    noise = rng.integers(-20, 20, (h, w, 3))
    return PIL.Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def _mask(w: int, h: int, boxes: list[tuple[int, int, int, int]]) -> PIL.Image.Image:
    m = np.zeros((h, w), np.uint8)
    for x0, y0, x1, y1 in boxes:
        m[y0:y1, x0:x1] = 255
    return PIL.Image.fromarray(m)


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.mark.parametrize(
    "size, boxes",
    [
        ((1531, 1017), [(3, 5, 40, 9), (700, 500, 760, 530), (1500, 990, 1531, 1017), (100, 900, 103, 1010)]),
        ((4000, 3000), [(0, 0, 30, 30), (1990, 1490, 2030, 1560), (3950, 2950, 4000, 3000)]),
        ((50, 37), [(10, 10, 20, 14)]),  # smaller than a tile: padded, then cropped back
    ],
)
def test_untouched_pixels_are_bit_identical(tiny_pipe, size, boxes):
    image, mask = _painting(*size), _mask(*size, boxes)
    out = tiny_pipe(image=image, mask_image=mask, generator=_gen())
    res, src, m = np.asarray(out.images[0]), np.asarray(image), np.asarray(mask) >= 128
    assert out.images[0].size == image.size and out.images[0].mode == "RGB"
    assert np.array_equal(res[~m], src[~m])
    assert (res[m] != src[m]).any()  # and the damage was actually repainted


def test_fade_map_changes_only_faded_pixels(tiny_pipe):
    image = _painting(200, 150)
    fade = np.zeros((150, 200), np.uint8)
    fade[40:90, 60:140] = 180
    out = tiny_pipe(image=image, fade_map=PIL.Image.fromarray(fade), generator=_gen(), output_type="np")
    res, src = out.images[0], np.asarray(image)
    assert res.shape == src.shape and res.dtype == np.uint8
    assert np.array_equal(res[fade == 0], src[fade == 0])
    assert (res[fade > 0] != src[fade > 0]).any()
    assert out.records[0].fade_source == "given" and out.records[0].mask_source is None
    assert out.records[0].fading == "diffuse"  # this model has no varnish estimator


def test_fading_by_varnish_inversion_keeps_structure_and_untouched_pixels():
    """With a varnish estimator, faded areas are restored by the per-pixel inversion (no tile is denoised when
    there is no binary damage); ``fading="diffuse"`` still denoises them; holes are denoised either way."""
    pipe = build_tiny_pipeline(varnish=True)
    pipe.set_progress_bar_config(disable=True)
    image = _painting(200, 150)
    fade = np.zeros((150, 200), np.uint8)
    fade[40:90, 60:140] = 180
    fade_im = PIL.Image.fromarray(fade)
    out = pipe(image=image, fade_map=fade_im, generator=_gen(), output_type="np")
    res, src = out.images[0], np.asarray(image)
    assert np.array_equal(res[fade == 0], src[fade == 0])
    assert (res[fade > 0] != src[fade > 0]).any()
    assert out.records[0].fading == "invert" and out.records[0].tiles == 0
    assert out.records[0].style is None  # nothing was denoised, so no style was encoded
    x = torch.from_numpy(src / 255.0).permute(2, 0, 1)[None].float()  # (1, 3, h, w)
    f = torch.from_numpy(fade / 255.0)[None, None].float()  # (1, 1, h, w)
    with torch.no_grad():
        expected = remove_varnish(x, f, pipe.varnish_estimator(x, f))
    expected = np.round(expected[0].permute(1, 2, 0).numpy() * 255)
    assert np.abs(res[fade > 0].astype(float) - expected[fade > 0]).max() <= 1
    diffused = pipe(image=image, fade_map=fade_im, generator=_gen(), output_type="np", fading="diffuse")
    assert diffused.records[0].fading == "diffuse" and diffused.records[0].tiles == 1
    assert not np.array_equal(diffused.images[0], res)
    mask = _mask(200, 150, [(10, 10, 30, 30)])
    both = pipe(image=image, mask_image=mask, fade_map=fade_im, generator=_gen(), output_type="np")
    m = np.asarray(mask) >= 128
    assert both.records[0].tiles == 1 and (both.images[0][m] != src[m]).any()
    assert (both.images[0][(fade > 0) & ~m] != src[(fade > 0) & ~m]).any()
    assert np.array_equal(both.images[0][~m & (fade == 0)], src[~m & (fade == 0)])


@pytest.mark.parametrize("strength", [1.0, 0.0])
def test_what_the_holes_hold_changes_nothing(strength):
    """A scan's white holes, black holes and intact paint under a mark give the same restoration: every component
    (the varnish estimator, the style inference, the exemplar fill, the denoiser) reads only undamaged pixels."""
    pipe = build_tiny_pipeline(varnish=True)
    pipe.set_progress_bar_config(disable=True)
    image = np.asarray(_painting(160, 120))
    mask = _mask(160, 120, [(50, 40, 90, 70), (0, 100, 160, 103)])
    fade = np.zeros((120, 160), np.uint8)
    fade[10:60, 90:150] = 160
    m = np.asarray(mask) >= 128
    results = []
    for hole_colour in (None, 255, 0):
        held = image.copy()
        if hole_colour is not None:
            held[m] = hole_colour
        out = pipe(
            image=PIL.Image.fromarray(held),
            mask_image=mask,
            fade_map=PIL.Image.fromarray(fade),
            strength=strength,
            generator=_gen(),
            output_type="np",
        )
        results.append(out.images[0])
    assert np.array_equal(results[0], results[1]) and np.array_equal(results[0], results[2])
    assert np.array_equal(results[0][~m & (fade == 0)], image[~m & (fade == 0)])


def test_same_seed_same_result_and_tuple_output(tiny_pipe):
    image, mask = _painting(160, 120), _mask(160, 120, [(50, 40, 90, 70)])
    a = tiny_pipe(image=image, mask_image=mask, generator=_gen(), output_type="np").images
    b, attributions, certificates = tiny_pipe(
        image=image, mask_image=mask, generator=_gen(), output_type="np", return_dict=False
    )
    assert np.array_equal(a, b)
    assert len(attributions) == 1 and attributions[0] is not None  # the tiny model retrieves
    assert certificates == [None]  # no certifier in the tiny pipeline
    c = tiny_pipe(image=image, mask_image=mask, generator=torch.Generator().manual_seed(1), output_type="np").images
    assert not np.array_equal(a, c)


def test_batch_of_images(tiny_pipe):
    images = [_painting(96, 80, 0), _painting(70, 90, 1)]
    masks = [_mask(96, 80, [(10, 10, 30, 20)]), _mask(70, 90, [(5, 50, 40, 60)])]
    out = tiny_pipe(image=images, mask_image=masks, generator=_gen())
    assert [im.size for im in out.images] == [(96, 80), (70, 90)]
    assert len(out.records) == 2


def test_artist_style_and_retrieval_are_used(tiny_pipe):
    image, mask = _painting(128, 128), _mask(128, 128, [(40, 40, 90, 90)])
    inferred = tiny_pipe(image=image, mask_image=mask, generator=_gen(), output_type="np")
    a0 = tiny_pipe(image=image, mask_image=mask, artist=ARTISTS[0], generator=_gen(), output_type="np")
    a1 = tiny_pipe(image=image, mask_image=mask, artist=ARTISTS[1], generator=_gen(), output_type="np")
    no_retrieval = tiny_pipe(image=image, mask_image=mask, artist=ARTISTS[0], top_k=0, generator=_gen())
    assert inferred.records[0].style == "inferred" and a0.records[0].style == "artist"
    assert not np.array_equal(a0.images, a1.images)
    assert not np.array_equal(a0.images[0], np.asarray(no_retrieval.images[0]))
    bank = tiny_pipe.memory_bank
    assert a0.records[0].retrieved and all(bank.provenance[i].artist == ARTISTS[0] for i in a0.records[0].retrieved)


def test_guidance_contrasts_the_conditioning_with_null_style_and_no_patches(tiny_pipe, monkeypatch):
    image, mask = _painting(96, 96), _mask(96, 96, [(30, 30, 70, 70)])
    args = dict(image=image, mask_image=mask, artist=ARTISTS[0], output_type="np")
    plain = tiny_pipe(**args, generator=_gen())
    one = tiny_pipe(**args, generator=_gen(), guidance_scale=1.0)
    assert np.array_equal(plain.images, one.images) and plain.records[0].guidance_scale == 1.0
    calls = []
    forward = tiny_pipe.unet.forward

    def spy(sample, timestep, masked_latents, latent_mask, style, film, retrieved, retrieved_mask, **kw):
        calls.append((sample.shape[0], style.detach().clone(), retrieved_mask.clone(), retrieved.detach().clone()))
        return forward(sample, timestep, masked_latents, latent_mask, style, film, retrieved, retrieved_mask, **kw)

    def final_latents(store):
        def cb(pipe, step, timestep, kwargs):
            store.append(kwargs["latents"].clone())
            return {}

        return cb

    guided_latents, base_latents = [], []
    monkeypatch.setattr(tiny_pipe.unet, "forward", spy)
    guided = tiny_pipe(
        **args,
        generator=_gen(),
        guidance_scale=3.0,
        num_inference_steps=2,
        callback_on_step_end=final_latents(guided_latents),
    )
    monkeypatch.undo()
    assert len(calls) == 2 and all(c[0] == 2 for c in calls)  # one batched call per step
    _, style, valid, tokens = calls[0]
    assert torch.equal(style[1], tiny_pipe.unet.null_style.detach())
    assert torch.equal(style[0], tiny_pipe.memory_bank.artist_vectors[ARTISTS[0]].to(style.dtype))
    assert valid[0].any() and not valid[1].any() and torch.equal(tokens[0], tokens[1])
    assert guided.records[0].guidance_scale == 3.0
    tiny_pipe(**args, generator=_gen(), num_inference_steps=2, callback_on_step_end=final_latents(base_latents))
    assert not torch.allclose(guided_latents[-1], base_latents[-1])
    region = np.asarray(mask) >= 128
    assert np.array_equal(guided.images[0][~region], np.asarray(image)[~region])  # untouched stays untouched


def test_add_artist_from_references(tiny_pipe):
    refs = [_painting(64, 64, s) for s in range(3)]
    vec = tiny_pipe.add_artist("New Artist", refs)
    assert vec.shape == (16,) and abs(float(vec.norm()) - 1) < 1e-5
    out = tiny_pipe(image=_painting(64, 64), mask_image=_mask(64, 64, [(20, 20, 40, 40)]), artist="New Artist")
    assert out.records[0].style == "artist"
    del tiny_pipe.memory_bank.artist_vectors["New Artist"]


def test_callback_on_step_end_sees_every_step(tiny_pipe):
    seen = []

    def cb(pipe, step, timestep, kwargs):
        seen.append((kwargs["tile_index"], step, tuple(kwargs["latents"].shape)))
        return {}

    tiny_pipe(
        image=_painting(64, 64),
        mask_image=_mask(64, 64, [(8, 8, 20, 20)]),
        num_inference_steps=3,
        callback_on_step_end=cb,
    )
    assert [s[1] for s in seen] == [0, 1, 2] and seen[0][2][1] == 4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(image=_painting(64, 64).convert("RGBA")), "image: expected a PIL RGB"),
        (dict(mask_image=_mask(60, 64, [(1, 1, 5, 5)])), "mask_image: size"),
        (dict(mask_image=_mask(64, 64, [(1, 1, 5, 5)]).convert("RGB")), "mask_image: expected a PIL 'L'"),
        (dict(mask_image=_mask(64, 64, [])), "nothing to restore"),
        (dict(artist="Nobody"), "artist: 'Nobody' is unknown"),
        (dict(num_inference_steps=0), "num_inference_steps"),
        (dict(output_type="latent"), "output_type"),
        (dict(retrieval="nearest"), "retrieval"),
        (dict(fade_map=[None, None]), "fade_map: expected one per image"),
        (dict(fading="erase"), "fading: expected one of"),
        (dict(fading="invert"), "fading: 'invert' needs a varnish_estimator"),
        (dict(guidance_scale=-1.0), "guidance_scale: expected a number"),
        (dict(guidance_scale="3"), "guidance_scale: expected a number"),
    ],
)
def test_bad_inputs_raise_value_errors(tiny_pipe, kwargs, match):
    args = dict(image=_painting(64, 64), mask_image=_mask(64, 64, [(10, 10, 20, 20)]))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        tiny_pipe(**args)


def test_thin_damage_is_filled_in_pixel_space(tiny_pipe):
    from artrestore.hub.masked_fill import split_thin_damage

    image = _painting(120, 100)
    mask = np.zeros((100, 120), np.uint8)
    mask[50, 10:110] = 255  # a 1 px scratch
    mask[10:40, 10:40] = 255  # a 30 px loss
    thin = split_thin_damage(mask >= 128, 5)
    assert thin[50].sum() == 100 and not thin[10:40, 10:40].any()
    attached = mask.copy()
    attached[40:50, 20] = 255  # a crack from the loss down to the scratch joins them into one part
    assert not split_thin_damage(attached >= 128, 5).any()  # a part with a compact loss stays whole
    tiny_pipe.register_to_config(thin_damage_px=5)
    try:
        out = tiny_pipe(image=image, mask_image=PIL.Image.fromarray(mask), generator=_gen(), output_type="np")
    finally:
        tiny_pipe.register_to_config(thin_damage_px=0)
    res, src = out.images[0], np.asarray(image)
    assert out.records[0].thin_pixels_filled == 100
    assert np.array_equal(res[mask == 0], src[mask == 0]) and (res[mask > 0] != src[mask > 0]).any()
    # the scratch gets the colour of its neighbours
    assert np.abs(res[50, 20:100].astype(int) - src[49, 20:100].astype(int)).mean() < 25


def test_init_image_and_strength(tiny_pipe):
    image, mask = _painting(96, 96), _mask(96, 96, [(30, 30, 70, 60)])
    init = np.asarray(image).copy()
    init[30:60, 30:70] = (200, 40, 40)  # a first fill of the hole
    init_img = PIL.Image.fromarray(init)
    base = tiny_pipe(image=image, mask_image=mask, generator=_gen(), output_type="np").images[0]
    half = tiny_pipe(
        image=image, mask_image=mask, init_image=init_img, strength=0.5, generator=_gen(), output_type="np"
    )
    res, m = half.images[0], np.asarray(mask) >= 128
    assert np.array_equal(res[~m], np.asarray(image)[~m]) and not np.array_equal(res, base)
    assert half.records[0].init == "given, strength 0.5"
    off = ComponentSwitches(membrane_layout=False)
    none = tiny_pipe(image=image, mask_image=mask, init_image=init_img, strength=0.0, output_type="np", switches=off)
    assert np.array_equal(none.images[0], init) and none.records[0].tiles == 0  # no denoising: the fill itself
    for bad in (-0.1, 1.5, True):
        with pytest.raises(ValueError, match="strength"):
            tiny_pipe(image=image, mask_image=mask, init_image=init_img, strength=bad)
    with pytest.raises(ValueError, match="init_image"):
        tiny_pipe(image=image, mask_image=mask, init_image=init_img.resize((90, 96)))


def test_init_fill_left_alone_by_the_denoiser_comes_back_exactly(tiny_pipe):
    # when the denoiser leaves the init latents unchanged, the tile must be the init fill itself: the boundary
    # correction may only answer the denoiser's own edit, not add the decoder's error to an exact fill
    crop = np.asarray(_painting(64, 64, seed=3))
    mask = np.zeros((64, 64), np.float32)
    mask[20:44, 16:40] = 1
    z_init = tiny_pipe.encode_image(tiny_pipe._to_tensor(crop))  # the init fill is the painting itself

    def keep_init(pipe, step, timestep, kwargs):
        return {"latents": z_init}

    style, _ = tiny_pipe.encode_style(crop, mask > 0, ARTISTS[0])
    inputs = TileInputs(crop, mask, np.zeros_like(mask), crop, style, 0)
    settings = DenoiseSettings(
        artist=ARTISTS[0],
        retrieval="filter",
        top_k=0,
        num_inference_steps=2,
        generator=_gen(),
        strength=0.5,
        guidance_scale=1.0,
        switches=ComponentSwitches(),
        callback_on_step_end=keep_init,
    )
    restored, _ = tiny_pipe.denoise_tile(inputs, settings)
    assert tiny_pipe.config.boundary_correction
    np.testing.assert_allclose(restored, crop.astype(np.float32), atol=1e-2)


def test_init_fill_of_a_faded_hole_gets_the_colour_back(monkeypatch):
    # a first fill copies faded paint into the hole; the varnish inversion that restores the faded area around it
    # must restore the fill too, or the hole comes back in the faded colours
    pipe = build_tiny_pipeline(varnish=True)
    pipe.set_progress_bar_config(disable=True)
    image, mask = _painting(96, 96), _mask(96, 96, [(40, 40, 56, 56)])
    fade = np.zeros((96, 96), np.uint8)
    fade[20:80, 20:80] = 200  # the hole lies inside the faded area
    seen = []
    original = pipe.denoise_tile

    def spy(inputs, settings):
        seen.append((np.array(inputs.init), np.array(inputs.mask) > 0))  # the init crop and its hole
        return original(inputs, settings)

    monkeypatch.setattr(pipe, "denoise_tile", spy)
    src = np.asarray(image)
    pipe(
        image=image,
        mask_image=mask,
        fade_map=PIL.Image.fromarray(fade),
        init_image=image,
        strength=0.5,
        generator=_gen(),
        output_type="np",
        switches=ComponentSwitches(membrane_layout=False),  # the fill as the varnish inversion leaves it
    )
    x = torch.from_numpy(src / 255.0).permute(2, 0, 1)[None].float()  # (1, 3, h, w)
    m = np.asarray(mask) >= 128
    f_around = torch.from_numpy(np.where(m, 0, fade) / 255.0)[None, None].float()
    with torch.no_grad():
        params = pipe.varnish_estimator(x, f_around, torch.from_numpy(m.astype(np.float32))[None, None])
        expected = remove_varnish(x, torch.from_numpy(fade / 255.0)[None, None].float(), params)
    expected = np.round(expected[0].permute(1, 2, 0).numpy() * 255)
    init_crop, hole = seen[0]  # one tile; its hole pixels in the same (row-major) order as the painting's
    assert hole.sum() == m.sum()
    assert np.abs(init_crop[hole].astype(float) - expected[m]).max() <= 1
    assert np.abs(init_crop[hole].astype(float) - src[m]).mean() > 5  # not the faded paint


def test_inputs_that_would_fail_late_are_refused_before_any_denoising(tiny_pipe, monkeypatch):
    """Nothing undamaged to infer a style from, a string generator, an unbounded step count: each is a
    ``ValueError`` naming the argument, raised before the first tile is denoised."""
    monkeypatch.setattr(tiny_pipe, "denoise_tiles", lambda *a, **k: pytest.fail("denoised before refusing"))
    image = _painting(48, 40)
    white = PIL.Image.fromarray(np.full((40, 48), 255, np.uint8))
    with pytest.raises(ValueError, match="artist: image 0 has no undamaged pixel"):
        tiny_pipe(image=image, mask_image=white)
    one = PIL.Image.fromarray(np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(ValueError, match="no undamaged pixel"):
        tiny_pipe(image=one, mask_image=PIL.Image.fromarray(np.full((1, 1), 255, np.uint8)))
    mask = _mask(48, 40, [(5, 5, 15, 15)])
    with pytest.raises(ValueError, match="generator: expected a torch.Generator"):
        tiny_pipe(image=image, mask_image=mask, generator="7")
    with pytest.raises(ValueError, match=r"num_inference_steps: expected an integer in \[1, 200\]"):
        tiny_pipe(image=image, mask_image=mask, num_inference_steps=10_000)
    with pytest.raises(ValueError, match="artist: expected a name"):
        tiny_pipe(image=image, mask_image=mask, artist=3)


def test_artist_names_match_up_to_case_and_spaces_and_unknown_ones_get_suggestions(tiny_pipe):
    image, mask = _painting(48, 40), _mask(48, 40, [(5, 5, 15, 15)])
    out = tiny_pipe(image=image, mask_image=mask, artist=f"  {ARTISTS[0].upper()} ", generator=_gen())
    exact = tiny_pipe(image=image, mask_image=mask, artist=ARTISTS[0], generator=_gen())
    assert out.records[0].artist == ARTISTS[0]
    assert np.array_equal(np.asarray(out.images[0]), np.asarray(exact.images[0]))
    with pytest.raises(ValueError, match=f"artist: 'Ada Paintr' is unknown \\(closest: {ARTISTS[0]}") as err:
        tiny_pipe(image=image, mask_image=mask, artist="Ada Paintr")
    assert len(str(err.value)) < 200  # suggestions, not the whole list


def _refiner_pipe(layout_input: bool = False) -> tuple:
    from artrestore.hub.exemplar_refiner import ExemplarRefiner

    pipe = build_tiny_pipeline()
    pipe.set_progress_bar_config(disable=True)
    refiner = ExemplarRefiner(channels=(8, 16), style_dim=16, dilations=(2,), layout_input=layout_input).eval()
    return pipe, refiner


@pytest.mark.parametrize("layout_input", [False, True])
def test_exemplar_refiner_stage_is_the_identity_untrained_and_changes_only_the_hole_trained(tmp_path, layout_input):
    pipe, refiner = _refiner_pipe(layout_input)
    image, mask = _painting(96, 96), _mask(96, 96, [(30, 30, 70, 60)])
    init = np.asarray(image).copy()
    init[30:60, 30:70] = (200, 40, 40)
    kwargs = dict(image=image, mask_image=mask, init_image=PIL.Image.fromarray(init), strength=0.3, output_type="np")
    plain = pipe(**kwargs, generator=_gen()).images[0]
    pipe.register_modules(exemplar_refiner=refiner)
    assert np.array_equal(pipe(**kwargs, generator=_gen()).images[0], plain)  # identity before training
    torch.manual_seed(0)
    for p in refiner.parameters():  # a stand-in for a trained refiner
        p.data.normal_(0, 0.2)
    plan = pipe.prepare_damage(np.asarray(image), mask, None, PIL.Image.fromarray(init), fading="diffuse")
    style, _ = pipe.prepare_style(plan, None, ComponentSwitches())
    refined = np.asarray(pipe.refine_exemplar(plan, style, ComponentSwitches()).init)
    m = np.asarray(mask) >= 128
    assert np.array_equal(refined[~plan.region], init[~plan.region]) and (refined[m] != init[m]).any()
    changed = pipe(**kwargs, generator=_gen()).images[0]
    assert np.array_equal(changed[~m], np.asarray(image)[~m]) and not np.array_equal(changed, plain)
    off = pipe(**kwargs, generator=_gen(), switches=ComponentSwitches(exemplar_refiner=False)).images[0]
    assert np.array_equal(off, plain)  # switched off: the fill as given
    pipe.save_pretrained(tmp_path / "model", safe_serialization=True)
    loaded = type(pipe).from_pretrained(tmp_path / "model")
    state = loaded.exemplar_refiner.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in refiner.state_dict().items())  # saved and loaded as a component


def test_membrane_layout_stage_moves_only_the_fills_broad_colours_towards_its_border():
    pipe = build_tiny_pipeline()
    pipe.set_progress_bar_config(disable=True)
    image, mask = _painting(96, 96), _mask(96, 96, [(20, 20, 76, 76)])  # wide enough for a 2 x 16 px square
    init = np.asarray(image).copy()
    init[20:76, 20:76] = (200, 40, 40)  # a fill whose colour the border does not continue
    kwargs = dict(image=image, mask_image=mask, init_image=PIL.Image.fromarray(init), strength=0.0, output_type="np")
    on = pipe(**kwargs).images[0]
    off = pipe(**kwargs, switches=ComponentSwitches(membrane_layout=False)).images[0]
    m = np.asarray(mask) >= 128
    assert np.array_equal(on[~m], np.asarray(image)[~m]) and np.array_equal(off, init)
    border = np.asarray(image)[10:86, 10:86][~m[10:86, 10:86]].mean(0)  # the paint around the hole
    moved = np.abs(on[m].mean(0) - border).sum()
    assert moved < np.abs(init[m].mean(0) - border).sum() - 30  # half the layout: well towards the border
    pipe.register_to_config(layout_weight=0.0)
    assert np.array_equal(pipe(**kwargs).images[0], init)  # weight 0: the stage passes the fill unchanged
    for bad in (-0.1, 1.5, True):
        with pytest.raises(ValueError, match="layout_weight"):
            build_tiny_pipeline(layout_weight=bad)


def test_a_refiner_of_another_style_size_is_refused_before_any_work():
    from artrestore.hub.exemplar_refiner import ExemplarRefiner

    pipe, _ = _refiner_pipe()
    pipe.register_modules(exemplar_refiner=ExemplarRefiner(channels=(8, 16), style_dim=8, dilations=(2,)))
    image, mask = _painting(64, 64), _mask(64, 64, [(10, 10, 30, 30)])
    with pytest.raises(ValueError, match="exemplar_refiner: its style_dim 8"):
        pipe(image=image, mask_image=mask, init_image=image, strength=0.5)
    pipe(image=image, mask_image=mask, num_inference_steps=1)  # without an init fill the refiner is not used


def test_the_shipped_default_is_the_refined_exemplar_fill_without_denoising(tmp_path):
    """default_strength 0: the pipeline makes its own PatchMatch fill, the refiner corrects it, nothing is denoised."""
    from artrestore.hub.exemplar_fill import patchmatch_available, patchmatch_fill
    from artrestore.hub.exemplar_refiner import ExemplarRefiner
    from artrestore.hub.membrane_layout import blend_membrane_layout

    if not patchmatch_available():
        pytest.skip("pypatchmatch is not installed")
    pipe = build_tiny_pipeline(default_strength=0.0)
    pipe.set_progress_bar_config(disable=True)
    image, mask = _painting(96, 96), _mask(96, 96, [(30, 30, 70, 60)])
    m = np.asarray(mask) >= 128
    out = pipe(image=image, mask_image=mask, output_type="np")
    record = out.records[0]
    assert (record.init, record.tiles, record.refined, out.attributions[0]) == (
        "patchmatch, strength 0",
        0,
        False,
        None,
    )
    first = patchmatch_fill(np.asarray(image), m)
    layout = dict(sigma=pipe.config.layout_sigma, weight=pipe.config.layout_weight)
    assert np.array_equal(out.images[0], blend_membrane_layout(first, m, **layout))  # no refiner: the fill itself
    assert record.layout_weight == pipe.config.layout_weight > 0
    refiner = ExemplarRefiner(channels=(8, 16), style_dim=16, dilations=(2,)).eval()
    torch.manual_seed(0)
    for p in refiner.parameters():  # a stand-in for a trained refiner
        p.data.normal_(0, 0.2)
    pipe.register_modules(exemplar_refiner=refiner)
    refined = pipe(image=image, mask_image=mask, output_type="np")
    res = refined.images[0]
    assert refined.records[0].refined and np.array_equal(res[~m], np.asarray(image)[~m])
    assert not np.array_equal(res, out.images[0])
    assert np.array_equal(pipe(image=image, mask_image=mask, output_type="np").images[0], res)  # deterministic
    denoised = pipe(image=image, mask_image=mask, strength=0.5, generator=_gen(), output_type="np")
    assert denoised.records[0].init == "patchmatch, strength 0.5" and denoised.records[0].tiles == 1
    noise = pipe(image=image, mask_image=mask, strength=1.0, generator=_gen(), output_type="np")
    assert noise.records[0].init is None and not noise.records[0].refined  # from noise: no first fill is made
    pipe.save_pretrained(tmp_path / "model", safe_serialization=True)
    assert type(pipe).from_pretrained(tmp_path / "model").config.default_strength == 0.0


def test_strength_zero_needs_a_first_fill_and_inverted_fading(monkeypatch):
    from artrestore.hub import pipeline_artrestore

    image, mask = _painting(64, 64), _mask(64, 64, [(10, 10, 30, 30)])
    fade_map = np.zeros((64, 64), np.uint8)
    fade_map[40:60, 40:60] = 90
    fade = PIL.Image.fromarray(fade_map)
    none = build_tiny_pipeline(default_strength=0.0)
    none.register_to_config(exemplar_fill="none")
    with pytest.raises(ValueError, match="strength: 0 \\(no denoising\\) needs a first fill"):
        none(image=image, mask_image=mask)
    pipe = build_tiny_pipeline(default_strength=0.0)
    with pytest.raises(ValueError, match="strength: 0 .* fading='invert'"):
        pipe(image=image, mask_image=mask, fade_map=fade)  # no varnish estimator: faded areas need denoising
    monkeypatch.setattr(pipeline_artrestore, "patchmatch_available", lambda: False)
    with pytest.raises(ValueError, match="init_image: .* pypatchmatch is not installed"):
        pipe(image=image, mask_image=mask)
    pipe(image=image, mask_image=mask, init_image=image)  # a given fill needs no PatchMatch
    with pytest.raises(ValueError, match="exemplar_fill"):
        build_tiny_pipeline().__class__(**{**_components(pipe), "exemplar_fill": "lama"})
    with pytest.raises(ValueError, match="refiner_precision: expected one of"):
        build_tiny_pipeline().__class__(**{**_components(pipe), "refiner_precision": "half"})


def _components(pipe) -> dict:
    return {name: getattr(pipe, name) for name in pipe.components}


def test_the_palette_moves_the_losses_and_leaves_cracks_the_colours_of_their_paint():
    from .test_artist_recogniser import build_tiny_recogniser

    pipe = build_tiny_pipeline(default_strength=0.0, thin_damage_px=9)
    pipe.set_progress_bar_config(disable=True)
    image = _painting(96, 96)
    # a loss with a thin branch 5 px wide, and a separate crack 6 px wide (hairlines: under 4 px)
    mask = _mask(96, 96, [(30, 20, 70, 50), (70, 30, 90, 35), (10, 80, 90, 86)])
    m = np.asarray(mask) >= 128
    loss = np.zeros_like(m)
    loss[20:50, 30:70] = True
    crack = m & ~loss  # the branch and the crack
    init = np.asarray(image).copy()
    init[m] = (120, 110, 100)
    kwargs = dict(image=image, mask_image=mask, init_image=PIL.Image.fromarray(init), output_type="np")
    plain = pipe(**kwargs, artist=ARTISTS[1]).images[0]
    pipe.register_modules(artist_recogniser=build_tiny_recogniser(np.asarray(image)))
    named = pipe(**kwargs, artist=ARTISTS[1])  # the painting looks like the other artist: the palette moves
    assert named.records[0].palette is not None
    assert (named.images[0][loss] != plain[loss]).any()
    assert np.array_equal(named.images[0][crack], plain[crack])  # restored, but not moved to the palette
    assert not np.array_equal(plain[crack], np.asarray(image)[crack])
    assert (named.images[0][loss] != plain[loss]).all(-1).mean() > 0.9  # the whole body of the loss moved


def test_from_pretrained_takes_a_component_the_folder_lacks(tmp_path):
    from artrestore.hub.exemplar_refiner import ExemplarRefiner

    pipe = build_tiny_pipeline()
    pipe.save_pretrained(tmp_path / "model", safe_serialization=True)
    refiner = ExemplarRefiner(channels=(8, 16), style_dim=16, dilations=(2,)).eval()
    loaded = type(pipe).from_pretrained(tmp_path / "model", exemplar_refiner=refiner)
    assert loaded.exemplar_refiner is refiner


def test_a_named_artist_the_painting_does_not_look_like_gets_its_palette_in_the_fill_only(tmp_path):
    from .test_artist_recogniser import build_tiny_recogniser

    pipe = build_tiny_pipeline(default_strength=0.0)
    pipe.set_progress_bar_config(disable=True)
    image, mask = _painting(96, 96), _mask(96, 96, [(30, 30, 70, 60)])
    m = np.asarray(mask) >= 128
    init = np.asarray(image).copy()
    init[m] = (120, 110, 100)
    kwargs = dict(image=image, mask_image=mask, init_image=PIL.Image.fromarray(init), output_type="np")
    plain = {a: pipe(**kwargs, artist=a).images[0] for a in ARTISTS}
    pipe.register_modules(artist_recogniser=build_tiny_recogniser(np.asarray(image)))
    own = pipe(**kwargs, artist=ARTISTS[0])  # the painting looks like its artist: a reconstruction, unchanged
    assert np.array_equal(own.images[0], plain[ARTISTS[0]]) and own.records[0].palette is None
    other = pipe(**kwargs, artist=ARTISTS[1])
    res = other.images[0]
    assert other.records[0].palette["from"] == ARTISTS[0] and other.records[0].palette["to"] == ARTISTS[1]
    assert np.array_equal(res[~m], np.asarray(image)[~m]) and (res[m] != plain[ARTISTS[1]][m]).any()
    assert res[m].mean(0)[2] > plain[ARTISTS[1]][m].mean(0)[2]  # towards the bluer palette of the named artist
    for switches in (ComponentSwitches(artist_palette=False), ComponentSwitches(style=False)):
        off = pipe(**kwargs, artist=ARTISTS[1], switches=switches)
        assert off.records[0].palette is None
    assert np.array_equal(
        pipe(**kwargs, artist=ARTISTS[1], switches=ComponentSwitches(artist_palette=False)).images[0],
        plain[ARTISTS[1]],
    )
    assert pipe(**kwargs).records[0].palette is None  # no artist named: nothing to follow
    noise = pipe(image=image, mask_image=mask, artist=ARTISTS[1], strength=1.0, generator=_gen())
    assert noise.records[0].palette is None  # from noise there is no first fill to change
    pipe.save_pretrained(tmp_path / "model", safe_serialization=True)
    loaded = type(pipe).from_pretrained(tmp_path / "model")
    assert loaded.artist_recogniser.artist_names == pipe.artist_recogniser.artist_names

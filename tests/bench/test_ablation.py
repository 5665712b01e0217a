"""Every ablation variant is a real change: it changes the restoration of the tiny model."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from artrestore.bench.ablation import ABLATIONS, ablation, true_artist_closer_share, wrong_artist_auc
from artrestore.bench.harness import certify_outputs
from artrestore.bench.model_method import _NAME, _ablation_fn, is_model_method, wrong_artist
from artrestore.restore import restore_artwork
from tests.hub.conftest import ARTISTS, build_tiny_pipeline


@pytest.fixture(scope="module")
def pipe():
    p = build_tiny_pipeline(varnish=True)
    p.set_progress_bar_config(disable=True)
    return p


@pytest.fixture(scope="module")
def refined_pipe():
    """The shipped default path: a PatchMatch first fill, corrected by a (randomly trained) refiner, no denoising."""
    from artrestore.hub import ExemplarRefiner

    p = build_tiny_pipeline(varnish=True, default_strength=0.0)
    p.set_progress_bar_config(disable=True)
    p.register_to_config(layout_sigma=8.0)  # a layout scale the test's 30 px hole holds (a 16 px square fits)
    torch.manual_seed(0)
    refiner = ExemplarRefiner(channels=(8, 16), style_dim=16, dilations=(2,)).eval()
    torch.nn.init.normal_(refiner.out.weight, std=0.1)  # no longer the identity
    p.register_modules(exemplar_refiner=refiner)
    from tests.hub.test_artist_recogniser import build_tiny_recogniser

    recogniser = build_tiny_recogniser(_case()[0])  # the test painting looks like the first artist...
    recogniser.centroids[[0, 1]] = recogniser.centroids[[1, 0]].clone()  # ...now like the second, not the named one
    p.register_modules(artist_recogniser=recogniser)
    return p


def _case():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)
    mask = np.zeros((64, 80), bool)
    mask[10:40, 10:40] = True
    fade = np.zeros((64, 80), np.float32)
    fade[40:60, 45:75] = 0.7
    return img, mask, fade


def _run(pipe, name, init="none", strength=1.0):
    fn = _ablation_fn(pipe, name, pipe.scheduler, None, init, strength, None, restore_artwork, ablation)
    img, mask, fade = _case()
    return fn(img, mask, fade, artist=ARTISTS[0])


def test_at_least_eleven_variants_besides_full():
    assert len([n for n in ABLATIONS if n != "full"]) >= 11


def test_ablate_runs_every_variant_by_default():
    from artrestore.config import AblateConfig

    assert sorted(AblateConfig().variants.split(",")) == sorted(ABLATIONS)


@pytest.mark.parametrize("name", [n for n in ABLATIONS if n != "full"])
def test_variant_changes_the_output(pipe, refined_pipe, name):
    run = _run
    if name in ("no_refiner", "no_membrane_layout", "no_artist_palette"):  # the first fill at the default strength 0
        pipe, run = refined_pipe, functools.partial(_run, init=None, strength=None)
    full = run(pipe, "full")
    variant = run(pipe, name)
    assert variant.shape == full.shape
    assert np.abs(variant.astype(int) - full.astype(int)).sum() > 0, f"{name} changes nothing"
    again = run(pipe, "full")  # the change is undone after the variant
    np.testing.assert_array_equal(again, full)


def test_only_no_compositing_touches_undamaged_pixels(pipe):
    img, mask, fade = _case()
    untouched = ~(mask | (fade > 0))
    for name in ("full", "no_film", "no_compositing"):
        out = _run(pipe, name)
        changed = (out != img).any(-1) & untouched
        assert changed.any() == (name == "no_compositing")


def test_wrong_artist_is_another_bank_artist(pipe):
    assert wrong_artist(pipe, ARTISTS[0]) == ARTISTS[1]


def test_unknown_variant_is_rejected():
    with pytest.raises(ValueError, match="ablation"):
        ablation("no_such_thing")


def test_ablation_methods_carry_the_strength_and_guidance_to_every_variant():
    from artrestore.bench.ablation import ablation_methods
    from artrestore.config import AblateConfig

    config = AblateConfig(variants="no_style", baselines="patchmatch", strength=1.0)
    prefix, methods, left_out = ablation_methods(config, default_strength=0.0)
    assert prefix == "~1" and methods == ["artrestore~1!full", "artrestore~1!no_style", "patchmatch"]
    assert _NAME.match(methods[1])["strength"] == "1" and not left_out
    config = AblateConfig(variants="full", baselines="", guidance_scale=3.0)
    _, methods, _ = ablation_methods(config, default_strength=0.0)
    assert methods == ["artrestore^3!full"]
    config = AblateConfig(variants="full", baselines="", strength=0.5, guidance_scale=2)
    m = _NAME.match(ablation_methods(config, default_strength=0.0)[1][0])
    assert m["strength"] == "0.5" and m["guidance"] == "2"
    with pytest.raises(ValueError, match="strength"):
        ablation_methods(AblateConfig(variants="full", strength=1.5), default_strength=0.0)


def test_variants_that_denoise_are_left_out_where_nothing_is_denoised():
    from artrestore.bench.ablation import ablation_methods
    from artrestore.config import AblateConfig

    denoising = [n for n, a in ABLATIONS.items() if a.denoises]
    assert "no_varnish_inversion" in denoising
    config = AblateConfig(variants="no_style,no_varnish_inversion", baselines="")
    _, methods, left_out = ablation_methods(config, default_strength=0.0)  # the shipped default: nothing denoised
    assert left_out == ["no_varnish_inversion"] and methods == ["artrestore!full", "artrestore!no_style"]
    _, methods, left_out = ablation_methods(config, default_strength=1.0)
    assert not left_out and "artrestore!no_varnish_inversion" in methods
    config = AblateConfig(variants="no_varnish_inversion", baselines="", strength=0.0)
    assert ablation_methods(config, default_strength=1.0)[2] == ["no_varnish_inversion"]


def test_the_ablation_reads_the_model_folders_default_strength(tmp_path):
    import json

    from artrestore.bench.ablation import model_default_strength
    from artrestore.hub.settings import PipelineSettings

    (tmp_path / "model_index.json").write_text(json.dumps({"default_strength": 0.4}))
    assert model_default_strength(str(tmp_path)) == 0.4
    assert model_default_strength(str(tmp_path / "absent")) == PipelineSettings.default_strength


def test_the_default_ablation_at_strength_0_refuses_no_variant(refined_pipe):
    """Every variant the ablation runs at the shipped strength 0 is a call the pipeline accepts."""
    from artrestore.bench.ablation import ablation_methods
    from artrestore.config import AblateConfig

    _, methods, _ = ablation_methods(AblateConfig(baselines=""), default_strength=0.0)
    for method in methods:
        out = _run(refined_pipe, method.removeprefix("artrestore!"), init=None, strength=None)
        assert out.shape == _case()[0].shape


def test_guidance_suffix_in_method_names():
    m = _NAME.match("artrestore^2.5!wrong_artist")
    assert m and m["guidance"] == "2.5" and m["ablation"] == "wrong_artist" and is_model_method("artrestore^3")
    assert _NAME.match("artrestore@dpm8~0.5^3")["guidance"] == "3"
    assert _NAME.match("artrestore^x") is None


def _records(field_values):
    rows = []
    for i, (right, wrong) in enumerate(field_values):
        for method, (issued, true) in (("artrestore!full", right), ("artrestore!wrong_artist", wrong)):
            rows.append(
                {
                    "painting": f"p{i}",
                    "kind": "large_loss",
                    "method": method,
                    "issued_style_distance": issued,
                    "style_distance": true,
                }
            )
    return rows


def test_wrong_artist_auc_pairs_by_painting_and_reads_the_chosen_certificate():
    # issued certificates separate perfectly; against the true artist the wrong restorations are no farther
    records = _records([((1.0, 1.0), (3.0, 1.0)), ((2.0, 2.0), (4.0, 1.5)), ((1.5, 1.5), (2.5, 1.4))])
    assert wrong_artist_auc(records, "artrestore!", "issued_style_distance") == (1.0, 3)
    auc, pairs = wrong_artist_auc(records, "artrestore!", "style_distance")
    assert pairs == 3 and auc < 0.5
    records.append(
        {
            "painting": "p9",
            "kind": "large_loss",
            "method": "artrestore!full",
            "issued_style_distance": 9.0,
            "style_distance": 9.0,
        }
    )  # unpaired: ignored
    assert wrong_artist_auc(records, "artrestore!", "issued_style_distance") == (1.0, 3)
    assert wrong_artist_auc([], "artrestore!", "style_distance") == (None, 0)
    # against the true artist: right 1.0 < wrong 1.0? tie (half); 2.0 > 1.5 and 1.5 > 1.4: farther
    assert true_artist_closer_share(records, "artrestore!") == (pytest.approx(1 / 6), 3)
    assert true_artist_closer_share([], "artrestore!") == (None, 0)


class _Certificate:
    def __init__(self, distance):
        self.violation_rate, self.distances = float(distance > 1), [distance]


class _Certifier:
    artist_names = ["A", "B"]

    def certify(self, image, region, artist):
        return _Certificate({"A": 0.5, "B": 2.0}[artist] + float(image.mean()))


def test_certify_outputs_adds_the_issued_certificate_of_a_deliberately_wrong_artist():
    from artrestore.damage import DamageSimulator

    img = np.zeros((32, 32, 3), np.uint8)
    sample = DamageSimulator().simulate(img, "large_loss", 0)
    right, wrong, unknown = certify_outputs(_Certifier(), sample, [img, img, img], "A", [None, "B", "Z"])
    assert right["issued_style_distance"] == right["style_distance"] == 0.5
    assert wrong["style_distance"] == 0.5 and wrong["issued_style_distance"] == 2.0 and wrong["issued_violation"] == 1
    assert np.isnan(unknown["issued_style_distance"]) and unknown["style_distance"] == 0.5
    assert all(np.isnan(r["style_distance"]) for r in certify_outputs(None, sample, [img], "A"))


def test_wrong_artist_choice_is_made_once_for_the_restoration_and_its_certificate(pipe, monkeypatch):
    import artrestore.bench.model_method as mm

    calls = []

    def counting(p, artist, min_patches=100):
        calls.append(artist)
        return ARTISTS[1]

    monkeypatch.setattr(mm, "wrong_artist", counting)
    import artrestore.restore as restore_module

    monkeypatch.setattr(restore_module, "load_pipeline", lambda model, threads: pipe)
    mm.register_model_methods(["artrestore!wrong_artist"], "unused")
    method = mm._REGISTRY.pop("artrestore!wrong_artist")
    img, mask, fade = _case()
    method.fn(img, mask, fade, artist=ARTISTS[0])
    assert method.conditioning(ARTISTS[0]) == ARTISTS[1]
    assert calls == [ARTISTS[0]]


def test_bench_can_swap_in_a_trained_exemplar_refiner(pipe, monkeypatch, tmp_path):
    import artrestore.bench.model_method as mm
    import artrestore.restore as restore_module
    from artrestore.hub import ExemplarRefiner

    monkeypatch.setattr(restore_module, "load_pipeline", lambda model, threads: pipe)
    with pytest.raises(ValueError, match="refiner"):
        mm.register_model_methods(["artrestore+patchmatch"], "unused", refiner=str(tmp_path / "none"))
    ExemplarRefiner(channels=(8, 16), style_dim=16, dilations=(2,)).save_pretrained(tmp_path / "refiner")
    mm.register_model_methods(["artrestore+patchmatch"], "unused", refiner=str(tmp_path / "refiner"))
    mm._REGISTRY.pop("artrestore+patchmatch")
    assert isinstance(pipe.exemplar_refiner, ExemplarRefiner)
    pipe.register_modules(exemplar_refiner=None)  # the fixture is shared


def test_refiner_alone_is_the_patchmatch_fill_until_trained(pipe, monkeypatch):
    import artrestore.bench.model_method as mm
    import artrestore.restore as restore_module
    from artrestore.baselines.registry import get_method
    from artrestore.hub import ExemplarRefiner

    monkeypatch.setattr(restore_module, "load_pipeline", lambda model, threads: pipe)
    with pytest.raises(ValueError, match="exemplar_refiner"):
        mm.register_model_methods(["artrestore-refiner"], "unused")
    pipe.register_modules(exemplar_refiner=ExemplarRefiner(channels=(8, 16), style_dim=16, dilations=(2,)).eval())
    try:
        mm.register_model_methods(["artrestore-refiner"], "unused")
        method = mm._REGISTRY.pop("artrestore-refiner")
        img, mask, fade = _case()
        out = method.fn(img, mask, np.zeros_like(fade))
        expected = get_method("patchmatch").fn(img, mask, np.zeros_like(fade))
        np.testing.assert_array_equal(out, expected)  # untrained: the identity on the fill
        for p in pipe.exemplar_refiner.parameters():
            p.data.normal_(0, 0.2)
        out = method.fn(img, mask, np.zeros_like(fade))
        assert np.array_equal(out[~mask], img[~mask]) and not np.array_equal(out, expected)
    finally:
        pipe.register_modules(exemplar_refiner=None)

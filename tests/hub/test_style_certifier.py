"""StyleCertifier: certificates are JSON-serialisable, follow the thresholds, and save/load exactly."""

from __future__ import annotations

import json

import numpy as np
import PIL.Image
import pytest
import torch

from artrestore.hub import StyleCertificate, StyleCertifier
from tests.hub.conftest import ARTISTS, build_tiny_certifier, build_tiny_pipeline


@pytest.fixture(scope="module")
def certifier() -> StyleCertifier:
    return build_tiny_certifier()


def _painting(seed=0, size=(96, 64)):
    return np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)


def test_certificate_fields_follow_the_threshold(certifier):
    img = _painting()
    region = np.zeros(img.shape[:2], bool)
    region[10:60, 5:90] = True
    cert = certifier.certify(img, region, ARTISTS[1])
    assert isinstance(cert, StyleCertificate)
    assert cert.artist == ARTISTS[1] and cert.artist_source == "given" and cert.head_version == "test"
    assert cert.threshold == pytest.approx(0.6) and cert.threshold_kind == "artist"
    assert cert.blocks and all(b.restored_share >= 0.2 for b in cert.blocks)
    assert [b.violation for b in cert.blocks] == [b.distance > cert.threshold for b in cert.blocks]
    assert cert.violation_rate == pytest.approx(np.mean([b.violation for b in cert.blocks]))
    assert cert.passed == (cert.violation_rate <= cert.max_violation_rate)
    data = json.loads(json.dumps(cert.to_json()))
    assert data["embedding"].startswith("VGG16") and len(data["blocks"]) == len(cert.blocks)


def test_distances_are_cosine_to_the_centroid(certifier):
    img = _painting(1, (32, 32))
    emb = certifier.embed(torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255)
    centroid = torch.nn.functional.normalize(certifier.centroids[0], dim=0)
    assert float(certifier.distances(emb, ARTISTS[0])[0]) == pytest.approx(float(1 - emb[0] @ centroid), abs=1e-6)


def test_thin_region_still_certifies_its_fullest_block(certifier):
    img = _painting(2)
    region = np.zeros(img.shape[:2], bool)
    region[40, 3:20] = True  # far below min_restored_share everywhere
    cert = certifier.certify(img, region, ARTISTS[0])
    assert len(cert.blocks) == 1 and cert.blocks[0].box == (0, 32, 32, 64)


def test_inferred_and_reference_artists(certifier):
    img = _painting(3)
    region = np.zeros(img.shape[:2], bool)
    region[:32, :32] = True
    assert certifier.certify(img, region, None).artist_source == "inferred"
    cert = build_tiny_certifier()
    cert.add_artist("New Hand", [_painting(4), _painting(5)])
    c = cert.certify(img, region, "New Hand")
    # two references cannot calibrate a threshold: the certificate says so and gives no verdict
    assert c.artist_source == "references" and c.threshold_kind == "uncalibrated" and c.passed is None
    assert not any(b.violation for b in c.blocks) and "uncalibrated" in c.summary and "uncalibrated" in c.guarantee
    assert json.loads(json.dumps(c.to_json()))["violation_rate"] is None
    cert.add_artist("Well Known Hand", [_painting(10 + i) for i in range(5)])
    c = cert.certify(img, region, "Well Known Hand")
    assert c.threshold_kind == "references" and np.isfinite(c.threshold) and c.passed in (True, False)
    assert "5 reference images" in c.guarantee


def test_errors_name_the_argument(certifier):
    img = _painting()
    with pytest.raises(ValueError, match="artist"):
        certifier.certify(img, np.ones(img.shape[:2], bool), "Nobody")
    with pytest.raises(ValueError, match="region"):
        certifier.certify(img, np.zeros(img.shape[:2], bool), ARTISTS[0])


def test_save_and_load_round_trip(certifier, tmp_path):
    certifier.save_pretrained(str(tmp_path))
    back = StyleCertifier.from_pretrained(str(tmp_path))
    assert back.artist_names == certifier.artist_names and back.artist_kinds == certifier.artist_kinds
    torch.testing.assert_close(back.centroids, certifier.centroids)
    torch.testing.assert_close(back.thresholds, certifier.thresholds)
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(back.embed(x), certifier.embed(x))


def test_pipeline_fills_certificates():
    pipe = build_tiny_pipeline(certifier=True)
    pipe.set_progress_bar_config(disable=True)
    img = PIL.Image.fromarray(_painting(6))
    m = np.zeros((64, 96), np.uint8)
    m[10:40, 20:60] = 255
    out = pipe(img, PIL.Image.fromarray(m), artist=ARTISTS[0], generator=torch.Generator().manual_seed(0))
    cert = out.certificates[0]
    assert isinstance(cert, StyleCertificate) and cert.artist == ARTISTS[0]
    # the certificate is of the restored image's region
    direct = pipe.style_certifier.certify(np.asarray(out.images[0]), m > 0, ARTISTS[0])
    assert cert.distances == pytest.approx(direct.distances)
    assert pipe(img, PIL.Image.fromarray(m), certify=False).certificates == [None]
    refs = [PIL.Image.fromarray(_painting(7)), PIL.Image.fromarray(_painting(8))]
    pipe.add_artist("Added Hand", refs)  # the certifier learns the new artist too
    again = pipe(img, PIL.Image.fromarray(m), artist="Added Hand", generator=torch.Generator().manual_seed(0))
    assert again.certificates[0].artist_source == "references"


def test_the_inferred_artist_comes_from_the_painting_before_restoration():
    """With no artist named, the certificate's artist is inferred (beside the fill) from the unrestored painting,
    its losses filled smoothly: the restoration cannot sway it, and it does not change the restoration."""
    from artrestore.hub.masked_fill import pushpull_fill

    pipe = build_tiny_pipeline(certifier=True)
    pipe.set_progress_bar_config(disable=True)
    img = _painting(9)
    m = np.zeros((64, 96), bool)
    m[10:40, 20:60] = True
    mask = PIL.Image.fromarray(m.astype(np.uint8) * 255)
    out = pipe(PIL.Image.fromarray(img), mask, generator=torch.Generator().manual_seed(0))
    cert = out.certificates[0]
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    filled = pushpull_fill(x, torch.from_numpy(m)[None, None].float())[0].permute(1, 2, 0)
    before = filled.round().clamp(0, 255).to(torch.uint8).numpy()
    assert cert.artist_source == "inferred" and cert.artist == pipe.style_certifier.infer_artist(before, m)
    direct = pipe.style_certifier.certify(np.asarray(out.images[0]), m, cert.artist)
    assert cert.distances == pytest.approx(direct.distances)  # certified on the restoration
    plain = pipe(PIL.Image.fromarray(img), mask, generator=torch.Generator().manual_seed(0), certify=False)
    assert np.array_equal(np.asarray(plain.images[0]), np.asarray(out.images[0]))
    certifier = pipe.style_certifier
    other = next(a for a in certifier.artist_names if a != cert.artist)
    passed = certifier.certify(np.asarray(out.images[0]), m, other, inferred=True)
    assert passed.artist == other and passed.artist_source == "inferred"


def test_vgg_weights_are_stored_in_half_precision(certifier, tmp_path):
    from safetensors.torch import load_file

    before = certifier.features.convs[0].weight.clone()
    certifier.save_pretrained(str(tmp_path))
    assert torch.equal(certifier.features.convs[0].weight, before)  # the live model is untouched
    (weights,) = tmp_path.glob("*.safetensors")
    saved = load_file(str(weights))
    assert saved["features.convs.0.weight"].dtype == torch.float16 and saved["centroids"].dtype == torch.float32
    back = StyleCertifier.from_pretrained(str(tmp_path))
    assert back.features.convs[0].weight.dtype == torch.float32


def test_the_certificate_speaks_plainly(certifier):
    img = _painting(20)
    region = np.zeros(img.shape[:2], bool)
    region[:40, :40] = True
    cert = build_tiny_certifier()
    i = cert.artist_index(ARTISTS[0])
    d = float(np.median(cert.certify(img, region, ARTISTS[0]).distances))
    # genuine distances spread around the restoration's: 9 in 10 are at least as far
    cert.genuine_quantiles[i] = torch.linspace(d - 0.1, d + 0.9, 21)
    c = cert.certify(img, region, ARTISTS[0])
    assert c.closeness == pytest.approx(0.9, abs=1e-3)
    assert c.summary.startswith(f"The restored area is as close to {ARTISTS[0]}'s style as 9 in 10 genuine")
    assert ("passes" if c.passed else "fails") in c.summary
    cert.genuine_quantiles[i] = torch.linspace(d - 1.0, d - 0.5, 21)  # every genuine passage is closer
    assert "farther from" in cert.certify(img, region, ARTISTS[0]).summary


def test_large_images_are_certified_at_the_working_size(certifier):
    big = np.kron(_painting(21, (48, 32)), np.ones((4, 4, 1), np.uint8))  # (128, 192, 3), blocky
    region = np.zeros(big.shape[:2], bool)
    region[8:120, 8:100] = True
    cert = build_tiny_certifier()
    cert.register_to_config(working_side=96)
    c = cert.certify(big, region, ARTISTS[0])
    view, share = cert.working_view(big, region)
    assert view.shape == (64, 96, 3) and share.shape == (64, 96)
    expected = cert.distances(cert._embed_blocks(view, [b for b, _ in cert.select_blocks(share)]), ARTISTS[0])
    assert c.distances == pytest.approx(expected.tolist())
    assert all(0 <= b.box[0] < b.box[2] <= 192 and 0 <= b.box[1] < b.box[3] <= 128 for b in c.blocks)
    assert max(b.box[2] for b in c.blocks) > 96  # boxes are in the certified image's pixels


def test_painting_weighted_threshold_weighs_paintings_equally():
    from artrestore.hub.style_certifier import painting_weighted_threshold

    # 19 paintings with one low score each, and one painting with 100 high scores
    scores = np.concatenate([np.linspace(0.1, 0.2, 19), np.full(100, 0.9)])
    paintings = np.concatenate([np.arange(19), np.full(100, 99)])
    # at alpha 0.1 one painting in 20 may exceed: the many blocks of one painting do not drag the threshold up
    assert painting_weighted_threshold(scores, paintings, 0.1) == pytest.approx(0.2)
    assert painting_weighted_threshold(scores, paintings, 0.05) == pytest.approx(0.9)  # 0.95 * 21 / 20 > 19 / 20
    assert painting_weighted_threshold(scores[:3], paintings[:3], 0.05) == float("inf")  # too few paintings
    with pytest.raises(ValueError, match="alpha"):
        painting_weighted_threshold(scores, paintings, 1.5)


def test_renaming_keeps_the_calibrated_threshold_of_a_merged_artist():
    cert = build_tiny_certifier()
    cert.set_artist("A. Person", torch.randn(16))  # pooled
    before = float(cert.thresholds[cert.artist_index(ARTISTS[1])])
    cert.rename_artists({"A. Person": ARTISTS[1], ARTISTS[0]: "Renamed"})
    assert sorted(cert.artist_names) == sorted(["Renamed", ARTISTS[1]])
    assert float(cert.thresholds[cert.artist_index(ARTISTS[1])]) == pytest.approx(before)
    assert cert.artist_kinds[cert.artist_index(ARTISTS[1])] == "artist" and cert.centroids.shape[0] == 2
    assert cert.config.artists == cert.artist_names


def test_the_guarantee_says_what_it_was_checked_on():
    cert = build_tiny_certifier()
    record = {"heldout_paintings": 4, "heldout_rate": 0.05, "heldout_low": 0.0, "heldout_high": 0.12}
    cert.artist_calibration[cert.artist_index(ARTISTS[1])] = {**record, "scope": "artist"}
    cert.artist_calibration[cert.artist_index(ARTISTS[0])] = {**record, "scope": "overall"}
    cert.artist_kinds[cert.artist_index(ARTISTS[0])] = "artist"
    img, region = _painting(30), np.ones((64, 96), bool)
    own = cert.certify(img, region, ARTISTS[1]).guarantee
    assert own.startswith(f"On 4 paintings not used in calibration, genuine passages of {ARTISTS[1]} exceeded")
    assert "5.0 % of blocks (95 % interval 0.0-12.0 %" in own
    assert "of all the certifier's artists" in cert.certify(img, region, ARTISTS[0]).guarantee


def test_a_huge_scan_is_reduced_to_known_block_means_before_its_holes_are_filled(monkeypatch):
    """Four times the certifier's working size or more, the unrestored painting is read as the block means of its
    known pixels (the holes filled at that size), so the full scan is never copied as floats."""
    from artrestore.hub.pipeline_artrestore import _infer_unrestored_artist

    certifier = build_tiny_certifier()
    certifier.register_to_config(working_side=32)  # a 130 x 200 painting is then over 4x the working size
    img = np.random.default_rng(0).integers(0, 256, (130, 200, 3), dtype=np.uint8)
    holes = np.zeros((130, 200), bool)
    holes[40:80, 50:120] = True
    holes[5, 5] = True  # a block with one unknown pixel keeps the mean of its known ones
    seen = []
    monkeypatch.setattr(certifier, "infer_artist", lambda image, region: seen.append((image, region)) or ARTISTS[0])
    for value in (0, 255):  # what lies in the holes never matters
        painted = img.copy()
        painted[holes] = value
        assert _infer_unrestored_artist(certifier, painted, holes, holes) == ARTISTS[0]
    (a, region), (b, _) = seen
    assert a.shape == (43, 66, 3) and np.array_equal(a, b)  # factor int(200 / 32) // 2 = 3
    means = img[:129, :198].astype(np.float64).reshape(43, 3, 66, 3, 3).mean(axis=(1, 3))
    whole = np.ones((43, 66), bool)
    whole[1, 1] = whole[13:27, 16:40] = False  # blocks touching a hole
    assert np.abs(a[whole] - means[whole]).max() <= 0.5
    known = img[3:6, 3:6].reshape(-1, 3)[np.arange(9) != 8]  # the (5, 5) pixel is the block's last
    assert np.abs(a[1, 1] - known.mean(0)).max() <= 0.5
    assert region.shape == (43, 66) and region[20, 25] == 1 and region[0, 0] == 0 and 0 < region[1, 1] < 1


def test_artist_inference_names_the_artist_at_the_smallest_mean_distance(certifier):
    img = _painting(3)
    region = np.zeros(img.shape[:2], bool)
    region[:, :40] = True
    dist = certifier.artist_distances(img, region)
    assert dist.shape == (len(ARTISTS),) and torch.all((dist >= 0) & (dist <= 2))
    assert certifier.infer_artist(img, region) == ARTISTS[int(dist.argmin())]
    # only the mostly undamaged blocks count: a change inside the restored region moves nothing
    changed = img.copy()
    changed[region] = 255 - changed[region]
    torch.testing.assert_close(certifier.artist_distances(changed, region), dist)

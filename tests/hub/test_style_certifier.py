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
    assert c.artist_source == "references" and c.threshold_kind == "pooled" and c.threshold == pytest.approx(0.5)


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

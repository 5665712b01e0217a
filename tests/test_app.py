"""The preview app: handlers, the Gradio API through gradio_client, and a real browser (Debian Chromium)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from artrestore import demo
from artrestore.bench.app_load import wait_until_serving

from .conftest import ROOT, synthetic_painting

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def test_simulate_handler_resizes_explicitly_and_damages():
    img = synthetic_painting(300, 600)
    clean, damaged, sample, types = demo.simulate(img, "mixed", 1, 256)
    assert clean.shape == (128, 256, 3) and damaged.shape == clean.shape and types.shape == clean.shape
    assert not ((damaged != clean).any(2) & ~sample.touched).any()


def test_handlers_raise_clear_errors():
    with pytest.raises(ValueError, match="upload a painting first"):
        demo.simulate(None, "crack", 0, 512)
    with pytest.raises(ValueError, match="kind"):
        demo.simulate(synthetic_painting(), "mould", 0, 512)
    with pytest.raises(ValueError, match="simulate damage first"):
        demo.fill_with_baseline(None, None, "telea")


def test_baseline_handler_scores_fill():
    clean, _, sample, _ = demo.simulate(synthetic_painting(128, 128), "large_loss", 2, 128)
    out, rows = demo.fill_with_baseline(clean, sample, "telea")
    metrics = dict(rows)
    assert out.shape == clean.shape and metrics["untouched_changed"] == 0 and 0 < metrics["lpips"] < 1


def test_app_wraps_errors_for_the_ui():
    import gradio as gr

    sys.path.insert(0, str(ROOT))
    import app

    with pytest.raises(gr.Error, match="upload a painting first"):
        app.on_simulate(None, "crack", 0, 512)
    assert isinstance(app.build_app(), gr.Blocks)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random-weight model folder: the UI is tested end to end without the bundled model's cost."""
    import torch

    from artrestore.export import write_hub_folder

    from .hub.conftest import build_tiny_pipeline

    pipe = build_tiny_pipeline(tile_size=256, certifier=True, detector=True)
    with torch.no_grad():  # the tiny detector answers "paint loss" everywhere
        pipe.damage_detector.head.weight.zero_()
        pipe.damage_detector.head.bias.copy_(torch.tensor([-5.0, -5.0, -5.0, 5.0, -5.0]))
    return write_hub_folder(pipe, tmp_path_factory.mktemp("model") / "tiny", "# t\n")


@pytest.fixture(scope="module")
def server(tiny_model):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ARTRESTORE_MODEL": str(tiny_model)},
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, proc, 120)
    except RuntimeError as e:
        proc.kill()
        raise RuntimeError(f"{e}:\n" + proc.stdout.read().decode(errors="replace")) from e
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_gradio_client_round_trip(server, tmp_path):
    from gradio_client import Client, handle_file

    src = tmp_path / "p.png"
    cv2.imwrite(str(src), synthetic_painting(120, 160))
    client = Client(server, verbose=False)
    damaged, types = client.predict(handle_file(str(src)), "large_loss", 3, 160, api_name="/simulate")
    damaged_img = cv2.imread(str(damaged))
    assert damaged_img is not None and damaged_img.shape == (120, 160, 3)
    filled, metrics = client.predict("telea", api_name="/baseline")
    values = {row[0]: row[1] for row in metrics["data"]}
    assert values["untouched_changed"] == 0


@pytest.mark.browser
def test_browser_upload_and_simulate(server, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    src = tmp_path / "painting.png"
    cv2.imwrite(str(src), synthetic_painting(200, 260))
    shots = ROOT / "runs" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(server, wait_until="load")
        page.get_by_role("tab", name="Damage simulator and classical baselines").click()
        page.get_by_text("none of them is an ArtRestore").first.wait_for(timeout=60_000)
        page.locator("#sim_image input[type=file]").set_input_files(str(src))
        page.get_by_role("button", name="Simulate damage").click()
        page.locator("#damaged img").first.wait_for(state="visible", timeout=60_000)
        page.locator("#types img").first.wait_for(state="visible", timeout=60_000)
        page.get_by_role("button", name="Fill with classical baseline").click()
        page.locator("#filled img").first.wait_for(state="visible", timeout=60_000)
        page.get_by_text("untouched_changed").first.wait_for(state="attached", timeout=30_000)
        damaged_src = page.locator("#damaged img").first.get_attribute("src")
        page.screenshot(path=str(shots / "preview_app.png"), full_page=True)
        browser.close()
    assert damaged_src
    assert (shots / "preview_app.png").stat().st_size > 20_000


def _download(url: str, path: Path) -> np.ndarray:
    with urllib.request.urlopen(url, timeout=30) as r:
        path.write_bytes(r.read())
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def test_gradio_client_restore_endpoint(server, tmp_path):
    from gradio_client import Client, handle_file

    img = synthetic_painting(150, 210, seed=4)
    cv2.imwrite(str(tmp_path / "p.png"), img)
    mask = np.zeros((150, 210), np.uint8)
    mask[60:90, 80:140] = 255
    cv2.imwrite(str(tmp_path / "m.png"), mask)
    client = Client(server, verbose=False)
    result = client.predict(
        handle_file(str(tmp_path / "p.png")),
        None,
        handle_file(str(tmp_path / "m.png")),
        "Infer from the image",
        [],
        "",
        2,
        0,
        1,
        1.0,
        True,
        api_name="/restore",
    )
    files = result[2]
    restored = cv2.imread(str(next(f for f in files if "restored" in str(f))))
    assert restored.shape == img.shape
    changed = (restored != img).any(axis=2)
    assert changed.any() and not (changed & (mask == 0)).any()
    _slider, zoom, _files, _variants, _used, overlay, sources, sources_note, verdict, plot, summary, palette = result
    assert palette == ""  # no artist named: the fill keeps the painting's own palette
    assert cv2.imread(str(overlay)).shape == img.shape  # attribution overlay at the preview (= full) size
    # only sources that restored a block, with short captions; the provenance and the reason go in the note
    assert all(s.get("caption", "").endswith("blocks") for s in sources)
    assert len(sources) == sources_note.count("top source of") and " 0 restored blocks" not in sources_note
    before, after = (cv2.imread(str(z.get("path") if isinstance(z, dict) else z)) for z in zoom)
    assert before.shape == after.shape and max(before.shape[:2]) == 640  # the close-up of the damaged region
    assert verdict.startswith(("**PASS.**", "**FAIL.**", "**UNCALIBRATED.**")) and "threshold" in verdict
    assert "The restored area" in verdict
    assert cv2.imread(str(plot)) is not None
    cert = json.loads(Path(next(f for f in files if str(f).endswith("_certificate.json"))).read_text())
    assert cert["artist_source"] == "inferred" and len(cert["blocks"]) >= 1
    assert json.loads(summary)["certificate"]["passed"] == cert["passed"]
    with pytest.raises(Exception, match="draw the damage"):
        client.predict(
            handle_file(str(tmp_path / "p.png")),
            None,
            None,
            "Infer from the image",
            [],
            "",
            2,
            0,
            1,
            1.0,
            True,
            api_name="/restore",
        )


def test_gradio_client_detect_fills_the_layers(server, tmp_path):
    from gradio_client import Client, handle_file

    img = synthetic_painting(120, 160, seed=6)
    cv2.imwrite(str(tmp_path / "p.png"), img)
    client = Client(server, verbose=False)
    value, found = client.predict(handle_file(str(tmp_path / "p.png")), api_name="/detect")
    assert found.startswith("**Found**") and "paint loss 100.00 %" in found and "Nothing has been restored" in found
    import PIL.Image

    layers = [  # an opaque layer may come back without an alpha channel: RGBA conversion makes it 255
        np.asarray(PIL.Image.open(layer["path"] if isinstance(layer, dict) else layer).convert("RGBA"))
        for layer in value["layers"]
    ]
    assert len(layers) == 4  # paint loss, scratch, crack, fading
    assert layers[0].shape == (120, 160, 4) and (layers[0][..., 3] == 255).all()  # paint loss everywhere
    assert (layers[1][..., 3] == 0).all() and (layers[3][..., 3] == 0).all()


@pytest.mark.slow
@pytest.mark.browser
def test_browser_sketch_and_restore(server, tmp_path):
    """Upload, draw a brush stroke, Restore, and check the result changed only inside the stroke."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    img = synthetic_painting(600, 900, seed=5)
    cv2.imwrite(str(tmp_path / "painting.png"), img)
    shots = ROOT / "runs" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.goto(server, wait_until="load")
        page.locator("#painting input[type=file]").set_input_files(str(tmp_path / "painting.png"))
        page.locator("#editor canvas").first.wait_for(state="visible", timeout=60_000)
        page.wait_for_timeout(2000)  # the preview is drawn into the canvas
        page.get_by_role("button", name="Brush").first.click()
        box = page.locator("#editor canvas").first.bounding_box()
        x0, y0 = box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5
        page.mouse.move(x0, y0)
        page.mouse.down()
        for i in range(1, 21):
            page.mouse.move(x0 + i * 5, y0 + i * 1.5)
        page.mouse.up()
        page.screenshot(path=str(shots / "restore_drawn.png"), full_page=True)
        assert page.locator("#artist_palette input[type=checkbox]").is_checked()  # the shipped behaviour, on
        page.locator("#restore").click()
        page.locator("#download a").first.wait_for(state="attached", timeout=300_000)  # 2 shared CPUs
        hrefs = [a.get_attribute("href") for a in page.locator("#download a").all()]
        page.locator("#slider img").first.wait_for(state="visible", timeout=30_000)
        page.locator("#attribution img").first.wait_for(state="visible", timeout=30_000)
        page.locator("#cert_plot img").first.wait_for(state="visible", timeout=30_000)
        assert "threshold" in page.locator("#certificate").inner_text()
        page.screenshot(path=str(shots / "restore_result.png"), full_page=True)
        browser.close()
    restored = _download(next(h for h in hrefs if "restored" in h), tmp_path / "r.png")
    mask = _download(next(h for h in hrefs if "damage_mask" in h), tmp_path / "m.png") > 0
    assert restored.shape == img.shape and mask.shape == img.shape[:2]
    changed = (restored != img).any(axis=2)
    assert mask.sum() > 500 and changed.any()
    assert not (changed & ~mask).any()  # nothing outside the stroke changed
    ys, xs = np.nonzero(mask)
    assert 0.25 < xs.mean() / img.shape[1] < 0.75 and 0.25 < ys.mean() / img.shape[0] < 0.75  # where we drew


def test_app_listens_where_a_space_tells_it_to(monkeypatch):
    """A Hugging Face Space sets GRADIO_SERVER_NAME/PORT and runs `python app.py`; flags still override them."""
    import app as app_module

    launched = []

    class Dummy:
        def queue(self, **kwargs):
            return self

        def launch(self, **kwargs):
            launched.append(kwargs)

    monkeypatch.setattr(app_module, "build_app", lambda: Dummy())
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7861")
    monkeypatch.setattr(sys, "argv", ["app.py"])
    app_module.main()
    monkeypatch.setattr(sys, "argv", ["app.py", "--host", "127.0.0.1", "--port", "9000"])
    app_module.main()
    assert [(k["server_name"], k["server_port"]) for k in launched] == [("0.0.0.0", 7861), ("127.0.0.1", 9000)]


def test_heavy_endpoints_share_one_queue_and_the_cache_is_cleaned():
    """A restore, a detect and a large upload never run at once: they share one concurrency group of size 1."""
    sys.path.insert(0, str(ROOT))
    import app

    blocks = app.build_app()
    fns = {f.api_name: f for f in blocks.fns.values()}
    for name in ("restore", "detect", "simulate", "baseline", "on_upload"):
        assert (fns[name].concurrency_id, fns[name].concurrency_limit) == ("heavy", 1), name
    assert fns["on_artist_choice"].concurrency_id != "heavy"  # light handlers are not held up
    assert blocks.delete_cache == (3600, 3600)

"""Load bench of the Gradio app: peak memory of a very large upload, and a burst of concurrent clients.

The app is started as its own process (``python app.py``, exactly as a Space runs it) and driven through its
public API with ``gradio_client``, while a thread samples the resident memory of the app's whole process tree.

- **Large upload:** a painting of ``large_megapixels`` (a validation painting upscaled, with grain so that the
  JPEG is as heavy as a real scan) is detected and restored (a mask with one polygonal loss); peak RSS above the
  idle app.
- **Burst:** ``clients`` clients at once, half asking for a restoration and half for a detection of a small
  painting. Every request ends in an answer or a clear refusal (queue full); the app must answer afterwards.
- **Temporary files:** the run folders the app leaves in the system temp folder, before and after.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from ..config import AppLoadBenchConfig
from ..data import PaintingCollection, split_collection
from ..hub.settings import PipelineSettings
from ..io import load_image
from ..restore_ui import INFER
from .memory import PeakMemory


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float) -> None:
    """Wait until ``url`` answers 200; a ``RuntimeError`` when ``process`` exits first or ``timeout`` passes."""
    import urllib.request

    start = time.time()
    while time.time() - start < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with code {process.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"the app did not answer at {url} within {timeout:.0f} s")


def restore_request(painting: object, mask: object, steps: int) -> tuple:
    """The app's ``/restore`` inputs as a user sends them who uploads ``painting`` and ``mask``, keeps the inferred
    artist, one variant, seed 0 and the shipped denoising strength, and sets ``steps``.

    Args:
        painting, mask: the files, as ``gradio_client.handle_file`` gives them.
        steps: denoising steps (they count only above strength 0).
    """
    strength = float(PipelineSettings.default_strength)
    return (painting, None, mask, INFER, None, "", steps, 0, 1, strength, True)


def large_painting(source: np.ndarray, megapixels: float, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8: ``source`` upscaled to about ``megapixels`` with fine grain (a heavy, scan-like JPEG)."""
    h, w = source.shape[:2]
    scale = np.sqrt(megapixels * 1e6 / (h * w))
    big = cv2.resize(source, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
    grain = np.random.default_rng(seed).normal(0, 6, big.shape[:2]).astype(np.float32)
    return np.clip(big.astype(np.float32) + grain[..., None], 0, 255).astype(np.uint8)


def polygon_loss(shape: tuple[int, int], share: float = 0.004, seed: int = 0) -> np.ndarray:
    """(h, w) uint8 mask (255 = damaged) with one irregular polygon of about ``share`` of the painting."""
    h, w = shape
    rng = np.random.default_rng(seed)
    r = np.sqrt(share * h * w / np.pi)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 9))
    radii = r * rng.uniform(0.7, 1.3, 9)
    cy, cx = h * rng.uniform(0.3, 0.7), w * rng.uniform(0.3, 0.7)
    points = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1).round().astype(np.int32)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [points], 255)
    return mask


def _temp_runs() -> int:
    root = Path(tempfile.gettempdir()) / "artrestore-outputs"
    return len(list(root.glob("run-*"))) if root.exists() else 0


def _call(client_factory, endpoint: str, args: tuple) -> tuple[str, float, str]:
    start = time.time()
    try:
        client_factory().predict(*args, api_name=endpoint)
        return "answered", time.time() - start, ""
    except Exception as e:  # noqa: BLE001 - the outcome (error text) is what is measured
        text = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        kind = "refused (queue full)" if "queue" in text.lower() and "full" in text.lower() else "error"
        return kind, time.time() - start, text


def run_app_load_bench(config: AppLoadBenchConfig) -> dict:
    """Run ``artrestore bench-app``; writes ``app_load.md`` and ``app_load.json`` to ``config.out``.

    Args:
        config: :class:`~artrestore.config.AppLoadBenchConfig`.

    Returns:
        The results (also in ``app_load.json``).
    """
    from gradio_client import Client, handle_file

    if config.clients < 1:
        raise ValueError(f"clients: expected at least 1, got {config.clients}")
    if not config.large_megapixels > 0:
        raise ValueError(f"large_megapixels: expected a positive number, got {config.large_megapixels}")
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="app-load-", dir=out))
    records = split_collection(PaintingCollection.scan(config.data), "val").records
    if not records:
        raise ValueError(f"data: no validation paintings in {config.data}")
    source = load_image(records[0].path).to_uint8()
    big = large_painting(source, config.large_megapixels)
    big_path, big_mask = work / "large.jpg", work / "large_mask.png"
    cv2.imwrite(str(big_path), cv2.cvtColor(big, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    cv2.imwrite(str(big_mask), polygon_loss(big.shape[:2]))
    small = cv2.resize(source, (512, round(512 * source.shape[0] / source.shape[1])), interpolation=cv2.INTER_AREA)
    small_path, small_mask = work / "small.png", work / "small_mask.png"
    cv2.imwrite(str(small_path), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(small_mask), polygon_loss(small.shape[:2], share=0.01))
    del big

    port = _free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    if config.model:
        env["ARTRESTORE_MODEL"] = config.model
    app_py = Path(__file__).resolve().parents[2] / "app.py"
    temp_before = _temp_runs()
    log = open(out / "app_load_server.log", "w")  # noqa: SIM115 - closed in the finally block
    process = subprocess.Popen([sys.executable, str(app_py)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    results: dict = {"megapixels": config.large_megapixels}
    try:
        wait_until_serving(url, process, config.start_timeout)
        with PeakMemory(0.1, pid=process.pid, children=True) as memory:
            time.sleep(2)
            idle = memory.reset()
            results["idle_rss_mb"] = idle
            results["large_jpeg_mb"] = big_path.stat().st_size / 2**20

            def client():
                return Client(url, verbose=False)

            def restore_args(painting: Path, mask: Path) -> tuple:
                return restore_request(handle_file(str(painting)), handle_file(str(mask)), config.steps)

            phases = []
            for name, endpoint, args in (
                ("large upload: detect", "/detect", (handle_file(str(big_path)),)),
                ("large upload: restore", "/restore", restore_args(big_path, big_mask)),
            ):
                memory.reset()
                outcome, seconds, error = _call(client, endpoint, args)
                phases.append(
                    {
                        "phase": name,
                        "outcome": outcome,
                        "seconds": seconds,
                        "error": error,
                        "peak_rss_mb": memory.peak_mb,
                        "peak_over_idle_mb": memory.peak_mb - idle,
                    }
                )
                print(f"{name}: {outcome} in {seconds:.0f} s, peak RSS {memory.peak_mb:.0f} MB {error}", flush=True)
            results["large"] = phases

            memory.reset()
            jobs = [
                ("/restore", restore_args(small_path, small_mask))
                if i % 2 == 0
                else ("/detect", (handle_file(str(small_path)),))
                for i in range(config.clients)
            ]
            start = time.time()
            with ThreadPoolExecutor(config.clients) as pool:
                done = list(pool.map(lambda job: _call(client, *job), jobs))
            burst = {
                "clients": config.clients,
                "seconds": time.time() - start,
                "peak_rss_mb": memory.peak_mb,
                "outcomes": {},
                "errors": sorted({e for kind, _, e in done if kind == "error"}),
            }
            for (endpoint, _), (kind, seconds, _) in zip(jobs, done):
                row = burst["outcomes"].setdefault(f"{endpoint} {kind}", {"n": 0, "max_s": 0.0})
                row["n"] += 1
                row["max_s"] = max(row["max_s"], seconds)
            alive, seconds, error = _call(client, "/detect", (handle_file(str(small_path)),))
            burst["after"] = {"outcome": alive, "seconds": seconds, "error": error}
            results["burst"] = burst
            results["final_rss_mb"] = memory.rss_mb()
            print(f"burst: {json.dumps(burst['outcomes'])}; afterwards {alive}", flush=True)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
    results["temp_run_folders"] = {"before": temp_before, "after": _temp_runs()}
    (out / "app_load.json").write_text(json.dumps(results, indent=1))
    (out / "app_load.md").write_text(report(results, config))
    return results


def report(results: dict, config: AppLoadBenchConfig) -> str:
    """The Markdown report of :func:`run_app_load_bench`'s results."""
    lines = [
        f"# App load bench ({os.cpu_count()} CPUs)",
        "",
        f"The app as a Space runs it (`python app.py`), driven through its API; RSS of its whole process tree, "
        f"idle {results['idle_rss_mb']:.0f} MB after start-up.",
        "",
        f"## A {config.large_megapixels:g} MP upload ({results['large_jpeg_mb']:.1f} MB JPEG)",
        "",
        "| request | outcome | seconds | peak RSS MB | over idle MB |",
        "|---|---|---|---|---|",
    ]
    for p in results["large"]:
        outcome = p["outcome"] + (f" ({p['error']})" if p["error"] else "")
        lines.append(
            f"| {p['phase']} | {outcome} | {p['seconds']:.0f} | {p['peak_rss_mb']:.0f} "
            f"| {p['peak_over_idle_mb']:.0f} |"
        )
    b = results["burst"]
    lines += [
        "",
        f"## A burst of {b['clients']} clients at once (512 px painting; half restore, half detect)",
        "",
        "| endpoint and outcome | requests | slowest s |",
        "|---|---|---|",
    ]
    for key, row in sorted(b["outcomes"].items()):
        lines.append(f"| {key} | {row['n']} | {row['max_s']:.0f} |")
    lines += [
        "",
        f"Burst: {b['seconds']:.0f} s in all, peak RSS {b['peak_rss_mb']:.0f} MB; a detection afterwards: "
        f"{b['after']['outcome']} in {b['after']['seconds']:.1f} s. Errors: {', '.join(b['errors']) or 'none'}.",
        "",
        f"Run folders in the system temp folder: {results['temp_run_folders']['before']} before, "
        f"{results['temp_run_folders']['after']} after.",
        "",
    ]
    return "\n".join(lines)

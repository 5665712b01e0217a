"""Screenshots of the app with the bundled model, for the README: docs/app_upload.png, app_drawing.png, app_result.png.

Usage: .venv/bin/python scripts/app_screenshots.py [--out docs]   (needs Debian's chromium and the shared data,
whose validation paintings are the app's examples). The app is started on a free port and stopped afterwards.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from artrestore.bench.app_load import wait_until_serving  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def take(out: Path) -> None:
    """Upload the first example with its mask, add a stroke, restore, and save the three screenshots in ``out``."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: `make debian-packages` installs it")
    port = _free_port()
    app = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, app, 300)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(url, wait_until="load")
            example = page.get_by_text("_large_loss_damaged.png").first  # a row of the examples table
            example.wait_for(state="visible", timeout=60_000)
            example.click()
            page.locator("#editor canvas").first.wait_for(state="visible", timeout=60_000)
            page.wait_for_timeout(4000)  # the preview and the mask layer are drawn
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(out / "app_upload.png"), full_page=False)
            page.get_by_role("button", name="Brush").first.click()
            box = page.locator("#editor canvas").first.bounding_box()
            x0, y0 = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.35
            page.mouse.move(x0, y0)
            page.mouse.down()
            for i in range(1, 31):
                page.mouse.move(x0 + i * 4, y0 + i * 2)
            page.mouse.up()
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(out / "app_drawing.png"), full_page=False)
            page.locator("#restore").click()
            page.locator("#download a").first.wait_for(state="attached", timeout=600_000)
            page.locator("#slider img").first.wait_for(state="visible", timeout=60_000)
            page.locator("#cert_plot img").first.wait_for(state="visible", timeout=60_000)
            page.wait_for_timeout(2000)
            page.screenshot(path=str(out / "app_result.png"), full_page=True)
            browser.close()
    finally:
        app.terminate()
        app.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs"), help="folder for the three PNG files (replaced)")
    take(Path(parser.parse_args().out))


if __name__ == "__main__":
    main()

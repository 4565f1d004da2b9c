#!/usr/bin/env python3
"""Screenshot every named map (/map/<id>, basemap=none) to docs/screenshots/<id>.png.

Serves the app on 127.0.0.1 from a thread over the built layers, drives Debian's Chromium
(PARKMAP_CHROMIUM, default /usr/bin/chromium) with Playwright, refuses every request to
another host, and prints each page's weight and time to ready.

    python scripts/screenshots.py [--layers data/layers] [--out docs/screenshots] [--lang zh]
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

from werkzeug.serving import make_server

PROJECT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]

# Bytes the page and everything it loaded took [over the wire, uncompressed], from the
# Resource Timing API.
_WEIGHT_JS = """() => {
  const all = [performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource')];
  return [all.reduce((n, r) => n + r.encodedBodySize, 0), all.reduce((n, r) => n + r.decodedBodySize, 0)];
}"""


def main(argv: list[str] | None = None) -> int:
    from layers.sources import LAYERS_DIR
    from webapp import create_app
    from webapp.maps import MAPS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=Path, default=LAYERS_DIR, help="built layers folder")
    ap.add_argument("--out", type=Path, default=PROJECT / "docs" / "screenshots")
    ap.add_argument("--lang", choices=("zh", "en"), default="zh")
    ap.add_argument("--size", default="1280x800", help="viewport WIDTHxHEIGHT")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    chromium = os.environ.get("PARKMAP_CHROMIUM", "/usr/bin/chromium")

    from playwright.sync_api import sync_playwright

    app = create_app({"LAYERS_DIR": str(args.layers)})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{httpd.server_port}/"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            for m in MAPS:
                page = browser.new_page(viewport={"width": width, "height": height})
                errors = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
                page.route(lambda url: not url.startswith(base), lambda route: route.abort())
                start = time.perf_counter()
                page.goto(f"{base}map/{m.id}?lang={args.lang}")
                page.wait_for_selector("html[data-pm-ready]", timeout=30000)
                ready_ms = (time.perf_counter() - start) * 1000
                path = args.out / f"{m.id}.png"
                page.screenshot(path=str(path))
                wire, body = page.evaluate(_WEIGHT_JS)
                print(f"{path}: {wire / 1024:.0f} KiB transferred ({body / 1024:.0f} KiB "
                      f"uncompressed), ready in {ready_ms:.0f} ms"
                      + (f"; errors: {errors}" if errors else ""))
                failed += bool(errors)
                page.close()
            browser.close()
    finally:
        httpd.shutdown()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

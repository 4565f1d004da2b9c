"""Measure parkmap's speed and size; prints a report (Markdown) and optionally writes JSON.

    python scripts/benchmark.py [--browser] [--json OUT.json] [--repeat N]

What it measures (medians over --repeat runs where a time is measured):
- build: `parkmap build` of every layer into a temp folder; each layer's size raw and gzipped;
- pages: /map/<id> and /embed/<id> for every named map, first (cold) and repeat (warm) response
  time through the Flask test client, HTML bytes, and the page weight a browser downloads
  (HTML + our JS/CSS + the layers' GeoJSON), raw and gzipped;
- API: /api/layers/<id>.geojson (WGS84 and GCJ-02), /api/parks.csv, /api/compare (default pair);
- figures: /figure/<id>.png at the default size (A4 at 300 dpi), time and bytes;
- --browser: time from navigation to every layer drawn (the page's data-pm-ready flag) in
  Debian's headless Chromium, with basemap=none, for each named map.
- --serving: requests/s for a cached /embed/changning, with the same load tool (Debian's wrk)
  and concurrency, side by side: Flask's development server (what `parkmap serve` was),
  `parkmap serve` (gunicorn), through nginx with the shipped config (cache hits), and nginx
  serving the same bytes as a static file; plus /api/layouts with 1,000 drafts. Needs Debian's
  wrk and nginx.

It is a script, not a test: timings depend on the machine and are reported, not asserted.
"""
from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from layers.build import build_all  # noqa: E402
from layers.sources import LAYERS_DIR  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.maps import MAPS  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]


def _gz(data: bytes) -> int:
    return len(gzip.compress(data, 6))


def _timed(fn, repeat=1):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _kb(n: int) -> str:
    return f"{n / 1024:,.1f} KiB"


def bench_build(report: list[str], result: dict, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        secs, _ = _timed(lambda: build_all(tmp, log=lambda m: None), repeat)
        result["build_seconds"] = secs
        report += ["## Build", "", f"`parkmap build` (all layers): **{secs:.2f} s** (median of {repeat})",
                   "", "| layer | features | raw | gzip |", "|---|---:|---:|---:|"]
        index = json.loads((Path(tmp) / "layers.json").read_text(encoding="utf-8"))
        result["layers"] = {}
        for meta in index["layers"]:
            data = (Path(tmp) / meta["file"]).read_bytes()
            result["layers"][meta["id"]] = {"features": meta["feature_count"], "bytes": len(data),
                                            "gzip": _gz(data)}
            report.append(f"| {meta['id']} | {meta['feature_count']} | {_kb(len(data))} | {_kb(_gz(data))} |")
    report.append("")


def _assets(html: str) -> list[str]:
    return sorted(set(re.findall(r'(?:src|href)="(/(?:assets|static|vendor)/[^"]+)"', html)))


def bench_pages(client, report: list[str], result: dict, repeat: int) -> None:
    report += ["## Pages (Flask test client, in-process)", "",
               "| page | cold | warm | HTML | page weight (HTML+JS/CSS+GeoJSON) | gzip |",
               "|---|---:|---:|---:|---:|---:|"]
    result["pages"] = {}
    for m in MAPS:
        for kind in ("map", "embed"):
            url = f"/{kind}/{m.id}"
            cold, resp = _timed(lambda: client.get(url))
            assert resp.status_code == 200, (url, resp.status_code)
            warm, resp = _timed(lambda: client.get(url), repeat)
            html = resp.data
            parts = [html] + [client.get(a).data for a in _assets(html.decode())]
            parts += [client.get(u).data for u in re.findall(
                r'"url":"(/api/layers/[^"]+)"', html.decode())]
            weight, gz = sum(map(len, parts)), sum(map(_gz, parts))
            result["pages"][url] = {"cold_s": cold, "warm_s": warm, "html": len(html),
                                    "weight": weight, "weight_gzip": gz}
            report.append(f"| {url} | {cold * 1000:.0f} ms | {warm * 1000:.1f} ms | {_kb(len(html))} "
                          f"| {_kb(weight)} | {_kb(gz)} |")
    report.append("")


def bench_api(client, report: list[str], result: dict, repeat: int) -> None:
    urls = [f"/api/layers/{lid}.geojson" for lid in ("parks", "context")]
    urls += ["/api/layers/parks.geojson?datum=gcj02", "/api/parks.csv", "/api/maps",
             "/api/compare?left=changning_zones&right=jingan_layout",
             "/api/compare?left=changning_2021&right=changning_2024"]
    report += ["## API", "", "| request | first | repeat | bytes |", "|---|---:|---:|---:|"]
    result["api"] = {}
    for url in urls:
        first, resp = _timed(lambda: client.get(url))
        assert resp.status_code == 200, (url, resp.status_code, resp.data[:200])
        again, resp = _timed(lambda: client.get(url), repeat)
        result["api"][url] = {"first_s": first, "repeat_s": again, "bytes": len(resp.data)}
        report.append(f"| `{url}` | {first * 1000:.0f} ms | {again * 1000:.1f} ms | {_kb(len(resp.data))} |")
    report.append("")


def bench_figures(client, report: list[str], result: dict) -> None:
    report += ["## Static figures (default size: A4 width at 300 dpi)", "",
               "| figure | render | bytes |", "|---|---:|---:|"]
    result["figures"] = {}
    for m in MAPS:
        for fmt in ("png", "svg"):
            url = f"/figure/{m.id}.{fmt}"
            secs, resp = _timed(lambda: client.get(url))
            assert resp.status_code == 200, (url, resp.status_code, resp.data[:200])
            result["figures"][url] = {"seconds": secs, "bytes": len(resp.data)}
            report.append(f"| {url} | {secs:.2f} s | {_kb(len(resp.data))} |")
    report.append("")


def bench_browser(app, report: list[str], result: dict, repeat: int) -> None:
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    report += ["## In the browser (headless Chromium, basemap=none)", "",
               "| page | navigation → every layer drawn |", "|---|---:|"]
    result["browser"] = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            for m in MAPS:
                times = []
                for _ in range(repeat):
                    page = browser.new_page()
                    t0 = time.perf_counter()
                    page.goto(f"{base}/map/{m.id}")
                    page.wait_for_selector("html[data-pm-ready='1']", timeout=30000)
                    times.append(time.perf_counter() - t0)
                    page.close()
                secs = statistics.median(times)
                result["browser"][m.id] = secs
                report.append(f"| /map/{m.id} | {secs * 1000:.0f} ms |")
            browser.close()
    finally:
        server.shutdown()
    report.append("")


def _wrk(url: str, seconds: int, connections: int) -> float:
    """Requests/s wrk measures (2 threads, keep-alive, a browser's Accept-Encoding)."""
    import subprocess

    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s",
                          "-H", "Accept-Encoding: gzip, deflate", url],
                         capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise RuntimeError(f"{url}: {non_2xx.group(1)} error responses under load")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def bench_serving(report: list[str], result: dict, seconds: int = 5, connections: int = 32) -> None:
    import subprocess

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from support import Nginx, ParkmapServer, free_port, wait_http

    from webapp.cli import main as cli

    path = "/embed/changning"
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dev_port = free_port()  # what `parkmap serve` ran before: app.run (threaded werkzeug)
        dev = subprocess.Popen(
            [sys.executable, "-c", "import logging,sys; from webapp import create_app; "
             "logging.getLogger('werkzeug').setLevel(logging.ERROR); "
             f"create_app({{'INSTANCE_DIR': sys.argv[1]}}).run(port={dev_port}, threaded=True)",
             str(tmp / "dev")], stderr=subprocess.DEVNULL)
        try:
            wait_http(f"http://127.0.0.1:{dev_port}{path}")
            rates["dev"] = _wrk(f"http://127.0.0.1:{dev_port}{path}", seconds, connections)
        finally:
            dev.terminate()
            dev.wait()
        app = ParkmapServer(LAYERS_DIR, tmp / "instance", "--access-log", "",
                            env={"PARKMAP_TRUSTED_PROXIES": "1"})
        nginx = None
        try:
            rates["gunicorn"] = _wrk(app.base + path, seconds, connections)
            port, static_port = free_port(), free_port()
            cli(["deploy", "assets", str(tmp / "assets")])
            cli(["deploy", "nginx", "--out", str(tmp / "parkmap.conf"), "--listen",
                 f"127.0.0.1:{port}", "--upstream", f"127.0.0.1:{app.port}", "--cache-dir",
                 str(tmp / "cache"), "--assets-dir", str(tmp / "assets")])
            # the same bytes as the cached page, as a static file, gzip_static as for assets
            static = tmp / "static"
            static.mkdir()
            body = urllib_get(app.base + path)
            (static / "embed.html").write_bytes(body)
            (static / "embed.html.gz").write_bytes(gzip.compress(body, 6))
            site = tmp / "sites.conf"
            site.write_text((tmp / "parkmap.conf").read_text() + f"""
server {{
    listen 127.0.0.1:{static_port};
    location / {{ root {static}; gzip_static on; }}
}}
""")
            nginx = Nginx(tmp, site)
            proxied = f"http://127.0.0.1:{port}{path}"
            urllib_get(proxied), urllib_get(proxied)  # the second is a cache hit
            rates["nginx_cached"] = _wrk(proxied, seconds, connections)
            rates["nginx_static"] = _wrk(f"http://127.0.0.1:{static_port}/embed.html", seconds,
                                         connections)
        finally:
            if nginx:
                nginx.stop()
            app.stop()
    result["serving"] = {**rates, "wrk": f"-t2 -c{connections} -d{seconds}s",
                         "gunicorn_vs_dev": rates["gunicorn"] / rates["dev"],
                         "cached_vs_static": rates["nginx_cached"] / rates["nginx_static"]}
    report += [f"## Serving a cached {path} (wrk -t2 -c{connections} -d{seconds}s, gzip)", "",
               "| server | requests/s |", "|---|---:|",
               f"| Flask development server (the old `parkmap serve`) | {rates['dev']:,.0f} |",
               f"| `parkmap serve` (gunicorn, {os.cpu_count()} workers x 4 threads) | "
               f"{rates['gunicorn']:,.0f} |",
               f"| through nginx, cache hits (deploy/nginx/parkmap.conf) | {rates['nginx_cached']:,.0f} |",
               f"| nginx, the same bytes as a static file | {rates['nginx_static']:,.0f} |", "",
               f"gunicorn / development server: **{result['serving']['gunicorn_vs_dev']:.1f}x**; "
               f"nginx cached / nginx static: **{result['serving']['cached_vs_static']:.2f}**", ""]


def urllib_get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def bench_many_drafts(report: list[str], result: dict, repeat: int, n: int = 1000) -> None:
    from webapp.intake import read_draft
    from webapp.stores.drafts import DraftQuota, DraftStore

    square = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
              "geometry": {"type": "Polygon", "coordinates": [[[121.41, 31.2], [121.44, 31.2],
                                                               [121.44, 31.22], [121.41, 31.22],
                                                               [121.41, 31.2]]]}}]}
    gdf, facts = read_draft(json.dumps(square).encode())
    with tempfile.TemporaryDirectory() as inst:
        store = DraftStore(Path(inst) / "drafts", DraftQuota(max_count=n + 1))
        for i in range(n):
            store.save(gdf, facts, name=f"d{i}")
        client = create_app({"LAYERS_DIR": str(LAYERS_DIR), "INSTANCE_DIR": inst,
                             "DRAFT_MAX_COUNT": n + 1}).test_client()
        client.get("/api/layouts")
        secs, resp = _timed(lambda: client.get("/api/layouts"), repeat)
        assert resp.status_code == 200
    result["layouts_1000_drafts_s"] = secs
    report += ["## Drafts", "", f"`GET /api/layouts` with {n:,} drafts: **{secs * 1000:.0f} ms** "
               f"(median of {repeat})", ""]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--browser", action="store_true", help="also time rendering in Chromium")
    ap.add_argument("--repeat", type=int, default=5, help="runs per timed measurement (median)")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON")
    ap.add_argument("--serving", action="store_true",
                    help="also load-test the servers with wrk (Debian's wrk and nginx)")
    ap.add_argument("--peer", action="store_true",
                    help="also compare with plain folium on the same layers (scripts/bench_peer.py)")
    args = ap.parse_args(argv)
    report = ["# parkmap benchmark", ""]
    result: dict = {}
    bench_build(report, result, max(1, args.repeat // 2))
    with tempfile.TemporaryDirectory() as inst:
        app = create_app({"LAYERS_DIR": str(LAYERS_DIR), "INSTANCE_DIR": inst})
        client = app.test_client()
        bench_pages(client, report, result, args.repeat)
        bench_api(client, report, result, args.repeat)
        bench_figures(client, report, result)
        if args.browser:
            bench_browser(app, report, result, args.repeat)
    bench_many_drafts(report, result, args.repeat)
    if args.serving:
        bench_serving(report, result)
    if args.peer:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_peer import bench_peer
        bench_peer(report, result, repeat=max(5, args.repeat))
    print("\n".join(report))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

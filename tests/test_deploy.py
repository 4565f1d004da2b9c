"""Deployed as it would be: `parkmap serve` is gunicorn (real sockets, real signals), and
Debian's nginx with the shipped config (rendered by `parkmap deploy nginx` into a temp folder)
caches in front of it."""
from __future__ import annotations

import gzip
import http.client
import json
import signal
import socket
import threading
import time
import urllib.request

import pytest

from webapp.cli import main
from webapp.pages.assets import asset_bytes, bundle_hash

from support import Nginx, ParkmapServer, free_port

SQUARE = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "z"},
          "geometry": {"type": "Polygon", "coordinates": [[[121.41, 31.20], [121.44, 31.20],
                                                           [121.44, 31.22], [121.41, 31.22],
                                                           [121.41, 31.20]]]}}]}


def request(base, method, path, body=None, headers=None):
    """(status, headers, body bytes) over a fresh connection."""
    host, port = base.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, r.headers, data


def raw(port: int, data: bytes, wait: float = 3.0) -> bytes:
    """What a client sending ``data`` gets back, and whether the server then closed."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(data)
    s.settimeout(wait)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out + b"<closed>"
            out += chunk
    except socket.timeout:
        return out + b"<open>"
    finally:
        s.close()


@pytest.fixture(scope="module")
def server(built, tmp_path_factory):
    s = ParkmapServer(built, tmp_path_factory.mktemp("serve") / "instance", "--workers", "2")
    yield s
    assert s.stop() == 0


# --- gunicorn -----------------------------------------------------------------------------------

def test_serve_is_gunicorn_with_one_date_header_and_an_access_log(server):
    status, headers, _ = request(server.base, "GET", "/embed/changning")
    assert status == 200 and headers["Server"] == "gunicorn"
    assert len(headers.get_all("Date")) == 1
    deadline = time.monotonic() + 5  # the access log line comes as the worker writes it
    while '"GET /embed/changning HTTP/1.1" 200' not in server.log.read_text():
        assert time.monotonic() < deadline, server.log.read_text()
        time.sleep(0.1)
    assert "with gunicorn (2 worker(s)" in server.log.read_text()


def test_a_413_answers_at_once_and_closes_the_connection(server):
    head = (b"POST /api/layouts HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
            b"Content-Length: 50000000\r\n\r\n")
    out = raw(server.port, head + b"lon,lat\n" * 1000)
    assert out.startswith(b"HTTP/1.1 413") and out.endswith(b"<closed>")


def test_a_chunked_upload_is_accepted(server):
    body = b"lon,lat\n121.42,31.21\n"
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    out = raw(server.port, b"POST /api/layouts?name=chunked HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
    assert out.startswith(b"HTTP/1.1 201") and b'"name":"chunked"' in out


def test_sigterm_lets_a_request_in_flight_finish(built, tmp_path):
    s = ParkmapServer(built, tmp_path / "instance", "--workers", "1")
    got = {}

    def slow():  # a full A4 comparison at 300 dpi takes about a second to draw
        got["status"] = request(s.base, "GET", "/figure/compare:changning_zones,jingan_layout.png")[0]

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)
    assert s.stop(signal.SIGTERM) == 0  # graceful: waits for it
    t.join(10)
    assert got["status"] == 200
    assert "Handling signal: term" in s.log.read_text()


def test_the_dev_server_is_still_there_for_development():
    from webapp.cli import parser

    args = parser().parse_args(["serve", "--dev"])
    assert args.dev is True and args.workers >= 1


# --- behind nginx -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def proxy(built, tmp_path_factory):
    root = tmp_path_factory.mktemp("nginx")
    app = ParkmapServer(built, root / "instance", "--workers", "2",
                        env={"PARKMAP_TRUSTED_PROXIES": "1", "PARKMAP_UPLOAD_RATE_PER_HOUR": "0"})
    port = free_port()
    assert main(["deploy", "assets", str(root / "assets")]) == 0
    assert main(["deploy", "nginx", "--out", str(root / "parkmap.conf"), "--listen",
                 f"127.0.0.1:{port}", "--upstream", f"127.0.0.1:{app.port}",
                 "--cache-dir", str(root / "cache"), "--assets-dir", str(root / "assets"),
                 "--upload-rate", "6r/m", "--upload-burst", "3"]) == 0
    nginx = Nginx(root, root / "parkmap.conf")
    base = f"http://127.0.0.1:{port}"
    yield base
    nginx.stop()
    app.stop()


def test_a_repeated_embed_is_a_cache_hit(proxy):
    first = request(proxy, "GET", "/embed/jingan?lang=en", headers={"Accept-Encoding": "gzip"})
    second = request(proxy, "GET", "/embed/jingan?lang=en", headers={"Accept-Encoding": "gzip"})
    assert first[0] == second[0] == 200
    assert first[1]["X-Cache-Status"] in ("MISS", "EXPIRED") and second[1]["X-Cache-Status"] == "HIT"
    assert gzip.decompress(second[2]) == gzip.decompress(first[2])
    plain = request(proxy, "GET", "/embed/jingan?lang=en")  # no gzip: nginx un-gzips the copy
    assert plain[1]["X-Cache-Status"] == "HIT" and plain[2] == gzip.decompress(first[2])


def test_layer_data_and_assets_come_from_cache_or_disk_immutable(proxy):
    html = request(proxy, "GET", "/map/changning")[2].decode()
    import re

    url = re.search(r'"url":"(/api/layers/parks\.geojson\?detail=map\\u0026v=[0-9a-f]+)"',
                    html).group(1).replace("\\u0026", "&")
    request(proxy, "GET", url)
    status, headers, _ = request(proxy, "GET", url)
    assert status == 200 and headers["X-Cache-Status"] == "HIT"
    assert "immutable" in headers["Cache-Control"]
    asset = f"/assets/{bundle_hash()}/static/parkmap.js"
    status, headers, body = request(proxy, "GET", asset, headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"  # the .gz copy, from disk
    assert "X-Cache-Status" not in headers  # never went near the app or its cache
    assert gzip.decompress(body) == asset_bytes("static/parkmap.js")
    assert "immutable" in headers["Cache-Control"]


def test_an_upload_through_the_proxy_and_a_draft_page_after_delete(proxy):
    status, _, body = request(proxy, "POST", "/api/layouts?name=via-nginx",
                              body=json.dumps(SQUARE).encode(),
                              headers={"Content-Type": "application/geo+json"})
    assert status == 201
    draft = json.loads(body)
    lid, token = draft["id"], draft["token"]
    page = f"/compare?left=changning_zones&right={lid}"
    for _ in range(2):
        status, headers, _ = request(proxy, "GET", page)
        assert status == 200 and headers["X-Cache-Status"] in ("", "BYPASS", "MISS", "EXPIRED")
    figure = f"/figure/{lid}.png?width=120&height=90&dpi=60"
    assert request(proxy, "GET", figure)[0] == 200
    status, _, _ = request(proxy, "DELETE", f"/api/layouts/{lid}", headers={"X-Draft-Token": token})
    assert status == 200
    assert request(proxy, "GET", page)[0] == 404  # not a stale copy
    assert request(proxy, "GET", figure)[0] == 404
    assert lid not in request(proxy, "GET", "/api/layouts")[2].decode()


def test_the_proxy_limits_uploads(proxy):
    answers = [request(proxy, "POST", "/api/layouts?name=burst", body=b"lon,lat\n121.42,31.21\n",
                       headers={"Content-Type": "text/csv"})[0] for _ in range(8)]
    assert 429 in answers and answers[0] == 201
    assert request(proxy, "GET", "/api/layouts")[0] == 200  # reading is not limited
    status, _, _ = request(proxy, "POST", "/api/layouts", body=b"x" * (4 * 1024 * 1024),
                           headers={"Content-Type": "text/csv"})
    assert status == 413  # over client_max_body_size: nginx refuses it


def test_the_app_sees_the_client_not_the_proxy(proxy):
    status, _, body = request(proxy, "GET", "/healthz")
    assert status == 200 and json.loads(body)["ok"] is True
    # a cross-site POST is judged on the browser's own Origin, passed through by nginx
    status, _, _ = request(proxy, "POST", "/api/layouts", body=b"lon,lat\n121.42,31.21\n",
                           headers={"Content-Type": "text/csv", "Origin": "http://evil.example"})
    assert status in (403, 429)
    url = urllib.request.Request(proxy + "/api/places/park-bonc-hq-park/suggestions",
                                 method="POST", data=b"{}", headers={
                                     "Content-Type": "application/json", "Origin": proxy})
    try:
        urllib.request.urlopen(url, timeout=10)
    except urllib.error.HTTPError as exc:
        assert exc.code in (400, 429)  # same-origin through the proxy: judged, not refused

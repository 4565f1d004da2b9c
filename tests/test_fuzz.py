"""Every route, walked with malformed values of every parameter, odd methods, content types
and bodies: no answer may be a 5xx, and none may take over 2 s. Bounded: at most 3,000
requests and 60 s; seeded, so a failure repeats."""
from __future__ import annotations

import io
import json
import random
import time

import pytest

from webapp import create_app

MAX_REQUESTS, MAX_SECONDS, SLOW_S = 3000, 60.0, 2.0
SEED = 20261130

JUNK = ["", " ", "x" * 3000, "9" * 5000, "%", "%00", "\x00", "\r\n", "\u2028", "\u3000", "../../etc/passwd",
        "<script>alert(1)</script>", "$\\undefinedcommand$", "NaN", "-inf", "1e309", "-1", "0",
        "中文", ",", ",,,", "a,b,c", "121.4,31.2", "31.2,121.4,99", "{}", "[]", "null", "true",
        "draft:", "draft:zzzzzzzz", "draft:00000000", "layers:", "compare:", "compare:a,b,c"]
VALID = {
    "map_id": ["changning", "jingan", "overview"],
    "layer_id": ["parks", "context", "subdistricts", "jingan_layout"],
    "layout_id": ["changning_zones", "jingan_layout", "changning_2021", "changning_2024"],
    "place_id": ["park-bonc-hq-park", "park-xijiao-finance-park", "layout-jingan-shibei-park"],
    "feature_id": ["park-bonc-hq-park", "layout-jingan-shibei-park"],
    "target": ["changning", "layers:parks,line2", "compare", "compare:changning_zones,jingan_layout"],
    "fmt": ["png", "svg"],
    "doc": ["000", "001", "002", "003", "004"],
    "filename": ["leaflet.js", "leaflet.css", "images/layers.png"],
}
PARAMS = {
    "layers": ["parks,line2", "context"], "basemap": ["none", "osm", "amap"], "lang": ["zh", "en"],
    "view": ["31.2,121.4,13"], "controls": ["legend", "none"], "left": ["changning_zones"],
    "right": ["jingan_layout", "changning_2024"], "datum": ["wgs84", "gcj02", "GCJ-02"],
    "dpi": ["60", "100"], "width": ["120"], "height": ["90"], "address": ["延安西路934号"],
    "token": ["abc"], "v": ["123"], "name": ["x"], "detail": ["map", "overview", "full"],
    "q": ["虹桥", "Hongqiao", "上海硅巷", "aws"], "limit": ["1", "20", "50"],
    # located, on another map's layer only, unlocated (400), and junk (JUNK)
    "focus": ["park-zhongshan-park", "zone-changning-east", "layout-jingan-shibei-park",
              "park-bonc-hq-park", "districts-changning"],
}
METHODS = ["GET", "GET", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
BODIES = [
    ("application/json", b'{"lon": 121.36, "lat": 31.21, "precision": "street", "quote": "q"}'),
    ("application/json", b"{"), ("application/json", b"[1,2,3]"), ("application/json", b"\xff\xfe"),
    ("application/json", json.dumps({"lon": "nan", "lat": [], "geometry": {"type": "Polygon"}}).encode()),
    ("text/csv", b"lon,lat\n121.42,31.21\n"), ("text/csv", b"a,b\n" + b"1," * 2000),
    ("application/geo+json", b'{"type": "FeatureCollection", "features": [{"type": "Feature"}]}'),
    ("application/x-www-form-urlencoded", b"lon=121.36&lat=31.21&precision=building&quote=q"),
    ("application/octet-stream", bytes(range(256))), ("text/plain", b""),
]


def _value(rng: random.Random, name: str) -> str:
    pool = VALID.get(name) or PARAMS.get(name) or []
    return rng.choice(pool) if pool and rng.random() < 0.6 else rng.choice(JUNK)


def _path(rng: random.Random, rule) -> str | None:
    parts = {}
    for arg in rule.arguments:
        value = _value(rng, arg)
        if arg == "fmt" and value not in ("png", "svg"):
            value = rng.choice(["png", "svg"])  # the route only matches these
        parts[arg] = value
    try:
        from urllib.parse import quote

        url = rule.rule
        for arg, value in parts.items():
            url = url.replace(f"<{arg}>", quote(value, safe=""))
            url = url.replace(f"<path:{arg}>", quote(value, safe="/"))
            url = url.replace(f"<any(png, svg):{arg}>", value)
        return url
    except Exception:
        return None


@pytest.fixture(scope="module")
def app(built, tmp_path_factory):
    # Limits off: the fuzz looks for failures, not for the limits doing their job.
    return create_app({"LAYERS_DIR": str(built), "INSTANCE_DIR": str(tmp_path_factory.mktemp("i")),
                       "UPLOAD_RATE_PER_HOUR": 0, "SUGGESTION_RATE_PER_HOUR": 0,
                       "RENDER_RATE_PER_HOUR": 0, "RENDER_MAX_QUEUE": 100,
                       "RENDER_TIMEOUT_S": 600})


def test_no_route_answers_a_5xx_or_slowly(app):
    rng = random.Random(SEED)
    client = app.test_client()
    rules = [r for r in app.url_map.iter_rules() if r.endpoint != "static"] + [
        r for r in app.url_map.iter_rules() if r.endpoint == "static"]
    failures, slow, seen = [], [], 0
    started = time.monotonic()
    while seen < MAX_REQUESTS and time.monotonic() - started < MAX_SECONDS:
        rule = rules[seen % len(rules)] if seen < 4 * len(rules) else rng.choice(rules)
        path = _path(rng, rule)
        if path is None:
            continue
        allowed = sorted(rule.methods - {"OPTIONS", "HEAD"})
        method = ("GET" if seen < len(rules) and "GET" in allowed
                  else rng.choice(allowed) if rng.random() < 0.7 else rng.choice(METHODS))
        query = {k: _value(rng, k) for k in rng.sample(sorted(PARAMS), rng.randint(0, 4))}
        if "/figure/" in path:
            query.setdefault("dpi", rng.choice(["60", "80", "x", "-1", "1e9"]))
        kwargs = {"query_string": query,
                  "headers": {"Accept": rng.choice(["application/json", "text/html", "*/*"])}}
        if method in ("POST", "PUT", "PATCH") or (method == "DELETE" and rng.random() < 0.3):
            if rng.random() < 0.3:
                kwargs["data"] = {"file": (io.BytesIO(rng.choice(BODIES)[1]),
                                           rng.choice(["d.csv", "d.geojson", "d.png", "x"])),
                                  "datum": _value(rng, "datum"), "name": rng.choice(JUNK)}
                kwargs["content_type"] = "multipart/form-data"
            else:
                kwargs["content_type"], kwargs["data"] = rng.choice(BODIES)
        t0 = time.monotonic()
        r = client.open(path, method=method, **kwargs)
        elapsed = time.monotonic() - t0
        seen += 1
        if r.status_code >= 500:
            failures.append((method, path, query, r.status_code, r.get_data(as_text=True)[:200]))
        if elapsed > SLOW_S:
            slow.append((method, path, query, round(elapsed, 2)))
        r.close()
    assert seen >= 1000, f"only {seen} requests in {MAX_SECONDS} s"
    assert failures == [], failures[:5]
    assert slow == [], slow[:5]

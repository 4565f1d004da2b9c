"""The web app through Flask's test client: every route, status, message, content and header."""
from __future__ import annotations

import csv
import html as html_module
import gzip
import io
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from markupsafe import escape
from shapely.geometry import shape

from geo.crs import distance_m
from layers.registry import all_layers, layer_ids
from webapp import create_app
from webapp.pages import assets
from webapp import config as settings
from webapp.render.compose import CONTROLS, Delivery, MapRequest, compose, render_parts
from webapp.maps import MAPS

EVIL = "<img src=x onerror=alert(1)>"



@pytest.fixture()
def app(built, tmp_path):
    return create_app({"LAYERS_DIR": str(built), "INSTANCE_DIR": str(tmp_path / "instance")})


@pytest.fixture()
def client(app):
    return app.test_client()


def _fc(built: Path, layer_id: str) -> dict:
    return json.loads((built / f"{layer_id}.geojson").read_text(encoding="utf-8"))


def _drawn_layers(html: str) -> list[str]:
    """Layer ids the composed script adds to the map on load."""
    names = re.findall(r'var (plan_layer_\d+) = Parkmap\.layer\(map_\d+,\s*\{"id":"(\w+)"', html)
    return [layer_id for var, layer_id in names if f"{var}.addTo(" in html]


def _asset_refs(html: str) -> list[str]:
    """Scripts and styles the page loads (not the layer data it preloads)."""
    refs = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    return [r for r in refs if not r.startswith("/api/")]


# --- pages -------------------------------------------------------------------------------

def test_index_lists_every_named_map_with_links(client):
    for lang in ("zh", "en"):
        r = client.get(f"/?lang={lang}")
        assert r.status_code == 200
        html = r.get_data(as_text=True)
        for m in MAPS:
            assert f'href="/map/{m.id}?lang={lang}"' in html
            assert f'href="/embed/{m.id}?lang={lang}"' in html
            assert str(escape(m.description_zh if lang == "zh" else m.description_en)) in html
            thumb = f'src="/figure/{m.id}.png?lang={lang}&amp;width=120&amp;height=80&amp;dpi=96"'
            assert thumb in html
    r = client.get("/?lang=fr", headers={"Accept": "application/json"})
    assert r.status_code == 400 and r.get_json()["error"] == "lang='fr' is not allowed; use one of: zh, en"
    with client.get(f"/figure/{MAPS[0].id}.png?lang=en&width=120&height=80&dpi=96") as r:
        assert r.status_code == 200 and r.mimetype == "image/png"  # the thumbnail is real


@pytest.mark.parametrize("kind", ["map", "embed"])
@pytest.mark.parametrize("named", MAPS, ids=lambda m: m.id)
def test_named_map_pages_render_with_own_assets_only(client, named, kind):
    r = client.get(f"/{kind}/{named.id}")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    refs = _asset_refs(html)
    tag = assets.bundle_hash()
    assert f"/assets/{tag}/vendor/leaflet/leaflet.js" in refs
    assert f"/assets/{tag}/static/parkmap.js" in refs
    assert all(ref.startswith("/") and not ref.startswith("//") for ref in refs), refs
    assert "cdn" not in html.lower() and "jquery" not in html.lower()
    for layer_id in named.layers:  # each with the build's tag: a rebuild changes the URL
        assert re.search(rf'"url":"/api/layers/{layer_id}.geojson\?detail=(map|overview)'
                         rf'\\u0026v=[0-9a-f]{{12}}"', html), layer_id
    assert _drawn_layers(html) == list(named.layers)
    assert "L.tileLayer" not in html  # basemap=none is the default: our own vector base
    assert named.title_zh in html


def test_map_page_has_parks_panel_skeleton_and_snippet(client):
    """The panel's rows are drawn from the parks layer in the browser (tested there); the page
    carries only its skeleton, so its size does not grow with the number of parks."""
    html = client.get("/map/overview").get_data(as_text=True)
    panel = html[html.index('id="pm-parks-count"'):html.index("pm-embed-snippet")]
    assert '<ul id="pm-parks"' in panel and "<li" not in panel
    assert [m for m in re.findall(r'data-pm-filter="(\w+)"', panel)] == [
        "district", "zone", "subdistrict", "theme"]
    snippet = re.search(r'<textarea id="pm-embed-snippet"[^>]*>([^<]*)</textarea>', html).group(1)
    pasted = html_module.unescape(snippet)
    assert '<iframe src="http://localhost/embed/overview?layers=context%2C' in pasted
    assert f'title="{MAPS[2].title_zh}"' in pasted and 'aria-describedby="parkmap-desc-overview"' in pasted
    assert '<a href="http://localhost/map/overview?layers=' in pasted


def test_embed_without_scripts_shows_the_described_figure(client):
    html = client.get("/embed/jingan?lang=en").get_data(as_text=True)
    fallback = html[html.index("<noscript>"):html.index("</noscript>")]
    size = "&amp;width=180&amp;height=120&amp;dpi=110"  # screen-sized, not the A4 default
    assert f'src="/figure/jingan.png?lang=en{size}"' in fallback and 'alt="Map: ' in fallback
    assert 'href="/map/jingan?layers=' in fallback and 'target="_top"' in fallback
    with client.get("/figure/jingan.png?lang=en&width=180&height=120&dpi=110") as r:
        assert r.status_code == 200 and r.mimetype == "image/png"
    custom = client.get("/embed/jingan?layers=districts,parks").get_data(as_text=True)
    assert f'src="/figure/layers:districts,parks.png?lang=zh{size}"' in custom


def test_query_parameters_shape_the_map(client):
    html = client.get("/map/changning?layers=parks,line2&lang=en&view=31.2,121.4,15"
                      ).get_data(as_text=True)
    assert '"url":"/api/layers/line2.geojson?detail=map' in html
    assert '"url":"/api/layers/parks.geojson?detail=map' in html
    drawn = _drawn_layers(html)
    assert drawn == ["line2", "parks"]
    assert "/api/layers/context.geojson" in html  # the map's other layers: offered, not drawn
    assert html.index("line2.geojson") < html.index("parks.geojson")  # registry drawing order
    assert "center: [31.2, 121.4]" in html and '"zoom": 15' in html
    spec = {s.id: s for s in all_layers()}
    assert json.dumps(spec["parks"].title_en) in html  # layer names in the chosen language


def test_amap_basemap_shifts_data_and_allows_its_tiles(client):
    r = client.get("/map/changning?basemap=amap")
    html = r.get_data(as_text=True)
    assert "autonavi.com" in html and "datum=gcj02" in html
    csp = r.headers["Content-Security-Policy"]
    assert "https://webrd01.is.autonavi.com" in csp and "connect-src 'self'" in csp
    osm = client.get("/map/changning?basemap=osm")
    assert "tile.openstreetmap.org" in osm.get_data(as_text=True)
    assert "datum=gcj02" not in osm.get_data(as_text=True)
    assert "OpenStreetMap" in osm.get_data(as_text=True)  # attribution


def test_amap_page_opens_at_the_shifted_centre_of_its_wgs84_view(client):
    """``view`` names a WGS84 place on every basemap: on GCJ-02 tiles the map opens where that
    place is drawn (like the data), and parkmap.js writes the view back by the same offset."""
    from geo.datum import wgs84_to_gcj02

    html = client.get("/map/changning?basemap=amap&view=31.2,121.4,15").get_data(as_text=True)
    lat, lon = (float(x) for x in re.search(r"center: \[([^,]+), ([^\]]+)\]", html).groups())
    glon, glat = wgs84_to_gcj02(121.4, 31.2)
    assert (lat, lon) == pytest.approx((glat, glon), abs=1e-6)
    offset = json.loads(re.search(r'"viewOffset":(\[[^\]]*\])', html).group(1))
    assert offset == pytest.approx([glat - 31.2, glon - 121.4], abs=1e-6)
    osm = client.get("/map/changning?basemap=osm&view=31.2,121.4,15").get_data(as_text=True)
    assert "center: [31.2, 121.4]" in osm and '"viewOffset":[0.0,0.0]' in osm


def _ui_config(html: str) -> dict:
    """The config the composed page gives Parkmap.ui."""
    return json.loads(re.search(r"Parkmap\.ui\(map_\d+, (\{.*?\})\s*(?:, layer_control_\d+)?\);",
                                html).group(1))


@pytest.mark.parametrize("basemap, credited", [("none", True), ("amap", True), ("osm", False),
                                               ("carto", False)])
def test_osm_data_is_credited_on_the_map_once(client, built, basemap, credited):
    """Our vector layers draw OSM data (ODbL): the map credits it unless the tiles already do."""
    html = client.get(f"/map/changning?basemap={basemap}").get_data(as_text=True)
    assert ("OpenStreetMap" in _ui_config(html)["attribution"]) is credited
    no_osm = render_parts(compose(MapRequest(("districts",), basemap=basemap),
                                   Delivery(store=_store(built))))["script"]
    assert _ui_config(no_osm)["attribution"] == ""


def test_basemap_none_policy_allows_only_this_app(client):
    csp = client.get("/map/jingan").headers["Content-Security-Policy"]
    assert "img-src 'self' data:;" in csp and "default-src 'self'" in csp


def test_tianditu_only_with_a_key(built):
    no_key = create_app({"LAYERS_DIR": str(built)}).test_client().get("/map/jingan?basemap=tianditu")
    assert no_key.status_code == 400 and "none, osm, carto, amap" in no_key.get_data(as_text=True)
    with_key = create_app({"LAYERS_DIR": str(built), "TIANDITU_KEY": "abc123"}).test_client()
    r = with_key.get("/map/jingan?basemap=tianditu")
    assert r.status_code == 200 and "tianditu.gov.cn" in r.get_data(as_text=True)
    assert "tk=abc123" in r.get_data(as_text=True)


def test_embed_controls(client):
    html = client.get("/embed/changning?controls=legend").get_data(as_text=True)
    assert '"controls":["legend"]' in html and "L.control.layers" not in html
    html = client.get("/embed/changning?controls=none").get_data(as_text=True)
    assert '"controls":[]' in html
    html = client.get("/embed/changning").get_data(as_text=True)
    assert "L.control.layers" in html
    assert '"controls":' + json.dumps([c for c in CONTROLS if c != "layers"]).replace(" ", "") in html


@pytest.mark.parametrize("query, message", [
    ("lang=fr", "lang='fr' is not allowed; use one of: zh, en"),
    ("basemap=google", "basemap='google' is not allowed; use one of: none, osm, carto, amap"),
    ("view=abc", "use lat,lon,zoom"),
    ("view=31.2,121.4", "use lat,lon,zoom"),
    ("view=91,121.4,12", "out of range"),
    ("view=31.2,121.4,40", "out of range"),
    ("view=nan,121.4,12", "out of range"),
    ("layers=", "layers is empty; give one or more of: " + ", ".join(layer_ids())),
    ("layers=,,", "layers is empty"),
])
@pytest.mark.parametrize("kind", ["map", "embed"])
def test_bad_values_are_400_naming_what_is_allowed(client, kind, query, message):
    r = client.get(f"/{kind}/changning?{query}")
    assert r.status_code == 400
    assert r.mimetype == "text/html"
    assert message.replace("'", "&#39;") in r.get_data(as_text=True)
    j = client.get(f"/{kind}/changning?{query}", headers={"Accept": "application/json"})
    assert j.status_code == 400 and j.is_json and message in j.get_json()["error"]


def test_long_bad_values_are_cut_short_in_messages(client):
    r = client.get("/map/changning?basemap=" + "x" * 5000, headers={"Accept": "application/json"})
    assert r.status_code == 400 and "x" * 40 in r.get_json()["error"]
    assert "x" * 41 not in r.get_json()["error"]


def test_bad_embed_controls_are_400(client):
    r = client.get("/embed/changning?controls=legend,minimap", headers={"Accept": "application/json"})
    assert r.status_code == 400
    assert r.get_json()["error"] == ("controls='minimap' is not allowed; use one of: "
                                     "layers, legend, search, fullscreen, scale, none")


@pytest.mark.parametrize("url, message", [
    ("/map/nowhere", "unknown map 'nowhere'; known maps: changning, jingan, overview"),
    ("/embed/nowhere", "unknown map 'nowhere'"),
    ("/map/changning?layers=parks,roads", "unknown layer 'roads'; known layers: "),
    ("/embed/jingan?layers=roads", "unknown layer 'roads'"),
])
def test_unknown_map_or_layer_is_404(client, url, message):
    r = client.get(url)
    assert r.status_code == 404 and message.replace("'", "&#39;") in r.get_data(as_text=True)
    j = client.get(url, headers={"Accept": "application/json"})
    assert j.status_code == 404 and message in j.get_json()["error"]


def test_hostile_path_is_escaped_in_the_error_page(client):
    r = client.get("/map/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    assert r.status_code == 404
    body = r.get_data(as_text=True)
    assert EVIL not in body and "unknown map &#39;&lt;img src=x onerror=alert(1)&gt;&#39;" in body


def test_unknown_route_and_method(client):
    r = client.get("/nothing-here")
    assert r.status_code == 404 and r.mimetype == "text/html"
    r = client.post("/api/maps")
    assert r.status_code == 405 and r.is_json and "GET" in r.headers["Allow"]


# --- API ---------------------------------------------------------------------------------

def test_api_maps(client):
    r = client.get("/api/maps")
    assert r.status_code == 200 and r.is_json
    maps = r.get_json()["maps"]
    assert [m["id"] for m in maps] == [m.id for m in MAPS]
    first = maps[0]
    assert first["layers"] == list(MAPS[0].layers) and first["urls"]["embed"] == f"/embed/{MAPS[0].id}"
    assert client.get("/api/maps/jingan").get_json()["title_zh"] == MAPS[1].title_zh
    r = client.get("/api/maps/nowhere")
    assert r.status_code == 404 and r.get_json()["error"].startswith("unknown map 'nowhere'")


def test_api_layers_metadata_from_registry_and_build(client, built):
    layers = client.get("/api/layers").get_json()["layers"]
    assert [entry["id"] for entry in layers] == layer_ids()
    for entry, spec in zip(layers, all_layers()):
        assert entry["title_zh"] == spec.title_zh and entry["title_en"] == spec.title_en
        assert set(entry["styles"]) == set(spec.styles)
        assert entry["feature_count"] == len(_fc(built, spec.id)["features"])
        assert entry["geojson"] == f"/api/layers/{spec.id}.geojson"


@pytest.mark.parametrize("layer_id", layer_ids())
def test_api_layer_geojson_served_as_built(client, built, layer_id):
    r = client.get(f"/api/layers/{layer_id}.geojson")
    assert r.status_code == 200 and r.mimetype == "application/geo+json"
    assert r.get_data(as_text=True) == (built / f"{layer_id}.geojson").read_text(encoding="utf-8")


def test_api_layer_geojson_gcj02_shift(client, built):
    wgs = {f["properties"]["id"]: f for f in _fc(built, "line2")["features"]}
    r = client.get("/api/layers/line2.geojson?datum=gcj02")
    assert r.status_code == 200
    gcj = {f["properties"]["id"]: f for f in r.get_json(force=True)["features"]}
    assert gcj.keys() == wgs.keys()
    for fid, f in wgs.items():
        if f["geometry"] and f["geometry"]["type"] == "Point":
            d = distance_m(shape(f["geometry"]), shape(gcj[fid]["geometry"]))
            assert 300 < d < 700, (fid, d)  # the GCJ-02 offset in Shanghai is ~0.5 km
            assert gcj[fid]["properties"] == f["properties"]


def test_api_layer_errors(client):
    r = client.get("/api/layers/roads.geojson")
    assert r.status_code == 404 and r.get_json()["error"].startswith("unknown layer 'roads'")
    r = client.get("/api/layers/parks.geojson?datum=bd09")
    assert r.status_code == 400
    assert r.get_json()["error"] == "datum='bd09' is not allowed; use one of: wgs84, gcj02"


def test_api_parks_csv(client, built):
    r = client.get("/api/parks.csv")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    parks = _fc(built, "parks")["features"]
    assert [row["id"] for row in rows] == [f["properties"]["id"] for f in parks]
    for row, f in zip(rows, parks):
        p = f["properties"]
        assert row["name_zh"] == p["name_zh"] and row["zone"] == (p["zone"] or "")
        assert row["confidence"] == p["confidence"] and row["source"] == p["source"]
        assert row["themes"] == "; ".join(p.get("themes") or [])
        assert row["approximate"] == {True: "true", False: "false", None: ""}[p.get("approximate")]
        if f["geometry"] is None:
            assert row["lon"] == row["lat"] == "" and row["confidence"] == "unlocated"
        else:
            pt = shape(f["geometry"]).representative_point()
            assert abs(float(row["lon"]) - pt.x) < 1e-6 and abs(float(row["lat"]) - pt.y) < 1e-6
    assert any(row["lon"] == "" for row in rows), "the plan names parks we could not place"


def test_not_built_is_a_clear_server_error(tmp_path):
    r = create_app({"LAYERS_DIR": str(tmp_path)}).test_client().get("/api/layers/parks.geojson")
    assert r.status_code == 503
    assert "layers.json missing" in r.get_json()["error"] and "parkmap build" in r.get_json()["error"]


# --- headers, caching, embedding ---------------------------------------------------------

@pytest.mark.parametrize("url", ["/", "/map/jingan", "/embed/jingan", "/api/maps", "/api/layers",
                                 "/api/layers/parks.geojson", "/api/parks.csv",
                                 "/vendor/leaflet/leaflet.js", "/static/parkmap.js"])
def test_every_response_has_nosniff_etag_and_cache_control(client, url):
    with client.get(url) as r:
        assert r.status_code == 200
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers.get("ETag") and "max-age=" in r.headers["Cache-Control"]
    with client.get(url, headers={"If-None-Match": r.headers["ETag"]}) as again:
        assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize("url", ["/map/overview", "/api/layers/context.geojson", "/api/parks.csv",
                                 "/vendor/leaflet/leaflet.js", "/static/parkmap.css"])
def test_gzip_when_the_client_takes_it(client, url):
    with client.get(url) as plain:
        body, tag = plain.data, plain.headers["ETag"]
        assert "Content-Encoding" not in plain.headers
    with client.get(url, headers={"Accept-Encoding": "gzip, deflate"}) as r:
        assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in r.headers["Vary"]
        assert gzip.decompress(r.data) == body and len(r.data) < len(body) / 2
        assert r.headers["ETag"] != tag
    with client.get(url, headers={"Accept-Encoding": "gzip",
                                  "If-None-Match": r.headers["ETag"]}) as again:
        assert again.status_code == 304


@pytest.mark.parametrize("url", ["/map/overview", "/api/layers/context.geojson?detail=map",
                                 "/assets/x/static/parkmap.js"])
def test_brotli_for_bodies_compressed_ahead_when_the_client_takes_it(client, url):
    import brotli

    url = url.replace("/x/", f"/{assets.bundle_hash()}/")
    with client.get(url) as plain:
        body = plain.data
    with client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"}) as r:
        assert r.status_code == 200 and r.headers["Content-Encoding"] == "br"
        assert brotli.decompress(r.data) == body and r.headers["ETag"].endswith('-br"')
        assert "Accept-Encoding" in r.headers["Vary"]
    with client.get(url, headers={"Accept-Encoding": "gzip"}) as gz:
        assert gz.headers["Content-Encoding"] == "gzip" and len(r.data) < len(gz.data)
    with client.get(url, headers={"Accept-Encoding": "br", "If-None-Match": r.headers["ETag"]}
                    ) as again:
        assert again.status_code == 304
    # made per request (a CSV of a query), so gzip, as compressing it ahead cannot be
    with client.get("/api/parks.csv", headers={"Accept-Encoding": "br, gzip"}) as csv:
        assert csv.headers["Content-Encoding"] == "gzip"


def test_errors_are_not_cached(client):
    assert client.get("/map/nowhere").headers["Cache-Control"] == "no-store"


def test_same_page_same_bytes_across_app_instances(built):
    """Deterministic composition: ETags agree between processes/workers."""
    a = create_app({"LAYERS_DIR": str(built)}).test_client().get("/embed/overview?lang=en")
    b = create_app({"LAYERS_DIR": str(built)}).test_client().get("/embed/overview?lang=en")
    assert a.data == b.data and a.headers["ETag"] == b.headers["ETag"]


def test_framing_allowed_by_default_and_restrictable(built):
    r = create_app({"LAYERS_DIR": str(built)}).test_client().get("/embed/jingan")
    assert r.headers["Content-Security-Policy"].endswith("frame-ancestors *")
    assert "X-Frame-Options" not in r.headers
    strict = create_app({"LAYERS_DIR": str(built),
                         "FRAME_ANCESTORS": "'self' https://example.org"}).test_client()
    csp = strict.get("/embed/jingan").headers["Content-Security-Policy"]
    assert csp.endswith("frame-ancestors 'self' https://example.org")


def test_vendor_assets_only_known_files(client):
    with client.get("/vendor/leaflet/leaflet.css") as r:
        assert r.mimetype == "text/css"
    with client.get("/vendor/leaflet/images/layers.png") as r:
        assert r.mimetype == "image/png"
    assert client.get("/vendor/leaflet/leaflet.js.map").status_code == 404
    assert client.get("/vendor/leaflet/../__init__.py").status_code == 404


def test_bundle_holds_every_asset_a_page_references(client):
    html = client.get("/map/overview").get_data(as_text=True)
    bundle, prefix = assets.bundle(), f"/assets/{assets.bundle_hash()}/"
    for ref in _asset_refs(html):
        name = ref[len(prefix):]
        assert ref.startswith(prefix) and name in bundle and bundle[name].is_file()
        with client.get(ref) as r:  # content-hashed: cached for a year, never revalidated
            assert r.status_code == 200 and r.data == assets.asset_bytes(name)
            assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    with client.get("/assets/000000000000/static/parkmap.js") as r:  # an old page's URL
        assert r.status_code == 200 and "immutable" not in r.headers["Cache-Control"]
    assert client.get(f"{prefix}static/nope.js").status_code == 404
    assert client.get(f"{prefix}../webapp/__init__.py").status_code == 404


def test_layer_data_named_by_its_build_is_immutable(client):
    html = client.get("/map/changning").get_data(as_text=True)
    url = re.search(r'"url":"(/api/layers/parks\.geojson\?detail=map\\u0026v=[0-9a-f]+)"',
                    html).group(1).replace("\\u0026", "&")
    assert "immutable" in client.get(url).headers["Cache-Control"]
    assert "immutable" not in client.get("/api/layers/parks.geojson?v=old").headers["Cache-Control"]
    assert "immutable" not in client.get("/api/layers/parks.geojson").headers["Cache-Control"]


# --- settings ----------------------------------------------------------------------------

def test_settings_precedence(monkeypatch, built):
    monkeypatch.setenv("PARKMAP_FRAME_ANCESTORS", "https://env.example")
    monkeypatch.setenv("PARKMAP_CACHE_MAX_AGE", "60")
    app = create_app({"LAYERS_DIR": str(built)})
    assert app.config["FRAME_ANCESTORS"] == "https://env.example"
    assert app.config["CACHE_MAX_AGE"] == 60
    assert app.test_client().get("/api/maps").headers["Cache-Control"] == "public, max-age=60"
    app = create_app({"LAYERS_DIR": str(built), "FRAME_ANCESTORS": "'none'"})
    assert app.config["FRAME_ANCESTORS"] == "'none'"


def test_settings_defaults_and_bad_values():
    cfg = settings.load(environ={})
    assert cfg["FRAME_ANCESTORS"] == "*" and cfg["TIANDITU_KEY"] == ""
    assert cfg["LAYERS_DIR"].endswith("data/layers") and cfg["INSTANCE_DIR"].endswith("instance")
    with pytest.raises(ValueError, match="PARKMAP_CACHE_MAX_AGE must be an integer"):
        settings.load(environ={"PARKMAP_CACHE_MAX_AGE": "soon"})
    with pytest.raises(ValueError, match="space-separated"):
        settings.load({"FRAME_ANCESTORS": "*; script-src *"}, environ={})


# --- escaping ----------------------------------------------------------------------------

@pytest.fixture()
def evil_layers(built, tmp_path) -> Path:
    """A copy of the built layers with a hostile park name (and theme)."""
    out = tmp_path / "evil"
    shutil.copytree(built, out)
    fc = _fc(built, "parks")
    located = next(f for f in fc["features"] if f["geometry"])
    located["properties"]["name_zh"] = "园区" + EVIL
    located["properties"]["themes"] = [EVIL]
    (out / "parks.geojson").write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    return out


def test_hostile_names_are_escaped_in_pages(evil_layers):
    client = create_app({"LAYERS_DIR": str(evil_layers)}).test_client()
    html = client.get("/map/changning").get_data(as_text=True)
    assert EVIL not in html  # park names reach the page as data (the browser test has them)
    with client.get("/api/layers/parks.geojson?detail=map") as r:
        assert EVIL in r.get_data(as_text=True) and r.mimetype == "application/geo+json"
    inline = render_parts(compose(MapRequest(("parks",)), _inline(evil_layers)))["script"]
    assert EVIL not in inline and "\\u003cimg src=x onerror=alert(1)\\u003e" in inline


def _store(path):
    from layers.store import LayerStore

    return LayerStore(path)


def _inline(path) -> Delivery:
    return Delivery(data="inline", store=_store(path))


# --- composition -------------------------------------------------------------------------

def test_compose_inline_needs_no_server(built):
    m = compose(MapRequest(("districts", "line2")),
                Delivery(data="inline", store=_store(built), asset_url=lambda p: "assets/" + p))
    html = m.get_root().render()
    assert "fetch" not in html and '"data":{"type":"FeatureCollection"' in html
    assert '<script src="assets/vendor/leaflet/leaflet.js">' in html
    assert '"line2-station-' in html


def test_compose_inline_amap_is_shifted(built):
    wgs = render_parts(compose(MapRequest(("line2",)), _inline(built)))["script"]
    gcj = render_parts(compose(MapRequest(("line2",), basemap="amap"), _inline(built)))["script"]
    assert wgs != gcj
    station = next(f for f in _fc(built, "line2")["features"] if f["geometry"]["type"] == "Point")
    lon, lat = station["geometry"]["coordinates"]
    assert f"[{lon},{lat}]" in wgs.replace(" ", "") and f"[{lon},{lat}]" not in gcj.replace(" ", "")


# --- parkmap serve -----------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_parkmap_serve_starts_on_built_layers(built):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "webapp.cli", "serve", "--port", str(port),
                             "--layers", str(built)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/maps", timeout=2) as r:
                    body = json.loads(r.read())
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        assert [m["id"] for m in body["maps"]] == [m.id for m in MAPS]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stderr.close()


def test_parkmap_serve_refuses_unbuilt_layers(tmp_path):
    """One line and exit 2 at start, not a server answering every map with a 500."""
    proc = subprocess.run([sys.executable, "-m", "webapp.cli", "serve", "--port", str(_free_port()),
                           "--layers", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "parkmap build" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_favicon_is_answered_without_an_error(client):
    r = client.get("/favicon.ico")
    assert r.status_code == 204 and r.data == b""


def test_a_rebuild_reaches_a_running_app(built, tmp_path):
    """`parkmap build` replaces the folder under a running server: its pages, layer URLs (a new
    build tag, so no browser draws a cached layer) and data follow without a restart."""
    import shutil

    from layers.build import build_all

    layers = tmp_path / "layers"
    shutil.copytree(built, layers)
    client = create_app({"LAYERS_DIR": str(layers)}).test_client()
    first = client.get("/map/changning").get_data(as_text=True)
    tag = re.search(r"parks\.geojson\?detail=map\\u0026v=([0-9a-f]+)", first).group(1)
    doc = json.loads(client.get(f"/api/layers/parks.geojson?v={tag}").get_data())
    doc["features"][0]["properties"]["name_en"] = "Renamed in a rebuild"
    (layers / "parks.geojson").write_text(json.dumps(doc), encoding="utf-8")
    build_all(tmp_path / "other", log=lambda m: None)  # a new layers.json, as a build writes it
    shutil.copy(tmp_path / "other" / "layers.json", layers / "layers.json")
    again = client.get("/map/changning?lang=en").get_data(as_text=True)
    assert re.search(r"parks\.geojson\?detail=map\\u0026v=([0-9a-f]+)", again).group(1) != tag
    assert "Renamed in a rebuild" in again  # the parks panel, composed anew
    assert "Renamed in a rebuild" in client.get("/api/parks.csv").get_data(as_text=True)

"""?focus=<feature id> on /map/<id> and /embed/<id>, the popups' links to the plan passages,
and the hooks a same-origin host page (the plan reader) calls: Parkmap.highlight(ids) and the
"parkmap:select" event. Flask's test client for the server's checks; a real Chromium
(conftest ``browser``) for what the reader sees."""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from werkzeug.wrappers import Response

from layers.store import LayerStore
from webapp import create_app
from webapp.passages import passage_url, references
from webapp.render.compose import feature_ids

from support import LiveServer, until
from test_browser_maps import Visit, _css_id, _features, _park_with_passage
from test_passages import CASES, NOT_REFERENCES


def _located_parks(built: Path) -> list[dict]:
    return [f for f in _features(built, "parks") if f["geometry"]]


def _config(html: str) -> dict:
    """The config the page passes to Parkmap.ui."""
    m = re.search(r"Parkmap\.ui\(map_\d+, (\{.*?\})(?:, layer_control_\d+)?\);\n", html)
    return json.loads(m.group(1))


# --- the server's checks (Flask test client) -----------------------------------------------

@pytest.fixture()
def client(built, tmp_path):
    return create_app({"LAYERS_DIR": str(built),
                       "INSTANCE_DIR": str(tmp_path / "instance")}).test_client()


@pytest.mark.parametrize("kind", ["map", "embed"])
def test_focus_on_a_located_feature_is_in_the_page_config(client, built, kind):
    park = _park_with_passage(built)["properties"]["id"]
    r = client.get(f"/{kind}/changning?focus={quote(park)}")
    assert r.status_code == 200
    config = _config(r.get_data(as_text=True))
    assert config["focus"] == {"id": park, "layer": "parks"}
    assert config["planBase"] == "/plan/"
    assert config["text"]["read_plan"] == "在规划原文中阅读"
    assert _config(client.get(f"/{kind}/changning").get_data(as_text=True))["focus"] is None


def test_focus_is_part_of_the_page_cache_key(client, built):
    a, b = (f["properties"]["id"] for f in _located_parks(built)[:2])
    pa = client.get(f"/map/changning?focus={a}").get_data(as_text=True)
    pb = client.get(f"/map/changning?focus={b}").get_data(as_text=True)
    assert _config(pa)["focus"]["id"] == a and _config(pb)["focus"]["id"] == b
    assert _config(client.get(f"/map/changning?focus={a}").get_data(as_text=True)) == _config(pa)


def test_focus_on_an_offered_layer_names_that_layer(client, built):
    """subdistricts is offered unticked on the Changning map: the page shows it to focus."""
    sub = next(f for f in _features(built, "subdistricts") if f["geometry"])["properties"]["id"]
    r = client.get(f"/map/changning?focus={quote(sub)}")
    assert r.status_code == 200 and _config(r.get_data(as_text=True))["focus"] == {
        "id": sub, "layer": "subdistricts"}
    # a layer left out of ?layers is still offered (unticked) on a named map
    park = _park_with_passage(built)["properties"]["id"]
    r = client.get(f"/embed/changning?layers=districts&focus={park}")
    assert r.status_code == 200 and _config(r.get_data(as_text=True))["focus"]["layer"] == "parks"


@pytest.mark.parametrize("kind", ["map", "embed"])
def test_unknown_focus_is_404_saying_so(client, built, kind):
    layout = next(f for f in _features(built, "jingan_layout"))["properties"]["id"]
    for fid in ("no-such-park", layout):  # layout: a feature, but not of the Changning map
        r = client.get(f"/{kind}/changning?focus={quote(fid)}",
                       headers={"Accept": "application/json"})
        assert r.status_code == 404
        assert r.get_json()["error"] == (
            f"focus={fid!r}: no feature with that id on this map's layers (context, districts, "
            "subdistricts, changning_zones, line2, parks)")
    html = client.get(f"/{kind}/changning?focus=%3Cimg%20src%3Dx%3E")
    assert html.status_code == 404 and "<img src=x>" not in html.get_data(as_text=True)
    assert client.get(f"/{kind}/jingan?focus={layout}").status_code == 200


def test_focus_on_what_the_map_leaves_out_is_404(client, built):
    """The base map draws only what lies near the planned districts (map_clip_m): a feature
    beyond is in the build but not on the map."""
    where = feature_ids(LayerStore(built), "context")
    outside = next(i for i, w in where.items() if w == "outside")
    inside = next(i for i, w in where.items() if w == "located")
    r = client.get(f"/map/changning?focus={outside}", headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.get_json()["error"] == (
        f"focus={outside!r} lies outside the area the map draws of layer 'context'")
    assert client.get(f"/map/changning?focus={inside}").status_code == 200


@pytest.mark.parametrize("kind", ["map", "embed"])
def test_unlocated_focus_is_400_saying_it_has_no_location(client, built, kind):
    unlocated = next(f for f in _features(built, "parks") if f["geometry"] is None)
    fid = unlocated["properties"]["id"]
    r = client.get(f"/{kind}/overview?focus={fid}", headers={"Accept": "application/json"})
    assert r.status_code == 400
    assert r.get_json()["error"] == (f"focus={fid!r} has no location on the map (it is "
                                     "unlocated), so the map cannot open at it")


@pytest.mark.parametrize("value, message", [
    ("", "focus is empty"), ("%20", "focus is empty"),
    ("x" * 201, "is not a feature id (at most 200 printable characters)"),
    ("a%0Ab", "is not a feature id"),
])
def test_malformed_focus_is_400(client, value, message):
    r = client.get(f"/map/changning?focus={value}", headers={"Accept": "application/json"})
    assert r.status_code == 400 and message in r.get_json()["error"]


# --- in the browser -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(built):
    s = LiveServer(_with_host_page(create_app({"LAYERS_DIR": str(built)})))
    yield s
    s.close()


HOST = "/__host"  # a same-origin page embedding our map, as the plan reader will


def _with_host_page(app):
    """The app, plus HOST: a page of the same origin that embeds ``?src`` in an iframe."""
    def wsgi(environ, start_response):
        if environ["PATH_INFO"] != HOST:
            return app(environ, start_response)
        src = parse_qs(environ.get("QUERY_STRING", ""))["src"][0]
        html = (f'<!doctype html><title>plan</title><iframe src="{src}" title="map" '
                'width="900" height="600"></iframe>')
        return Response(html, mimetype="text/html")(environ, start_response)
    return wsgi


@pytest.fixture()
def visit(browser, server):
    visits = []

    def make(base=None, **viewport):
        v = Visit(browser, base or server.base, **viewport)
        visits.append(v)
        return v

    yield make
    for v in visits:
        v.close()


def _popup_names(page) -> list[str]:
    return page.locator(".leaflet-popup-content .pm-popup h3").all_inner_texts()


@pytest.mark.browser
@pytest.mark.parametrize("kind", ["map", "embed"])
def test_page_opens_at_the_focused_park_with_its_popup(visit, built, kind):
    park = _park_with_passage(built)
    p = park["properties"]
    v = visit()
    page = v.open(f"/{kind}/changning?focus={p['id']}")
    page.locator(".leaflet-popup-content .pm-popup[data-pm-full]").wait_for()
    assert _popup_names(page) == [p["name_zh"]]
    lon, lat = park["geometry"]["coordinates"]
    lat_c, lon_c, zoom = page.evaluate(
        "[Parkmap.map.getCenter().lat, Parkmap.map.getCenter().lng, Parkmap.map.getZoom()]")
    assert abs(lat_c - lat) < 0.01 and abs(lon_c - lon) < 0.01 and zoom >= 16
    assert page.evaluate(f"Parkmap.map.getBounds().contains([{lat}, {lon}])")
    assert parse_qs(urlsplit(page.url).query)["focus"] == [p["id"]]  # kept while it is open
    assert v.errors == [] and v.outside == []


@pytest.mark.browser
def test_popup_links_each_plan_reference_to_its_passage(visit, built):
    park = _park_with_passage(built)
    p = park["properties"]
    v = visit()
    page = v.open(f"/embed/changning?focus={p['id']}")
    popup = page.locator(".leaflet-popup-content .pm-popup[data-pm-full]")
    popup.wait_for()
    links = popup.locator(".pm-passage cite a.pm-plan-link")
    refs = references(p["source"])
    assert links.all_inner_texts() == refs  # the reference as written
    for i, ref in enumerate(refs):
        link = links.nth(i)
        assert link.get_attribute("href") == passage_url(ref)
        assert link.get_attribute("target") == "_top"  # out of the iframe
        assert link.get_attribute("title") == "在规划原文中阅读"
        assert link.get_attribute("aria-label") == f"{ref} — 在规划原文中阅读"
    assert p["source"] in popup.locator(".pm-passage cite").inner_text()  # the text reads as before
    named = popup.locator(".pm-named_in a.pm-plan-link")
    assert named.all_inner_texts() == p["named_in"]
    assert [named.nth(i).get_attribute("href") for i in range(named.count())] == [
        f"/plan/{d}" for d in p["named_in"]]
    assert v.errors == []


@pytest.mark.browser
def test_references_that_are_not_plan_passages_stay_text(visit, built):
    station = next(f for f in _features(built, "line2")
                   if f["geometry"] and "; " in (f["properties"].get("source") or "")
                   and any(passage_url(r) is None for r in references(f["properties"]["source"])))
    p = station["properties"]
    v = visit()
    page = v.open(f"/map/changning?lang=en&focus={p['id']}")
    dd = page.locator(".leaflet-popup-content .pm-popup[data-pm-full] .pm-source")
    dd.wait_for()
    assert dd.inner_text() == p["source"]
    linked = [r for r in references(p["source"]) if passage_url(r)]
    assert dd.locator("a").all_inner_texts() == linked
    assert dd.locator("a").first.get_attribute("title") == "Read in the plan"


@pytest.mark.browser
def test_the_js_anchor_rule_is_the_python_one(visit):
    page = visit().open("/embed/changning")
    for ref, want in CASES:
        assert page.evaluate("r => Parkmap.passageAnchor(r)", ref) == list(want), ref
    for ref in NOT_REFERENCES:
        assert page.evaluate("r => Parkmap.passageAnchor(r)", ref) is None, ref


@pytest.mark.browser
def test_focus_drops_from_the_url_when_the_reader_closes_or_moves_and_never_reopens(visit, built):
    p = _park_with_passage(built)["properties"]
    v = visit()
    page = v.open(f"/map/changning?focus={p['id']}")
    page.locator(".leaflet-popup-content .pm-popup").wait_for()
    page.wait_for_timeout(400)  # the popup's own auto-pan: not the reader's move
    assert "focus" in parse_qs(urlsplit(page.url).query)
    page.locator(".leaflet-popup-close-button").click()
    until(page, "!new URLSearchParams(location.search).has('focus')")
    q = parse_qs(urlsplit(page.url).query)
    assert q["view"] and q["layers"]  # the view it opened at stays
    box = page.locator(".pm-mapbox").bounding_box()
    page.mouse.move(box["x"] + 400, box["y"] + 400)
    page.mouse.down()
    page.mouse.move(box["x"] + 300, box["y"] + 300, steps=5)
    page.mouse.up()
    page.wait_for_timeout(400)
    assert page.locator(".leaflet-popup").count() == 0  # no re-open on a pan

    moved = visit()
    page = moved.open(f"/embed/changning?focus={p['id']}")
    page.locator(".leaflet-popup-content .pm-popup").wait_for()
    box = page.locator(".leaflet-container").bounding_box()
    page.mouse.move(box["x"] + box["width"] - 150, box["y"] + 600)  # clear of the popup
    page.mouse.wheel(0, 300)  # the reader zooms out: the popup stays, the focus goes
    until(page, "!new URLSearchParams(location.search).has('focus')")
    assert moved.errors == []


@pytest.mark.browser
def test_focus_shows_an_offered_layer_and_survives_finer_outlines(visit, built):
    sub = next(f for f in _features(built, "subdistricts") if f["geometry"])["properties"]
    v = visit()
    page = v.open(f"/map/changning?focus={sub['id']}")
    page.locator(".leaflet-popup-content .pm-popup h3", has_text=sub["name_zh"]).wait_for()
    assert page.evaluate("Parkmap.map.hasLayer(Parkmap.layers.subdistricts)")
    assert page.locator(".leaflet-control-layers-overlays input").nth(
        page.evaluate("Parkmap.order.indexOf('subdistricts')")).is_checked()
    until(page, "new URLSearchParams(location.search).get('layers').includes('subdistricts')")

    def span(f):
        xy = [c for part in json.dumps(f["geometry"]["coordinates"]).split("]")
              for c in [part.strip("[, ")] if c]
        pts = [tuple(map(float, c.split(","))) for c in xy if c.count(",") == 1]
        return max(max(x for x, _ in pts) - min(x for x, _ in pts),
                   max(y for _, y in pts) - min(y for _, y in pts))

    # a short stretch of the base map: the view zooms past its overview outlines, and the
    # popup stays open once the finer ones replace them
    drawn = feature_ids(LayerStore(built), "context")
    small = next(f for f in _features(built, "context")
                 if drawn.get(f["properties"]["id"]) == "located"
                 and f["properties"].get("name_zh") and span(f) < 0.003)
    v2 = visit()
    page = v2.open(f"/map/changning?focus={small['properties']['id']}")
    until(page, "document.querySelector('.leaflet-popup-content .pm-popup h3') !== null")
    assert page.evaluate("Parkmap.map.getZoom()") > 14
    until(page, "performance.getEntriesByType('resource').some("
                 "e => e.name.includes('/context.geojson') && e.name.includes('detail=map'))")
    page.wait_for_timeout(500)
    assert _popup_names(page) == [small["properties"]["name_zh"]]
    assert v.errors == [] and v2.errors == []


@pytest.mark.browser
def test_focus_reaches_a_point_of_a_clustered_layer(browser, built):
    park = _park_with_passage(built)["properties"]
    s = LiveServer(create_app({"LAYERS_DIR": str(built), "CLUSTER_POINTS": 10}))
    v = Visit(browser, s.base)
    try:
        page = v.open(f"/embed/overview?lang=en&view=31.22,121.42,11&focus={park['id']}")
        page.locator(".leaflet-popup-content .pm-popup h3", has_text=park["name_en"]).wait_for()
        assert page.evaluate(f"Parkmap.highlight({json.dumps([park['id']])})") == 1
        assert v.errors == []
    finally:
        v.close()
        s.close()


@pytest.mark.browser
def test_highlight_marks_exactly_the_features_asked_for(visit, built):
    parks = _located_parks(built)
    a, b, c = (f["properties"]["id"] for f in parks[:3])
    unlocated = next(f for f in _features(built, "parks") if f["geometry"] is None)["properties"]["id"]
    zone = next(f for f in _features(built, "changning_zones"))["properties"]["id"]
    v = visit()
    page = v.open("/map/changning")
    marked = lambda: page.locator(".pm-highlight").count()  # noqa: E731

    def has(fid):
        return page.locator(f"path.{_css_id(fid)}.pm-highlight").count() == 1

    weight = page.locator(f"path.{_css_id(a)}").get_attribute("stroke-width")
    assert page.evaluate(f"Parkmap.highlight({json.dumps([a, b, 'no-such', unlocated])})") == 2
    assert marked() == 2 and has(a) and has(b)
    assert float(page.locator(f"path.{_css_id(a)}").get_attribute("stroke-width")) > float(weight)
    assert page.evaluate(f"Parkmap.highlight({json.dumps([c, zone])})") == 2  # the last set goes
    assert marked() == 2 and has(c) and has(zone) and not has(a)
    assert page.locator(f"path.{_css_id(a)}").get_attribute("stroke-width") == weight
    assert page.evaluate("Parkmap.highlight([])") == 0
    assert marked() == 0
    # emphasis given before a lazy layer is drawn shows once it is
    sub = next(f for f in _features(built, "subdistricts") if f["geometry"])["properties"]["id"]
    assert page.evaluate(f"Parkmap.highlight({json.dumps([sub])})") == 0
    page.evaluate("void Parkmap.map.addLayer(Parkmap.layers.subdistricts)")
    until(page, f"document.querySelectorAll('path.{_css_id(sub)}.pm-highlight').length === 1")
    assert v.errors == []


@pytest.mark.browser
def test_opening_a_popup_dispatches_parkmap_select(visit, built):
    park = _park_with_passage(built)
    p = park["properties"]
    other = next(f for f in _located_parks(built) if f["properties"]["id"] != p["id"])
    v = visit()
    page = v.open("/map/overview")
    page.evaluate("void (window.__sel = [], window.addEventListener('parkmap:select', "
                  "e => window.__sel.push(e.detail)))")
    lon, lat = park["geometry"]["coordinates"]
    page.evaluate(f"void Parkmap.map.setView([{lat}, {lon}], 15, {{animate: false}})")
    page.locator(f"path.{_css_id(p['id'])}").click()  # a click
    until(page, "window.__sel.length === 1")
    assert page.evaluate("window.__sel") == [{"id": p["id"], "layer": "parks"}]
    page.evaluate(f"Parkmap.focus({json.dumps(other['properties']['id'])})")  # a focus
    until(page, "window.__sel.length === 2")
    assert page.evaluate("window.__sel[1]") == {"id": other["properties"]["id"], "layer": "parks"}
    page.fill(".pm-search input", p["name_zh"])  # a search
    page.locator(".pm-search-results button", has_text=p["name_zh"]).first.click()
    until(page, "window.__sel.length === 3")
    assert page.evaluate("window.__sel[2].id") == p["id"]
    assert v.errors == []


@pytest.mark.browser
def test_a_same_origin_host_page_drives_the_embed(visit, built):
    """The plan reader's use: iframe.contentWindow.Parkmap.highlight, and parkmap:select heard
    on the iframe's window; the passage links leave the iframe."""
    park = _park_with_passage(built)["properties"]
    v = visit()
    page = v.page
    page.goto(v.base + HOST + "?src=" + quote(f"/embed/changning?focus={park['id']}"))
    frame = page.frame_locator("iframe")
    frame.locator("html[data-pm-ready]").wait_for(timeout=15000)
    win = "document.querySelector('iframe').contentWindow"
    page.evaluate(f"void (window.__sel = [], {win}.addEventListener('parkmap:select', "
                  "e => window.__sel.push(e.detail)))")
    assert page.evaluate(f"{win}.Parkmap.highlight({json.dumps([park['id']])})") == 1
    assert frame.locator(f"path.{_css_id(park['id'])}.pm-highlight").count() == 1
    other = next(f for f in _located_parks(built) if f["properties"]["id"] != park["id"])
    page.evaluate(f"{win}.Parkmap.focus({json.dumps(other['properties']['id'])})")
    until(page, "window.__sel.length === 1")
    assert page.evaluate("window.__sel[0]") == {"id": other["properties"]["id"], "layer": "parks"}
    link = frame.locator(".leaflet-popup-content a.pm-plan-link").first
    link.wait_for()
    assert link.get_attribute("target") == "_top"
    with page.expect_navigation():
        link.click()
    assert urlsplit(page.url).path.startswith("/plan/")  # the whole page went, not the frame
    assert v.outside == []

"""What a person sees, in a real headless Chromium (conftest ``browser``), served over HTTP
from a thread on 127.0.0.1. Nothing leaves the machine: any non-local request is recorded and
aborted, and the tests that need silence assert that none was even attempted."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.wrappers import Response

from geo.datum import wgs84_to_gcj02
from layers.registry import all_layers, get_layer
from layers.themes import THEMES
from webapp import create_app
from webapp.maps import MAPS

from support import LiveServer, until

pytestmark = pytest.mark.browser
EVIL = "<img src=x onerror=alert(1)>"



@pytest.fixture(scope="module")
def server(built):
    s = LiveServer(create_app({"LAYERS_DIR": str(built)}))
    yield s
    s.close()


class Visit:
    """One page with its console errors, dialogs and every request it tried to make."""

    def __init__(self, browser, base: str, also: tuple[str, ...] = (), width: int = 1280,
                 height: int = 800):
        self.base = base
        local = tuple(b + "/" for b in (base, *also))
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.errors, self.dialogs, self.requests, self.outside = [], [], [], []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", self._dialog)
        self.context.route(lambda url: not url.startswith(local), self._block)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _block(self, route):
        self.outside.append(route.request.url)
        route.abort()

    def open(self, path: str):
        self.page.goto(self.base + path)
        self.page.wait_for_selector("html[data-pm-ready]", timeout=15000)
        return self.page

    def close(self):
        self.context.close()


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


def _features(built: Path, layer_id: str) -> list[dict]:
    return json.loads((built / f"{layer_id}.geojson").read_text(encoding="utf-8"))["features"]


def _park_with_passage(built: Path) -> dict:
    """A located park with its plan passage, alone at its point (so a click reaches it)."""
    points = [f for f in _features(built, "parks") if f["geometry"] and f["geometry"]["type"] == "Point"]
    coords = [tuple(f["geometry"]["coordinates"]) for f in points]
    return next(f for f, c in zip(points, coords)
                if f["properties"].get("passage") and coords.count(c) == 1)


def _centre_on(page, feature, zoom=15):
    lon, lat = feature["geometry"]["coordinates"]
    page.evaluate(f"void Parkmap.map.setView([{lat}, {lon}], {zoom}, {{animate: false}})")


def _css_id(fid: str) -> str:
    return "pm-f-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in fid)


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("named", MAPS, ids=lambda m: m.id)
def test_named_map_renders_with_every_layer_in_the_control(visit, named, lang):
    v = visit()
    page = v.open(f"/map/{named.id}?lang={lang}")
    assert v.errors == [] and v.outside == []
    names = page.locator(".leaflet-control-layers-overlays label span span").all_inner_texts()
    offered = [s.id for s in all_layers() if s.id in (*named.layers, *named.optional)]
    want = [(get_layer(i).title_zh if lang == "zh" else get_layer(i).title_en) for i in offered]
    assert [n.strip() for n in names] == want  # the optional layers too, unticked
    drawn = page.evaluate("Object.keys(Parkmap.layers).filter(id => Parkmap.map.hasLayer(Parkmap.layers[id]))")
    assert drawn == list(named.layers)
    assert page.locator("path.pm-feature").count() > 50  # the vector base and plan layers drew
    legend = page.locator(".pm-legend").inner_text()
    for layer_id in named.layers:
        for style in get_layer(layer_id).styles.values():
            assert (style.label_zh if lang == "zh" else style.label_en) in legend
    assert page.locator(".leaflet-control-scale").count() == 1


@pytest.mark.parametrize("named", MAPS, ids=lambda m: m.id)
def test_embed_renders_and_basemap_none_stays_local(visit, named):
    v = visit()
    v.open(f"/embed/{named.id}")
    assert v.errors == []
    # no tiles, but our layers draw OSM data: its credit (ODbL) is on the map
    assert "OpenStreetMap contributors" in v.page.locator(".leaflet-control-attribution").inner_text()
    assert v.outside == [], "basemap=none must not contact any other host"
    assert all(u.startswith(v.base + "/") for u in v.requests)


def test_clicking_a_park_opens_popup_with_name_and_plan_citation(visit, built):
    park = _park_with_passage(built)
    p = park["properties"]
    v = visit()
    page = v.open("/map/overview")
    _centre_on(page, park)
    page.locator(f"path.{_css_id(p['id'])}").click()
    popup = page.locator(".leaflet-popup-content .pm-popup[data-pm-full]")  # details fetched
    popup.wait_for()
    text = popup.inner_text()
    assert p["name_zh"] in text and p["name_en"] in text  # bilingual
    assert p["source"] in text and p["passage"][:20] in text  # seed + section, and the passage
    assert p["role"] in text
    for theme in p["themes"]:
        assert THEMES[theme][0] in text  # theme ids shown by their labels
    assert get_layer("parks").attribution in text  # the data source
    assert v.errors == []


def test_exact_and_approximate_parks_look_different(visit, built):
    parks = [f["properties"] for f in _features(built, "parks") if f["geometry"]]
    exact = next(p for p in parks if p["confidence"] == "building")
    approx = next(p for p in parks if p["confidence"] == "area")
    v = visit()
    page = v.open("/map/overview")

    def look(p):
        return page.locator(f"path.{_css_id(p['id'])}").evaluate(
            "e => [e.getAttribute('fill-opacity'), e.getAttribute('stroke-dasharray')]")

    assert look(exact) != look(approx)
    assert float(look(exact)[0]) > float(look(approx)[0]) and look(approx)[1]


def test_parks_sharing_a_point_are_all_reachable(visit, built):
    points = [f for f in _features(built, "parks") if f["geometry"] and f["geometry"]["type"] == "Point"]
    coords = [tuple(f["geometry"]["coordinates"]) for f in points]
    shared = next(c for c in coords if coords.count(c) > 1)
    here = [f["properties"] for f, c in zip(points, coords) if c == shared]
    v = visit()
    page = v.open("/map/overview")
    page.evaluate(f"Parkmap.focus({json.dumps(here[0]['id'])})")
    also = page.locator(".leaflet-popup-content .pm-also-list button")
    assert sorted(also.all_inner_texts()) == sorted(p["name_zh"] for p in here[1:])
    also.filter(has_text=here[1]["name_zh"]).click()
    page.locator(".leaflet-popup-content h3", has_text=here[1]["name_zh"]).wait_for()
    page.wait_for_timeout(350)
    assert page.locator(".leaflet-popup h3").all_inner_texts() == [here[1]["name_zh"]]


def test_search_finds_a_park_by_chinese_name_and_zooms_to_it(visit, built):
    park = _park_with_passage(built)
    name = park["properties"]["name_zh"]
    v = visit()
    page = v.open("/map/overview")
    page.fill(".pm-search input", name[:4])
    hit = page.locator(".pm-search-results button", has_text=name).first
    hit.wait_for()
    hit.click()
    page.locator(".leaflet-popup-content .pm-popup h3", has_text=name).wait_for()
    page.wait_for_timeout(300)
    assert page.locator(".leaflet-popup").count() == 1  # it stays open
    assert page.locator(".pm-search-results li").count() == 0  # results cleared out of its way
    lon, lat = park["geometry"]["coordinates"]
    center = page.evaluate("[Parkmap.map.getCenter().lat, Parkmap.map.getCenter().lng, Parkmap.map.getZoom()]")
    assert abs(center[0] - lat) < 0.01 and abs(center[1] - lon) < 0.01 and center[2] >= 15


def test_search_result_popup_stays_open_on_every_named_map(visit, built):
    """A chosen result leaves the DOM during its own click; the map must not take that click
    for a click on the map (which closes popups)."""
    parks = [f["properties"] for f in _features(built, "parks") if f["geometry"]]
    for named in MAPS:
        v = visit()
        page = v.open(f"/map/{named.id}")
        for p in parks[:4]:
            page.fill(".pm-search input", p["name_zh"])
            page.locator(".pm-search-results button", has_text=p["name_zh"]).first.click()
            page.wait_for_timeout(350)  # past the fade-out of the previous popup
            assert page.locator(".leaflet-popup h3").all_inner_texts() == [p["name_zh"]], named.id


def test_search_by_english_name_and_lists_unlocated(visit, built):
    parks = _features(built, "parks")
    unlocated = next(f["properties"] for f in parks if f["geometry"] is None)
    v = visit()
    page = v.open("/map/overview?lang=en")
    page.fill(".pm-search input", unlocated["name_zh"])
    row = page.locator(".pm-search-results button", has_text=unlocated["name_zh"]).first
    row.wait_for()
    assert row.is_disabled() and "unlocated" in row.inner_text()


def test_parks_panel_filters_and_marks_unlocated(visit, built):
    parks = [f["properties"] for f in _features(built, "parks")]
    v = visit()
    page = v.open("/map/overview")
    items = page.locator("#pm-parks li")
    assert items.count() == len(parks)
    assert page.locator("#pm-parks li.pm-unlocated .pm-badge").count() == sum(
        1 for f in _features(built, "parks") if f["geometry"] is None)
    page.select_option("select[data-pm-filter=district]", "jingan")
    assert page.locator("#pm-parks-count").inner_text() == str(
        sum(1 for p in parks if p["district"] == "jingan"))
    page.select_option("select[data-pm-filter=district]", "")
    theme = next(t for p in parks for t in (p.get("themes") or []))
    page.select_option("select[data-pm-filter=theme]", theme)
    visible = page.locator("#pm-parks li:not([hidden])").count()
    assert visible == sum(1 for p in parks if theme in (p.get("themes") or []))


def test_panel_zooms_to_a_park_and_opens_it(visit, built):
    park = _park_with_passage(built)
    p = park["properties"]
    v = visit()
    page = v.open("/map/overview?lang=en")
    page.locator(f'#pm-parks button[data-id="{p["id"]}"]').click()
    page.locator(".leaflet-popup-content h3", has_text=p["name_en"]).wait_for()
    lon, lat = park["geometry"]["coordinates"]
    center = page.evaluate("[Parkmap.map.getCenter().lat, Parkmap.map.getCenter().lng]")
    assert abs(center[0] - lat) < 0.01 and abs(center[1] - lon) < 0.01


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_on_a_phone_the_map_is_not_covered_by_its_controls(visit, lang):
    """At 400 px the layer control and the legend start collapsed (open, they covered the
    whole map); a tap on the control's button opens it, a tap on the map closes it."""
    v = visit(width=400, height=800)
    page = v.open(f"/map/overview?lang={lang}")
    control = page.locator(".leaflet-control-layers")
    assert "leaflet-control-layers-expanded" not in control.get_attribute("class")
    assert page.locator(".pm-legend").evaluate("d => d.open") is False
    box = page.locator(".pm-mapbox").bounding_box()
    assert box["width"] == 400 and box["height"] > 800 / 3
    page.locator(".leaflet-control-layers-toggle").click()
    assert "leaflet-control-layers-expanded" in control.get_attribute("class")
    assert page.locator(".leaflet-control-layers-overlays label").count() == len(
        MAPS[2].layers + MAPS[2].optional)
    page.mouse.click(box["x"] + 200, box["y"] + box["height"] - 60)
    assert "leaflet-control-layers-expanded" not in control.get_attribute("class")
    assert v.errors == []
    wide = visit()
    wide.open(f"/map/overview?lang={lang}")
    assert "leaflet-control-layers-expanded" in wide.page.locator(
        ".leaflet-control-layers").get_attribute("class")
    assert wide.page.locator(".pm-legend").evaluate("d => d.open") is True


def test_fullscreen_button_toggles_the_map(visit):
    v = visit()
    page = v.open("/embed/jingan")
    button = page.locator(".pm-fullscreen button")
    button.click()
    until(page, "document.fullscreenElement !== null")
    assert page.evaluate("document.fullscreenElement === Parkmap.map.getContainer()")
    assert button.get_attribute("aria-label") == "退出全屏"
    button.click()
    until(page, "document.fullscreenElement === null")
    assert v.errors == []


def test_view_and_layers_are_kept_in_the_url(visit):
    v = visit()
    page = v.open("/map/changning")
    page.evaluate("void Parkmap.map.setView([31.2, 121.4], 15)")
    page.locator(".leaflet-control-layers-overlays input").first.uncheck()
    until(page, "location.search.includes('view=31.20000%2C121.40000%2C15')")
    q = parse_qs(urlsplit(page.url).query)
    assert q["view"] == ["31.20000,121.40000,15"]
    assert q["layers"] == ["districts,changning_zones,line2,parks"]
    snippet = page.locator("#pm-embed-snippet").input_value()
    assert snippet.count("view=31.20000%2C121.40000%2C15") == 2  # the iframe and the full-map link
    assert 'title="' in snippet and "layers=districts%2Cchangning_zones%2Cline2%2Cparks" in snippet
    again = visit()
    p2 = again.open(urlsplit(page.url).path + "?" + urlsplit(page.url).query)
    assert p2.evaluate("[Parkmap.map.getCenter().lat, Parkmap.map.getZoom()]") == [31.2, 15]
    assert not p2.evaluate("Parkmap.map.hasLayer(Parkmap.layers.context)")  # offered, not drawn
    assert p2.locator(".leaflet-control-layers-overlays input").first.is_checked() is False


def test_amap_moves_a_station_by_the_gcj02_shift(visit, built):
    station = next(f for f in _features(built, "line2") if f["properties"]["name_zh"] == "中山公园")
    fid = station["properties"]["id"]
    lon, lat = station["geometry"]["coordinates"]
    view = f"{lat:.5f},{lon:.5f},16"
    pos, on_screen = {}, {}
    for basemap in ("osm", "amap"):
        v = visit()
        v.open(f"/map/changning?basemap={basemap}&view={view}")
        pos[basemap], on_screen[basemap] = v.page.evaluate(
            f"(() => {{ const p = Parkmap.features[{json.dumps(fid)}].layer.getLatLng(), "
            "s = Parkmap.map.latLngToContainerPoint(p); return [[p.lat, p.lng], [s.x, s.y]]; })()")
        assert v.outside and all(("openstreetmap" in u) == (basemap == "osm") for u in v.outside)
        # the URL's view stays the WGS84 place it named (on amap the map centre is shifted)
        assert parse_qs(urlsplit(v.page.url).query)["view"] == [view]
    # one link, the same place on the screen on either tiles (the view shifts with the data)
    assert on_screen["amap"] == pytest.approx(on_screen["osm"], abs=1.5)
    (lat1, lon1), (lat2, lon2) = pos["osm"], pos["amap"]
    # the map draws its layers to 5 decimals (about 1 m; webapp/render/mapdata.py)
    assert (lat1, lon1) == pytest.approx((lat, lon), abs=6e-6)
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert (lat2, lon2) == pytest.approx((glat, glon), abs=6e-6)
    k = math.pi / 180 * 6371000
    shift = math.hypot((lat2 - lat1) * k, (lon2 - lon1) * k * math.cos(lat * math.pi / 180))
    assert 400 < shift < 600, shift


def test_hostile_name_is_shown_as_text_and_runs_nothing(browser, built, tmp_path, visit):
    evil_dir = tmp_path / "layers"
    shutil.copytree(built, evil_dir)
    fc = json.loads((built / "parks.geojson").read_text(encoding="utf-8"))
    alone = _park_with_passage(built)["properties"]["id"]
    park = next(f for f in fc["features"] if f["properties"]["id"] == alone)
    park["properties"]["name_zh"] = "园区" + EVIL
    park["properties"]["role"] = EVIL
    (evil_dir / "parks.geojson").write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    server = LiveServer(create_app({"LAYERS_DIR": str(evil_dir)}))
    try:
        v = visit(server.base)
        page = v.open("/map/overview")
        _centre_on(page, park)
        page.locator(f"path.{_css_id(alone)}").hover()
        assert EVIL in page.locator(".leaflet-tooltip").inner_text()
        page.fill(".pm-search input", "园区<img")
        hit = page.locator(".pm-search-results button", has_text=EVIL).first
        hit.wait_for()
        hit.click()
        popup = page.locator(".leaflet-popup-content .pm-popup[data-pm-full]")
        popup.wait_for()
        assert ("园区" + EVIL) in popup.locator("h3").inner_text()
        assert popup.locator(".pm-role").inner_text() == EVIL
        assert page.locator("#pm-parks", has_text=EVIL).count() == 1
        page.wait_for_timeout(300)
        assert page.locator("img[src=x]").count() == 0
        assert v.dialogs == [] and v.errors == []
    finally:
        server.close()


def _host_site(html: str) -> LiveServer:
    """Another site (another origin: its own port) whose page embeds ours."""
    return LiveServer(Response(html, mimetype="text/html"))


@pytest.mark.parametrize("frame_ancestors, shown", [("*", True), ("'self'", False)])
def test_embed_in_an_iframe_of_another_site(browser, built, frame_ancestors, shown):
    app = LiveServer(create_app({"LAYERS_DIR": str(built), "FRAME_ANCESTORS": frame_ancestors}))
    host = _host_site(f'<!doctype html><title>report</title><iframe src="{app.base}/embed/jingan'
                      '?controls=legend,search" title="map" width="800" height="500"></iframe>')
    v = Visit(browser, host.base, also=(app.base,))
    try:
        v.page.goto(host.base + "/")
        frame = v.page.frame_locator("iframe")
        if shown:
            frame.locator("html[data-pm-ready]").wait_for(timeout=15000)
            assert frame.locator(".pm-legend").count() == 1 and frame.locator(".pm-search").count() == 1
            assert frame.locator(".leaflet-control-layers").count() == 0
            assert v.errors == []
        else:  # the browser refuses to render it: no map script ran inside the frame
            v.page.wait_for_timeout(1000)
            assert v.page.frames[1].evaluate("typeof Parkmap") == "undefined"
        assert v.outside == []
    finally:
        v.close()
        host.close()
        app.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_index_lists_every_map_with_its_thumbnail_and_no_error(visit, lang):
    v = visit()
    page = v.page
    page.goto(f"{v.base}/?lang={lang}")
    for m in MAPS:
        thumb = page.locator(f'a.pm-thumb[href^="/map/{m.id}"] img')
        thumb.wait_for()
        until(page, "img => img.complete && img.naturalWidth > 0", thumb.element_handle(),
              timeout_ms=60000)
        assert page.get_by_role("link", name=m.title_zh if lang == "zh" else m.title_en).count() >= 1
    assert v.errors == [] and v.outside == []


def test_unticked_layers_load_when_shown_and_outlines_refine_when_zoomed_in(visit):
    """A layer offered unticked costs nothing until ticked; the base map's coarse outlines
    give way to the finer ones once the reader zooms past the overview zooms."""
    v = visit()
    page = v.open("/map/changning?layers=parks&view=31.21,121.40,13")
    page.evaluate("Promise.all(Parkmap.loads)")
    asked = lambda part: [u for u in v.requests if part in u]  # noqa: E731
    assert asked("/parks.geojson?detail=map") and not asked("/context.geojson")
    page.evaluate("void Parkmap.map.addLayer(Parkmap.layers.context)")
    until(page, "Parkmap.data.context !== undefined")
    assert asked("/context.geojson?detail=overview") and not asked("/context.geojson?detail=map")
    coarse = page.evaluate("JSON.stringify(Parkmap.data.context).length")
    page.evaluate("void Parkmap.map.setView([31.21, 121.40], 16, {animate: false})")
    until(page, f"JSON.stringify(Parkmap.data.context).length > {coarse}")
    assert asked("/context.geojson?detail=map")
    assert page.evaluate("Parkmap.layers.context.getLayers().length") == len(
        page.evaluate("Parkmap.data.context.features"))
    assert v.errors == [] and v.outside == []


def test_parks_past_the_threshold_are_drawn_grouped_and_still_reachable(visit, built):
    """Past CLUSTER_POINTS a point layer is drawn as counted grid cells (a click zooms in);
    every park stays in the panel and search, and focusing one shows it with its popup."""
    parks = _features(built, "parks")
    located = [f for f in parks if f["geometry"]]
    server = LiveServer(create_app({"LAYERS_DIR": str(built), "CLUSTER_POINTS": 10}))
    try:
        v = visit(server.base)
        page = v.open("/map/overview?lang=en&layers=parks&view=31.22,121.42,12")
        clusters = page.locator(".pm-cluster")
        assert clusters.count() > 0
        counts = [int(t) for t in clusters.all_inner_texts()]
        drawn = page.evaluate("Object.values(Parkmap.features).filter(r => r.layer).length")
        in_view = page.evaluate("""(pts) => pts.filter(c =>
            Parkmap.map.getBounds().pad(0.25).contains([c[1], c[0]])).length""",
            [f["geometry"]["coordinates"] for f in located])
        assert sum(counts) + drawn == in_view and drawn < len(located)
        zoom = page.evaluate("Parkmap.map.getZoom()")
        clusters.first.click()
        page.wait_for_timeout(600)  # the zoom animation
        assert page.evaluate("Parkmap.map.getZoom()") > zoom
        assert page.locator("#pm-parks li").count() == len(parks)  # the panel has them all
        park = _park_with_passage(built)
        page.evaluate("void Parkmap.map.setView([31.22, 121.42], 12, {animate: false})")
        assert page.evaluate(f"Parkmap.features[{json.dumps(park['properties']['id'])}].layer"
                             ) is None  # grouped at this zoom
        page.locator(f'#pm-parks button[data-id="{park["properties"]["id"]}"]').click()
        popup = page.locator(".leaflet-popup-content .pm-popup[data-pm-full]")
        popup.wait_for()
        assert park["properties"]["name_en"] in popup.locator("h3").inner_text()
        assert v.errors == [] and v.outside == []
    finally:
        server.close()
    default = visit().open("/map/overview?layers=parks&view=31.22,121.42,12")
    assert default.locator(".pm-cluster").count() == 0  # 56 parks: each drawn


def test_a_long_parks_list_is_drawn_as_it_scrolls(visit, built, tmp_path):
    """The panel draws a page of rows and the next as the list is scrolled to its end, so a
    layer of many parks is not as many list items; filters apply to all of them."""
    many = tmp_path / "many"
    shutil.copytree(built, many)
    fc = json.loads((many / "parks.geojson").read_text(encoding="utf-8"))
    copies = []
    for n in range(5):  # 5 x 56 parks, each copy its own id and name
        for f in fc["features"]:
            p = dict(f["properties"], id=f"{f['properties']['id']}-{n}",
                     name_zh=f"{f['properties']['name_zh']} {n}")
            copies.append({**f, "properties": p})
    (many / "parks.geojson").write_text(json.dumps({**fc, "features": copies}, ensure_ascii=False),
                                        encoding="utf-8")
    server = LiveServer(create_app({"LAYERS_DIR": str(many)}))
    try:
        page = visit(server.base).open("/map/overview")
        rows = page.locator("#pm-parks li")
        page.locator("#pm-parks-count", has_text=str(len(copies))).wait_for()
        assert rows.count() == 100
        page.locator(".pm-more").scroll_into_view_if_needed()
        until(page, "document.querySelectorAll('#pm-parks li').length === 200")
        page.select_option("select[data-pm-filter=district]", "jingan")
        jingan = sum(1 for f in copies if f["properties"]["district"] == "jingan")
        assert page.locator("#pm-parks-count").inner_text() == str(jingan)
        assert rows.count() == min(100, jingan)
    finally:
        server.close()

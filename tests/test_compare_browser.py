"""The compare page in a real headless Chromium (conftest ``browser``): the two maps stay in
step when a person drags or zooms either one, each shows its own legend, and drafts can be
uploaded from the page. The app is served from a thread on 127.0.0.1; any request to another
host is aborted and fails the test."""
from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from webapp import create_app

from support import LiveServer

pytestmark = pytest.mark.browser



@pytest.fixture(scope="module")
def base(built, tmp_path_factory):
    app = create_app({"LAYERS_DIR": str(built),
                      "INSTANCE_DIR": str(tmp_path_factory.mktemp("instance"))})
    with LiveServer(app) as server:
        yield server.base


@pytest.fixture()
def page(browser, base):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    p = context.new_page()
    p.problems = []
    p.on("pageerror", lambda e: p.problems.append(f"page error: {e}"))
    p.on("console", lambda m: p.problems.append(f"console {m.type}: {m.text}")
         if m.type == "error" else None)

    def guard(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:
            p.problems.append(f"external request: {route.request.url}")
            route.abort()

    context.route("**/*", guard)
    yield p
    context.close()


def open_compare(page, base, query: str):
    page.goto(f"{base}{query}")
    page.wait_for_selector("html[data-pmc-ready='1']", timeout=20_000)
    return pane(page, "left"), pane(page, "right")


def pane(page, side):
    return page.query_selector(f"#pmc-frame-{side}").content_frame()


def view(frame) -> tuple[float, float, int]:
    return tuple(frame.evaluate(
        "() => { const c = Parkmap.map.getCenter(); return [c.lat, c.lng, Parkmap.map.getZoom()]; }"))


def same_view(va, vb) -> bool:
    """Same zoom and centres within a pixel: Leaflet snaps a map's origin to whole pixels, so
    two maps of different (odd/even) sizes set to one centre report it a fraction of a pixel
    apart."""
    pixel_deg = 360 / (256 * 2 ** va[2])
    return va[2] == vb[2] and abs(va[0] - vb[0]) <= pixel_deg and abs(va[1] - vb[1]) <= pixel_deg


def wait_same_view(a, b, until=lambda v: True, timeout=5.0):
    """The view both maps settle on, once ``a``'s view satisfies ``until``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        va, vb = view(a), view(b)
        if until(va) and same_view(va, vb):
            return va
        time.sleep(0.05)
    raise AssertionError(f"views differ: {view(a)} vs {view(b)}")


def drag(page, side, dx, dy):
    box = page.query_selector(f"#pmc-frame-{side}").bounding_box()
    x, y = box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.75  # clear of controls
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y + dy, steps=12)
    page.mouse.up()


def test_pan_and_zoom_either_map_and_the_other_follows(page, base):
    left, right = open_compare(page, base, "/compare?left=changning_zones&right=changning_2024&lang=en")
    start = wait_same_view(left, right)
    drag(page, "left", 220, -120)  # content moves right and up: the centre goes west and south
    moved = wait_same_view(left, right, lambda v: v[1] < start[1] - 0.005 and v[0] < start[0] - 0.002)
    drag(page, "right", -300, 80)
    back = wait_same_view(right, left, lambda v: v[1] > moved[1] + 0.01)
    right.click(".leaflet-control-zoom-in")
    wait_same_view(right, left, lambda v: v[2] == back[2] + 1)
    left.click(".leaflet-control-zoom-out")
    wait_same_view(left, right, lambda v: v[2] == back[2])
    left.click(".leaflet-control-zoom-out")
    wait_same_view(left, right, lambda v: v[2] == back[2] - 1)
    time.sleep(0.3)  # nothing keeps bouncing between the two maps
    assert same_view(view(left), view(right))
    query = parse_qs(urlsplit(page.url).query)
    assert query["left"] == ["changning_zones"] and query["right"] == ["changning_2024"]
    vlat, vlon, vzoom = query["view"][0].split(",")
    assert same_view(view(left), (float(vlat), float(vlon), int(vzoom)))
    snippet = page.input_value("#pmc-embed-snippet")
    assert "/embed/compare?" in snippet and "view=" in snippet
    assert page.problems == []


def test_each_map_has_its_own_layers_and_legend(page, base):
    left, right = open_compare(page, base, "/compare?left=changning_zones&right=jingan_layout&lang=en")
    for frame in (left, right):  # half-width maps: controls start collapsed, one click away
        assert frame.evaluate("() => document.querySelector('.pm-legend').open") is False
        assert frame.locator(".leaflet-control-layers-expanded").count() == 0
        frame.click(".pm-legend summary")
    left_legend, right_legend = left.inner_text(".pm-legend"), right.inner_text(".pm-legend")
    assert "Changning: three functional areas" in left_legend and "Belts" not in left_legend
    assert "Belts (schematic width)" in right_legend and "Central: Hongqiao" not in right_legend
    assert left.locator(".leaflet-control-layers-overlays label").count() == 5
    # what the maps draw is what the table counts: the Changning parks only on the left
    n_left = left.evaluate("() => Object.values(Parkmap.features).filter("
                           "r => r.feature.properties.id.startsWith('park-') && r.layer).length")
    located = page.inner_text("tr[data-figure='parks_located'] td.pmc-left")
    assert n_left == int(located)
    assert page.inner_text("tr[data-figure='overlap_km2'] td") == "0.00 km²"
    assert page.problems == []


def test_two_districts_both_in_view_and_clear_of_the_controls(page, base):
    """Changning beside Jing'an: the shared view shows all of both layouts on each map (it used
    to centre between them, cutting off Jing'an's north under an open layer control)."""
    left, right = open_compare(page, base, "/compare?left=changning_zones&right=jingan_layout")
    for frame in (left, right):
        inside = frame.evaluate("""() => {
            const view = Parkmap.map.getBounds(), out = [];
            Object.values(Parkmap.features).forEach(r => {
                const p = r.feature.properties;
                if (r.layer && r.layer.getBounds && /^(zone-changning|layout-jingan-belt|layout-jingan-axis|line2-innovation-axis)/.test(p.id)
                    && !view.contains(r.layer.getBounds())) out.push(p.id);
            });
            return out; }""")
        assert inside == []
    assert page.problems == []


def test_embed_keeps_the_maps_in_step(page, base):
    left, right = open_compare(page, base, "/embed/compare?left=changning_2021&right=changning_2024"
                                           "&view=31.215,121.40,14&controls=legend")
    assert view(left) == pytest.approx((31.215, 121.40, 14))
    drag(page, "right", 150, 150)
    wait_same_view(right, left, lambda v: v[0] > 31.215 + 0.002)
    assert left.locator(".leaflet-control-layers").count() == 0  # controls=legend only
    assert page.problems == []


def test_upload_a_draft_from_the_page(page, base, tmp_path):
    open_compare(page, base, "/compare?left=changning_zones&right=jingan_layout&lang=en")
    good = tmp_path / "east.geojson"
    good.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"name": "my east"},
        "geometry": {"type": "Polygon", "coordinates": [[[121.41, 31.20], [121.44, 31.20],
                                                         [121.44, 31.22], [121.41, 31.22],
                                                         [121.41, 31.20]]]}}]}))
    page.set_input_files("#pmc-upload input[name=file]", str(good))
    page.select_option("#pmc-upload select[name=datum]", "GCJ-02")
    page.fill("#pmc-upload input[name=name]", "east sketch")
    with page.expect_navigation():
        page.click("#pmc-upload button[type=submit]")
    page.wait_for_selector("html[data-pmc-ready='1']", timeout=20_000)
    query = parse_qs(urlsplit(page.url).query)
    assert query["left"] == ["changning_zones"] and query["right"][0].startswith("draft:")
    right = pane(page, "right")
    right.click(".pm-legend summary")
    assert "Draft: zone" in right.inner_text(".pm-legend")
    assert right.evaluate("() => Object.keys(Parkmap.features).filter(k => k.startsWith('draft-')).length") == 1
    assert float(page.inner_text("tr[data-figure='overlap_km2'] td").split()[0]) > 1
    assert "east sketch" in page.inner_text("#pmc-drafts")

    bad = tmp_path / "bowtie.geojson"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {},
        "geometry": {"type": "Polygon", "coordinates": [[[121.40, 31.20], [121.41, 31.21],
                                                         [121.41, 31.20], [121.40, 31.21],
                                                         [121.40, 31.20]]]}}]}))
    page.set_input_files("#pmc-upload input[name=file]", str(bad))
    page.click("#pmc-upload button[type=submit]")
    page.wait_for_selector("#pmc-upload-result .pmc-error")
    assert "invalid Polygon (Self-intersection" in page.inner_text("#pmc-upload-result")
    assert page.get_attribute("#pmc-repaired", "download") == "repaired.geojson"

    with page.expect_navigation():
        page.click("#pmc-drafts button[data-delete]")
    page.wait_for_selector("html[data-pmc-ready='1']", timeout=20_000)
    assert "draft:" not in page.url and page.inner_text("#pmc-drafts").strip() == ""
    # the 400 of the rejected upload is the only console error, and it is expected
    assert [p for p in page.problems if "400" not in p] == []


def test_only_the_browser_that_uploaded_a_draft_offers_to_delete_it(page, base):
    r = page.request.post(f"{base}/api/layouts?name=theirs", data="lon,lat\n121.42,31.21\n",
                          headers={"Content-Type": "text/csv"})
    lid = r.json()["id"]
    open_compare(page, base, f"/compare?left=changning_zones&right={lid}&lang=en")
    item = page.locator(f"#pmc-drafts li[data-id='{lid}']")
    assert item.locator("button[data-delete]").is_hidden()
    assert "only its uploader can delete it" in item.inner_text()


def test_a_failed_delete_says_why(page, base):
    r = page.request.post(f"{base}/api/layouts?name=gone", data="lon,lat\n121.42,31.21\n",
                          headers={"Content-Type": "text/csv"})
    lid, token = r.json()["id"], r.json()["token"]
    open_compare(page, base, f"/compare?left=changning_zones&right={lid}&lang=en")
    page.evaluate("([id, t]) => localStorage.setItem('parkmap.draftTokens', "
                  "JSON.stringify({[id]: t}))", [lid, token])  # as if this browser made it
    open_compare(page, base, f"/compare?left=changning_zones&right={lid}&lang=en")
    page.request.delete(f"{base}/api/layouts/{lid}",
                        headers={"X-Draft-Token": token})  # deleted elsewhere meanwhile
    page.click(f"#pmc-drafts li[data-id='{lid}'] button[data-delete]")
    page.wait_for_selector("#pmc-drafts .pmc-error")
    assert "deleted, or never stored" in page.inner_text("#pmc-drafts .pmc-error")
    assert [p for p in page.problems if "404" not in p] == []

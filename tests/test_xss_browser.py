"""Stored XSS, tried in a real browser: a draft whose name and feature properties are markup
is shown as text everywhere it appears (the drafts list, pane titles, layer control, legend,
popups, tooltips, search, the embed, figures), and no script of it ever runs. A CSP violation
or a script error fails the test as well."""
from __future__ import annotations

import io
import json

import pytest

from webapp import create_app

from support import LiveServer

pytestmark = pytest.mark.browser
MARK = "window.__pwned = 1"
EVIL = f"<img src=x onerror=\"{MARK}\"><script>{MARK}</script>"
EVIL_NAME = "草图" + EVIL


def test_a_draft_of_markup_is_text_everywhere(browser, built, tmp_path):
    app = create_app({"LAYERS_DIR": str(built), "INSTANCE_DIR": str(tmp_path / "instance")})
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": EVIL_NAME, "role": EVIL, "zone": EVIL},
         "geometry": {"type": "Polygon", "coordinates": [[[121.41, 31.20], [121.44, 31.20],
                                                          [121.44, 31.22], [121.41, 31.22],
                                                          [121.41, 31.20]]]}},
        {"type": "Feature", "properties": {"name_zh": EVIL, "name_en": EVIL},
         "geometry": {"type": "Point", "coordinates": [121.425, 31.21]}}]}
    client = app.test_client()
    r = client.post("/api/layouts", data={"file": (io.BytesIO(json.dumps(doc).encode()),
                                                   "evil.geojson"), "name": EVIL_NAME},
                    content_type="multipart/form-data")
    lid = r.get_json()["id"]
    with LiveServer(app) as server:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        problems = []
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("dialog", lambda d: (problems.append("dialog"), d.dismiss()))

        for lang in ("en", "zh"):
            page.goto(f"{server.base}/compare?left=changning_zones&right={lid}&lang={lang}")
            page.wait_for_selector("html[data-pmc-ready='1']", timeout=20_000)
            assert EVIL_NAME in page.inner_text("#pmc-drafts")  # the drafts list
            assert EVIL_NAME in page.inner_text("body")  # the pane title, the figures table
            right = page.query_selector("#pmc-frame-right").content_frame()
            control = right.text_content(".leaflet-control-layers")  # collapsed: not shown
            assert EVIL_NAME in control  # the layer control names the draft
            assert right.evaluate("Parkmap.focus('draft-%s-0')" % lid[6:]) is True
            popup = right.inner_text(".leaflet-popup-content")
            assert EVIL_NAME in popup and EVIL in popup  # name and role, as text
            right.fill(".pm-search input", "onerror")
            assert EVIL in right.inner_text(".pm-search-results")
            for frame in page.frames:
                assert frame.evaluate("window.__pwned") is None

        page.goto(f"{server.base}/embed/compare?left=changning_zones&right={lid}")
        page.wait_for_selector("html[data-pmc-ready='1']", timeout=20_000)
        for frame in page.frames:
            assert frame.evaluate("window.__pwned") is None
        page.goto(f"{server.base}/figure/{lid}.svg?width=120&height=90&dpi=60")
        assert page.evaluate("window.__pwned") is None and page.locator("script").count() == 0
        assert problems == []
        context.close()


def test_a_hostile_source_is_text_and_its_links_stay_plan_links(browser, built, tmp_path):
    """A park whose ``source`` and ``named_in`` are markup: the popup shows them as text; a
    reference that still reads as "<doc> <section>" becomes a link whose text is the markup as
    text and whose href stays /plan/<doc>#..., and nothing runs."""
    import shutil

    from webapp.passages import passage_url

    evil_dir = tmp_path / "layers"
    shutil.copytree(built, evil_dir)
    fc = json.loads((evil_dir / "parks.geojson").read_text(encoding="utf-8"))
    park = next(f for f in fc["features"] if f["geometry"] and f["properties"].get("passage"))
    tight = "000 一(一)<img/src=x/onerror=window.__pwned=1>"  # no space: it reads as a reference
    park["properties"]["source"] = f"000 一(一)3; {EVIL}; {tight}; javascript:{MARK}"
    park["properties"]["named_in"] = ["000", EVIL]
    (evil_dir / "parks.geojson").write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    app = create_app({"LAYERS_DIR": str(evil_dir), "INSTANCE_DIR": str(tmp_path / "instance")})
    pid = park["properties"]["id"]
    with LiveServer(app) as server:
        context = browser.new_context(viewport={"width": 1200, "height": 800})
        page = context.new_page()
        problems = []
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("dialog", lambda d: (problems.append("dialog"), d.dismiss()))
        for kind in ("map", "embed"):
            page.goto(f"{server.base}/{kind}/overview?focus={pid}")
            page.wait_for_selector("html[data-pm-ready]", timeout=15_000)
            popup = page.locator(".leaflet-popup-content .pm-popup[data-pm-full]")
            popup.wait_for()
            cite = popup.locator(".pm-passage cite")
            assert cite.inner_text() == "— " + park["properties"]["source"]  # all of it, as text
            links = cite.locator("a")
            assert links.all_inner_texts() == ["000 一(一)3", tight]
            assert [links.nth(i).get_attribute("href") for i in range(2)] == [
                passage_url("000 一(一)3"), passage_url(tight)]
            assert passage_url(tight).startswith("/plan/000#")
            named = popup.locator(".pm-named_in")
            assert named.inner_text() == "000、" + EVIL
            assert named.locator("a").all_inner_texts() == ["000"]
            assert page.locator("img[src=x]").count() == 0
            assert page.evaluate("window.__pwned") is None
        assert problems == []
        context.close()

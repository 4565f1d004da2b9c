"""In a real browser: suggest a location for an unlocated place, accept it with the CLI,
rebuild, and see the place drawn with its new precision and source in its popup."""
from __future__ import annotations

import shutil

import pytest

from layers.build import build_all
from layers.sources import SOURCES_DIR
from webapp import create_app
from webapp.cli import main

from support import LiveServer

pytestmark = pytest.mark.browser
PLACE = "park-bonc-hq-park"  # unlocated in the committed data
SOURCE = "https://example.org/bonc-park"
QUOTE = "<img src=x onerror=window.__xss=1>东方国信科创园就在这里"  # text, never markup


def test_suggest_accept_rebuild_and_see_it_on_the_map(browser, tmp_path, capsys):
    src, layers, instance = tmp_path / "sources", tmp_path / "layers", tmp_path / "instance"
    shutil.copytree(SOURCES_DIR, src)
    build_all(layers, src, log=lambda m: None)
    app = create_app({"LAYERS_DIR": str(layers), "INSTANCE_DIR": str(instance)})
    with LiveServer(app) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server.base}/map/changning?lang=en")
        page.wait_for_selector("html[data-pm-ready]")
        row = page.locator(f"#pm-parks li:has(button[data-id='{PLACE}'])")
        assert "unlocated" in row.inner_text()
        row.locator("button[data-suggest]").click()
        form = page.locator(".pm-suggest")
        assert form.is_visible() and "BONC" in form.inner_text()
        # pick the point: the map's centre, in 长宁区 (a click on the map, not on a control)
        box = page.locator(".folium-map").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2 + 40)
        assert "Chosen:" in form.locator(".pm-suggest-where").inner_text()
        form.locator("select[name=precision]").select_option("building")
        form.locator("input[name=source_url]").fill(SOURCE)
        form.locator("textarea[name=quote]").fill(QUOTE)
        form.locator(".pm-suggest-send").click()
        page.wait_for_selector(".pm-suggest[data-pm-sent]")
        sid = form.get_attribute("data-pm-sent")
        assert "Thank you" in form.locator(".pm-suggest-status").inner_text()

        # nothing changes until the operator accepts it and rebuilds
        assert main(["suggestions", "accept", sid, "--instance", str(instance),
                     "--sources", str(src), "--by", "reviewer"]) == 0
        assert main(["build", "--out", str(layers), "--sources", str(src)]) == 0
        capsys.readouterr()

        page.reload()  # the running server sees the rebuild; the page's layer URLs change with it
        page.wait_for_selector("html[data-pm-ready]")
        assert "unlocated" not in page.locator(
            f"#pm-parks li:has(button[data-id='{PLACE}'])").inner_text()
        assert page.evaluate(f"Parkmap.focus('{PLACE}')") is True
        popup = page.locator(".leaflet-popup-content .pm-popup[data-pm-full]")  # details fetched
        popup.wait_for()
        text = popup.inner_text()
        assert "building" in popup.locator(".pm-confidence").inner_text()
        assert f"suggestion {sid}" in text and SOURCE in text and "reviewer" in text
        assert QUOTE in text and page.evaluate("window.__xss") is None
        assert errors == []
        page.close()

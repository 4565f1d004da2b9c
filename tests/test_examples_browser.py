"""The worked report page (examples/report.html) and the iframe resize scripts, in Chromium.

The app runs on 127.0.0.1 in a thread; the example and the fixture pages are served from
other local origins, as a report site would be. The example's snippets name the address
`parkmap serve` uses (127.0.0.1:5000); the browser's requests to it are answered by the app
under test, wherever it listens.
"""
from __future__ import annotations

import functools
import shutil
import threading
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from webapp import create_app

from support import LiveServer, until

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
STATIC = ROOT / "webapp" / "static"
SERVE_ORIGIN = "http://127.0.0.1:5000"  # what the example page's snippets point at


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def _serve_dir(directory: Path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def app_origin(layers_dir, tmp_path_factory):
    app = create_app({"LAYERS_DIR": str(layers_dir),
                      "INSTANCE_DIR": str(tmp_path_factory.mktemp("instance"))})
    with LiveServer(app) as server:
        yield server.base


def _page(browser, app_origin, console_errors, scripts=True):
    context = browser.new_context(viewport={"width": 1000, "height": 800},
                                  java_script_enabled=scripts)
    outside = []

    def to_app(route):
        route.fulfill(response=route.fetch(url=app_origin + route.request.url[len(SERVE_ORIGIN):]))

    def local_only(route):
        if route.request.url.startswith("http://127.0.0.1:"):
            route.fallback()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", local_only)
    context.route(SERVE_ORIGIN + "/**", to_app)  # added last: tried first
    page = context.new_page()
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console_errors.append(str(e)))
    return context, page, outside


def test_report_example_embeds_load_resize_and_show_the_figure(browser, app_origin):
    errors = []
    with _serve_dir(EXAMPLES) as site:
        context, page, outside = _page(browser, app_origin, errors)
        page.goto(site + "/report.html")
        frames = page.locator("iframe")
        assert frames.count() == 2
        for i in range(2):
            el = frames.nth(i)
            el.scroll_into_view_if_needed()  # the iframes load lazily
            assert el.get_attribute("title")
            desc = page.locator("#" + el.get_attribute("aria-describedby"))
            assert desc.inner_text().startswith("Map: ")
            until(page, "el => el.hasAttribute('data-pm-height')", el.element_handle(),
                  timeout_ms=20000)
            frame = el.element_handle().content_frame()
            frame.wait_for_selector(".leaflet-container svg path", state="attached", timeout=20000)
            assert frame.eval_on_selector_all(".leaflet-container svg path", "p => p.length") > 20
            reported = int(el.get_attribute("data-pm-height"))
            content = frame.evaluate("Math.ceil(document.body.getBoundingClientRect().height)")
            assert abs(reported - content) <= 1
            assert el.bounding_box()["height"] == pytest.approx(reported, abs=1)
        img = page.locator("#overview-figure")
        img.scroll_into_view_if_needed()
        until(page, "img => img.complete && img.naturalWidth > 0", img.element_handle(),
              timeout_ms=30000)
        assert img.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [850, 600]
        context.close()
    assert outside == [] and errors == []


def _fixture_pages(tmp_path: Path, embed_origin: str) -> None:
    for name in ("embed-height.js", "embed-resize.js"):
        shutil.copyfile(STATIC / name, tmp_path / name)
    (tmp_path / "embed.html").write_text(
        '<!doctype html><link rel="icon" href="data:,"><body style="margin:0"><div data-pm-embed id="box" style="height:777px">'
        'map</div><script src="embed-height.js"></script></body>', encoding="utf-8")
    (tmp_path / "host.html").write_text(
        f'<!doctype html><link rel="icon" href="data:,"><body><iframe id="a" src="{embed_origin}/embed.html" height="300" style="border:0" '
        f'title="a"></iframe><iframe id="b" src="{embed_origin}/embed.html?b" height="300" style="border:0" '
        f'title="b"></iframe><script src="embed-resize.js"></script></body>', encoding="utf-8")


def test_resize_scripts_follow_the_embed_height(browser, tmp_path):
    errors = []
    with _serve_dir(tmp_path) as embed_origin, _serve_dir(tmp_path) as host_origin:
        _fixture_pages(tmp_path, embed_origin)
        context = browser.new_context()
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(host_origin + "/host.html")
        height = "id => document.getElementById(id).getBoundingClientRect().height"
        until(page, f"({height})('a') === 777 && ({height})('b') === 777")
        # the embed grows: its ResizeObserver reports, the host follows
        page.frame_locator("#a").locator("#box").evaluate("b => { b.style.height = '900px'; }")
        until(page, f"({height})('a') === 900")
        assert page.evaluate(f"({height})('b')") == 777
        # a message not from one of the page's iframes changes nothing
        page.evaluate("window.postMessage({type: 'parkmap:height', height: 200}, '*')")
        page.wait_for_timeout(200)
        assert page.evaluate(f"[({height})('a'), ({height})('b')]") == [900, 777]
        context.close()
    assert errors == []


def test_report_embeds_fall_back_to_the_figure_without_scripts(browser, app_origin):
    errors = []
    with _serve_dir(EXAMPLES) as site:
        context, page, outside = _page(browser, app_origin, errors, scripts=False)
        page.goto(site + "/report.html")
        frames = page.locator("iframe")
        for i in range(frames.count()):
            el = frames.nth(i)
            el.scroll_into_view_if_needed()
            frame = el.element_handle().content_frame()
            frame.wait_for_load_state()
            img = frame.locator("img").first
            until(frame, "(() => { const i = document.querySelector('img');"
                         " return i && i.complete && i.naturalWidth > 0; })()", timeout_ms=30000)
            box = img.bounding_box()
            assert box["y"] < el.bounding_box()["height"] / 2  # in view, not under an empty map
            assert img.get_attribute("alt").startswith("Map: ")
            link = frame.locator("a[target=_top]").first.get_attribute("href")
            assert "/map/" in link
        context.close()
    assert outside == [] and errors == []

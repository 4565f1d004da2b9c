"""The plan reader in a real headless Chromium (conftest ``browser``), served from a thread on
127.0.0.1: from a mention to the map and back, the split view, the cards, print, and a hostile
name. Nothing leaves the machine: any other request is recorded and aborted."""
from __future__ import annotations

import json
import shutil
from urllib.parse import unquote, urlsplit

import pytest
from support import LiveServer

from webapp import create_app

pytestmark = pytest.mark.browser
EVIL = "<img src=x onerror=alert(1)>"
IFRAME = "document.getElementById('pm-plan-iframe')"


@pytest.fixture(scope="module")
def server(built):
    s = LiveServer(create_app({"LAYERS_DIR": str(built)}))
    yield s
    s.close()


class Visit:
    """One page with its console errors, dialogs and every request it tried to make."""

    def __init__(self, browser, base: str, width: int = 1280, height: int = 800):
        self.base = base
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.errors, self.dialogs, self.outside = [], [], []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.context.route(lambda url: not url.startswith(base + "/"), self._block)

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

    def clean(self) -> bool:
        return self.errors == [] and self.outside == [] and self.dialogs == []


@pytest.fixture()
def visit(browser, server):
    visits = []

    def make(base=None, **viewport):
        v = Visit(browser, base or server.base, **viewport)
        visits.append(v)
        return v

    yield make
    for v in visits:
        v.context.close()


def _until(page, expression: str, timeout_ms: int = 15_000):
    """Poll ``expression`` (page.wait_for_function evaluates strings, which our CSP forbids)."""
    for _ in range(timeout_ms // 50):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"never true: {expression}")


def _split(page):
    page.click("#pm-split-toggle")
    _until(page, f"(() => {{ const d = {IFRAME}.contentDocument; return !!(d && d.documentElement"
                 " && d.documentElement.hasAttribute('data-pm-ready')); })()")


def test_a_mention_opens_the_map_focused_and_its_popup_leads_back(visit):
    v = visit()
    page = v.open("/plan/003")
    mention = page.locator('a.pm-linked[data-id="park-simic-valley"]').first
    assert mention.get_attribute("href") == "/map/changning?focus=park-simic-valley"
    mention.click()
    page.wait_for_url("**/map/changning?focus=park-simic-valley*")
    page.wait_for_selector("html[data-pm-ready]", timeout=15000)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=10000)
    assert "新微智谷" in popup.inner_text()
    back = popup.locator('a.pm-plan-link[href^="/plan/003"]').first
    back.wait_for(timeout=10000)
    href = back.get_attribute("href")
    back.click()
    page.wait_for_url("**" + href.split("#")[0] + "*")
    page.wait_for_selector("html[data-pm-ready]", timeout=15000)
    anchor = unquote(urlsplit(page.url).fragment)
    assert anchor and page.evaluate("(id) => !!document.getElementById(id)", anchor)
    assert v.clean(), (v.errors, v.outside, v.dialogs)


def test_split_view_focuses_highlights_and_follows_the_map(visit):
    v = visit()
    page = v.open("/plan/000")
    assert page.locator("#pm-plan-map").is_hidden()
    _split(page)
    assert page.locator("#pm-split-toggle").get_attribute("aria-pressed") == "true"
    assert page.evaluate(f"{IFRAME}.getAttribute('src')") == "/embed/changning"
    # a click on a mention (its last one) focuses the map beside the text; the page stays put
    mention = page.locator('a.pm-linked[data-id="park-huawei-unicom-ai-center"]').last
    mention.scroll_into_view_if_needed()
    y = page.evaluate("window.scrollY")
    mention.click()
    _until(page, f"(() => {{ const p = {IFRAME}.contentDocument.querySelector('.leaflet-popup-content');"
                 " return !!p && p.textContent.includes('华为-联通人工智能创新示范中心'); })()")
    page.wait_for_timeout(200)
    assert urlsplit(page.url).path == "/plan/000"
    assert page.evaluate("window.scrollY") == y  # not sent back to the first mention
    # the section in view is highlighted on the map
    page.evaluate("document.getElementById('三-三').scrollIntoView({block: 'start'})")
    _until(page, f"{IFRAME}.contentDocument.querySelectorAll('path.pm-highlight').length > 0")
    ids = page.evaluate("PlanReader.sectionIds()")
    assert "park-trade-finance-blockchain-platform" in ids and "zone-changning-east" in ids
    # a feature opened on the map scrolls the text to its first mention
    page.evaluate("window.scrollTo(0, 0)")
    page.evaluate(f"{IFRAME}.contentWindow.Parkmap.focus('park-iflytek-ai-park')")
    _until(page, "!!document.querySelector('.pm-mention.pm-flash[data-id=\"park-iflytek-ai-park\"]')")
    assert page.evaluate("window.scrollY") > 1000
    assert v.clean(), (v.errors, v.outside, v.dialogs)


def test_cards_on_hover_and_keyboard_focus(visit):
    v = visit()
    page = v.open("/plan/000")
    card = page.locator("#pm-card")
    assert card.is_hidden()
    page.locator('a.pm-linked[data-id="park-bingu-ai-building"]').first.hover()
    card.wait_for(state="visible")
    text = card.inner_text()
    assert "缤谷人工智能产业大厦" in text and "Bingu AI Industry Building" in text
    assert "街道级" in text and "street" in text
    page.mouse.move(5, 5)
    card.wait_for(state="hidden")
    mention = page.locator('a.pm-linked[data-id="zone-changning-east"]').first
    mention.focus()
    card.wait_for(state="visible")
    assert "东部中山公园地区" in card.inner_text()
    assert mention.get_attribute("aria-describedby") == "pm-card"
    page.keyboard.press("Escape")
    card.wait_for(state="hidden")
    page.keyboard.press("Tab")  # the next mention takes the keyboard and shows its card
    card.wait_for(state="visible")
    assert page.evaluate("document.activeElement.classList.contains('pm-mention')")
    unlocated = page.locator('button.pm-unlocated[data-id="park-bonc-hq-park"]')
    unlocated.click()
    card.wait_for(state="visible")
    assert "未定位" in card.inner_text() and urlsplit(page.url).path == "/plan/000"
    assert v.clean(), (v.errors, v.outside, v.dialogs)


def test_narrow_screen_puts_the_map_below_and_print_hides_it(visit):
    v = visit(width=420, height=800)
    page = v.open("/plan/004")
    _split(page)
    box = page.locator("#pm-plan-map").bounding_box()
    assert box["y"] > 300 and box["width"] == pytest.approx(420, abs=20)
    page.emulate_media(media="print")
    assert page.locator("#pm-plan-map").is_hidden() and page.locator(".pm-bar").is_hidden()
    bg = page.evaluate("getComputedStyle(document.querySelector('.pm-linked')).backgroundColor")
    assert bg not in ("rgba(0, 0, 0, 0)", "transparent")  # highlights kept on paper
    assert v.clean(), (v.errors, v.outside, v.dialogs)


def test_search_page_links_passages(visit):
    v = visit()
    page = v.open("/plan/search?q=Hongqiao")
    first = page.locator(".pm-search-results li").first
    assert "虹桥" in first.locator("mark").inner_text()
    first.locator(".pm-search-where a").click()
    page.wait_for_selector("html[data-pm-ready]")
    anchor = unquote(urlsplit(page.url).fragment)
    assert urlsplit(page.url).path.startswith("/plan/")
    assert page.evaluate("(id) => !!document.getElementById(id)", anchor)
    assert v.clean(), (v.errors, v.outside, v.dialogs)


def test_hostile_name_shows_as_text(browser, built, tmp_path):
    evil_dir = tmp_path / "layers"
    shutil.copytree(built, evil_dir)
    fc = json.loads((built / "parks.geojson").read_text(encoding="utf-8"))
    park = next(f for f in fc["features"] if f["properties"]["id"] == "park-bingu-ai-building")
    park["properties"]["name_zh"] = "园区" + EVIL
    park["properties"]["basis"] = EVIL
    (evil_dir / "parks.geojson").write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    server = LiveServer(create_app({"LAYERS_DIR": str(evil_dir)}))
    v = Visit(browser, server.base)
    try:
        page = v.open("/plan/003")
        page.locator('a.pm-linked[data-id="park-bingu-ai-building"]').first.hover()
        card = page.locator("#pm-card")
        card.wait_for(state="visible")
        assert ("园区" + EVIL) in card.inner_text() and EVIL in card.inner_text()
        assert EVIL in page.locator("#pm-coverage").text_content()
        page.wait_for_timeout(300)
        assert page.locator("img[src=x]").count() == 0
        assert v.clean(), (v.errors, v.outside, v.dialogs)
    finally:
        v.context.close()
        server.close()

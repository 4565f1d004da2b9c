"""Static export (works over file:// with no network), map descriptions and the embed snippet."""
from __future__ import annotations

import re

import pytest
from PIL import Image

from geo.crs import METRIC_CRS
from layers.registry import layer_ids
from webapp.render import export
from webapp.render.describe import describe_map, embed_snippet
from webapp.render.figure import FigureOptions
from webapp.maps import MAPS

SMALL = FigureOptions(width_mm=120, height_mm=90, dpi=60)


@pytest.fixture(scope="module")
def site(tmp_path_factory, layers_dir):
    out = tmp_path_factory.mktemp("export") / "site"
    lines = []
    export.export_site(out, layers_dir=layers_dir, options=SMALL, log=lines.append)
    return out, lines


# --- descriptions -----------------------------------------------------------------------

def test_description_names_each_zone_with_its_area(store):
    zones = store.frame("changning_zones").to_crs(METRIC_CRS)
    en, zh = describe_map("changning", store, "en"), describe_map("changning", store, "zh")
    assert en.startswith("Map: " + next(m.title_en for m in MAPS if m.id == "changning"))
    for name_en, name_zh, geom in zip(zones["name_en"], zones["name_zh"], zones.geometry):
        assert f"{name_en} ({geom.area / 1e6:.1f} km²)" in en
        assert f"{name_zh}（{geom.area / 1e6:.1f} 平方公里）" in zh


def test_description_counts_parks_and_unlocated_ones(store):
    from layers.registry import get_layer

    parks = store.frame("parks")
    spec = get_layer("parks")
    text = describe_map("overview", store, "en")
    for kind, group in parks.groupby("kind"):
        unlocated = int(group.geometry.isna().sum())
        label = spec.style_for(kind).label_en
        assert f"{label}: {len(group)}" in text
        if unlocated:
            assert f"{unlocated} without a known location" in text


def test_description_gives_line_lengths_in_metres_not_degrees(store):
    line2 = store.frame("line2")
    axis = line2[line2["kind"] == "innovation_axis"].to_crs(METRIC_CRS)
    km = axis.length.sum() / 1e3
    assert 5 < km < 20  # degrees would give ~0.1
    assert f"{km:.1f} km" in describe_map("changning", store, "en")
    assert f"{km:.1f} 公里" in describe_map("changning", store, "zh")


def test_description_names_the_base_map_once(store):
    from layers.registry import get_layer
    from webapp.maps import get_map

    base = [s for s in map(get_layer, get_map("changning").layers) if s.group == "context"]
    en, zh = describe_map("changning", store, "en"), describe_map("changning", store, "zh")
    for spec in base:
        assert en.endswith(spec.title_en + ".") and zh.endswith(spec.title_zh + "。")
    assert "Base map: Base map" not in en and "底图：底图" not in zh


def test_description_of_a_map_lacking_a_layer_says_nothing_of_it(store):
    text = describe_map("changning", store, "en")
    assert "belt" not in text.lower()  # the belts are Jing'an's, not on this map
    assert "belt" in describe_map("jingan", store, "en").lower()


def test_embed_snippet_has_title_description_link_and_script():
    html = embed_snippet(src="https://maps.example/embed/changning?a=1&b=2", title='长宁 "A"',
                         description="Map <of> parks", full_url="https://maps.example/map/changning",
                         lang="en", slug="changning",
                         resize_script_url="https://maps.example/static/embed-resize.js")
    assert 'title="长宁 &#34;A&#34;"' in html
    assert 'aria-describedby="parkmap-desc-changning"' in html
    assert '<span id="parkmap-desc-changning">Map &lt;of&gt; parks</span>' in html
    assert 'src="https://maps.example/embed/changning?a=1&amp;b=2"' in html
    assert '<a href="https://maps.example/map/changning">Open the full map</a>' in html
    assert html.endswith('<script src="https://maps.example/static/embed-resize.js" async></script>')
    assert "<script" not in embed_snippet(src="s", title="t", description="d", full_url="f",
                                          lang="zh", slug="x")


# --- the export -------------------------------------------------------------------------

def test_export_writes_every_page_figure_and_download(site, layers_dir):
    out, lines = site
    for m in MAPS:
        for lang in export.LANGS:
            assert (out / export.map_page_name(m.id, lang)).is_file()
            with Image.open(out / export.figure_name(m.id, lang)) as png:
                assert png.size == SMALL.pixels
    for lang in export.LANGS:
        assert (out / export.map_page_name(export.COMPARE, lang)).is_file()
        assert (out / export.figure_name(export.COMPARE, lang)).is_file()
    for layer_id in layer_ids():  # every layer (the address index serves only the live site)
        name = f"{layer_id}.geojson"
        assert (out / "data" / name).read_text(encoding="utf-8") == (layers_dir / name).read_text(
            encoding="utf-8")
    assert (out / "data" / "parks.csv").read_text(encoding="utf-8").startswith("id,name_zh,")
    assert (out / "assets" / "vendor" / "leaflet" / "leaflet.js").is_file()
    # progress: one numbered line per step, ending with the index
    assert re.match(r"\[1/(\d+)\] assets", lines[0]) and lines[-1].startswith(
        f"[{len(lines)}/{len(lines)}] index.html")


def test_export_pages_reference_nothing_outside_the_folder(site):
    out, _ = site
    for page in list((out / "maps").glob("*.html")) + [out / "index.html"]:
        html = page.read_text(encoding="utf-8")
        refs = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)', html)
        for ref in refs:
            assert not ref.startswith(("/", "http:", "https:")) or ref.startswith(
                "https://www.openstreetmap.org/copyright"), (page.name, ref)
            if not ref.startswith(("http", "#", "data:", "mailto:")):
                assert (page.parent / ref.split("?")[0].split("#")[0]).exists(), (page.name, ref)


def test_export_refuses_a_folder_it_did_not_write(tmp_path, layers_dir):
    keep = tmp_path / "notes.txt"
    keep.write_text("mine", encoding="utf-8")
    with pytest.raises(export.ExportError, match="not empty"):
        export.export_site(tmp_path, layers_dir=layers_dir, options=SMALL, log=lambda _: None)
    assert keep.read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_export_without_built_layers_is_a_clear_error(tmp_path, capsys):
    from webapp.cli import main

    assert main(["export", str(tmp_path / "site"), "--layers", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert "parkmap build" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "site").exists()


def test_export_replaces_an_earlier_export(tmp_path, layers_dir, monkeypatch):
    out = tmp_path / "site"
    out.mkdir()
    (out / export.MARKER).write_text("", encoding="utf-8")
    (out / "stale.html").write_text("old", encoding="utf-8")
    from webapp.maps import MAPS as all_maps

    monkeypatch.setattr(export, "MAPS", all_maps[:1])  # one map keeps this test quick
    monkeypatch.setattr(export, "LANGS", ("en",))
    export.export_site(out, layers_dir=layers_dir, options=SMALL, log=lambda _: None)
    assert not (out / "stale.html").exists()
    assert (out / "index.html").is_file() and (out / export.MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # no stage or old copy left


def test_export_never_deletes_a_folder_beside_its_target(tmp_path, layers_dir, monkeypatch):
    # an earlier version staged in the fixed name ".site.partial" and removed whatever was there
    mine = tmp_path / ".site.partial"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine", encoding="utf-8")
    from webapp.maps import MAPS as all_maps

    monkeypatch.setattr(export, "MAPS", all_maps[:1])
    monkeypatch.setattr(export, "LANGS", ("en",))
    export.export_site(tmp_path / "site", layers_dir=layers_dir, options=SMALL, log=lambda _: None)
    assert (mine / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".site.partial", "site"]


def test_failed_export_leaves_the_earlier_one_and_no_stage(tmp_path, layers_dir, monkeypatch):
    out = tmp_path / "site"
    out.mkdir()
    (out / export.MARKER).write_text("", encoding="utf-8")
    (out / "index.html").write_text("earlier", encoding="utf-8")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    from webapp.maps import MAPS as all_maps

    monkeypatch.setattr(export, "MAPS", all_maps[:1])
    monkeypatch.setattr(export, "LANGS", ("en",))
    monkeypatch.setattr(export, "_index", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        export.export_site(out, layers_dir=layers_dir, options=SMALL, log=lambda _: None)
    assert (out / "index.html").read_text(encoding="utf-8") == "earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


@pytest.mark.browser
def test_export_works_from_disk_with_the_network_blocked(site, browser):
    out, _ = site
    context = browser.new_context()
    blocked, errors = [], []

    def only_files(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_files)
    page = context.new_page()
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto((out / "index.html").as_uri())
    widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == len(MAPS) + 1 and all(w == SMALL.pixels[0] for w in widths)
    links = sorted(set(page.eval_on_selector_all(
        "a[href*='maps/']", "as => as.map(a => a.href)")))
    assert len(links) == 2 * (len(MAPS) + 1)
    for url in links:
        page.goto(url)
        frames = page.frames[1:] or [page.main_frame]  # the compare page draws in two panes
        for frame in frames:
            frame.wait_for_selector(".leaflet-container svg path", state="attached", timeout=20000)
            drawn = frame.eval_on_selector_all(".leaflet-container svg path", "ps => ps.length")
            assert drawn > 20, url
    context.close()
    assert blocked == [] and errors == []


def test_embed_fallback_is_the_described_figure_linking_to_the_map():
    from webapp.render.describe import embed_fallback

    html = embed_fallback(full_url="/map/jingan?lang=en", image_url="/figure/jingan.png?a=1&b=2",
                          title="Jing'an", description='Map "x" <y>', lang="en")
    assert '<img src="/figure/jingan.png?a=1&amp;b=2" alt="Map &#34;x&#34; &lt;y&gt;"' in html
    assert html.count('href="/map/jingan?lang=en" target="_top"') == 2
    assert "<script" not in html


def test_report_example_carries_the_descriptions_parkmap_gives(store):
    """examples/report.html is pasted snippets; a stale description would teach the wrong text."""
    import html
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "examples" / "report.html").read_text(
        encoding="utf-8")
    for map_id in ("changning", "jingan"):
        span = re.search(rf'<span id="parkmap-desc-{map_id}">([^<]*)</span>', page)
        assert span and html.unescape(span.group(1)) == describe_map(map_id, store, "en")
    alt = re.search(r'<img id="overview-figure"[^>]*\balt="([^"]*)"', page)
    assert alt and html.unescape(alt.group(1)) == describe_map("overview", store, "en")


def test_export_beside_a_file_is_a_clear_error(tmp_path, layers_dir, capsys):
    from webapp.cli import main

    (tmp_path / "a_file").write_text("x", encoding="utf-8")
    assert main(["export", str(tmp_path / "a_file" / "site"), "--layers", str(layers_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot write" in err and len(err.splitlines()) == 1

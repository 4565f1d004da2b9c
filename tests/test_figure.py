"""Static figures: size, content, CJK glyphs, styling, scale; on a hand-made fixture."""
from __future__ import annotations

import io
import json
import math
import re
import warnings

import geopandas as gpd
import numpy as np
import pytest
from PIL import Image
from shapely.geometry import LineString, Point, Polygon

from layers.spec import LayerSpec, Style
from webapp.render import figure, fonts
from webapp.render.figure import Content, FigureOptions, FigureParamError, Item, Panel, render

ZONE = Style("功能区", "Functional area", "fill", "#d95f02", 2, 1, "#d95f02", 0.35, "6 4")
METRO = Style("轨道交通", "Metro", "line", "#2c7fb8", 4)
PARK = Style("园区", "Park", "point", "#1b9e77", 1.5, 1, "#1b9e77", 0.9, None, 5)


def _spec(layer_id, styles, attribution="Fixture", group="plan"):
    return LayerSpec(layer_id, f"{layer_id}图层", f"{layer_id} layer", "", "", (), attribution,
                     "MIT", styles, build=None, group=group)


def _content(title_zh="长宁区：测试", parks_unlocated=1) -> Content:
    zones = gpd.GeoDataFrame(
        {"name_zh": ["东部", "西部"], "name_en": ["East", "West"], "kind": ["zone", "zone"]},
        geometry=[Polygon([(121.40, 31.20), (121.44, 31.20), (121.44, 31.23), (121.40, 31.23)]),
                  Polygon([(121.35, 31.19), (121.40, 31.19), (121.40, 31.23), (121.35, 31.23)])],
        crs="EPSG:4326")
    line = gpd.GeoDataFrame({"name_zh": ["2号线"], "name_en": ["Line 2"], "kind": ["metro"]},
                            geometry=[LineString([(121.33, 31.215), (121.46, 31.222)])],
                            crs="EPSG:4326")
    names = ["新微智谷", "临空园"] + ["未定位"] * parks_unlocated
    parks = gpd.GeoDataFrame(
        {"name_zh": names, "name_en": ["Xinwei", "Linkong"] + ["?"] * parks_unlocated,
         "kind": ["park"] * len(names)},
        geometry=[Point(121.42, 31.21), Point(121.37, 31.21)] + [None] * parks_unlocated,
        crs="EPSG:4326")
    items = [Item(_spec("zones", {"zone": ZONE}, "Zones © OpenStreetMap contributors"), zones),
             Item(_spec("metro", {"metro": METRO}), line, labels=False),
             Item(_spec("parks", {"park": PARK}), parks)]
    return Content(title_zh, "Changning: test", [Panel("长宁", "Changning", items)])


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def _near(img: np.ndarray, rgb, tol=12) -> int:
    return int((np.abs(img - np.array(rgb)).max(axis=2) <= tol).sum())


def _blend(color: str, alpha: float, under=(0xF7, 0xF6, 0xF2)):
    c = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    return [round(alpha * a + (1 - alpha) * b) for a, b in zip(c, under)]


@pytest.mark.parametrize("w,h,dpi", [(101.6, 76.2, 100), (297, 210, 150), (120, 180, 72)])
def test_png_has_the_asked_size_and_is_not_blank(w, h, dpi):
    img = _png(render(_content(), FigureOptions(width_mm=w, height_mm=h, dpi=dpi)))
    assert img.shape[:2] == (round(h / 25.4 * dpi), round(w / 25.4 * dpi))
    gray = img.mean(axis=2)
    assert gray.std() > 10  # not a flat image
    assert (gray < 250).mean() > 0.2  # the map frame and its content cover the page


def test_png_draws_each_style_in_its_colour():
    img = _png(render(_content(), FigureOptions(width_mm=200, height_mm=150, dpi=100)))
    assert _near(img, _blend(ZONE.fill_color, ZONE.fill_opacity)) > 5000  # zone fill
    assert _near(img, (0x2C, 0x7F, 0xB8)) > 200  # the metro line
    assert _near(img, _blend(PARK.fill_color, PARK.fill_opacity, (255, 255, 255))) > 20


def test_svg_has_the_asked_size_title_and_drawing():
    svg = render(_content(), FigureOptions(width_mm=180, height_mm=120, fmt="svg")).decode()
    m = re.search(r'<svg[^>]*width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    assert m, svg[:400]
    assert float(m.group(1)) == pytest.approx(180 / 25.4 * 72, abs=0.2)
    assert float(m.group(2)) == pytest.approx(120 / 25.4 * 72, abs=0.2)
    assert "<title>长宁区：测试</title>" in svg
    assert svg.count("<path") > 50  # text is drawn as glyph outlines, so it prints anywhere
    assert "#d95f02" in svg and "#2c7fb8" in svg


def test_dashed_style_becomes_a_matplotlib_dash_in_points():
    assert figure.linestyle(ZONE) == (0, (4.5, 3.0))
    assert figure.linestyle(METRO) == "solid"
    odd = Style("a", "a", "line", "#000", dash_array="2")
    assert figure.linestyle(odd) == (0, (1.5, 1.5))


def test_cjk_font_is_found_and_covers_chinese():
    font = fonts.cjk_font()
    assert fonts.covers(font.path, font.index, "长宁静安虹桥临空市北园区")
    assert not fonts.covers(_dejavu(), 0, "长宁")


def _dejavu() -> str:
    from matplotlib import font_manager

    return font_manager.findfont("DejaVu Sans", fallback_to_default=False)


def _title_band(content: Content) -> np.ndarray:
    img = _png(render(content, FigureOptions(width_mm=150, height_mm=100, dpi=150)))
    return img[: int(img.shape[0] * 0.1)]


def test_title_renders_cjk_glyphs_not_boxes(monkeypatch):
    a, b = _content("长宁区：测试"), _content("静安区：测试")
    # With the CJK font two different titles of the same length look different ...
    assert np.abs(_title_band(a) - _title_band(b)).sum() > 1000
    # ... and with a font lacking the glyphs both show identical boxes (so the check can fail).
    monkeypatch.setattr(figure, "cjk_font", lambda: fonts.CJKFont("DejaVu Sans", _dejavu()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Glyph ... missing from font(s)"
        assert np.abs(_title_band(a) - _title_band(b)).sum() == 0


def test_missing_cjk_font_is_a_clear_503(monkeypatch):
    monkeypatch.setattr(fonts, "find_cjk_font", lambda entries=None: None)
    monkeypatch.setattr(fonts, "_register_fontconfig_fonts", lambda: False)
    fonts.cjk_font.cache_clear()
    try:
        with pytest.raises(fonts.FontUnavailable) as err:
            render(_content())
        assert err.value.status == 503
        assert "fonts-noto-cjk" in str(err.value)
    finally:
        fonts.cjk_font.cache_clear()


def test_find_cjk_font_skips_fonts_without_the_glyphs():
    from matplotlib import font_manager

    latin_only = [e for e in font_manager.fontManager.ttflist if e.name == "DejaVu Sans"]
    assert latin_only and fonts.find_cjk_font(latin_only) is None


@pytest.mark.parametrize("kwargs,word", [
    ({"width_mm": 10}, "width"), ({"height_mm": 5000}, "height"), ({"dpi": 10}, "dpi"),
    ({"dpi": 2000}, "dpi"), ({"dpi": 150.5}, "dpi"), ({"width_mm": float("nan")}, "width"),
    ({"lang": "fr"}, "lang"), ({"fmt": "gif"}, "format"),
    ({"width_mm": 1189, "height_mm": 841, "dpi": 600}, "megapixels")])
def test_bad_options_are_400_errors(kwargs, word):
    with pytest.raises(FigureParamError) as err:
        FigureOptions(**kwargs)
    assert err.value.status == 400 and word in str(err.value)


def test_default_size_is_a4_at_300_dpi():
    assert FigureOptions().pixels == (3508, 2480)


def test_nothing_located_is_an_error_not_a_blank_figure():
    empty = _content()
    for it in empty.panels[0].items:
        it.frame = it.frame.iloc[0:0]
    with pytest.raises(FigureParamError, match="nothing to draw"):
        render(empty)


def test_extent_is_fitted_in_metres_to_the_frame_aspect():
    ext = figure.fit_extent((0, 0, 1000, 1000), aspect=2.0, pad=0)
    assert ext == (-500.0, 0.0, 1500.0, 1000.0)
    minx, miny, maxx, maxy = figure.metric_extent(_content().panels[0].items)
    # the zones span 121.35-121.44 E at 31.2 N: about 8.6 km, measured in EPSG:32651
    assert 8000 < maxx - minx < 13000  # includes the 13 km line
    assert 4000 < maxy - miny < 5000


def test_scale_bar_length_and_north_arrow_convergence():
    assert [figure.nice_length(v) for v in (3.2, 740, 2500, 9999)] == [2, 500, 2000, 5000]
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True).transform(121.4, 31.2)
    # west of zone 51's central meridian (123 E) meridians lean east going north: true north
    # is clockwise of grid north by |lon - 123| * sin(lat) (first-order convergence)
    expected = (123.0 - 121.4) * math.sin(math.radians(31.2))
    assert figure.convergence_deg(x, y) == pytest.approx(expected, abs=0.02)


def test_unlocated_features_are_reported_not_drawn():
    notes = figure.unlocated_notes(_content(parks_unlocated=3), "en")
    assert notes == ["parks layer: 3 without a known location, not drawn"]
    assert figure.unlocated_notes(_content(parks_unlocated=0), "zh") == []


def test_legend_and_attribution_come_from_the_layer_styles():
    labels = [h.get_label() for h in figure.legend_entries(_content(), "en")]
    assert labels == ["Functional area", "Metro", "Park"]
    assert [h.get_label() for h in figure.legend_entries(_content(), "zh")] == [
        "功能区", "轨道交通", "园区"]
    assert figure.attributions(_content()) == ["Zones © OpenStreetMap contributors", "Fixture"]


def test_comparison_panels_share_one_scale():
    c = _content()
    small = Panel("小", "small", [Item(c.panels[0].items[2].spec, c.panels[0].items[2].frame)])
    two = Content("比较", "Comparison", [c.panels[0], small])
    extents = figure.panel_extents(two.panels, aspect=0.8)
    spans = {(round(e[2] - e[0], 3), round(e[3] - e[1], 3)) for e in extents}
    assert len(spans) == 1  # same metres per millimetre in both panels
    assert extents[0] != extents[1]  # each centred on its own content
    img = _png(render(two, FigureOptions(width_mm=200, height_mm=100, dpi=80)))
    assert img.shape[:2] == (round(100 / 25.4 * 80), round(200 / 25.4 * 80))


# --- the real built layers, through the CLI and the HTTP route ----------------------------

SMALL = dict(width_mm=120, height_mm=90, dpi=80)


@pytest.fixture(scope="module")
def client(layers_dir, tmp_path_factory):
    from webapp import create_app

    app = create_app({"LAYERS_DIR": str(layers_dir),
                      "INSTANCE_DIR": str(tmp_path_factory.mktemp("instance"))})
    return app.test_client()


@pytest.mark.parametrize("target", ["changning", "jingan", "overview", "compare"])
def test_every_named_map_and_the_comparison_render(store, target):
    content = figure.content_for(target, store)
    img = _png(render(content, FigureOptions(**SMALL)))
    assert img.shape[:2] == (round(90 / 25.4 * 80), round(120 / 25.4 * 80))
    assert img.mean(axis=2).std() > 20
    assert any("OpenStreetMap contributors" in a for a in figure.attributions(content))


def test_named_map_legend_lists_its_layers_kinds(store):
    from layers.registry import get_layer

    content = figure.content_for("changning", store)
    labels = {h.get_label() for h in figure.legend_entries(content, "en")}
    zones = store.frame("changning_zones")
    expected = {get_layer("changning_zones").style_for(k).label_en for k in zones["kind"]}
    assert expected and expected <= labels
    assert "jingan_layout" not in [it.spec.id for it in content.panels[0].items]


def test_named_map_is_framed_on_its_own_plan_layers(store):
    from geo.crs import to_metric

    content = figure.content_for("jingan", store)
    minx, miny, maxx, maxy = content.panels[0].extent
    jl = to_metric(store.frame("jingan_layout")).total_bounds
    assert (minx, miny, maxx, maxy) == pytest.approx(tuple(jl))


def test_layers_target_and_its_errors(store):
    content = figure.content_for("layers:parks,line2", store)
    assert [it.spec.id for it in content.panels[0].items] == ["parks", "line2"]
    from layers.registry import UnknownLayer
    from webapp.maps import UnknownMap

    with pytest.raises(UnknownLayer):
        figure.content_for("layers:parks,nope", store)
    with pytest.raises(FigureParamError):
        figure.content_for("layers:", store)
    with pytest.raises(UnknownMap):
        figure.content_for("atlantis", store)
    with pytest.raises(FigureParamError):
        figure.content_for("compare:changning_zones", store)


def test_route_png_and_svg_at_the_asked_size(client):
    r = client.get("/figure/changning.png?width=120&height=90&dpi=80&lang=en")
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert _png(r.data).shape[:2] == (round(90 / 25.4 * 80), round(120 / 25.4 * 80))
    r = client.get("/figure/compare.svg?width=200&height=100")
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"
    m = re.search(r'<svg[^>]*width="([\d.]+)pt" height="([\d.]+)pt"', r.get_data(as_text=True))
    assert float(m.group(1)) == pytest.approx(200 / 25.4 * 72, abs=0.2)
    assert float(m.group(2)) == pytest.approx(100 / 25.4 * 72, abs=0.2)


@pytest.mark.parametrize("url,status,words", [
    ("/figure/changning.png?dpi=2000", 400, "dpi must be"),
    ("/figure/changning.png?width=abc", 400, "width must be a number"),
    ("/figure/changning.png?width=inf", 400, "finite"),
    ("/figure/changning.png?lang=fr", 400, "lang must be"),
    ("/figure/changning.png?colour=red", 400, "unknown parameter"),
    ("/figure/changning.png?width=-5", 400, "width must be 40-1189"),
    ("/figure/changning.png?height=nan", 400, "finite"),
    ("/figure/changning.png?width=1e400", 400, "finite"),
    ("/figure/changning.png?dpi=150.0", 400, "dpi must be a whole number"),
    ("/figure/changning.png?dpi=-0", 400, "dpi must be an integer 50-600"),
    ("/figure/changning.png?dpi=" + "9" * 5000, 400, "dpi must be a whole number"),
    ("/figure/changning.png?width=" + "9" * 5000, 400, "width must be"),
    ("/figure/changning.png?width=1189&height=841&dpi=600", 400, "megapixels"),
    ("/figure/changning.png?width=40&height=40&dpi=50", 400, "make the figure larger"),
    ("/figure/compare:a,b,c.png", 400, "give two layouts"),
    ("/figure/atlantis.png", 404, "unknown map"),
    ("/figure/layers:nope.png", 404, "unknown layer"),
    ("/figure/compare:changning_zones,nope.svg", 404, "unknown layout"),
    ("/figure/draft:12345678.png", 404, "no draft"),
])
def test_route_bad_requests_are_clear_4xx(client, url, status, words):
    r = client.get(url)
    assert r.status_code == status
    assert words in r.get_data(as_text=True)
    assert "Traceback" not in r.get_data(as_text=True)


def test_route_without_cjk_font_is_503(client, monkeypatch):
    monkeypatch.setattr(fonts, "find_cjk_font", lambda entries=None: None)
    monkeypatch.setattr(fonts, "_register_fontconfig_fonts", lambda: False)
    fonts.cjk_font.cache_clear()
    try:
        r = client.get("/figure/jingan.png?width=100&height=70&dpi=60&lang=zh")
        assert r.status_code == 503 and "fonts-noto-cjk" in r.get_data(as_text=True)
    finally:
        fonts.cjk_font.cache_clear()


def test_route_draws_an_uploaded_draft(client):
    doc = {"type": "FeatureCollection", "features": [{"type": "Feature",
           "properties": {"name": "测试片区"}, "geometry": {"type": "Polygon", "coordinates": [[
               [121.40, 31.20], [121.41, 31.20], [121.41, 31.21], [121.40, 31.21],
               [121.40, 31.20]]]}}]}
    from webapp.intake import read_draft
    from webapp.stores.drafts import DraftStore

    gdf, facts = read_draft(json.dumps(doc).encode())
    instance = client.application.config["INSTANCE_DIR"]
    meta, _ = DraftStore(f"{instance}/drafts").save(gdf, facts, name="测试")
    r = client.get(f"/figure/draft:{meta['id']}.png?width=100&height=80&dpi=80")
    assert r.status_code == 200
    img = _png(r.data)
    from webapp.layouts import DRAFT_LAYER

    fill = DRAFT_LAYER.styles["draft_zone"]
    assert _near(img, _blend(fill.fill_color, fill.fill_opacity), tol=14) > 200


def test_cli_png_and_svg(tmp_path, layers_dir, capsys):
    from webapp.cli import main

    out = tmp_path / "fig" / "overview.png"
    assert main(["png", "overview", str(out), "--width", "100", "--height", "75", "--dpi", "100",
                 "--layers", str(layers_dir)]) == 0
    assert _png(out.read_bytes()).shape[:2] == (round(75 / 25.4 * 100), round(100 / 25.4 * 100))
    svg = tmp_path / "jingan.svg"
    assert main(["svg", "jingan", str(svg), "--lang", "en", "--layers", str(layers_dir)]) == 0
    assert svg.read_text().lstrip().startswith("<?xml")
    assert "3508x2480 px" not in capsys.readouterr().err  # svg: no pixel size claimed


@pytest.mark.parametrize("args,words", [
    (["png", "changning", "OUT", "--dpi", "5000"], "dpi must be"),
    (["png", "atlantis", "OUT"], "unknown map"),
    (["svg", "layers:nope", "OUT"], "unknown layer"),
])
def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys, args, words):
    from webapp.cli import main

    args = [str(tmp_path / "x.png") if a == "OUT" else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_cli_without_cjk_font_fails_in_one_line(tmp_path, capsys, monkeypatch):
    from webapp.cli import main

    monkeypatch.setattr(fonts, "find_cjk_font", lambda entries=None: None)
    monkeypatch.setattr(fonts, "_register_fontconfig_fonts", lambda: False)
    fonts.cjk_font.cache_clear()
    try:
        assert main(["png", "changning", str(tmp_path / "x.png")]) == 2
    finally:
        fonts.cjk_font.cache_clear()
    err = capsys.readouterr().err.strip()
    assert "fonts-noto-cjk" in err and len(err.splitlines()) == 1


# --- the interactive map's point looks, the legend, the layout at small sizes --------------

def _with_confidence(level: str) -> Content:
    c = _content(parks_unlocated=0)
    parks = c.panels[0].items[2]
    parks.frame = parks.frame.assign(confidence=level)
    return c


def test_points_take_their_confidence_look_as_on_the_interactive_map():
    from webapp.render.compose import CONFIDENCE_LOOK

    solid = _blend(PARK.fill_color, CONFIDENCE_LOOK["building"]["fillOpacity"], (255, 255, 255))
    opts = FigureOptions(width_mm=200, height_mm=150, dpi=100)
    exact = _near(_png(render(_with_confidence("building"), opts)), solid)
    area = _near(_png(render(_with_confidence("area"), opts)), solid)
    assert exact > area + 30  # an area-level place is a hollow ring, not a solid marker
    style = figure.confidence_style(PARK, "area")
    assert style.fill_opacity == CONFIDENCE_LOOK["area"]["fillOpacity"] and style.dash_array
    assert figure.confidence_style(PARK, None) == PARK


def test_legend_has_the_confidence_group_and_only_what_is_in_view():
    labels = [h.get_label() for h in figure.legend_entries(_with_confidence("area"), "en")]
    assert labels[:3] == ["Functional area", "Metro", "Park"]
    assert labels[3:] == ["Location confidence", "exact (building)", "approximate (street)",
                          "approximate (area)"]
    assert "Location confidence" not in [
        h.get_label() for h in figure.legend_entries(_content(), "en")]  # no confidence column
    c = _content()
    far = gpd.GeoDataFrame({"name_zh": ["北京"], "name_en": ["Beijing"], "kind": ["far"]},
                           geometry=[Point(116.4, 39.9)], crs="EPSG:4326")
    c.panels[0].items.append(Item(_spec("far", {"far": Style("远处", "Far away", "point", "#000")}),
                                  far))
    view = [figure.metric_extent(c.panels[0].items[:3])]
    assert "Far away" in [h.get_label() for h in figure.legend_entries(c, "en")]
    assert "Far away" not in [h.get_label() for h in figure.legend_entries(c, "en", extents=view)]


def _boxes(content: Content, options: FigureOptions) -> dict:
    import matplotlib

    with matplotlib.rc_context({"font.family": [fonts.cjk_font().name, "DejaVu Sans"]}):
        fig = figure._draw(content, options)
        r = fig.canvas.get_renderer()
        texts = [t for t in fig.texts if t.get_text()]
        return {"page": fig.bbox, "title": texts[0].get_window_extent(r),
                "subtitle": texts[1].get_window_extent(r), "footer": texts[2].get_window_extent(r),
                "legends": [lg.get_window_extent(r) for lg in fig.legends],
                "maps": [ax.get_window_extent(r) for ax in fig.axes],
                "footer_text": texts[2].get_text()}


@pytest.mark.parametrize("target,w,h,lang", [
    ("changning", 297, 210, "zh"), ("compare", 297, 210, "en"), ("overview", 120, 90, "en"),
    ("changning", 90, 60, "zh"), ("compare", 90, 60, "zh"), ("compare", 100, 75, "en"),
    ("jingan", 60, 90, "zh"),
    ("layers:parks,line2", 90, 60, "en")])
def test_title_legend_notes_and_maps_fit_the_page_without_overlapping(store, target, w, h, lang):
    b = _boxes(figure.content_for(target, store), FigureOptions(w, h, 150, lang))
    page = b["page"]
    parts = [b["title"], b["subtitle"], b["footer"], *b["legends"], *b["maps"]]
    for box in parts:  # nothing runs off the page (1 px of rounding allowed)
        assert box.x0 >= -1 and box.y0 >= -1 and box.x1 <= page.x1 + 1 and box.y1 <= page.y1 + 1
    blocks = [b["subtitle"], b["footer"], *b["legends"]]
    for i, one in enumerate(blocks):
        for other in blocks[i + 1:] + b["maps"]:
            assert not one.overlaps(other), (target, w, h)
    if w >= 200:  # an A4 figure keeps its whole legend, base map included
        assert b["legends"] and "legend" not in b["footer_text"].lower()
        assert "图例" not in b["footer_text"]
    else:  # a small one says what it left out of the legend
        said = b["footer_text"].replace("\n", " ") + b["footer_text"].replace("\n", "")
        assert b["legends"] or any(n in said for n in figure._LEGEND_NOTES)


@pytest.mark.parametrize("where", ["folder", "under_a_file"])
def test_cli_unwritable_output_is_one_line_and_exit_2(tmp_path, layers_dir, capsys, where):
    from webapp.cli import main

    (tmp_path / "a_file").write_text("x", encoding="utf-8")
    out = tmp_path if where == "folder" else tmp_path / "a_file" / "x.png"
    assert main(["png", "layers:line2", str(out), "--width", "100", "--height", "75",
                 "--dpi", "50", "--layers", str(layers_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ("is a folder" in err or "cannot write" in err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # no temp file left

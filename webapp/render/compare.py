"""Two layouts side by side, rendered: the compare page and its figures table.

Each side is an ordinary composed map (webapp.render.compose) in its own document (an iframe
``srcdoc``, as parkmap.js keeps one map per document); static/compare.js keeps their views in
step through ``postMessage``. ``render_compare`` builds the whole page; the routes
(webapp.pages.compare) and the static export call it.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, replace
from urllib.parse import urlencode

import numpy as np
from flask import render_template, url_for

from geo.datum import convert_frame
from geo.geojson_io import dumps, to_feature_collection
from geo.metrics import DEFINITIONS, figure_rows, overlap_figures, overlap_rows
from webapp.layouts import (DRAFT_LAYER, DRAFT_PREFIX, LAYOUTS, Layout, UnknownLayout, figures,
                            resolve)
from webapp.render import compose as c
from webapp.stores.drafts import DraftStore

CSV_COLUMNS = ("layout", "scope", "figure", "label", "value", "unit", "definition")


class LayoutLayers:
    """A LayerStore view for one layout: its own frames where it overrides a layer."""

    def __init__(self, layout: Layout, store):
        self.layout, self.store = layout, store

    def frame(self, layer_id: str):
        frame = self.layout.frames.get(layer_id)
        return frame.copy() if frame is not None else self.store.frame(layer_id)

    def geojson_text(self, layer_id: str) -> str:
        if layer_id in self.layout.frames:
            return dumps(to_feature_collection(self.layout.frames[layer_id], name=layer_id))
        return self.store.geojson_text(layer_id)


def layer_text(layout: Layout, store, layer_id: str, datum: str = "WGS84") -> str:
    """GeoJSON of one layer as a layout draws it (``draft`` = the uploaded draft itself,
    ``added`` = the parks a later document added; see Layout.overlays)."""
    overlays = layout.overlays()
    if layer_id in overlays:
        gdf = overlays[layer_id][1]
    else:
        if layer_id not in layout.layers:
            raise UnknownLayout(f"layout {layout.id!r} draws no layer {layer_id[:40]!r}; it draws: "
                                + ", ".join((*layout.layers, *overlays)))
        gdf = LayoutLayers(layout, store).frame(layer_id)
    if datum != "WGS84":
        gdf = convert_frame(gdf, "WGS84", datum)
    return dumps(to_feature_collection(gdf, name=layer_id))


def _layout_layer_url(layout: Layout, layer_id: str, datum: str) -> str:
    args = {"datum": "gcj02"} if datum == "GCJ-02" else {}
    return url_for("layouts.layout_layer", layout_id=layout.id, layer_id=layer_id, **args)


def _pane(layout: Layout, side: str, req: "CompareRequest", delivery: c.Delivery) -> str:
    """One side: the layout's composed map as a complete HTML document."""
    datum = c.BASEMAPS[req.basemap].datum
    store = delivery.store

    def data_url(layer_id: str, layer_datum: str) -> str:
        if layer_id in layout.frames:
            return _layout_layer_url(layout, layer_id, layer_datum)
        return c.default_data_url(layer_id, layer_datum, store.version)

    extra = []
    for layer_id, (spec, _) in layout.overlays().items():
        source = (c.layer_source("url", url=_layout_layer_url(layout, layer_id, datum))
                  if delivery.data == "url" else
                  c.layer_source("inline", text=layer_text(layout, store, layer_id, datum)))
        extra.append(c.Overlay(spec, source,
                               name=layout.title(req.lang) if spec is DRAFT_LAYER else None))
    # compact: half-width panes are small; an open layer control and legend covered most of
    # one (the other layout's district sat under them). Both are one click away.
    m = c.compose(c.MapRequest(layout.layers, lang=req.lang, basemap=req.basemap, view=req.view,
                               controls=req.controls, title=layout.title(req.lang), compact=True),
                  replace(delivery, store=LayoutLayers(layout, store), data_url=data_url),
                  extra=extra)
    return render_template("compare_pane.html", lang=req.lang, side=side,
                           title=layout.title(req.lang), parts=c.render_parts(m),
                           compare_js=delivery.asset_url("static/compare.js"))


# The map area of one pane on a 1366-1400 px wide, 900 px tall screen (two panes side by
# side, 62vh tall less the pane header): the box a shared view fits both layouts into.
PANE_PX = (660, 480)
MIN_ZOOM, MAX_ZOOM = 10, 16


def layout_bounds(layout: Layout) -> tuple[float, float, float, float] | None:
    """lon/lat bounds of what a layout measures: its zones/belts, located parks and draft."""
    frames = [f for f in (layout.units, layout.parks, layout.draft) if f is not None and len(f)]
    boxes = [f[f.geometry.notna() & ~f.geometry.is_empty].total_bounds for f in frames]
    boxes = [b for b in boxes if np.isfinite(b).all()]
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes))


def fit_view(bounds, size=PANE_PX) -> tuple[float, float, int]:
    """Centre and the largest zoom at which ``bounds`` fit a ``size`` px map (Web Mercator)."""
    minx, miny, maxx, maxy = bounds
    lat = (miny + maxy) / 2
    # pixels spanned at zoom 0: 256 px per 360° of longitude; latitude stretched by 1/cos
    px_x = (maxx - minx) / 360 * 256
    px_y = (maxy - miny) / 360 * 256 / math.cos(math.radians(lat))
    zoom = MAX_ZOOM
    while zoom > MIN_ZOOM and (px_x * 2 ** zoom > size[0] or px_y * 2 ** zoom > size[1]):
        zoom -= 1
    return (round(float(lat), 5), round(float(minx + maxx) / 2, 5), zoom)


def shared_view(a: Layout, b: Layout) -> tuple[float, float, int]:
    """One view for both maps: the layouts' own when they agree (the same district), else one
    that fits what both layouts measure into a pane (their centres' midpoint put one of them
    under the map controls at the pane's edge)."""
    if a.view == b.view:
        return a.view
    boxes = [x for x in (layout_bounds(a), layout_bounds(b)) if x is not None]
    if not boxes:
        return a.view
    return fit_view((min(x[0] for x in boxes), min(x[1] for x in boxes),
                     max(x[2] for x in boxes), max(x[3] for x in boxes)))


def compare_figures(left: Layout, right: Layout, store, lang: str = "zh") -> dict:
    """The figures of two layouts and their overlap, with every definition (JSON-ready)."""
    lf, rf = figures(left, store), figures(right, store)
    overlap = overlap_figures(left.units, right.units)
    return {
        "crs": lf["crs"],
        "left": {"layout": left.metadata(), "figures": lf},
        "right": {"layout": right.metadata(), "figures": rf},
        "overlap": overlap,
        "definitions": {k: {"label": d.label(lang), "unit": d.unit, "definition": d.text(lang)}
                        for k, d in DEFINITIONS.items()},
    }


def compare_rows(result: dict, lang: str = "zh") -> list[dict]:
    """The figures as flat rows: the CSV and the terminal table."""
    left, right = result["left"], result["right"]
    return (figure_rows(left["figures"], left["layout"]["id"], lang)
            + figure_rows(right["figures"], right["layout"]["id"], lang)
            + overlap_rows(result["overlap"], left["layout"]["id"], right["layout"]["id"], lang))


def csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({**r, "value": "" if r["value"] is None else r["value"]})
    return buf.getvalue()


@dataclass(frozen=True)
class CompareRequest:
    """Which two layouts, and how to show them. ``view`` None: one that fits both (shared_view).
    ``links``: the live site's page, with upload, API links and layout pickers (the static
    export has none)."""
    left: str
    right: str
    lang: str = "zh"
    basemap: str = "none"
    view: tuple[float, float, int] | None = None
    controls: tuple[str, ...] = c.CONTROLS
    embed: bool = False
    links: bool = True

    def __post_init__(self):
        c.check_choice("lang", self.lang, c.LANGS)


def render_compare(req: CompareRequest, delivery: c.Delivery,
                   drafts: DraftStore | None = None) -> str:
    """The compare page (or its embeddable form) for two layouts, as HTML.

    Needs a Flask app context (templates); ``req.links`` also a request context. ``delivery``
    carries the LayerStore (the static export: ``data="inline"`` and relative assets).
    """
    c.check_choice("basemap", req.basemap, c.basemaps_available(delivery.tianditu_key))
    store, lang = delivery.store, req.lang
    left, right = resolve(req.left, store, drafts), resolve(req.right, store, drafts)
    req = replace(req, view=tuple(req.view) if req.view else shared_view(left, right))
    result = compare_figures(left, right, store, lang)
    context = {
        "lang": lang, "embed": req.embed, "links": req.links, "basemap": req.basemap,
        "view": req.view, "left": left, "right": right, "result": result,
        "table": figure_table(result, lang),
        "panes": {"left": _pane(left, "left", req, delivery),
                  "right": _pane(right, "right", req, delivery)},
        "compare_js": delivery.asset_url("static/compare.js"),
        "css": delivery.asset_url("static/parkmap.css"), "text": TEXT[lang],
    }
    if req.links:
        drafts_meta = drafts.index() if drafts is not None else []
        context.update(
            choices=[(d.id, d.title_zh if lang == "zh" else d.title_en) for d in LAYOUTS]
            + [(DRAFT_PREFIX + m["id"], ("草图：" if lang == "zh" else "Draft: ") + m["name"])
               for m in drafts_meta],
            drafts=drafts_meta, datums=("WGS84", "GCJ-02", "BD-09"),
            basemaps=[(b, c.BASEMAPS[b]) for b in c.basemaps_available(delivery.tianditu_key)],
            switch_url=lambda **change: url_for("compare.page", **{
                "left": left.id, "right": right.id, "lang": lang, "basemap": req.basemap,
                "view": "{:.5f},{:.5f},{}".format(*req.view), **change}),
            api={"json": url_for("layouts.api_compare", left=left.id, right=right.id, lang=lang),
                 "csv": url_for("layouts.api_compare_csv", left=left.id, right=right.id,
                                lang=lang),
                 "layouts": url_for("layouts.api_layouts")},
            embed_src=url_for("compare.embed", _external=True) + "?" + urlencode(
                {"left": left.id, "right": right.id, "lang": lang, "basemap": req.basemap}),
        )
    return render_template("compare_embed.html" if req.embed else "compare.html", **context)


TEXT = {
    "zh": {"title": "布局对比", "figures": "指标", "left": "左", "right": "右", "figure": "指标",
           "definition": "定义", "unit": "单元", "area": "面积 km²", "share": "占全区",
           "parks": "园区", "per_km2": "园区/km²", "length": "区内长度 km", "total": "合计",
           "overlap": "两布局重叠", "upload": "上传草图",
           "file": "文件（GeoJSON、CSV、GeoPackage、Shapefile 压缩包、KML/KMZ 或 DXF）",
           "formats_help": "GeoJSON/CSV/KML 为经纬度；GeoPackage 与 Shapefile（.zip，含 .shp、.shx、"
           ".dbf、.prj，GBK 编码须附 .cpg）可为任意坐标系，自动转换为 WGS84；DXF 须填写坐标系。",
           "crs": "坐标参考系 CRS（DXF 必填）",
           "crs_help": "如 EPSG:4549（CGCS2000 3 度带 120°E）、EPSG:32651（UTM 51N）；文件自带坐标系"
           "时留空；投影坐标数据的“坐标系”保持 WGS84。",
           "layer": "图层（可选）",
           "layer_help": "GeoPackage 图层、压缩包内的 Shapefile、KML 文件夹或 DXF 图层名；文件只有"
           "一个图层时留空。",
           "datum": "坐标系", "name": "名称", "side": "放在", "send": "上传", "drafts": "已上传草图",
           "delete": "删除", "show": "对比", "embed": "嵌入", "layouts": "布局",
           "crs_note": "所有指标在 EPSG:32651（UTM 51N）中以米量算，绝不以经纬度量算。",
           "repaired": "下载修复后的形状（GeoJSON）",
           "not_owner": "（由他人上传：只有上传者可以删除）", "datum_help":
           "WGS84：GPS/OpenStreetMap；GCJ-02：在高德/腾讯地图上描绘；BD-09：百度地图。"},
    "en": {"title": "Compare layouts", "figures": "Figures", "left": "Left", "right": "Right",
           "figure": "Figure", "definition": "Definition", "unit": "Unit", "area": "Area km²",
           "share": "Share of district", "parks": "Parks", "per_km2": "Parks/km²",
           "length": "Length in district km", "total": "Total", "overlap": "Overlap of the two",
           "upload": "Upload a draft",
           "file": "File (GeoJSON, CSV, GeoPackage, zipped Shapefile, KML/KMZ or DXF)",
           "formats_help": "GeoJSON, CSV and KML are lon/lat; a GeoPackage or Shapefile (.zip with "
           "the .shp, .shx, .dbf, .prj, and a .cpg if GBK) may be in any coordinate system and is "
           "converted to WGS84; a DXF needs its coordinate system below.",
           "crs": "Coordinate system (DXF: required)",
           "crs_help": "e.g. EPSG:4549 (CGCS2000 3-degree zone 120°E), EPSG:32651 (UTM 51N); leave "
           "empty when the file states its own; with projected data keep the datum at WGS84.",
           "layer": "Layer (optional)",
           "layer_help": "A GeoPackage layer, a Shapefile in the zip, a KML folder or a DXF layer; "
           "leave empty when the file has one.",
           "datum": "Datum",
           "name": "Name", "side": "Show on", "send": "Upload", "drafts": "Uploaded drafts",
           "delete": "Delete", "show": "Compare", "embed": "Embed", "layouts": "Layouts",
           "crs_note": "Every figure is measured in metres in EPSG:32651 (UTM 51N), never in degrees.",
           "repaired": "Download the repaired shape (GeoJSON)",
           "not_owner": "(uploaded by someone else: only its uploader can delete it)",
           "datum_help":
           "WGS84: GPS/OpenStreetMap; GCJ-02: traced on Amap/Tencent; BD-09: Baidu."},
}

SUMMARY_ORDER = (
    ("total", "area_km2"), ("total", "share_of_district"), ("total", "parks"),
    ("total", "parks_per_km2"), ("", "line2_length_km"), ("", "parks_located"),
    ("", "parks_approximate"), ("", "parks_unlocated"),
    *[("", f"near_{t}_{r}m{s}") for t in ("line2", "metro") for r in (500, 800) for s in ("", "_share")],
    ("", "line2_distance_mean_m"), ("", "line2_distance_median_m"),
)


def fmt(value, unit: str) -> str:
    """A figure as shown in tables (JSON and CSV keep the full value)."""
    if value is None:
        return "—"
    if unit == "share":
        return f"{value * 100:.1f}%"
    if unit == "count":
        return str(int(value))
    if unit == "m":
        return f"{value:,.0f} m"
    if unit == "km2":
        return f"{value:.2f} km²"
    if unit == "km":
        return f"{value:.2f} km"
    return f"{value:.2f}"


def figure_table(result: dict, lang: str) -> dict:
    """Rows for the page: summary (left | right | definition), per-unit tables, overlap."""
    summary = []
    lf, rf = result["left"]["figures"], result["right"]["figures"]
    for scope, key in SUMMARY_ORDER:
        d = DEFINITIONS[key]
        lv = lf["total"].get(key) if scope else lf.get(key)
        rv = rf["total"].get(key) if scope else rf.get(key)
        label = d.label(lang) + (f"（{TEXT['zh']['total']}）" if scope and lang == "zh"
                                 else " (total)" if scope else "")
        summary.append({"key": key, "label": label, "left": fmt(lv, d.unit),
                        "right": fmt(rv, d.unit), "definition": d.text(lang)})
    overlap = [{"key": k, "label": DEFINITIONS[k].label(lang),
                "value": fmt(v, DEFINITIONS[k].unit), "definition": DEFINITIONS[k].text(lang)}
               for k, v in result["overlap"].items()]
    units = {}
    for side, figs in (("left", lf), ("right", rf)):
        units[side] = [{
            "name": (u.get("name_zh") if lang == "zh" else u.get("name_en")) or u.get("id") or "",
            "kind": u["kind"],
            "area": fmt(u.get("area_km2"), "km2") if u["kind"] == "area" else "",
            "share": fmt(u.get("share_of_district"), "share") if u["kind"] == "area" else "",
            "parks": fmt(u.get("parks"), "count") if u["kind"] == "area" else "",
            "per_km2": fmt(u.get("parks_per_km2"), "per_km2") if u["kind"] == "area" else "",
            "length": fmt(u.get("length_km"), "km") if u["kind"] == "line" else "",
        } for u in figs["units"]]
    unit_defs = [(DEFINITIONS[k].label(lang), DEFINITIONS[k].text(lang))
                 for k in ("area_km2", "share_of_district", "parks", "parks_per_km2", "length_km")]
    return {"summary": summary, "overlap": overlap, "units": units, "unit_defs": unit_defs}

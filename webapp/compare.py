"""Two layouts side by side: /compare, /embed/compare, their figures (/api/compare, .csv) and
planners' drafts (/api/layouts).

Each side is an ordinary composed map (webapp.compose) in its own document (an iframe
``srcdoc``, as parkmap.js keeps one map per document); static/compare.js keeps their views in
step through ``postMessage``. ``render_compare`` builds the whole page and is what the static
export reuses.
"""
from __future__ import annotations

import csv
import io
import json
import math
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
from flask import (Blueprint, Response, current_app, g, jsonify, render_template, request,
                   url_for)

from geo.datum import convert_frame
from geo.geojson_io import dumps, to_feature_collection
from geo.metrics import DEFINITIONS, figure_rows, overlap_figures, overlap_rows
from layers.store import store_for
from webapp import compose as c
from webapp.drafts import (DRAFT_LAYER, DraftError, DraftStore,
                           DraftTooLarge, Limits, read_draft)
from webapp.errors import error_response, wants_json
from webapp.layouts import (DEFAULT_LEFT, DEFAULT_RIGHT, DRAFT_PREFIX, LAYOUTS, Layout,
                            UnknownLayout, figures, layout_ids, resolve)

bp = Blueprint("compare", __name__)

MULTIPART_SLACK = 64 * 1024  # form fields and boundaries around the file in an upload
CSV_COLUMNS = ("layout", "scope", "figure", "label", "value", "unit", "definition")


def _store():
    return store_for(current_app.config["LAYERS_DIR"])


def _drafts() -> DraftStore:
    return DraftStore(Path(current_app.config["INSTANCE_DIR"]) / "drafts")


# --- page composition -----------------------------------------------------------------------

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
    return url_for("compare.layout_layer", layout_id=layout.id, layer_id=layer_id, **args)


def _pane(layout: Layout, side: str, *, store, lang, basemap, view, controls, data, asset_url,
          tianditu_key) -> str:
    """One side: the layout's composed map as a complete HTML document."""
    datum = c.BASEMAPS[basemap].datum

    def data_url(layer_id: str, layer_datum: str) -> str:
        if layer_id in layout.frames:
            return _layout_layer_url(layout, layer_id, layer_datum)
        return c.default_data_url(layer_id, layer_datum)

    extra = []
    for layer_id, (spec, _) in layout.overlays().items():
        source = (c.layer_source(data, url=_layout_layer_url(layout, layer_id, datum))
                  if data == "url" else
                  c.layer_source(data, text=layer_text(layout, store, layer_id, datum)))
        extra.append(c.Overlay(spec, source,
                               name=layout.title(lang) if spec is DRAFT_LAYER else None))
    # compact: half-width panes are small; an open layer control and legend covered most of
    # one (the other layout's district sat under them). Both are one click away.
    m = c.compose(layout.layers, lang=lang, basemap=basemap, view=view, controls=controls,
                  data=data, store=LayoutLayers(layout, store), asset_url=asset_url,
                  data_url=data_url, tianditu_key=tianditu_key, title=layout.title(lang),
                  extra=extra, compact=True)
    return render_template("compare_pane.html", lang=lang, side=side, title=layout.title(lang),
                           parts=c.render_parts(m), compare_js=asset_url("static/compare.js"))


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


def render_compare(left_id: str, right_id: str, *, store, drafts: DraftStore | None = None,
                   lang: str = "zh", basemap: str = "none",
                   view: tuple[float, float, int] | None = None,
                   controls=c.CONTROLS, embed: bool = False, data: str = "url",
                   asset_url=c.default_asset_url, tianditu_key: str = "",
                   links: bool = True) -> str:
    """The compare page (or its embeddable form) for two layouts, as HTML.

    Needs a Flask app context (templates); ``links=True`` (the live site's page, with upload,
    API links and layout pickers) also a request context. The static export passes
    ``data="inline"``, a relative ``asset_url`` and ``links=False``.
    """
    c.check_choice("lang", lang, c.LANGS)
    c.check_choice("basemap", basemap, c.basemaps_available(tianditu_key))
    left, right = resolve(left_id, store, drafts), resolve(right_id, store, drafts)
    view = tuple(view) if view else shared_view(left, right)
    common = dict(store=store, lang=lang, basemap=basemap, view=view, controls=controls,
                  data=data, asset_url=asset_url, tianditu_key=tianditu_key)
    result = compare_figures(left, right, store, lang)
    context = {
        "lang": lang, "embed": embed, "links": links, "basemap": basemap, "view": view,
        "left": left, "right": right, "result": result, "table": figure_table(result, lang),
        "panes": {"left": _pane(left, "left", **common), "right": _pane(right, "right", **common)},
        "compare_js": asset_url("static/compare.js"), "css": asset_url("static/parkmap.css"),
        "text": TEXT[lang],
    }
    if links:
        drafts_meta = drafts.index() if drafts is not None else []
        context.update(
            choices=[(d.id, d.title_zh if lang == "zh" else d.title_en) for d in LAYOUTS]
            + [(DRAFT_PREFIX + m["id"], ("草图：" if lang == "zh" else "Draft: ") + m["name"])
               for m in drafts_meta],
            drafts=drafts_meta, datums=("WGS84", "GCJ-02", "BD-09"),
            basemaps=[(b, c.BASEMAPS[b]) for b in c.basemaps_available(tianditu_key)],
            switch_url=lambda **change: url_for("compare.page", **{
                "left": left.id, "right": right.id, "lang": lang, "basemap": basemap,
                "view": "{:.5f},{:.5f},{}".format(*view), **change}),
            api={"json": url_for("compare.api_compare", left=left.id, right=right.id, lang=lang),
                 "csv": url_for("compare.api_compare_csv", left=left.id, right=right.id, lang=lang),
                 "layouts": url_for("compare.api_layouts")},
            embed_src=url_for("compare.embed", _external=True) + "?" + urlencode(
                {"left": left.id, "right": right.id, "lang": lang, "basemap": basemap}),
        )
    return render_template("compare_embed.html" if embed else "compare.html", **context)


TEXT = {
    "zh": {"title": "布局对比", "figures": "指标", "left": "左", "right": "右", "figure": "指标",
           "definition": "定义", "unit": "单元", "area": "面积 km²", "share": "占全区",
           "parks": "园区", "per_km2": "园区/km²", "length": "区内长度 km", "total": "合计",
           "overlap": "两布局重叠", "upload": "上传草图", "file": "文件（GeoJSON 或 CSV）",
           "datum": "坐标系", "name": "名称", "side": "放在", "send": "上传", "drafts": "已上传草图",
           "delete": "删除", "show": "对比", "embed": "嵌入", "layouts": "布局",
           "crs_note": "所有指标在 EPSG:32651（UTM 51N）中以米量算，绝不以经纬度量算。",
           "repaired": "下载修复后的形状（GeoJSON）", "datum_help":
           "WGS84：GPS/OpenStreetMap；GCJ-02：在高德/腾讯地图上描绘；BD-09：百度地图。"},
    "en": {"title": "Compare layouts", "figures": "Figures", "left": "Left", "right": "Right",
           "figure": "Figure", "definition": "Definition", "unit": "Unit", "area": "Area km²",
           "share": "Share of district", "parks": "Parks", "per_km2": "Parks/km²",
           "length": "Length in district km", "total": "Total", "overlap": "Overlap of the two",
           "upload": "Upload a draft", "file": "File (GeoJSON or CSV)", "datum": "Datum",
           "name": "Name", "side": "Show on", "send": "Upload", "drafts": "Uploaded drafts",
           "delete": "Delete", "show": "Compare", "embed": "Embed", "layouts": "Layouts",
           "crs_note": "Every figure is measured in metres in EPSG:32651 (UTM 51N), never in degrees.",
           "repaired": "Download the repaired shape (GeoJSON)", "datum_help":
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


# --- routes: pages --------------------------------------------------------------------------

def _sides() -> tuple[str, str]:
    return request.args.get("left", DEFAULT_LEFT), request.args.get("right", DEFAULT_RIGHT)


def _page(embed: bool):
    key = current_app.config["TIANDITU_KEY"]
    args = {k: v for k, v in request.args.items() if k not in ("left", "right", "layers")}
    left, right = _sides()
    opts = c.options_from_query(args, default_layers=(), default_view=(0, 0, 0), embed=embed,
                                tianditu_key=key)
    g.img_origins = c.BASEMAPS[opts["basemap"]].origins(key)
    html = render_compare(left, right, store=_store(), drafts=_drafts(), lang=opts["lang"],
                          basemap=opts["basemap"], view=opts["view"] if "view" in args else None,
                          controls=opts["controls"], embed=embed, tianditu_key=key)
    resp = Response(html, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-cache"  # drafts come and go: revalidate (ETag) each time
    return resp


@bp.get("/compare")
def page():
    return _page(embed=False)


@bp.get("/embed/compare")
def embed():
    return _page(embed=True)


# --- routes: figures ------------------------------------------------------------------------

def _compare_result() -> tuple[dict, str]:
    lang = c.check_choice("lang", request.args.get("lang", "zh"), c.LANGS)
    left, right = _sides()
    store, drafts = _store(), _drafts()
    started = time.perf_counter()
    result = compare_figures(resolve(left, store, drafts), resolve(right, store, drafts), store, lang)
    result["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result, lang


@bp.get("/api/compare")
def api_compare():
    result, _ = _compare_result()
    resp = jsonify(result)
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/api/compare.csv")
def api_compare_csv():
    result, lang = _compare_result()
    name = f"compare_{result['left']['layout']['id']}_{result['right']['layout']['id']}.csv"
    return Response(csv_text(compare_rows(result, lang)), mimetype="text/csv",
                    headers={"Content-Disposition": f'inline; filename="{name.replace(":", "-")}"',
                             "Cache-Control": "no-cache"})


# --- routes: layouts and drafts -------------------------------------------------------------

def _layout_json(layout_meta: dict) -> dict:
    lid = layout_meta["id"]
    return {**layout_meta, "urls": {
        "api": url_for("compare.api_layout", layout_id=lid),
        "compare": url_for("compare.page", left=DEFAULT_LEFT if lid != DEFAULT_LEFT else DEFAULT_RIGHT,
                           right=lid)}}


@bp.get("/api/layouts")
def api_layouts():
    store, drafts = _store(), _drafts()
    out = [_layout_json(resolve(lid, store, drafts).metadata()) for lid in layout_ids(drafts)]
    resp = jsonify(layouts=out, limits=Limits.from_config(current_app.config).__dict__,
                   datums=["WGS84", "GCJ-02", "BD-09"])
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/api/layouts")
def api_upload():
    limits = Limits.from_config(current_app.config)
    if request.content_length and request.content_length > limits.max_bytes + MULTIPART_SLACK:
        raise DraftTooLarge(f"upload too large: {request.content_length:,} bytes; the limit is "
                            f"{limits.max_bytes:,}")
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise DraftError("no file: send the draft in the form field 'file'")
        data, filename = upload.read(limits.max_bytes + 1), upload.filename or None
        fields = request.form
    else:
        data = request.stream.read(limits.max_bytes + 1)  # never more, even if chunked
        filename, fields = request.args.get("filename"), request.args
    datum = fields.get("datum") or request.args.get("datum")
    gdf, facts = read_draft(data, filename=filename, datum=datum, limits=limits)
    meta = _drafts().save(gdf, facts, name=fields.get("name"), filename=filename)
    body = _layout_json({"id": DRAFT_PREFIX + meta["id"], "draft": meta})
    resp = jsonify(body)
    resp.status_code = 201
    resp.headers["Location"] = body["urls"]["api"]
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/api/layouts/<layout_id>")
def api_layout(layout_id: str):
    store = _store()
    layout = resolve(layout_id, store, _drafts())
    body = _layout_json(layout.metadata())
    body["figures"] = figures(layout, store)
    body["urls"]["layers"] = {lid: url_for("compare.layout_layer", layout_id=layout.id, layer_id=lid)
                              for lid in (*layout.layers, *layout.overlays())}
    resp = jsonify(body)
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.delete("/api/layouts/<layout_id>")
def api_delete(layout_id: str):
    if not layout_id.startswith(DRAFT_PREFIX):
        if layout_id in layout_ids():
            raise DraftError(f"{layout_id!r} is a built-in layout; only drafts (draft:<id>) can be deleted")
        raise UnknownLayout(f"unknown layout {layout_id[:40]!r}; drafts are addressed as draft:<id>")
    _drafts().delete(layout_id[len(DRAFT_PREFIX):])
    return jsonify(deleted=layout_id)


@bp.get("/api/layouts/<layout_id>/layers/<layer_id>.geojson")
def layout_layer(layout_id: str, layer_id: str):
    datum = {"wgs84": "WGS84", "gcj02": "GCJ-02"}[
        c.check_choice("datum", request.args.get("datum", "wgs84"), ("wgs84", "gcj02"))]
    store = _store()
    text = layer_text(resolve(layout_id, store, _drafts()), store, layer_id, datum)
    resp = Response(text, mimetype="application/geo+json")
    if layout_id.startswith(DRAFT_PREFIX):
        resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.errorhandler(DraftError)
def _draft_error(exc: DraftError):
    """The app's error response, plus where the upload went wrong and any repaired shapes."""
    resp = error_response(exc.status, str(exc))
    if wants_json() and exc.details:
        resp.set_data(json.dumps({**resp.get_json(), **exc.details}, ensure_ascii=False))
    return resp

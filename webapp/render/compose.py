"""Compose a Folium map from registry layers: the one composition behind /map, /embed, the
compare page and the static export.

    compose(MapRequest(layers, lang=, basemap=, view=, controls=, hidden=, title=, url_state=,
                       compact=, focus=),
            Delivery(data=, store=, asset_url=, data_url=, tianditu_key=),
            extra=()) -> folium.Map

``MapRequest`` is what the reader asked to see (``MapRequest.from_query(request.args, ...)``
validates a page's query string: 400 naming the allowed values, 404 for unknown layers);
``Delivery`` is how the page gets its data and assets (URLs on the live site, inline GeoJSON
and relative assets in the static export). ``render_parts(map)`` gives its header/html/script
for our templates; ``map.get_root().render()`` a standalone document.

- ``basemap``: a key of BASEMAPS. GCJ-02 tiles (amap) get every vector layer shifted to GCJ-02.
- ``view``: (lat, lon, zoom). With ``url_state`` it is WGS84 on every basemap: on GCJ-02
  tiles the map opens at the shifted centre and the URL state shifts it back, so one link
  shows the same place on every basemap. Without, it is the map centre as given (the compare
  panes sync raw centres between two maps on the same tiles).
- ``controls``: subset of CONTROLS ("layers", "legend", "search", "fullscreen", "scale").
- ``focus``: a feature id: the page opens zoomed to it with its popup open (its layer shown if
  it was only offered). ``focus_layer(store, layers, id)`` checks it against the build: 404
  (UnknownFeature) if none of the page's layers has it, 400 (UnlocatedFeature) if it has no
  geometry.

No element loads anything from a third-party host: Folium's CDN links are replaced by our
own assets, and popups, legend, search and fullscreen are our own JS (static/parkmap.js),
which builds every data value into the DOM as text, never as HTML.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Iterable
from urllib.parse import quote, urlsplit

import folium
import pandas as pd
from branca.element import Element, Figure, MacroElement
from folium.map import Layer
from folium.template import Template
from markupsafe import escape
from shapely.geometry import Point

from geo.datum import convert_frame, convert_geometry
from geo.errors import ParkmapError
from geo.geojson_io import dumps, to_feature_collection
from layers.registry import all_layers, get_layer
from layers.spec import OVERVIEW_MAX_ZOOM, LayerSpec
from layers.themes import theme_labels
from webapp.render.cache import PageCache

LANGS = ("zh", "en")
CONTROLS = ("layers", "legend", "search", "fullscreen", "scale")
# A clustered layer's grid (px) and the zoom from which every point is drawn by itself.
CLUSTER = {"cell": 60, "maxZoom": 17}
DATA_MODES = ("url", "inline")
DEFAULT_VIEW = (31.235, 121.42, 12)
PLAN_BASE = "/plan/"  # the plan reader: /plan/<doc>#<anchor> (webapp/passages.py)
MAX_ZOOM = 19


@dataclass(frozen=True)
class Basemap:
    id: str
    title_zh: str
    title_en: str
    tiles: tuple[str, ...] = ()  # URL templates, drawn in order (base, then labels)
    attribution: str = ""
    subdomains: str = ""
    datum: str = "WGS84"  # datum the tiles are drawn in; vector layers are shifted to it
    max_zoom: int = 18
    needs_key: bool = False

    def origins(self, key: str = "") -> list[str]:
        """scheme://host of every tile server (for the page's Content-Security-Policy)."""
        out = []
        for url in self._urls(key):
            for s in self.subdomains or " ":
                parts = urlsplit(url.replace("{s}", s.strip()))
                out.append(f"{parts.scheme}://{parts.netloc}")
        return sorted(set(out))

    def _urls(self, key: str) -> list[str]:
        return [t.replace("{key}", quote(key, safe="")) for t in self.tiles]


_OSM_ATTR = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
_TDT = ("https://t{s}.tianditu.gov.cn/%s_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
        "&LAYER=%s&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
        "&TILECOL={x}&tk={key}")

BASEMAPS: dict[str, Basemap] = {b.id: b for b in (
    Basemap("none", "无瓦片（离线矢量底图）", "No tiles (offline vector base)"),
    Basemap("osm", "OpenStreetMap", "OpenStreetMap",
            ("https://tile.openstreetmap.org/{z}/{x}/{y}.png",), _OSM_ATTR, max_zoom=19),
    Basemap("carto", "CARTO 浅色", "CARTO light",
            ("https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png",),
            _OSM_ATTR + ' &copy; <a href="https://carto.com/attributions">CARTO</a>',
            subdomains="abcd", max_zoom=19),
    Basemap("amap", "高德地图（GCJ-02）", "Amap / Gaode (GCJ-02)",
            ("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
             "&x={x}&y={y}&z={z}",),
            '&copy; <a href="https://www.amap.com/">高德地图 AutoNavi</a>', subdomains="1234",
            datum="GCJ-02", max_zoom=18),
    Basemap("tianditu", "天地图", "Tianditu",
            (_TDT % ("vec", "vec"), _TDT % ("cva", "cva")),
            '&copy; <a href="https://www.tianditu.gov.cn/">天地图 Tianditu</a> (GS(2024)0568)',
            subdomains="01234567", max_zoom=18, needs_key=True),
)}

# How a point feature's plan-location confidence shows: exact (building) is a solid marker,
# street-level lighter, area-level a hollow dashed ring. Shared by markers and the legend.
CONFIDENCE_LOOK: dict[str, dict] = {
    "building": {"label_zh": "位置精确（建筑）", "label_en": "exact (building)",
                 "fillOpacity": 0.9, "weight": 2},
    "street": {"label_zh": "位置近似（街道）", "label_en": "approximate (street)",
               "fillOpacity": 0.45, "weight": 2},
    "area": {"label_zh": "位置近似（片区）", "label_en": "approximate (area)",
             "fillOpacity": 0.1, "weight": 2, "dashArray": "3 3"},
}

DISTRICT_NAMES = {
    "changning": ("长宁区", "Changning"), "jingan": ("静安区", "Jing'an"),
    "xuhui": ("徐汇区", "Xuhui"), "putuo": ("普陀区", "Putuo"), "huangpu": ("黄浦区", "Huangpu"),
    "hongkou": ("虹口区", "Hongkou"), "baoshan": ("宝山区", "Baoshan"),
    "minhang": ("闵行区", "Minhang"),
}
ZONE_NAMES = {
    "east": ("东部（中山公园）", "East (Zhongshan Park)"),
    "central": ("中部（虹桥）", "Central (Hongqiao)"), "west": ("西部（临空）", "West (Linkong)"),
    "shibei": ("市北", "Shibei"), "daning": ("大宁", "Daning"), "suhewan": ("苏河湾", "Suhewan"),
    "nanjingxilu": ("南京西路", "Nanjing West Road"),
}
CONFIDENCE_NAMES = {
    "building": ("建筑", "building"), "street": ("街道", "street"), "area": ("片区", "area"),
    "unlocated": ("未定位", "unlocated"),
}

# The "suggest a location" form, by language (sg_<field> labels its fields).
SUGGEST_TEXT = {
    "zh": {"sg_help": "在地图上点击它的位置，或输入地址查找；并注明来源（网页链接和/或原文）。建议经审核后才会改变地图。",
           "sg_address": "地址（路名+门牌号）", "sg_address_example": "例：延安西路934号",
           "sg_find": "查找", "sg_nowhere": "尚未选定位置：请点击地图。",
           "sg_point": "已选：{lat}, {lng}（{datum}）", "sg_precision": "精确到",
           "sg_precision_building": "建筑", "sg_precision_street": "街道",
           "sg_source_url": "来源网页", "sg_quote": "来源原文（说明位置的那句话）",
           "sg_note": "备注", "sg_contact": "联系方式（可选，只给审核人看）", "sg_send": "提交建议",
           "sg_close": "关闭", "sg_need_point": "请先在地图上点出位置，或查找地址。",
           "sg_need_source": "请给出来源：网页链接或原文。", "sg_need_address": "请输入地址。",
           "sg_failed": "未能提交，请稍后再试。",
           "sg_thanks": "谢谢！建议 {id} 已保存，待审核；审核通过前地图不会改变。"},
    "en": {"sg_help": "Click where it is on the map, or find a typed address; and give a source "
                      "(a web page and/or a quote). The map changes only once a reviewer accepts it.",
           "sg_address": "Address (street and number)", "sg_address_example": "e.g. 延安西路934号",
           "sg_find": "Find", "sg_nowhere": "No location chosen yet: click the map.",
           "sg_point": "Chosen: {lat}, {lng} ({datum})", "sg_precision": "Precise to",
           "sg_precision_building": "the building", "sg_precision_street": "the street",
           "sg_source_url": "Source page", "sg_quote": "Source quote (the words that say where)",
           "sg_note": "Note", "sg_contact": "Contact (optional, seen only by the reviewer)",
           "sg_send": "Send suggestion", "sg_close": "Close",
           "sg_need_point": "Click the location on the map first, or find an address.",
           "sg_need_source": "Give a source: a web page or a quote.",
           "sg_need_address": "Type an address.", "sg_failed": "Could not send; try again later.",
           "sg_thanks": "Thank you: suggestion {id} is kept for review; the map changes only "
                        "once it is accepted."},
}

# Popup/legend/search labels, by language.
UI_TEXT = {
    "zh": {"role": "角色", "zone": "功能区", "district": "区", "themes": "主题", "passage": "规划原文",
           "source": "出处", "basis": "定位依据", "confidence": "位置可信度", "year": "年份",
           "named_in": "提及于", "data": "数据来源", "zoom": "缩放至此",
           "search": "搜索园区（中文或英文名）",
           "no_results": "无匹配", "unlocated": "未定位", "legend": "图例",
           "fullscreen": "全屏", "exit_fullscreen": "退出全屏", "layers": "图层",
           "also_here": "同一位置还有", "subdistrict": "街道/镇", "where": "位置",
           "somewhere": "在{area}内某处（确切位置未知，圆圈只代表该区域）",
           "somewhere_short": "在{area}内某处",
           "location_source": "位置来源", "suggest": "建议位置",
           "cluster": "此处 {n} 个，点击放大", "read_plan": "在规划原文中阅读",
           **SUGGEST_TEXT["zh"]},
    "en": {"role": "Role", "zone": "Zone", "district": "District", "themes": "Themes",
           "passage": "Plan passage", "source": "Source", "basis": "Located from",
           "confidence": "Location confidence", "year": "Year", "named_in": "Named in",
           "data": "Data source",
           "zoom": "Zoom here", "search": "Search parks (Chinese or English)",
           "no_results": "No match", "unlocated": "unlocated", "legend": "Legend",
           "fullscreen": "Full screen", "exit_fullscreen": "Exit full screen", "layers": "Layers",
           "also_here": "Also at this point", "subdistrict": "Subdistrict",
           "where": "Where", "somewhere": "somewhere in {area} (exact location unknown; the "
                                         "ring stands for that area)",
           "somewhere_short": "somewhere in {area}",
           "location_source": "Location source", "suggest": "Suggest a location",
           "cluster": "{n} here: click to zoom in", "read_plan": "Read in the plan",
           **SUGGEST_TEXT["en"]},
}


def default_asset_url(path: str) -> str:
    """Site-absolute, content-hashed (cached immutable): /assets/<hash>/<path>."""
    from webapp.pages.assets import hashed_url

    return hashed_url(path)


def default_data_url(layer_id: str, datum: str, version: str | None = None,
                     detail: str | None = None) -> str:
    """The layer's API URL; ``version`` (the built layers' tag) makes it change with every
    build, so a browser never draws a cached layer from an earlier build."""
    args = {"detail": detail, "datum": "gcj02" if datum == "GCJ-02" else None, "v": version}
    query = "&".join(f"{k}={v}" for k, v in args.items() if v)
    return f"/api/layers/{layer_id}.geojson" + (f"?{query}" if query else "")


def map_data_urls(version: str) -> dict:
    """Delivery arguments for the live map pages: each layer as the map needs it
    (``detail=map``: webapp.render.mapdata) and a popup's full feature on demand, both named
    by the build (cached immutable, and never stale after a rebuild)."""
    return {"data_url": lambda layer_id, datum: default_data_url(layer_id, datum, version, "map"),
            "overview_url": lambda layer_id, datum: default_data_url(layer_id, datum, version,
                                                                     "overview"),
            "details_url": lambda layer_id: f"/api/layers/{layer_id}/features/{{id}}.json?v={version}"}


def _js_json(value) -> str:
    """JSON safe to place inside <script>: no '<', '>' or '&' survive as such."""
    text = value if isinstance(value, str) else dumps(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def names_in(table: dict, lang: str) -> dict:
    i = LANGS.index(lang)
    return {k: v[i] for k, v in table.items()}


class _OwnAssetsMap(folium.Map):
    """folium.Map whose page links only our assets (Leaflet + parkmap.js/css), no CDN."""

    def __init__(self, *args, asset_url: Callable[[str], str], **kwargs):
        super().__init__(*args, **kwargs)
        self.default_js = [("leaflet", asset_url("vendor/leaflet/leaflet.js")),
                           ("parkmap", asset_url("static/parkmap.js"))]
        self.default_css = [("leaflet_css", asset_url("vendor/leaflet/leaflet.css")),
                            ("parkmap_css", asset_url("static/parkmap.css"))]


class PlanLayer(Layer):
    """One registry layer as an L.geoJSON overlay (Parkmap.layer in static/parkmap.js)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = Parkmap.layer({{ this._parent.get_name() }},
                {{ this.spec_json }}, {{ this.data_json }});
        {% endmacro %}
    """)

    def __init__(self, spec: dict, data_json: str, *, name: str, show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "PlanLayer"
        self.spec_json = _js_json(spec)
        self.data_json = data_json


class ParkmapUI(MacroElement):
    """Legend, search, fullscreen, scale bar and URL state (Parkmap.ui in static/parkmap.js)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            Parkmap.ui({{ this._parent.get_name() }}, {{ this.config_json }}
                {%- if this.layer_control %}, {{ this.layer_control.get_name() }}{% endif %});
        {% endmacro %}
    """)

    def __init__(self, config: dict, layer_control: folium.LayerControl | None = None):
        super().__init__()
        self._name = "ParkmapUI"
        self.config_json = _js_json(config)
        # named at render time (after _number_elements), so the JS can collapse it on phones
        self.layer_control = layer_control


def _layer_spec(spec, lang: str) -> dict:
    i = LANGS.index(lang)
    return {
        "id": spec.id,
        "title": (spec.title_zh, spec.title_en)[i],
        "group": spec.group,
        "attribution": spec.attribution,
        "styles": {kind: {**s.leaflet(), "shape": s.shape,
                          "label": (s.label_zh, s.label_en)[i]}
                   for kind, s in spec.styles.items()},
    }


def _legend(specs, lang: str) -> list[dict]:
    i = LANGS.index(lang)
    out = []
    for spec in specs:
        items = [{"label": (s.label_zh, s.label_en)[i], "shape": s.shape, "style": s.leaflet()}
                 for s in spec.styles.values()]
        out.append({"title": (spec.title_zh, spec.title_en)[i], "items": items})
    return out


def check_choice(name: str, value: str, allowed: Iterable[str]):
    """Raise BadParameter (HTTP 400) naming the allowed values unless ``value`` is one."""
    allowed = list(allowed)
    if value not in allowed:
        raise BadParameter(f"{name}={value[:40]!r} is not allowed; use one of: {', '.join(allowed)}")
    return value


class BadParameter(ParkmapError):
    status = 400


def basemaps_available(tianditu_key: str = "") -> list[str]:
    return [b.id for b in BASEMAPS.values() if not b.needs_key or tianditu_key]


def ordered_layers(layer_ids: Iterable[str]) -> list[str]:
    """Registry (drawing) order, duplicates dropped; unknown ids raise UnknownLayer (404)."""
    wanted = {get_layer(i).id for i in layer_ids}
    return [spec.id for spec in all_layers() if spec.id in wanted]


@dataclass(frozen=True)
class Overlay:
    """A layer to draw: its spec (style, legend), its data as a JS source object
    (``{"url": ...}`` or ``{"data": ...}``, see ``layer_source``), and an optional name."""
    spec: LayerSpec
    source: str
    name: str | None = None
    show: bool = True


def layer_source(data: str, *, url: str | None = None, text: str | None = None,
                 **options) -> str:
    """The JS source object of an overlay: loaded from ``url``, or inline GeoJSON ``text``;
    ``options``: its other keys (parkmap.js P.layer: details, lazy, fine, cluster)."""
    if data == "url":
        return _js_json({"url": url, **options})
    rest = "".join("," + _js_json(k) + ":" + _js_json(v) for k, v in options.items())
    return '{"data":' + _js_json(text) + rest + "}"


def _source(spec: LayerSpec, delivery: "Delivery", datum: str, shown: bool,
            zoom: int) -> str:
    layer_id = spec.id
    options = {"cluster": CLUSTER} if layer_id in delivery.clustered else {}
    if delivery.data == "inline":
        store = delivery.store
        text = store.geojson_text(layer_id)
        if datum != "WGS84":
            text = dumps(to_feature_collection(convert_frame(store.frame(layer_id), "WGS84",
                                                             datum)))
        return layer_source("inline", text=text, **options)
    url = delivery.data_url(layer_id, datum)
    if delivery.overview_url and spec.overview_simplify_m is not None and zoom <= OVERVIEW_MAX_ZOOM:
        # coarse outlines first, the finer ones when the reader zooms in
        options["fine"] = {"url": url, "minZoom": OVERVIEW_MAX_ZOOM + 1}
        url = delivery.overview_url(layer_id, datum)
    if delivery.details_url:
        options["details"] = delivery.details_url(layer_id)
    if not shown:
        options["lazy"] = True  # fetched when first ticked
    return layer_source("url", url=url, **options)


def clustered(store, over: int) -> frozenset[str]:
    """The layers of ``store`` with more than ``over`` features: their points are drawn grouped
    by grid cell (parkmap.js cluster()), their other shapes as they are."""
    return frozenset(m["id"] for m in store.index()["layers"] if m.get("feature_count", 0) > over)


@dataclass(frozen=True)
class MapRequest:
    """What the reader asked to see (hashable: it is the page caches' key).

    ``layers`` are drawn in registry order whatever order is given; ``hidden`` are offered in
    the layer control, unticked. ``view`` is (lat, lon, zoom), None for DEFAULT_VIEW; with
    ``url_state`` it is WGS84 on every basemap and kept in the page URL as the reader pans
    and toggles. ``compact``: small-iframe chrome (layer control and legend start collapsed).
    ``focus``: a feature id to open zoomed to, its popup open (see ``focus_layer`` for the
    check against the build, which needs the LayerStore: the page does it).
    """
    layers: tuple[str, ...]
    lang: str = "zh"
    basemap: str = "none"
    view: tuple[float, float, int] | None = None
    controls: tuple[str, ...] = CONTROLS
    hidden: tuple[str, ...] = ()
    title: str | None = None
    url_state: bool = False
    compact: bool = False
    focus: str | None = None

    def __post_init__(self):
        check_choice("lang", self.lang, LANGS)
        for c in self.controls:
            check_choice("controls", c, CONTROLS)
        object.__setattr__(self, "layers", tuple(ordered_layers(self.layers)))
        object.__setattr__(self, "hidden", tuple(ordered_layers(
            i for i in self.hidden if i not in self.layers)))

    def offered(self) -> list[str]:
        """Every layer of the page, shown or only offered, in registry (drawing) order."""
        return ordered_layers([*self.layers, *self.hidden])

    @classmethod
    def from_query(cls, args, *, default_layers: Iterable[str], default_view, embed: bool = False,
                   tianditu_key: str = "", **fixed) -> "MapRequest":
        """Validate page query parameters (``args``: any mapping, e.g. Flask's request.args):
        layers, basemap, lang, view, focus (its form only: ``focus_layer`` checks that the
        page has it), and on embeds controls ("none" or a comma list). Bad
        values raise BadParameter (400) naming the allowed values; unknown layers raise
        UnknownLayer (404). ``fixed``: the other fields, set by the page."""
        layers = args.get("layers")
        if layers is None:
            layer_ids = list(default_layers)
        else:
            layer_ids = _list(layers)
            if not layer_ids:
                raise BadParameter("layers is empty; give one or more of: "
                                   + ", ".join(s.id for s in all_layers()))
        controls = CONTROLS
        if embed and "controls" in args:
            chosen = [check_choice("controls", c, (*CONTROLS, "none"))
                      for c in _list(args["controls"].strip())]
            controls = tuple(c for c in chosen if c != "none")
        return cls(layers=tuple(layer_ids),
                   lang=check_choice("lang", args.get("lang", "zh"), LANGS),
                   basemap=check_choice("basemap", args.get("basemap", "none"),
                                        basemaps_available(tianditu_key)),
                   view=parse_view(args["view"]) if "view" in args else tuple(default_view),
                   controls=controls, compact=embed,
                   focus=parse_focus(args["focus"]) if "focus" in args else None, **fixed)


@dataclass(frozen=True)
class Delivery:
    """How a composed page gets its data and assets.

    ``data``: "url" loads each layer from ``data_url(layer_id, datum)`` (small, cacheable
    pages); "inline" embeds the GeoJSON from ``store`` (a LayerStore) so the page works from
    file://. ``asset_url(path)``: where the page loads its JS/CSS from (``path`` is a key of
    ``webapp.pages.assets.bundle()``); the default is site-absolute, the export's relative.
    """
    data: str = "url"
    store: object = None
    asset_url: Callable[[str], str] = default_asset_url
    data_url: Callable[[str, str], str] = default_data_url
    # where a popup fetches its feature's other properties ("{id}" in the URL); None: the
    # layer data carries them all
    details_url: Callable[[str], str] | None = None
    # the coarser outlines of a layer with LayerSpec.overview_simplify_m, for low zooms
    overview_url: Callable[[str, str], str] | None = None
    tianditu_key: str = ""
    # point layers drawn grouped by grid cell (too many to draw one by one; see clustered())
    clustered: frozenset[str] = frozenset()
    # the live map page's "suggest a location": {"url": ".../{id}/suggestions", "geocode": url};
    # None elsewhere (embeds, compare panes, the static export)
    suggest: dict | None = field(default=None, hash=False, compare=False)

    def __post_init__(self):
        check_choice("data", self.data, DATA_MODES)
        if self.data == "inline" and self.store is None:
            raise ValueError("data='inline' needs a LayerStore")


def compose(req: MapRequest, delivery: Delivery = Delivery(),
            extra: Iterable[Overlay] = ()) -> folium.Map:
    """The folium map for ``req``; ``extra``: overlays that are not registry layers (an
    uploaded draft), drawn last with their legend entries."""
    check_choice("basemap", req.basemap, basemaps_available(delivery.tianditu_key))
    base, lang = BASEMAPS[req.basemap], req.lang
    lat, lon, zoom = req.view or DEFAULT_VIEW
    view_offset = [0.0, 0.0]
    if req.url_state:  # the URL's view names a WGS84 place; on shifted tiles the centre moves too
        centre = convert_geometry(Point(lon, lat), "WGS84", base.datum)
        view_offset = [round(centre.y - lat, 7), round(centre.x - lon, 7)]
        lat, lon = round(lat + view_offset[0], 7), round(lon + view_offset[1], 7)
    shown = set(req.layers)
    specs = [get_layer(i) for i in req.offered()]

    m = _OwnAssetsMap(location=(lat, lon), zoom_start=zoom, tiles=None, max_zoom=base.max_zoom,
                      zoom_control=True, asset_url=delivery.asset_url)
    if req.title:
        m.get_root().title = str(escape(req.title))
    for url in base._urls(delivery.tianditu_key):
        folium.TileLayer(url, attr=base.attribution, name=base.title_en, max_zoom=base.max_zoom,
                         subdomains=base.subdomains or "abc", control=False).add_to(m)

    overlays = [Overlay(spec, _source(spec, delivery, base.datum, spec.id in shown, zoom),
                        show=spec.id in shown) for spec in specs]
    if delivery.data == "url":  # fetch the shown layers' data with the page, plan layers first
        for o in sorted((o for o in overlays if o.show), key=lambda o: o.spec.group == "context"):
            url = str(escape(json.loads(o.source)["url"]))
            m.get_root().header.add_child(Element(
                f'<link rel="preload" href="{url}" as="fetch" crossorigin="anonymous">'))
    overlays += list(extra)
    for o in overlays:
        js_spec = _layer_spec(o.spec, lang)
        # Leaflet's layer control inserts names as HTML: give it escaped text.
        PlanLayer(js_spec, o.source, name=str(escape(o.name or js_spec["title"])),
                  show=o.show).add_to(m)

    layer_control = None
    if "layers" in req.controls:
        layer_control = folium.LayerControl(collapsed=req.compact).add_to(m)
    ParkmapUI({
        "lang": lang,
        "controls": [c for c in req.controls if c != "layers"],
        "legend": _legend([o.spec for o in overlays], lang),
        "confidence": {k: {**v, "label": v[f"label_{lang}"]} for k, v in CONFIDENCE_LOOK.items()},
        "names": {"district": names_in(DISTRICT_NAMES, lang), "zone": names_in(ZONE_NAMES, lang),
                  "confidence": names_in(CONFIDENCE_NAMES, lang), "theme": theme_labels(lang)},
        "text": UI_TEXT[lang],
        "urlState": req.url_state,
        "viewOffset": view_offset,  # [dlat, dlon] of the map centre from the WGS84 view
        "attribution": _data_attribution(base, [o.spec for o in overlays]),
        "compact": req.compact,
        "suggest": {**delivery.suggest, "datum": base.datum} if delivery.suggest else None,
        # popups link plan references to the plan reader (the live site has one; a file of the
        # static export does not: there they stay text). See webapp/passages.py.
        "planBase": PLAN_BASE if delivery.data == "url" else None,
        # opened zoomed to, popup open; its layer (when the store can say) is loaded and shown
        "focus": {"id": req.focus, "layer": focus_layer(delivery.store, req.offered(), req.focus,
                                                   drawn=delivery.data == "url")
                  if delivery.store is not None else None} if req.focus else None,
    }, layer_control).add_to(m)
    _number_elements(m.get_root())
    return m


def _data_attribution(base: Basemap, specs) -> str:
    """The OSM credit (ODbL) on the map itself when our vector layers draw OSM data, unless
    the tiles already give it (their attribution is then the same credit, or contains it)."""
    if "OpenStreetMap" in base.attribution:
        return ""
    return _OSM_ATTR if any("OpenStreetMap" in s.attribution for s in specs) else ""


def _number_elements(root: Element) -> None:
    """Deterministic element names, so the same arguments render byte-identical HTML
    (stable ETags across processes). Folium's defaults are random."""
    counter = 0

    def walk(el):
        nonlocal counter
        counter += 1
        el._id = f"{counter:03d}"
        for child in list(el._children.values()):
            walk(child)

    walk(root)


def render_parts(m: folium.Map) -> dict[str, str]:
    """The composed map as page parts (header links/styles, map div, script) for our templates."""
    fig: Figure = m.get_root()
    fig.render()
    return {"header": fig.header.render(), "html": fig.html.render(),
            "script": fig.script.render()}


def parse_view(text: str) -> tuple[float, float, int]:
    """``lat,lon,zoom`` -> (lat, lon, zoom), or BadParameter naming the expected form."""
    parts = text.split(",")
    try:
        if len(parts) != 3:
            raise ValueError
        lat, lon, zoom = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise BadParameter(f"view={text[:40]!r} is not allowed; use lat,lon,zoom "
                           f"(e.g. view=31.23,121.42,13)") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and 0 <= zoom <= MAX_ZOOM):
        raise BadParameter(f"view={text[:40]!r} is out of range; lat -90..90, lon -180..180, "
                           f"zoom 0..{MAX_ZOOM}")
    return lat, lon, zoom


MAX_FOCUS = 200  # characters of a feature id


def parse_focus(text: str) -> str:
    """A ``focus`` value's form: a non-empty feature id of at most MAX_FOCUS characters, or
    BadParameter. Whether the page has that feature is ``focus_layer``'s question."""
    value = text.strip()
    if not value:
        raise BadParameter("focus is empty; give the id of a feature on the map "
                           "(e.g. focus=park-zhongshan-park)")
    if len(value) > MAX_FOCUS or any(ord(ch) < 32 for ch in value):
        raise BadParameter(f"focus={value[:40]!r} is not a feature id (at most {MAX_FOCUS} "
                           "printable characters)")
    return value


class UnknownFeature(ParkmapError):
    status = 404


class UnlocatedFeature(BadParameter):
    status = 400


# Per build: (layer, drawn) -> {feature id: where}. Keyed by the store's directory and
# version, so a rebuild (or another LAYERS_DIR) is never answered from an earlier build's ids.
_FEATURE_IDS = PageCache(32)
LOCATED, UNLOCATED, OUTSIDE = "located", "unlocated", "outside"


def feature_ids(store, layer_id: str, drawn: bool = True) -> dict[str, str]:
    """{feature id: LOCATED | UNLOCATED | OUTSIDE} of a layer of ``store``'s build (cached per
    build). ``drawn``: as the live map draws it (``detail=map``), where a layer with
    ``map_clip_m`` leaves out what lies beyond that distance of the planned districts
    (OUTSIDE); else as built (the static export inlines every feature)."""
    def make():
        frame = store.frame(layer_id)
        geoms = frame.geometry
        where = pd.Series(LOCATED, index=frame.index).where(geoms.notna() & ~geoms.is_empty,
                                                              UNLOCATED)
        margin = get_layer(layer_id).map_clip_m
        if drawn and margin is not None:
            from webapp.render.mapdata import planned_area

            area = planned_area(store.frame("districts"), margin)
            where[(where == LOCATED) & ~geoms.intersects(area)] = OUTSIDE
        return {str(i): w for i, w in zip(frame["id"], where) if i is not None}

    return _FEATURE_IDS.get((str(store.dir), store.version, layer_id, drawn), make)


def focus_layer(store, layer_ids: Iterable[str], feature_id: str, drawn: bool = True) -> str:
    """The layer of ``layer_ids`` (first in the given order) holding ``feature_id`` in
    ``store``'s build (``drawn``: see ``feature_ids``). UnknownFeature (404) if none has it or
    the map leaves it out; UnlocatedFeature (400) if it has no location (a ``focus`` needs a
    place to open at)."""
    layer_ids = list(layer_ids)
    for layer_id in layer_ids:
        where = feature_ids(store, layer_id, drawn).get(feature_id)
        if where == UNLOCATED:
            raise UnlocatedFeature(f"focus={feature_id[:60]!r} has no location on the map "
                                   "(it is unlocated), so the map cannot open at it")
        if where == OUTSIDE:
            raise UnknownFeature(f"focus={feature_id[:60]!r} lies outside the area the map "
                                 f"draws of layer {layer_id!r}")
        if where == LOCATED:
            return layer_id
    raise UnknownFeature(f"focus={feature_id[:60]!r}: no feature with that id on this map's "
                         f"layers ({', '.join(layer_ids)})")


def _list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]

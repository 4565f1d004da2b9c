"""Layouts to compare: a named arrangement of zones/belts, parks and the district they sit in.

Built-in layouts are data (LAYOUTS); ``draft:<id>`` resolves to an uploaded draft. Every
layout resolves, over the built layers, to GeoDataFrames: ``units`` (the zones/belts measured:
polygons by area, lines by length), ``parks`` (what is counted) and ``frames`` (what its map
draws, per registry layer, filtered where the layout differs from the layer as built).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import geopandas as gpd
import pandas as pd

from geo import metrics
from geo.errors import ParkmapError
from layers.places import SEED_YEAR
from layers.registry import get_layer
from layers.spec import LayerSpec, Style
from layers.store import LayerStore
from webapp.stores.drafts import DraftStore

# The year each plan document first names things: the one table places.csv is checked
# against (002, city-wide, names no place).
SEED_YEARS = SEED_YEAR
LINE2_ROUTE_KINDS = ("line2_route", "innovation_axis", "axis_link")
LINE2_STATION_KINDS = ("station", "axis_station")
METRO_STATION_KINDS = ("metro_station",)
DRAFT_PREFIX = "draft:"


class UnknownLayout(ParkmapError):
    status = 404


@dataclass(frozen=True)
class LayoutDef:
    id: str
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    district: str
    unit_layer: str  # registry layer whose polygons/lines are the layout's zones/belts
    layers: tuple[str, ...]  # registry layers its map draws
    view: tuple[float, float, int]  # lat, lon, zoom
    unit_kinds: tuple[str, ...] = ()  # only these kinds of unit_layer (empty: all polygons/lines)
    axis: bool = False  # the Line 2 innovation axis is one of its units
    until_year: int | None = None  # parks (and areas) named in documents up to this year
    tag_years: bool = False  # tag features with the documents and years naming them
    added_after: int | None = None  # draw parks first named after this year in their own colour


_CHANGNING_LAYERS = ("context", "districts", "changning_zones", "line2", "parks")
_CHANGNING_VIEW = (31.212, 121.385, 13)

LAYOUTS: tuple[LayoutDef, ...] = (
    LayoutDef("changning_zones", "长宁：三大功能区与2号线创新轴",
              "Changning: three functional areas on the Line 2 axis",
              "东部中山公园、中部虹桥、西部临空三大功能区，沿地铁2号线创新轴串联（000 一(一)3、三(三)）。",
              "East Zhongshan Park, central Hongqiao and west Linkong areas strung along the "
              "Metro Line 2 innovation axis (000 1(1)3, 3(3)).",
              "changning", "changning_zones", _CHANGNING_LAYERS, _CHANGNING_VIEW, axis=True),
    LayoutDef("jingan_layout", "静安：一轴三带", "Jing'an: one axis, three belts",
              "南北发展轴贯穿中环两翼、苏河两岸、南京西路三带（001 一(二)）。",
              "The north-south development axis across the Middle Ring, Suzhou Creek and West "
              "Nanjing Road belts (001 1(2)).",
              "jingan", "jingan_layout", ("context", "districts", "jingan_layout", "line2", "parks"),
              (31.262, 121.455, 13), unit_kinds=("axis", "belt")),
    LayoutDef("changning_2021", "长宁2021：规划点名的功能区与园区",
              "Changning 2021: areas and parks named in the plans",
              "2020—2021年文件（000、003等）点名的功能区与园区；每项标注点名它的文件与年份。",
              "Areas and parks named in the 2020-2021 documents (000, 003 ...); each tagged with "
              "the documents and year that name it.",
              "changning", "changning_zones", _CHANGNING_LAYERS, _CHANGNING_VIEW,
              until_year=2021, tag_years=True),
    LayoutDef("changning_2024", "长宁2024：加上2024年答复新增者",
              "Changning 2024: with what the 2024 reply added",
              "截至2024年各文件点名的功能区与园区，含2024年答复（004）新增的上海硅巷、武夷路333、新象限·武夷、"
              "东虹桥更新地块、虹开发等；每项标注点名它的文件与年份。",
              "Areas and parks named in the documents up to 2024, including what the 2024 reply "
              "(004) added: Shanghai Silicon Alley, 333 Wuyi Road, New Quadrant Wuyi, the East "
              "Hongqiao renewal sites, Hongqiao Development Zone; each tagged with the documents "
              "and year that name it.",
              "changning", "changning_zones", _CHANGNING_LAYERS, _CHANGNING_VIEW,
              until_year=2024, tag_years=True, added_after=2021),
)
DEFAULT_LEFT, DEFAULT_RIGHT = "changning_zones", "jingan_layout"

# How drafts are drawn: a layer spec like the registry's, but not in the registry.
DRAFT_LAYER = LayerSpec(
    id="draft",
    title_zh="规划师草图",
    title_en="Planner's draft",
    description_zh="上传的草图（已转换为 WGS84）。",
    description_en="An uploaded draft (converted to WGS84).",
    sources=(),
    attribution="uploaded draft",
    license="as uploaded",
    styles={
        "draft_zone": Style("草图：片区", "Draft: zone", "fill", color="#00897b", weight=2,
                            fill_color="#4db6ac", fill_opacity=0.25, dash_array="2 4"),
        "draft_axis": Style("草图：轴线", "Draft: axis", "line", color="#00695c", weight=4,
                            dash_array="8 4"),
        "draft_park": Style("草图：园区", "Draft: park", "point", color="#004d40",
                            fill_color="#26a69a", fill_opacity=0.9, radius=7),
    },
    build=lambda ctx: None,
    group="plan",
)


@dataclass
class Layout:
    """One resolved layout: everything its map draws and its figures count (lon/lat frames)."""
    id: str
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    district: str | None
    layers: tuple[str, ...]
    view: tuple[float, float, int]
    units: gpd.GeoDataFrame
    parks: gpd.GeoDataFrame
    frames: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)  # overrides of layers
    draft: gpd.GeoDataFrame | None = None
    draft_meta: dict | None = None
    added: tuple[LayerSpec, gpd.GeoDataFrame] | None = None  # parks named after added_after

    def overlays(self) -> dict[str, tuple[LayerSpec, gpd.GeoDataFrame]]:
        """Layers its map draws that are not registry layers (drawn last), by id."""
        out = {DRAFT_LAYER.id: (DRAFT_LAYER, self.draft)} if self.draft is not None else {}
        if self.added is not None:
            out[self.added[0].id] = self.added
        return out

    def title(self, lang: str) -> str:
        return self.title_zh if lang == "zh" else self.title_en

    def description(self, lang: str) -> str:
        return self.description_zh if lang == "zh" else self.description_en

    def metadata(self) -> dict:
        meta = {"id": self.id, "title_zh": self.title_zh, "title_en": self.title_en,
                "description_zh": self.description_zh, "description_en": self.description_en,
                "district": self.district, "layers": list(self.layers),
                "view": list(self.view), "units": len(self.units), "parks": len(self.parks)}
        if self.draft_meta:
            meta["draft"] = self.draft_meta
        return meta


def layout_ids(drafts: DraftStore | None = None) -> list[str]:
    ids = [d.id for d in LAYOUTS]
    return ids + [DRAFT_PREFIX + m["id"] for m in drafts.index()] if drafts else ids


def get_def(layout_id: str) -> LayoutDef:
    for d in LAYOUTS:
        if d.id == layout_id:
            return d
    raise UnknownLayout(f"unknown layout {layout_id[:40]!r}; use one of: {', '.join(layout_ids())}, "
                        "or draft:<id> for an uploaded draft")


# --- resolution -----------------------------------------------------------------------------

def _doc_ids(source) -> list[str]:
    """Plan documents a feature cites: the 3-digit seed numbers in its ``source``."""
    return sorted(set(re.findall(r"(?<!\d)(\d{3})(?!\d)", source or "")) & set(SEED_YEARS))


def _named_in(row) -> list[str]:
    value = row.get("named_in")
    if isinstance(value, (list, tuple)) and value:
        return sorted(str(v) for v in value)
    if isinstance(value, str) and value:
        return sorted(v.strip() for v in re.split(r"[;,\s]+", value) if v.strip())
    return _doc_ids(row.get("source"))


def _tag_years(gdf: gpd.GeoDataFrame, until: int) -> gpd.GeoDataFrame:
    """Keep the features named in a document up to ``until``; tag each with those documents
    (``named_in``) and the earliest year (``year``)."""
    if not len(gdf):
        return gdf
    docs = [[d for d in _named_in(r) if SEED_YEARS.get(d, 9999) <= until] for _, r in gdf.iterrows()]
    keep = [bool(ds) for ds in docs]
    out = gdf[keep].copy()
    docs = [ds for ds in docs if ds]
    out["named_in"] = docs
    out["year"] = pd.array([min(SEED_YEARS[d] for d in ds) for ds in docs], dtype="Int64")
    return out.reset_index(drop=True)


def _units(gdf: gpd.GeoDataFrame, kinds: tuple[str, ...]) -> gpd.GeoDataFrame:
    if kinds:
        gdf = gdf[gdf["kind"].isin(kinds)]
    located = gdf.geometry.notna() & ~gdf.geometry.is_empty
    gdf = gdf[located]
    return gdf[gdf.geom_type.isin(("Polygon", "MultiPolygon", "LineString", "MultiLineString"))]


def _concat(frames) -> gpd.GeoDataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)


ADDED_COLOUR, ADDED_FILL = "#ad1457", "#ec407a"


def added_spec(after: int, kinds) -> LayerSpec:
    """The parks layer's look for ``kinds``, in one loud colour and a size larger: the parks
    a later document added, which otherwise sit unnoticed among the earlier ones."""
    parks = get_layer("parks")
    styles = {k: replace(st, label_zh=f"{after}年后新增：{st.label_zh}",
                         label_en=f"Added after {after}: {st.label_en}", color=ADDED_COLOUR,
                         fill_color=ADDED_FILL, radius=st.radius + 3)
              for k, st in parks.styles.items() if k in set(kinds)}
    return replace(parks, id="added", title_zh=f"{after}年后新增的园区",
                   title_en=f"Parks added after {after}", styles=styles)


def _builtin(d: LayoutDef, store: LayerStore) -> Layout:
    parks = store.frame("parks")
    parks = parks[parks["district"] == d.district].reset_index(drop=True)
    zones = store.frame(d.unit_layer)
    frames = {"parks": parks}
    if d.until_year:
        parks = frames["parks"] = _tag_years(parks, d.until_year)
        zones = frames[d.unit_layer] = _tag_years(zones, d.until_year)
    added = None
    if d.added_after:  # drawn apart (counted with the rest: ``parks`` keeps them)
        new = (parks["year"] > d.added_after).to_numpy(bool)
        frames["parks"] = parks[~new].reset_index(drop=True)
        added = (added_spec(d.added_after, parks.loc[new, "kind"]), parks[new].reset_index(drop=True))
    # A park drawn in the layout's own layer (Jing'an's 一园, 市北) is one of its parks too.
    own_parks = zones[zones["kind"] == "park"] if "kind" in zones else zones.iloc[:0]
    if len(own_parks):
        parks = _concat([parks, own_parks])
    units = _units(zones, d.unit_kinds)
    if d.axis:
        line2 = store.frame("line2")
        units = _concat([units, line2[line2["kind"] == "innovation_axis"]])
    return Layout(d.id, d.title_zh, d.title_en, d.description_zh, d.description_en, d.district,
                  d.layers, d.view, units.reset_index(drop=True), parks, frames, added=added)


def _draft_texts(meta: dict, district: str | None, note: tuple[str, str] = ("", "")) -> dict:
    """Title and description of a draft layout, from its stored metadata."""
    where_zh, where_en = _district_names(district)
    datum_zh = meta["datum"] if meta["datum"] == "WGS84" else f"{meta['datum']} → WGS84"
    datum_en = meta["datum"] if meta["datum"] == "WGS84" else f"{meta['datum']} -> WGS84"
    return {
        "title_zh": f"草图：{meta['name']}", "title_en": f"Draft: {meta['name']}",
        "description_zh": f"规划师上传的草图（{datum_zh}，{meta['features']} 个要素，{where_zh}）"
                          + (f"；{note[0]}。" if note[0] else "。"),
        "description_en": f"A planner's uploaded draft ({datum_en}, {meta['features']} "
                          f"feature(s), {where_en})" + (f"; {note[1]}." if note[1] else "."),
    }


def draft_summary(meta: dict) -> dict:
    """A draft as the layouts listing shows it: from its stored metadata alone (the listing
    reads no draft)."""
    return {"id": DRAFT_PREFIX + meta["id"], **_draft_texts(meta, meta.get("district")),
            "district": meta.get("district"), "draft": meta}


def _draft(draft_id: str, store: LayerStore, drafts: DraftStore) -> Layout:
    gdf, meta = drafts.load(draft_id)
    districts = store.frame("districts")
    district = meta["district"] if "district" in meta else draft_district(gdf, districts)
    points = gdf[gdf.geom_type.isin(("Point", "MultiPoint"))]
    if len(points):
        parks = points.explode(index_parts=False).reset_index(drop=True)
        note = ("计数园区：草图中的点", "parks counted: the draft's own points")
    else:
        parks = store.frame("parks")
        parks = parks[parks["district"] == district].reset_index(drop=True)
        note = ("计数园区：区内规划园区（草图不含点）",
                "parks counted: the plan's parks in the district (the draft has no points)")
    texts = _draft_texts(meta, district, note)
    layers = ("context", "districts", "line2") + (() if len(points) else ("parks",))
    return Layout(
        DRAFT_PREFIX + draft_id, texts["title_zh"], texts["title_en"], texts["description_zh"],
        texts["description_en"], district, layers, _draft_view(gdf),
        _units(gdf, ()).reset_index(drop=True), parks,
        {"parks": parks} if not len(points) else {}, draft=gdf, draft_meta=meta)


def _district_names(slug: str | None) -> tuple[str, str]:
    from webapp.render.compose import DISTRICT_NAMES

    if slug is None:
        return "不在任何区内", "in no district"
    zh, en = DISTRICT_NAMES.get(slug, (slug, slug))
    return zh, en


def draft_district(gdf: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> str | None:
    """The district a draft is about: the one its shapes overlap most (area, then length,
    then points), measured in METRIC_CRS."""
    from geo.crs import to_metric

    if not len(districts):
        return None
    dm = to_metric(districts)
    shapes = to_metric(gdf)
    best, best_score = None, (0.0, 0.0, 0)
    for slug, geom in zip(dm["district"], dm.geometry):
        inter = shapes.geometry.intersection(geom)
        score = (float(inter.area.sum()), float(inter.length.sum()),
                 int(shapes.geometry.within(geom).sum()))
        if score > best_score:
            best, best_score = slug, score
    return best


def _draft_view(gdf: gpd.GeoDataFrame) -> tuple[float, float, int]:
    minx, miny, maxx, maxy = gdf.total_bounds
    span = max(maxx - minx, maxy - miny)
    zoom = 15 if span < 0.01 else 14 if span < 0.03 else 13 if span < 0.08 else 12
    return (round((miny + maxy) / 2, 6), round((minx + maxx) / 2, 6), zoom)


def resolve(layout_id: str, store: LayerStore, drafts: DraftStore | None) -> Layout:
    """The layout named ``layout_id`` (UnknownLayout / UnknownDraft, 404, if there is none)."""
    if layout_id.startswith(DRAFT_PREFIX):
        if drafts is None:
            raise UnknownLayout("drafts are not available here")
        return _draft(layout_id[len(DRAFT_PREFIX):], store, drafts)
    return _builtin(get_def(layout_id), store)


# --- figures --------------------------------------------------------------------------------

def figures(layout: Layout, store: LayerStore) -> dict:
    """geo.metrics figures of one layout, against the built district, Line 2 and metro layers."""
    districts = store.frame("districts")
    line2 = store.frame("line2")
    context = store.frame("context")
    stations = line2[line2["kind"].isin(LINE2_STATION_KINDS)]
    return metrics.layout_figures(
        units=layout.units, parks=layout.parks,
        district=districts[districts["district"] == layout.district],
        line2=line2[line2["kind"].isin(LINE2_ROUTE_KINDS)],
        line2_stations=stations,
        metro_stations=_concat([context[context["kind"].isin(METRO_STATION_KINDS)], stations]))

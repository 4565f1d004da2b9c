"""静安 一轴三带 / 一园 / functional areas: inside 静安区, drawn from the named roads as stated."""
from __future__ import annotations

import re

import pytest
from shapely.geometry import Point

from geo.crs import area_km2, geom_to_metric
from layers import jingan_layout as jl
from layers.spec import REQUIRED_PROPERTIES

BELT_ROADS = {"layout-jingan-belt-middle-ring": ("roads_rivers.geojson", "name_zh", "中环路", "middle-ring"),
              "layout-jingan-belt-suzhou-creek": ("osm_waterways.geojson", "name", "苏州河", "suzhou-creek"),
              "layout-jingan-belt-nanjing-road": ("osm_streets.geojson", "name", "南京西路", "nanjing-road")}


@pytest.fixture(scope="module")
def gdf(ctx):
    return ctx.layer("jingan_layout").set_index("id", drop=False)


@pytest.fixture(scope="module")
def jingan(ctx):
    d = ctx.layer("districts")
    return geom_to_metric(d.loc[d["district"] == "jingan"].geometry.iloc[0])


def road(ctx, file, column, name):
    frame = ctx.geojson(file)
    return geom_to_metric(frame[frame[column] == name].geometry.union_all())


def test_parts_and_contract(gdf):
    assert sorted(gdf["kind"]) == sorted(["axis", "belt", "belt", "belt", "park",
                                          "functional_area", "functional_area", "functional_area"])
    assert set(gdf["zone"].dropna()) == {"shibei", "daning", "suhewan", "nanjingxilu"}
    for _, r in gdf.iterrows():
        for col in REQUIRED_PROPERTIES:
            assert col in gdf.columns
        assert r["district"] == "jingan" and r["basis"] and r["confidence"] in ("street", "area")
        assert r["kind"] in jl.LAYER.styles
        assert r["id"].startswith("layout-jingan-")


def test_everything_lies_inside_jingan(gdf, jingan):
    for fid, g in gdf.geometry.items():
        assert not g.is_empty, fid
        assert geom_to_metric(g).within(jingan.buffer(jl.EDGE_M + 1)), fid


def test_axis_is_the_north_south_elevated_road_inside_jingan(gdf, ctx, jingan):
    axis = geom_to_metric(gdf.loc["layout-jingan-axis"].geometry)
    elevated = road(ctx, "roads_rivers.geojson", "name_zh", "南北高架路")
    assert axis.geom_type in ("LineString", "MultiLineString")
    assert axis.length > 8000  # it crosses the district from 成都北路 to the northern edge
    assert axis.hausdorff_distance(elevated.intersection(axis.buffer(1))) < 1
    assert axis.length == pytest.approx(elevated.intersection(jingan.buffer(jl.EDGE_M)).length)
    assert "南北高架" in gdf.loc["layout-jingan-axis", "basis"]
    assert "3news.cn" in gdf.loc["layout-jingan-axis", "basis"]  # the source naming the axis road


@pytest.mark.parametrize("fid", BELT_ROADS)
def test_belts_follow_their_road_at_the_stated_width(gdf, ctx, jingan, fid):
    file, column, name, key = BELT_ROADS[fid]
    belt = geom_to_metric(gdf.loc[fid].geometry)
    line = road(ctx, file, column, name).intersection(jingan.buffer(jl.EDGE_M))
    width = jl.BELT_HALF_WIDTH_M[key]
    assert belt.geom_type in ("Polygon", "MultiPolygon") and belt.area > 1e6
    assert belt.within(jingan.buffer(0.01))
    assert line.intersects(belt)
    # no part of the belt is farther from its road than the stated width
    assert max(line.distance(p) for p in _vertices(belt)) <= width + 1
    assert f"{width:.0f} m" in gdf.loc[fid, "basis"]


def _vertices(poly):
    parts = getattr(poly, "geoms", [poly])
    return [Point(c) for p in parts for c in p.exterior.coords]


def test_daning_is_the_subdistrict_with_its_caveat(gdf, ctx, jingan):
    sub = ctx.geojson("osm_admin.geojson")
    daning = geom_to_metric(sub.loc[sub["name"] == "大宁路街道"].geometry.iloc[0]).intersection(jingan)
    drawn = geom_to_metric(gdf.loc["layout-jingan-area-daning"].geometry)
    assert drawn.symmetric_difference(daning).area < 1.0
    assert "administrative unit" in gdf.loc["layout-jingan-area-daning", "basis"]


def test_derived_corridor_widths_come_from_the_sourced_figures():
    assert jl.SUHEWAN_HALF_WIDTH_M == 333  # 4.2 km² over 6.3 km, both banks
    assert jl.NANJINGXILU_HALF_WIDTH_M == 307  # 1.8 km² over 2,930 m


def test_the_park_is_shibei_drawn_within_5_percent_or_placed_honestly(gdf, ctx):
    park = gdf.loc["layout-jingan-shibei-park"]
    assert park["zone"] == "shibei" and park["area_km2_official"] == 3.13
    if park.geometry.geom_type in ("Polygon", "MultiPolygon"):
        assert area_km2(park.geometry) == pytest.approx(3.13, rel=0.05)
        return
    # the 四至 streets are not in the OSM extract: the fallback is the crossing of the roads
    # over two of them (中环路 over 汶水路, 南北高架 over 共和新路), and it says so
    assert park["confidence"] == "street" and bool(park["approximate"]) is True
    missing = re.search(r"四至 street\(s\) (.+?) not in", park["basis"]).group(1).split(", ")
    names = (set(ctx.geojson("osm_streets.geojson")["name"])
             | set(ctx.geojson("osm_waterways.geojson")["name"]))
    assert missing and not names & set(missing)
    # 中环路 is in both street files (carriageways metres apart): the crossing is their centre
    ring = road(ctx, "roads_rivers.geojson", "name_zh", "中环路").union(
        road(ctx, "osm_streets.geojson", "name", "中环路"))
    ns = road(ctx, "roads_rivers.geojson", "name_zh", "南北高架路")
    pt = geom_to_metric(park.geometry)
    assert pt.distance(ring) < 30 and pt.distance(ns) < 30


def test_layer_check_passes_and_catches_a_feature_outside_jingan(gdf, ctx):
    layers = {"districts": ctx.layer("districts")}
    assert jl.check(gdf.reset_index(drop=True), layers) == []
    moved = gdf.reset_index(drop=True).copy()
    i = moved.index[moved["id"] == "layout-jingan-area-daning"][0]
    moved.loc[i, "geometry"] = moved.loc[i, "geometry"].buffer(0.05)
    assert any("layout-jingan-area-daning" in p for p in jl.check(moved, layers))
    assert any("expected 1 axis" in p for p in jl.check(moved[moved["kind"] != "axis"], layers))


def test_passages_are_quoted_verbatim_from_the_jingan_plan(gdf, ctx):
    from layers.places import SEED_FILES

    plan = ctx.text(SEED_FILES["001"])
    for fid, passage in gdf["passage"].items():
        assert passage and passage in plan, fid
        assert "001" in gdf.loc[fid, "source"], fid

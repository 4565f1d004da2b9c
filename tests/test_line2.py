"""The line2 layer: the innovation axis in 长宁区, the link to 静安, stations in order with zones."""
from __future__ import annotations

import csv

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point
from shapely.ops import linemerge

from geo.crs import METRIC_CRS, length_km
from layers import line2
from layers.sources import SOURCES_DIR


@pytest.fixture(scope="module")
def layer(ctx):
    return ctx.layer("line2")


@pytest.fixture(scope="module")
def stations(layer):
    return layer.loc[layer["kind"].isin(("station", "axis_station"))].set_index("name_zh", drop=False)


@pytest.fixture(scope="module")
def route_m(ctx):
    """The OSM track straight from the source file, in metres."""
    (line,) = ctx.geojson("line2_route.geojson").to_crs(METRIC_CRS).geometry
    return line


def _csv_rows():
    with (SOURCES_DIR / "line2_stations.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_every_station_once_in_seq_order(stations):
    rows = _csv_rows()
    assert list(stations["seq"]) == sorted(int(r["seq"]) for r in rows)
    assert list(stations["name_zh"]) == [r["name_zh"] for r in sorted(rows, key=lambda r: int(r["seq"]))]
    assert stations["name_en"].str.len().min() > 0
    assert stations["id"].is_unique


def test_stations_run_west_to_east_along_the_track(stations, route_m):
    pts = stations.to_crs(METRIC_CRS).geometry
    chain = [route_m.project(p) for p in pts]
    assert all(b > a for a, b in zip(chain, chain[1:]))
    assert route_m.coords[0][0] < route_m.coords[-1][0]  # the track itself starts in the west
    # within 长宁区 the stations also step east in longitude
    cn = stations.loc[stations["district"] == "changning"]
    assert list(cn["name_zh"]) == ["淞虹路", "北新泾", "威宁路", "娄山关路", "中山公园", "江苏路"]
    assert cn.geometry.x.is_monotonic_increasing


def test_stations_lie_on_the_track_with_one_documented_exception(stations, route_m):
    pts = stations.to_crs(METRIC_CRS).geometry
    off = {n: route_m.distance(p) for n, p in zip(stations["name_zh"], pts)}
    assert set(line2.KNOWN_OFFSETS) == {"人民广场"}
    note = next(r["note"] for r in _csv_rows() if r["name_zh"] == "人民广场")
    assert "interchange complex" in note  # the source itself explains the offset
    assert 100 < off["人民广场"] <= line2.KNOWN_OFFSETS["人民广场"][0]
    assert stations.loc["人民广场", "location_note"].startswith("source point stands for")
    assert max(d for n, d in off.items() if n != "人民广场") <= line2.MAX_STATION_OFFSET_M
    assert stations.loc["中山公园", "dist_to_route_m"] == pytest.approx(off["中山公园"], abs=0.1)


def test_changning_stations_carry_their_zone(stations):
    expected = {"淞虹路": "west", "北新泾": "west", "威宁路": "central", "娄山关路": "central",
                "中山公园": "east", "江苏路": "east"}
    tagged = stations.loc[stations["zone"].notna()]
    assert dict(zip(tagged["name_zh"], tagged["zone"])) == expected
    assert set(tagged["kind"]) == {"axis_station"} and set(tagged["district"]) == {"changning"}
    assert all(s.startswith("000 三(三)") for s in tagged["source"])
    assert stations.loc["静安寺", "district"] == "jingan" and stations.loc["人民广场", "district"] == "huangpu"
    assert stations["district"].isna()["世纪大道"]  # 浦东新区 is not among our districts


def test_route_pieces_rejoin_into_the_whole_track(layer, route_m):
    pieces = layer.loc[layer["kind"].isin(line2.ROUTE_KINDS)]
    assert list(pieces["id"]) == ["line2-route-west", "line2-innovation-axis", "line2-axis-link",
                                  "line2-route-east"]
    joined = linemerge(list(pieces.to_crs(METRIC_CRS).geometry))
    assert isinstance(joined, LineString)
    assert joined.length == pytest.approx(route_m.length, abs=5)


def test_innovation_axis_is_the_changning_stretch(ctx, layer):
    axis = layer.set_index("kind").loc["innovation_axis"]
    assert axis["name_zh"] == "地铁2号线创新轴" and axis["source"].startswith("000 三(三)")
    d = ctx.layer("districts").set_index("district").to_crs(METRIC_CRS).geometry
    axis_m = gpd.GeoSeries([axis.geometry], crs="EPSG:4326").to_crs(METRIC_CRS).iloc[0]
    assert axis_m.within(d["changning"].buffer(1))
    assert length_km(axis.geometry) == pytest.approx(9.39, abs=0.05)


def test_link_runs_from_changning_to_west_nanjing_road(layer, stations):
    link = layer.set_index("kind").loc["axis_link"]
    east_end = Point(link.geometry.coords[-1])
    ends = gpd.GeoSeries([east_end, stations.loc["南京西路"].geometry, stations.loc["静安寺"].geometry],
                         crs="EPSG:4326").to_crs(METRIC_CRS)
    link_m = gpd.GeoSeries([link.geometry], crs="EPSG:4326").to_crs(METRIC_CRS).iloc[0]
    assert ends[0].distance(ends[1]) < 10  # ends at the projection of the station onto the track
    assert link_m.distance(ends[2]) < 15  # passes 静安寺
    assert link["district"] == "jingan"


def test_layer_check_passes_and_catches_disorder_and_offsets(ctx, layer):
    zones = ctx.layer("changning_zones")
    assert line2.check(layer, {"changning_zones": zones}) == []

    swapped = layer.copy()
    a, b = swapped.index[swapped["name_zh"] == "威宁路"][0], swapped.index[swapped["name_zh"] == "中山公园"][0]
    swapped.loc[[a, b], "geometry"] = list(swapped.geometry[[b, a]])
    problems = line2.check(swapped, {"changning_zones": zones})
    assert any("is not east of" in p for p in problems)
    assert any("tagged zone central, lies in east" in p for p in problems)

    moved = layer.copy()
    i = moved.index[moved["name_zh"] == "北新泾"][0]
    moved.loc[i, "geometry"] = Point(moved.geometry[i].x, moved.geometry[i].y + 0.001)  # ~110 m north
    assert any("北新泾 is" in p and "from the track" in p for p in line2.station_problems(moved))


def test_styles_cover_every_kind(layer):
    assert set(layer["kind"]) == set(line2.LAYER.styles)

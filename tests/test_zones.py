"""geo.split and the changning_zones layer: an exact partition of 长宁区 along the ring roads."""
from __future__ import annotations

import csv
import json
import shutil

import geopandas as gpd
import pytest
from shapely import unary_union
from shapely.geometry import LineString, Point, Polygon, box

from geo.split import SplitError, split_in_two, split_polygon
from layers import changning_zones
from layers.sources import SOURCES_DIR, BuildContext, SourceError

SQUARE = box(0, 0, 10, 10)


# --- geo.split ---------------------------------------------------------------------------

def test_line_across_splits_in_two_exactly():
    west, east = split_in_two(SQUARE, LineString([(4, -5), (6, 15)]))
    assert west.centroid.x < east.centroid.x
    assert west.area + east.area == pytest.approx(100)
    assert west.intersection(east).area == 0
    assert unary_union([west, east]).symmetric_difference(SQUARE).area < 1e-9


def test_line_across_east_west_splits_south_north():
    south, north = split_in_two(SQUARE, LineString([(-1, 3), (11, 6)]), axis="y")
    assert south.centroid.y < north.centroid.y
    assert south.area + north.area == pytest.approx(100)


def test_line_stopping_short_cuts_nothing():
    assert len(split_polygon(SQUARE, LineString([(5, -1), (5, 6)]))) == 1
    with pytest.raises(SplitError, match="1 piece"):
        split_in_two(SQUARE, LineString([(5, -1), (5, 6)]))


def test_u_shaped_and_zigzag_lines():
    u_shape = LineString([(2, -1), (2, 5), (8, 5), (8, -1)])
    pieces = split_polygon(SQUARE, u_shape)
    assert len(pieces) == 2  # inside the U, and everything else
    zigzag = LineString([(2, -1), (2, 5), (5, 5), (5, 11), (8, 11), (8, -1)])
    pieces = split_polygon(SQUARE, zigzag)
    assert len(pieces) == 3
    assert sum(p.area for p in pieces) == pytest.approx(100)


def test_holes_stay_holes():
    donut = Polygon(SQUARE.exterior.coords, [[(3, 3), (7, 3), (7, 7), (3, 7)]])
    west, east = split_in_two(donut, LineString([(5, -1), (5, 11)]))
    assert west.area + east.area == pytest.approx(donut.area)
    assert not west.contains(Point(4, 5))


def test_several_lines_at_once():
    pieces = split_polygon(SQUARE, LineString([(3, -1), (3, 11)]), LineString([(7, -1), (7, 11)]))
    assert sorted(round(p.area) for p in pieces) == [30, 30, 40]


# --- the layer ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def zones(ctx):
    return ctx.layer("changning_zones").set_index("zone", drop=False)


@pytest.fixture(scope="module")
def changning(ctx):
    d = ctx.layer("districts")
    return d.loc[d["district"] == "changning"].geometry.iloc[0]


def _metric(geoms):
    return list(gpd.GeoSeries(list(geoms), crs="EPSG:4326").to_crs("EPSG:32651"))


def test_three_zones_partition_the_district(zones, changning):
    assert list(zones.index) == ["east", "central", "west"]
    parts = _metric(zones.geometry)
    (district,) = _metric([changning])
    for i in range(3):
        for j in range(i + 1, 3):
            assert parts[i].intersection(parts[j]).area < 1.0  # m²
    union = unary_union(parts)
    assert union.symmetric_difference(district).area / district.area < 0.001
    assert sum(p.area for p in parts) == pytest.approx(district.area, rel=0.001)
    assert changning_zones.check(zones.reset_index(drop=True), {"districts": _districts_frame(changning)}) == []


def _districts_frame(geom):
    return gpd.GeoDataFrame({"district": ["changning"]}, geometry=[geom], crs="EPSG:4326")


def test_sizes_follow_the_rule(zones):
    m = zones.to_crs("EPSG:32651").area / 1e6
    # east of the Inner Ring is the smallest, west of the Middle Ring (with the airport) the largest
    assert m["east"] < m["central"] < m["west"]
    assert m.sum() == pytest.approx(37.15, abs=0.05)


def _station_points():
    with (SOURCES_DIR / "line2_stations.csv").open(encoding="utf-8") as fh:
        return {r["name_zh"]: Point(float(r["lon"]), float(r["lat"])) for r in csv.DictReader(fh)}


@pytest.mark.parametrize("station, zone", [("淞虹路", "west"), ("北新泾", "west"), ("威宁路", "central"),
                                           ("娄山关路", "central"), ("中山公园", "east"), ("江苏路", "east")])
def test_line2_stations_fall_in_their_zone(zones, station, zone):
    p = _station_points()[station]
    assert [z for z, g in zip(zones["zone"], zones.geometry) if g.contains(p)] == [zone]


# Carriers the plans assign to a zone, with a located point in places_research.csv (WGS84 columns):
# 000 三(三) east 德必易园, central 国展中心, west 携程; 003 五(二) central 环东华; 003 五(一) east 中山公园.
@pytest.mark.parametrize("name_prefix, zone", [("德必易园", "east"), ("中山公园", "east"),
                                               ("环东华时尚创意产业集聚区", "central"),
                                               ("上海国际展览中心", "central"), ("携程智慧出行产业园", "west")])
def test_located_carriers_fall_in_the_zone_the_plans_give_them(zones, name_prefix, zone):
    with (SOURCES_DIR / "places_research.csv").open(encoding="utf-8") as fh:
        row = next(r for r in csv.DictReader(fh) if r["name_zh"].startswith(name_prefix))
    p = Point(float(row["lon_wgs84"]), float(row["lat_wgs84"]))
    assert [z for z, g in zip(zones["zone"], zones.geometry) if g.contains(p)] == [zone]


def test_features_cite_the_plans_and_state_the_rule(zones):
    seed_000 = next((SOURCES_DIR / "seeds").glob("000_*.txt")).read_text(encoding="utf-8")
    seed_003 = next((SOURCES_DIR / "seeds").glob("003_*.txt")).read_text(encoding="utf-8")
    for brand in ("中山公园数字金融城", "虹桥国际时尚圈", "临空总部新高地"):
        assert brand in seed_000 and brand in "".join(zones["name_zh"])
    for role in ("东部创新融合", "中部集成应用", "西部产业承载"):
        assert role in seed_000
    for area in ("东部中山公园地区", "中部虹桥地区", "西部临空地区"):
        assert area in seed_003 and area in "".join(zones["name_zh"])
    assert zones.loc["east", "source"] == "000 一(一)3; 000 三(三); 003 一(一)1; 003 五(一)"
    assert all("内环高架" in b and "中环路" in b and "延安高架" in b for b in zones["basis"])
    assert set(zones["confidence"]) == {"area"} and set(zones["district"]) == {"changning"}
    assert set(zones["kind"]) <= set(changning_zones.LAYER.styles)


def _resized(zones, zone, metres):
    out = zones.reset_index(drop=True).copy()
    i = out.index[out["zone"] == zone][0]
    g = gpd.GeoSeries([out.geometry[i]], crs="EPSG:4326").to_crs("EPSG:32651").buffer(metres)
    out.loc[i, "geometry"] = g.to_crs("EPSG:4326").iloc[0]
    return out


def test_check_reports_an_overlap(zones, changning):
    problems = changning_zones.check(_resized(zones, "east", 200), {"districts": _districts_frame(changning)})
    assert any("east and central overlap" in p for p in problems)


def test_check_reports_a_gap(zones, changning):
    problems = changning_zones.check(_resized(zones, "central", -200), {"districts": _districts_frame(changning)})
    assert problems and all("differ from 长宁区" in p for p in problems)


def test_check_reports_a_missing_zone(zones, changning):
    only_two = zones.reset_index(drop=True).iloc[:2]
    assert any("expected one east, central and west" in p
               for p in changning_zones.check(only_two, {"districts": _districts_frame(changning)}))


def test_missing_ring_road_is_a_clear_error(tmp_path):
    shutil.copytree(SOURCES_DIR, tmp_path / "sources")
    roads = tmp_path / "sources" / "roads_rivers.geojson"
    doc = json.loads(roads.read_text(encoding="utf-8"))
    doc["features"] = [f for f in doc["features"] if f["properties"]["name_zh"] != "中环路"]
    roads.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(SourceError, match="no feature named '中环路'"):
        BuildContext(tmp_path / "sources").layer("changning_zones")

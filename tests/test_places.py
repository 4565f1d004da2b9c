"""Placement helpers on small hand-made fixtures, and the validation of places.csv."""
from __future__ import annotations

import shutil

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point, box

from geo.crs import METRIC_CRS, STORAGE_CRS, geom_from_metric, geom_to_metric
from layers.places import (Area, PlacementError, Placer, crossing, place_rows, point_on_street,
                           polygon_from_streets, read_places)
from layers.sources import SOURCES_DIR, BuildContext, SourceError
from layers.themes import THEMES, UnknownTheme, parse_themes, theme_labels

X0, Y0 = 350000.0, 3455000.0  # a spot in Changning, EPSG:32651


def line(*pts):
    return LineString([(X0 + x, Y0 + y) for x, y in pts])


def frame(named: dict, crs=METRIC_CRS) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": list(named)}, geometry=list(named.values()),
                            crs=crs).to_crs(STORAGE_CRS)


# a 1000 m x 800 m block; each street runs 200 m past the corners
GRID = {"北路": line((-200, 800), (1200, 800)), "南路": line((-200, 0), (1200, 0)),
        "西路": line((0, -200), (0, 1000)), "东路": line((1000, -200), (1000, 1000)),
        "远路": line((3000, -200), (3000, 1000))}


def test_two_crossing_streets_give_their_intersection():
    pt = crossing(GRID["北路"], GRID["西路"])
    assert pt.distance(Point(X0, Y0 + 800)) < 1e-6


def test_streets_that_do_not_cross_give_no_point():
    assert crossing(GRID["北路"], GRID["南路"]) is None  # parallel
    assert crossing(GRID["北路"], line((500, 850), (500, 1500))) is None  # stops 50 m short


def test_dual_carriageways_cross_at_the_centre_of_their_crossings():
    a = GRID["南路"].union(line((-200, 20), (1200, 20)))
    b = GRID["西路"].union(line((24, -200), (24, 1000)))
    assert crossing(a, b).distance(Point(X0 + 12, Y0 + 10)) < 1e-6


def test_streets_meeting_twice_far_apart_are_ambiguous():
    u_street = line((0, 0), (0, 1000), (2000, 1000), (2000, 0))
    assert crossing(u_street, line((-500, 500), (2500, 500))) is None


def test_point_on_street_is_the_foot_of_the_anchor_and_refuses_far_anchors():
    street = GRID["南路"]
    assert point_on_street(street, Point(X0 + 300, Y0 + 120)).distance(Point(X0 + 300, Y0)) < 1e-6
    assert point_on_street(street, Point(X0 + 300, Y0 + 2000)) is None


def test_polygon_from_four_streets_encloses_the_block():
    block = polygon_from_streets({s: GRID[k] for s, k in
                                  (("N", "北路"), ("S", "南路"), ("W", "西路"), ("E", "东路"))})
    assert block.area == pytest.approx(1000 * 800)
    assert block.equals(box(X0, Y0, X0 + 1000, Y0 + 800))


def test_polygon_side_of_two_streets_and_dual_carriageway():
    north = line((-200, 800), (500, 800)).union(line((500, 800), (1200, 800)))  # 甲路—乙路
    south = GRID["南路"].union(line((-200, -30), (1200, -30)))  # dual carriageway 30 m apart
    block = polygon_from_streets({"N": north, "S": south, "W": GRID["西路"], "E": GRID["东路"]})
    assert block.area == pytest.approx(1000 * 830)  # to the outer carriageway


def test_polygon_refuses_streets_that_do_not_bound_the_block():
    with pytest.raises(PlacementError, match="do not bound"):
        polygon_from_streets({"N": GRID["北路"], "S": GRID["南路"], "W": GRID["西路"],
                              "E": GRID["东路"], "X": GRID["远路"]})
    with pytest.raises(PlacementError, match="do not enclose"):
        gap = line((-200, 800), (400, 800)).union(line((600, 800), (1200, 800)))
        polygon_from_streets({"N": gap, "S": GRID["南路"], "W": GRID["西路"], "E": GRID["东路"]})


@pytest.fixture()
def placer() -> Placer:
    named = gpd.GeoDataFrame(
        {"name": ["某大厦", "同名", "同名"]},
        geometry=[geom_from_metric(Point(X0 + 300, Y0 + 100)), geom_from_metric(Point(X0, Y0)),
                  geom_from_metric(Point(X0 + 5000, Y0))], crs=STORAGE_CRS)
    research = [{"name_zh": "有点", "lon_wgs84": "121.4", "lat_wgs84": "31.2", "datum": "GCJ-02",
                 "confidence": "street", "address": "某路", "source": "example"},
                {"name_zh": "无点", "lon_wgs84": "", "lat_wgs84": "", "datum": "",
                 "confidence": "none", "address": "", "source": ""}]
    area = geom_from_metric(box(X0 - 5000, Y0 - 5000, X0 - 3000, Y0 - 3000))
    return Placer(frame(GRID), named, research, {"zone=east": Area(area, "东部", "East")})


def test_placer_crossing_gives_a_street_point(placer):
    p = placer.place("cross:北路&西路")
    assert p.confidence == "street" and not p.fallback
    assert geom_to_metric(p.geometry).distance(Point(X0, Y0 + 800)) < 0.01
    assert "北路" in p.basis and "西路" in p.basis


def test_placer_no_crossing_is_no_point_not_a_guess(placer):
    with pytest.raises(PlacementError, match="do not cross"):
        placer.place("cross:北路&南路")
    p = placer.place("cross:北路&南路 || none:no evidence")
    assert p.geometry is None and p.confidence == "unlocated" and p.fallback
    assert "do not cross" in p.basis


def test_placer_polygon_names_missing_streets_then_falls_back_to_the_area(placer):
    p = placer.place("polygon:N=北路;E=东路;S=南路;W=凯旋路 || area:zone=east")
    assert p.confidence == "area" and p.fallback and p.area_ref == "zone=east"
    assert "凯旋路" in p.basis
    assert placer.areas["zone=east"].geometry.contains(p.geometry)
    assert (p.within.name_zh, p.within.name_en) == ("东部", "East")  # what the ring stands for


def test_placer_polygon_when_all_streets_exist(placer):
    p = placer.place("polygon:N=北路;E=东路;S=南路;W=西路")
    assert p.confidence == "street"
    assert geom_to_metric(p.geometry).area == pytest.approx(800_000, rel=1e-6)


def test_placer_osm_and_research_points(placer):
    p = placer.place("osm:某大厦")
    assert p.confidence == "building"
    assert geom_to_metric(p.geometry).distance(Point(X0 + 300, Y0 + 100)) < 0.01
    with pytest.raises(PlacementError, match="far apart"):
        placer.place("osm:同名")
    with pytest.raises(PlacementError, match="no OSM named place"):
        placer.place("osm:没有")
    r = placer.place("research:有点")
    assert r.confidence == "street" and (r.geometry.x, r.geometry.y) == (121.4, 31.2)
    with pytest.raises(PlacementError, match="no point"):
        placer.place("research:无点")


def test_placer_on_street_near_an_osm_place(placer):
    p = placer.place("on:南路@某大厦")
    assert geom_to_metric(p.geometry).distance(Point(X0 + 300, Y0)) < 0.01
    with pytest.raises(PlacementError, match="within"):
        placer.place("on:远路@某大厦")  # 2.7 km away: not "near"


def test_placer_rejects_malformed_placements(placer):
    for bad in ("guess:121.4,31.2", "cross:北路", "area:zone=north", "osm:"):
        with pytest.raises(ValueError):
            placer.place(bad)


def test_places_inside_places_are_placed_after_them(placer):
    rows = [{"id": "park-inner", "name_zh": "内", "name_en": "In", "placement": "area:place=park-outer"},
            {"id": "park-outer", "name_zh": "外", "name_en": "Out", "placement": "cross:北路&西路"}]
    placed = place_rows(rows, placer)
    assert [r["id"] for r, _ in placed] == ["park-inner", "park-outer"]
    inner, outer = placed[0][1], placed[1][1]
    assert inner.confidence == "area" and inner.geometry.equals(outer.geometry)
    assert inner.within.name_zh == "外"


def test_theme_vocabulary():
    assert parse_themes("ai; fintech") == ["ai", "fintech"]
    with pytest.raises(UnknownTheme, match="crypto"):
        parse_themes("ai;crypto")
    for lang in ("zh", "en"):
        labels = theme_labels(lang)
        assert set(labels) == set(THEMES) and all(labels.values())


def _sources_copy(tmp_path):
    dst = tmp_path / "sources"
    shutil.copytree(SOURCES_DIR / "seeds", dst / "seeds")
    shutil.copy(SOURCES_DIR / "places.csv", dst / "places.csv")
    return dst


def test_places_csv_is_valid_and_complete():
    rows = read_places(BuildContext(SOURCES_DIR), "parks")
    assert len(rows) >= 45
    assert all(r["id"].startswith("park-") for r in rows)


@pytest.mark.parametrize("old,new,message", [
    ("聚焦电竞重点领域,做强灵石中国电竞中心", "聚焦电竞,做强灵石", "verbatim"),
    (",esports;media,", ",esports;crypto,", "unknown theme"),
    ("001 二(一)3,001,", "001 二(一)3,003,", "passage"),
    ("做强灵石中国电竞中心\",001,2020,", "做强灵石中国电竞中心\",001,2021,", "first year"),
    ("park-lingshi-esports-centre,", "park-multimedia-valley,", "unique"),
])
def test_damaged_places_csv_is_refused_with_a_clear_message(tmp_path, old, new, message):
    src = _sources_copy(tmp_path)
    text = (src / "places.csv").read_text(encoding="utf-8")
    assert old in text
    (src / "places.csv").write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(SourceError, match=message):
        read_places(BuildContext(src), "parks")

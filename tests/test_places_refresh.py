"""An OSM refresh lifts placements without code changes: `parkmap sources osm` on an extract
the test writes, then `parkmap build` and `parkmap check` on the refreshed sources.

The extract carries what the real one would: the streets and places the build needs (copied
from the committed files as OSM objects), plus a synthetic 上海硅巷 block (its four 四至 streets,
1.48 km² as officially stated), an OSM building carrying 长宁路1033号, and two numbered
neighbours on 长宁路 that bracket 865号.
"""
from __future__ import annotations

import json
import re
import shutil

import pytest
from shapely.geometry import LineString, Point, box

from geo.crs import area_km2, geom_from_metric, geom_to_metric
from geo.geojson_io import read_geojson
from layers.sources import SOURCES_DIR
from webapp.cli import main

from support import Extract

CENTRE = Point(121.419, 31.220)  # the block lies inside the east zone
BLOCK_W, BLOCK_KM2 = 1400.0, 1.48
PAST = 200.0  # each street runs past the block's corners
SNAPSHOT = "2026-11-01T00:00:00Z"


def _line(e: Extract, geom, wid: int, **tags) -> None:
    refs = [e.node(x, y) for x, y in geom.coords]
    e.way(wid, refs, **tags)


def _metric_line(x0, y0, x1, y1):
    return geom_from_metric(LineString([(x0, y0), (x1, y1)]))


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("refresh")
    src = tmp / "sources"
    shutil.copytree(SOURCES_DIR, src)
    e = Extract(osm_base=SNAPSHOT)
    wid = 1000
    # what the build needs besides the lifted places, as a real extract would have it
    streets = read_geojson(SOURCES_DIR / "osm_streets.geojson")
    for g in streets.loc[streets["name"] == "南京西路"].geometry:
        for part in getattr(g, "geoms", [g]):
            wid += 1
            _line(e, part, wid, highway="primary", name="南京西路")
    named = read_geojson(SOURCES_DIR / "osm_places.geojson")
    for name in sorted(set(re.findall(r"osm:([^|]+?)\s*(?:\|\||,|$)",
                                      (SOURCES_DIR / "places.csv").read_text(encoding="utf-8")))):
        pt = named.loc[named["name"] == name].geometry.iloc[0]
        e.node(pt.x, pt.y, name=name, office="yes")
    # the 上海硅巷 block: N 长宁路 (west half) + 愚园路 (east half), E 江苏路, S 延安西路, W 凯旋路
    c = geom_to_metric(CENTRE)
    h = BLOCK_KM2 * 1e6 / BLOCK_W
    x0, y0, x1, y1 = c.x - BLOCK_W / 2, c.y - h / 2, c.x + BLOCK_W / 2, c.y + h / 2
    sides = {"长宁路": (x0 - PAST, y1, c.x, y1), "愚园路": (c.x, y1, x1 + PAST, y1),
             "江苏路": (x1, y0 - PAST, x1, y1 + PAST), "延安西路": (x0 - PAST, y0, x1 + PAST, y0),
             "凯旋路": (x0, y0 - PAST, x0, y1 + PAST)}
    for name, xy in sides.items():
        wid += 1
        _line(e, _metric_line(*xy), wid, highway="secondary", name=name)
    # 长宁路1033号: an OSM building carrying the address, north of 长宁路 (outside the block)
    wid += 1
    b = geom_from_metric(box(x0 + 100, y1 + 20, x0 + 140, y1 + 60))
    (bx0, by0, bx1, by1) = b.bounds
    e.square(wid, bx0, by0, bx1, by1, building="office", name="测试联通楼",
             addr__street="长宁路", addr__housenumber="1033")
    # 801号 and 901号 (odd side, 200 m apart) bracket 中科院微系统所's 865号
    for dx, number in ((300.0, "801"), (500.0, "901")):
        p = geom_from_metric(Point(x0 + dx, y1 + 25))
        e.node(p.x, p.y, name=f"测试{number}", shop="yes", addr__street="长宁路",
               addr__housenumber=number)
    extract = tmp / "extract.osm"
    extract.write_text(e.xml(), encoding="utf-8")

    assert main(["sources", "osm", str(extract), "--out", str(src), "--sources", str(src)]) == 0
    out = tmp / "layers"
    assert main(["build", "--out", str(out), "--sources", str(src)]) == 0
    parks = {f["properties"]["id"]: f for f in json.loads(
        (out / "parks.geojson").read_text(encoding="utf-8"))["features"]}
    return {"src": src, "out": out, "parks": parks, "block": (x0, y0, x1, y1)}


def test_the_refresh_records_the_extract_in_sources_md(refreshed):
    text = (refreshed["src"] / "SOURCES.md").read_text(encoding="utf-8")
    assert "extract.osm" in text and SNAPSHOT in text
    # what the extract lacks (admin areas, waterways) is kept, and said so
    assert "`osm_admin.geojson`: 0 features in this extract; the existing file was **kept**" in text


def test_an_addressed_osm_building_lifts_a_place_from_area_to_building(refreshed):
    p = refreshed["parks"]["park-huawei-unicom-ai-center"]["properties"]
    assert p["confidence"] == "building" and not p["approximate"]
    assert "OSM building «测试联通楼» carries the address 长宁路1033号" in p["basis"]
    assert p["subdistrict"]  # a located place knows its 街道


def test_numbered_neighbours_interpolate_a_street_point(refreshed):
    f = refreshed["parks"]["park-cas-simit"]
    p = f["properties"]
    assert p["confidence"] == "street"
    assert "interpolated on OSM 长宁路" in p["basis"] and "801号" in p["basis"] and "901号" in p["basis"]
    x0, _, _, y1 = refreshed["block"]
    expected = Point(x0 + 300 + (865 - 801) / (901 - 801) * 200, y1)  # on the street line
    got = geom_to_metric(Point(f["geometry"]["coordinates"]))
    assert got.distance(expected) < 1.0


def test_a_four_sided_block_is_drawn_when_all_its_streets_are_there(refreshed):
    f = refreshed["parks"]["park-shanghai-silicon-alley"]
    p = f["properties"]
    assert f["geometry"]["type"] == "Polygon" and p["confidence"] == "street"
    from shapely.geometry import shape

    assert area_km2(shape(f["geometry"])) == pytest.approx(BLOCK_KM2, rel=0.01)
    assert "polygon enclosed by the 四至 streets" in p["basis"]
    # places inside it now stand for "somewhere in 上海硅巷", at the block
    inner = refreshed["parks"]["park-wuyi-road-333"]["properties"]
    assert inner["confidence"] == "area" and inner["within_zh"] == "上海硅巷"


def test_the_refreshed_build_passes_check_and_reports_the_ratio(refreshed, capsys):
    code = main(["check", "--layers", str(refreshed["out"]), "--sources", str(refreshed["src"]),
                 "--places"])
    out = capsys.readouterr().out
    assert code == 0, out
    line = next(ln for ln in out.splitlines() if "park-shanghai-silicon-alley" in ln)
    assert "drawn 1.480 km², official 1.48 km², ratio 1.000" in line
    assert "| 长宁 Changning |" in out

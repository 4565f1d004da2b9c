"""Street addresses found in our OSM data: exact (building), bracketed (street), or why not."""
from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point, box

from geo.crs import METRIC_CRS, STORAGE_CRS, geom_to_metric
from layers.addresses import AddressError, AddressIndex, parse_address, parse_housenumber

X0, Y0 = 350000.0, 3455000.0  # a spot in Changning, EPSG:32651


def _frame(rows, crs=METRIC_CRS):
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs).to_crs(STORAGE_CRS)


@pytest.fixture()
def index() -> AddressIndex:
    # 甲路 runs 2 km east; odd numbers on its north side every 100 m: 101 at x=100 ... 119 at x=1000
    street = LineString([(X0, Y0), (X0 + 2000, Y0)])
    places = [{"name": f"楼{n}", "addr:street": "甲路", "addr:housenumber": str(n),
               "geometry": Point(X0 + (n - 91) * 10, Y0 + 15)} for n in range(101, 121, 2)]
    places += [{"name": "远楼", "addr:street": "甲路", "addr:housenumber": "151",
                "geometry": Point(X0 + 1900, Y0 + 15)},
               {"name": "偶楼", "addr:street": "甲路", "addr:housenumber": "100-110号",
                "geometry": Point(X0 + 100, Y0 - 15)},
               {"name": "无号", "addr:street": "甲路", "addr:housenumber": "甲",
                "geometry": Point(X0 + 50, Y0 - 15)}]
    buildings = [{"name": "乙楼", "addr:street": "乙路", "addr:housenumber": "8",
                  "geometry": box(X0, Y0 + 500, X0 + 30, Y0 + 530)}]
    streets = [{"name": "甲路", "geometry": street},
               {"name": "丙路", "geometry": LineString([(X0, Y0 + 900), (X0 + 500, Y0 + 900)])}]
    return AddressIndex.from_sources(_frame(places), _frame(buildings), _frame(streets))


@pytest.mark.parametrize("text,street,number", [
    ("长宁路1033号", "长宁路", 1033), ("上海市长宁区长宁路 1033 号", "长宁路", 1033),
    ("延安西路1882", "延安西路", 1882), ("静安区南京西路1686号", "南京西路", 1686)])
def test_addresses_parse_into_street_and_number(text, street, number):
    assert parse_address(text) == (street, number)


@pytest.mark.parametrize("text", ["长宁路", "1033号", "somewhere", "长宁路一千号", ""])
def test_what_is_not_an_address_says_the_form(text):
    with pytest.raises(AddressError, match="长宁路1033号"):
        parse_address(text)


def test_housenumbers_parse_as_ranges():
    assert parse_housenumber("934") == (934, 934)
    assert parse_housenumber("918-928") == (918, 928)
    assert parse_housenumber("1609号") == (1609, 1609) and parse_housenumber("15甲") == (15, 15)
    assert parse_housenumber("甲") is None and parse_housenumber(None) is None


def test_an_object_carrying_the_address_is_the_building(index):
    found = index.locate("甲路105号")
    assert found.confidence == "building" and "«楼105»" in found.basis
    assert geom_to_metric(found.geometry).distance(Point(X0 + 140, Y0 + 15)) < 0.01
    # a range on the even side holds 104; a building footprint gives its point
    assert "«偶楼»" in index.locate("甲路104号").basis
    assert index.locate("乙路8号").confidence == "building"


def test_a_number_inside_a_range_is_that_building_and_past_it_is_not_guessed(index):
    assert index.locate("甲路106号").confidence == "building"  # 100-110, same (even) side
    with pytest.raises(AddressError, match="even side"):
        index.locate("甲路112号")  # nothing even above 110


def test_interpolation_gives_a_point_on_the_street_between_the_neighbours():
    street = LineString([(X0, Y0), (X0 + 1000, Y0)])
    places = [{"name": "西", "addr:street": "丁路", "addr:housenumber": "11",
               "geometry": Point(X0 + 100, Y0 + 20)},
              {"name": "东", "addr:street": "丁路", "addr:housenumber": "31",
               "geometry": Point(X0 + 600, Y0 + 20)}]
    no_buildings = gpd.GeoDataFrame(geometry=[], crs=STORAGE_CRS)
    index = AddressIndex.from_sources(_frame(places), no_buildings,
                                      _frame([{"name": "丁路", "geometry": street}]))
    found = index.locate("丁路21号")
    assert found.confidence == "street"
    assert geom_to_metric(found.geometry).distance(Point(X0 + 350, Y0)) < 0.01
    assert "interpolated" in found.basis and "丁路11号 «西»" in found.basis
    with pytest.raises(AddressError, match="odd side"):
        index.locate("丁路41号")  # nothing above


def test_unknown_streets_and_far_neighbours_are_refused_with_the_reason(index):
    with pytest.raises(AddressError, match="戊路 is not in"):
        index.locate("戊路5号")
    with pytest.raises(AddressError, match="none known"):
        index.locate("丙路5号")  # the street is there, nobody on it has a number
    with pytest.raises(AddressError, match="too coarse"):
        index.locate("甲路125号")  # 119 and 151 are 1.6 km apart


def test_the_built_index_answers_as_the_sources_do(index):
    again = AddressIndex.from_frame(index.to_frame())
    for address in ("甲路105号", "甲路104号", "乙路8号"):
        a, b = index.locate(address), again.locate(address)
        assert (a.confidence, a.basis) == (b.confidence, b.basis)
        assert a.geometry.distance(b.geometry) < 1e-9
    with pytest.raises(AddressError, match="none known"):
        again.locate("丙路5号")

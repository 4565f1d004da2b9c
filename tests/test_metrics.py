"""geo.metrics on hand-made fixtures whose answers are known (drawn in EPSG:32651 metres)."""
from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point, box

from geo.crs import METRIC_CRS, STORAGE_CRS
from geo.metrics import DEFINITIONS, RADII_M, figure_rows, layout_figures, overlap_figures

X0, Y0 = 350_000.0, 3_455_000.0  # a point in Changning, UTM 51N metres


def frame(geoms, **props):
    """A lon/lat frame from geometries given in metres relative to (X0, Y0)."""
    from shapely import affinity

    moved = [None if g is None else affinity.translate(g, X0, Y0) for g in geoms]
    gdf = gpd.GeoDataFrame(props, geometry=moved, crs=METRIC_CRS)
    return gdf.to_crs(STORAGE_CRS)


@pytest.fixture
def layout():
    district = frame([box(0, 0, 2000, 2000)])  # 4 km²
    units = frame([box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000), box(500, 500, 1500, 3000),
                   LineString([(0, 1500), (3000, 1500)])],
                  id=["a", "b", "c", "axis"], name_en=["A", "B", "C", "Axis"],
                  name_zh=["甲", "乙", "丙", "轴"], zone=["east", "west", None, None])
    # parks: two in A, one in B (on its corner, shared with A's edge), one outside, one unlocated,
    # one polygon whose representative point is in B
    parks = frame([Point(100, 100), Point(900, 900), Point(1500, 500), Point(5000, 5000), None,
                   box(1400, 100, 1600, 300)],
                  id=list("pqrstu"), confidence=["building", "area", "street", "street",
                                                 "unlocated", "area"])
    station = frame([Point(0, 0)])
    line2 = frame([LineString([(-1000, 1000), (3000, 1000)])])  # 2 km inside the district
    return dict(units=units, parks=parks, district=district, line2=line2,
                line2_stations=station,
                metro_stations=frame([Point(0, 0), Point(5000, 4400)]))


def test_square_km_and_shares(layout):
    f = layout_figures(**layout)
    assert f["crs"] == "EPSG:32651"
    assert f["district_area_km2"] == pytest.approx(4.0, abs=1e-4)
    a, b, c, axis = f["units"]
    assert a["area_km2"] == pytest.approx(1.0, abs=1e-4)
    assert a["share_of_district"] == pytest.approx(0.25, abs=1e-4)
    assert c["area_km2"] == pytest.approx(2.5, abs=1e-4)
    assert c["share_of_district"] == pytest.approx(1.5 / 4, abs=1e-4)  # only 1.5 km² inside
    assert axis["kind"] == "line" and axis["length_km"] == pytest.approx(2.0, abs=1e-3)
    assert "area_km2" not in axis
    # union: A∪B (2) + C (2.5) - C∩(A∪B) = [500,1500]x[500,1000] (0.5) = 4 km²,
    # of which inside the district: 2 + 1.5 - 0.5 = 3 km²
    assert f["total"]["area_km2"] == pytest.approx(4.0, abs=1e-4)
    assert f["total"]["share_of_district"] == pytest.approx(3 / 4, abs=1e-4)


def test_parks_counted_per_unit_and_once_in_total(layout):
    f = layout_figures(**layout)
    a, b, c, _ = f["units"]
    # q (900,900) and r (1500,500, on C's edge) are also in C
    assert (a["parks"], b["parks"], c["parks"]) == (2, 2, 2)
    assert a["parks_per_km2"] == pytest.approx(2.0)
    assert f["total"]["parks"] == 4  # p, q, r, u: each once
    assert (f["parks_located"], f["parks_approximate"], f["parks_unlocated"]) == (5, 2, 1)


def test_station_radii_and_distances(layout):
    f = layout_figures(**layout)
    # distances from the station at (0,0): p 141 m, q 1273 m, r 1581 m, t 7071 m,
    # u (representative point of its square: (1500, 200)) 1513 m
    assert f["near_line2_500m"] == 1 and f["near_line2_800m"] == 1
    assert f["near_line2_500m_share"] == pytest.approx(1 / 5)
    # the metro set adds (5000, 4400): t is 600 m from it -> within 800 m, not 500 m
    assert f["near_metro_500m"] == 1 and f["near_metro_800m"] == 2
    assert f["near_metro_800m_share"] == pytest.approx(2 / 5)
    assert f["line2_length_km"] == pytest.approx(2.0, abs=1e-3)
    assert f["line2_distance_median_m"] == pytest.approx(1513.3, abs=1.0)
    assert f["line2_distance_mean_m"] == pytest.approx(
        (141.42 + 1272.79 + 1581.14 + 7071.07 + 1513.27) / 5, abs=1.0)


def test_known_distances_exact():
    stations = frame([Point(0, 0)])
    parks = frame([Point(499, 0), Point(0, 501), Point(799, 0), Point(0, -801)])
    f = layout_figures(units=frame([]), parks=parks, district=None, line2=None,
                       line2_stations=stations, metro_stations=None)
    assert [f[f"near_line2_{r}m"] for r in RADII_M] == [1, 3]
    assert f["near_metro_500m"] == 0 and f["near_metro_500m_share"] == 0.0  # no metro stations
    assert f["line2_distance_mean_m"] == pytest.approx((499 + 501 + 799 + 801) / 4, abs=0.2)
    assert f["line2_distance_median_m"] == pytest.approx(650, abs=0.2)
    assert f["units"] == [] and f["total"] == {} and f["line2_length_km"] is None


def test_no_parks_gives_empty_not_zero():
    f = layout_figures(units=frame([box(0, 0, 1000, 1000)]), parks=None, district=None,
                       line2=None, line2_stations=frame([Point(0, 0)]), metro_stations=None)
    assert f["near_line2_500m"] is None and f["near_line2_500m_share"] is None
    assert f["line2_distance_mean_m"] is None
    assert f["units"][0]["share_of_district"] is None and f["units"][0]["parks"] == 0


def test_overlap():
    left = frame([box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000)])  # 2 km²
    right = frame([box(1500, 0, 2500, 2000)])  # 2 km², 0.5 km² shared
    o = overlap_figures(left, right)
    assert o["overlap_km2"] == pytest.approx(0.5, abs=1e-4)
    assert o["overlap_share_left"] == pytest.approx(0.25) and o["overlap_share_right"] == pytest.approx(0.25)
    assert overlap_figures(left, frame([box(5000, 5000, 6000, 6000)]))["overlap_km2"] == 0.0
    assert overlap_figures(left, frame([]))["overlap_share_right"] is None


def test_rows_carry_definitions(layout):
    rows = figure_rows(layout_figures(**layout), "test", lang="zh")
    assert {r["figure"] for r in rows} <= set(DEFINITIONS)
    assert all(r["definition"] and r["unit"] for r in rows)
    total_area = next(r for r in rows if r["scope"] == "total" and r["figure"] == "area_km2")
    assert total_area["value"] == pytest.approx(4.0, abs=1e-4) and "EPSG:32651" in total_area["definition"]
    assert ("axis", "length_km") in {(r["scope"], r["figure"]) for r in rows}
    for key in ("near_line2_500m", "near_metro_800m_share"):
        assert "EPSG:32651" in DEFINITIONS[key].text_en and DEFINITIONS[key].text_zh
    assert "500" in DEFINITIONS["near_line2_500m"].text_en
    assert "unlocated" in DEFINITIONS["parks"].text_en

"""geo.datum: the GCJ-02 / BD-09 offsets in Shanghai, round trips, points outside China."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, Polygon

from geo.crs import METRIC_CRS, distance_m
from geo.datum import (bd09_to_wgs84, convert_frame, convert_geometry, gcj02_to_wgs84, wgs84_to_bd09,
                       wgs84_to_gcj02)

PEOPLES_SQUARE = (121.470457, 31.234866)  # line2_stations.csv, WGS84


def _metric(lon, lat):
    p = gpd.GeoSeries([Point(lon, lat)], crs="EPSG:4326").to_crs(METRIC_CRS).iloc[0]
    return p.x, p.y


def test_gcj02_shift_at_peoples_square_is_about_480_m_east_and_south():
    lon, lat = PEOPLES_SQUARE
    glon, glat = wgs84_to_gcj02(lon, lat)
    x0, y0 = _metric(lon, lat)
    x1, y1 = _metric(glon, glat)
    # Measured with the published formula: +432 m east, -214 m (south), 482 m in all.
    assert x1 - x0 == pytest.approx(432, abs=15)
    assert y1 - y0 == pytest.approx(-214, abs=15)
    assert np.hypot(x1 - x0, y1 - y0) == pytest.approx(482, abs=15)
    # the degrees SOURCES.md records for the same check
    assert glon - lon == pytest.approx(0.00452, abs=0.00003)
    assert glat - lat == pytest.approx(-0.00194, abs=0.00003)


def test_gcj02_round_trip_below_half_a_metre_over_central_shanghai():
    lons, lats = np.meshgrid(np.linspace(121.30, 121.60, 13), np.linspace(31.10, 31.35, 11))
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lons.ravel(), lats.ravel()))
    pts = gpd.GeoSeries(gpd.points_from_xy(lons.ravel(), lats.ravel()), crs="EPSG:4326").to_crs(METRIC_CRS)
    back = gpd.GeoSeries(gpd.points_from_xy(back_lon, back_lat), crs="EPSG:4326").to_crs(METRIC_CRS)
    assert pts.distance(back).max() < 0.5


def test_bd09_round_trip_and_offset():
    lon, lat = PEOPLES_SQUARE
    blon, blat = wgs84_to_bd09(lon, lat)
    assert distance_m(Point(lon, lat), Point(blon, blat)) == pytest.approx(1140, abs=40)
    assert distance_m(Point(lon, lat), Point(*bd09_to_wgs84(blon, blat))) < 0.5


@pytest.mark.parametrize("lon, lat", [(-0.1276, 51.5072), (139.6917, 35.6895), (151.2093, -33.8688)])
def test_points_outside_china_are_unchanged(lon, lat):
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == pytest.approx((lon, lat), abs=1e-12)


def test_scalars_in_scalars_out_arrays_in_arrays_out():
    lon, lat = wgs84_to_gcj02(*PEOPLES_SQUARE)
    assert isinstance(lon, float) and isinstance(lat, float)
    lons, lats = wgs84_to_gcj02(np.array([121.4, 121.5]), np.array([31.2, 31.3]))
    assert lons.shape == lats.shape == (2,)


def test_convert_geometry_moves_every_vertex_and_keeps_the_shape():
    square = Polygon([(121.40, 31.20), (121.41, 31.20), (121.41, 31.21), (121.40, 31.21)])
    moved = convert_geometry(square, "WGS84", "GCJ-02")
    assert len(moved.exterior.coords) == len(square.exterior.coords)
    for a, b in zip(square.exterior.coords, moved.exterior.coords):
        assert distance_m(Point(a), Point(b)) == pytest.approx(480, abs=30)
    back = convert_geometry(moved, "GCJ-02", "WGS84")
    assert square.symmetric_difference(back).area < 1e-14


def test_convert_frame_returns_a_copy():
    gdf = gpd.GeoDataFrame({"n": [1]}, geometry=[Point(*PEOPLES_SQUARE)], crs="EPSG:4326")
    out = convert_frame(gdf, "WGS84", "BD-09")
    assert gdf.geometry.iloc[0].x == PEOPLES_SQUARE[0]
    assert out.geometry.iloc[0].x != PEOPLES_SQUARE[0]


def test_unknown_datum_is_refused():
    with pytest.raises(ValueError, match="unknown datum"):
        convert_geometry(Point(*PEOPLES_SQUARE), "WGS84", "CGCS2000")

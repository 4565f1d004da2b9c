"""The one place CRS choices live: store in WGS84 lon/lat, measure in UTM 51N."""
from __future__ import annotations

import geopandas as gpd
from shapely.geometry.base import BaseGeometry

STORAGE_CRS = "EPSG:4326"
METRIC_CRS = "EPSG:32651"  # WGS 84 / UTM zone 51N: Shanghai lies at 121.5 E, inside 120-126 E


def to_metric(obj):
    """Project a GeoDataFrame/GeoSeries (which must carry a CRS) to METRIC_CRS."""
    if obj.crs is None:
        raise ValueError("data has no CRS; set one (set_crs) before measuring")
    return obj.to_crs(METRIC_CRS)


def geom_to_metric(geom: BaseGeometry) -> BaseGeometry:
    """Project one lon/lat shapely geometry to METRIC_CRS."""
    return gpd.GeoSeries([geom], crs=STORAGE_CRS).to_crs(METRIC_CRS).iloc[0]


def geom_from_metric(geom: BaseGeometry) -> BaseGeometry:
    return gpd.GeoSeries([geom], crs=METRIC_CRS).to_crs(STORAGE_CRS).iloc[0]


def area_km2(geom: BaseGeometry) -> float:
    """Area of a lon/lat geometry in km², measured in METRIC_CRS."""
    return geom_to_metric(geom).area / 1e6


def length_km(geom: BaseGeometry) -> float:
    return geom_to_metric(geom).length / 1e3


def distance_m(a: BaseGeometry, b: BaseGeometry) -> float:
    return geom_to_metric(a).distance(geom_to_metric(b))

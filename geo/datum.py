"""WGS84 <-> GCJ-02 <-> BD-09, written from the published formulas.

GCJ-02 is the obfuscated datum of Chinese web maps (Amap/Gaode, Tencent); BD-09 is Baidu's
further offset of it. The forward GCJ-02 transform is the well-known polynomial on the
Krasovsky ellipsoid; it has no closed-form inverse, so the inverse iterates the forward
transform until the residual is below 1e-10 degrees (a few hundredths of a millimetre).

Outside mainland China the datums coincide, so points there are returned unchanged (the
customary rectangle test, as every published implementation uses).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

_A = 6378245.0  # Krasovsky 1940 semi-major axis
_EE = 0.00669342162296594323  # Krasovsky 1940 first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0

DATUMS = ("WGS84", "GCJ-02", "BD-09")


def outside_china(lon, lat):
    """True where the point is outside the rectangle the GCJ-02 offset applies to."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _transform_lat(x, y):
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x, y):
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _gcj_offset(lon, lat):
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon, lat):
    """Forward transform; accepts scalars or arrays, returns (lon, lat) of the same shape."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _gcj_offset(lon, lat)
    out = outside_china(lon, lat)
    return _like(np.where(out, lon, lon + dlon)), _like(np.where(out, lat, lat + dlat))


def gcj02_to_wgs84(lon, lat, tol=1e-10, max_iter=30):
    """Inverse of :func:`wgs84_to_gcj02` by fixed-point iteration (converges in ~5 steps)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    wlon, wlat = lon.copy(), lat.copy()
    for _ in range(max_iter):
        glon, glat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = np.asarray(glon) - lon, np.asarray(glat) - lat
        wlon, wlat = wlon - elon, wlat - elat
        if np.all(np.abs(elon) < tol) and np.all(np.abs(elat) < tol):
            break
    return _like(wlon), _like(wlat)


def bd09_to_gcj02(lon, lat):
    x = np.asarray(lon, dtype=float) - 0.0065
    y = np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return _like(z * np.cos(theta)), _like(z * np.sin(theta))


def gcj02_to_bd09(lon, lat):
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return _like(z * np.cos(theta) + 0.0065), _like(z * np.sin(theta) + 0.006)


def bd09_to_wgs84(lon, lat):
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def wgs84_to_bd09(lon, lat):
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


_TO_WGS84: dict[str, Callable] = {
    "WGS84": lambda lon, lat: (lon, lat),
    "GCJ-02": gcj02_to_wgs84,
    "BD-09": bd09_to_wgs84,
}
_FROM_WGS84: dict[str, Callable] = {
    "WGS84": lambda lon, lat: (lon, lat),
    "GCJ-02": wgs84_to_gcj02,
    "BD-09": wgs84_to_bd09,
}


def _checked(datum: str) -> str:
    if datum not in DATUMS:
        raise ValueError(f"unknown datum {datum!r}; allowed: {', '.join(DATUMS)}")
    return datum


def convert_geometry(geom: BaseGeometry, src: str, dst: str) -> BaseGeometry:
    """Convert every vertex of a shapely geometry from datum ``src`` to ``dst``."""
    src, dst = _checked(src), _checked(dst)
    if src == dst or geom is None or geom.is_empty:
        return geom
    to_wgs, from_wgs = _TO_WGS84[src], _FROM_WGS84[dst]

    def _xy(coords):
        lon, lat = from_wgs(*to_wgs(coords[:, 0], coords[:, 1]))
        return np.column_stack([lon, lat])

    return shapely.transform(geom, _xy)


def convert_frame(gdf, src: str, dst: str):
    """Return a copy of a GeoDataFrame (lon/lat) with its geometry moved from ``src`` to ``dst``."""
    out = gdf.copy()
    out.geometry = [convert_geometry(g, src, dst) for g in gdf.geometry]
    return out


def _like(a):
    a = np.asarray(a)
    return float(a) if a.ndim == 0 else a

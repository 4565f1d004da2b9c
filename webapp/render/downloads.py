"""A built layer as the files planners' tools open: GeoPackage, zipped Shapefile, KML,
FlatGeobuf and CSV with WKT (``write(fmt, frame, spec)`` -> bytes).

Every format carries the same features and properties as the layer's GeoJSON, in WGS84
lon/lat (or GCJ-02 when asked), with the layer's attribution, licence and sources:

- lists and objects (``themes``, ``zone_shares``) are JSON text in every format;
- unlocated features (no geometry) are kept everywhere: as features without geometry
  (GeoPackage, FlatGeobuf — then without its spatial index, which cannot hold them —, KML,
  CSV with an empty ``wkt``); in a Shapefile as null shapes when the layer has one geometry
  type, else in a table-only ``<id>_unlocated.dbf``;
- Shapefile limits are stated in the zip's README.txt: one shapefile per geometry type,
  field names of at most 10 characters (fields.csv maps them back), texts cut at 254 bytes.

GDAL (through pyogrio) writes the binary formats into a temporary folder, removed at once;
KML and CSV are written here, for full control over escaping and columns.
"""
from __future__ import annotations

import csv
import html
import io
import json
import math
import re
import sqlite3
import tempfile
import zipfile
from contextlib import closing
from pathlib import Path
from xml.etree import ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.geojson_io import PRECISION, clean_value
from layers.spec import LayerSpec

CSV_META = ("layer_attribution", "layer_license", "layer_sources")
DBF_FIELD_CHARS, DBF_TEXT_BYTES = 10, 254
# The facts a map popup shows (static/parkmap.js), in its order: a KML balloon's table.
POPUP_FACTS = ("name_en", "role", "zone", "district", "subdistrict", "subdistrict_en", "within_zh",
               "within_en", "themes", "passage", "source", "named_in", "year", "basis",
               "location_quote", "location_source", "location_date", "confidence")
# Shapefile families: a .shp holds one of these (lines and multi-lines share a type).
_FAMILIES = {"Point": "points", "MultiPoint": "multipoints", "LineString": "lines",
             "MultiLineString": "lines", "Polygon": "polygons", "MultiPolygon": "polygons"}
_SHP_TYPES = {"points": "Point", "multipoints": "MultiPoint", "lines": "MultiLineString",
              "polygons": "MultiPolygon"}
# fixed times in the files: the same layer makes the same bytes (and ETag) in every process
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)
GPKG_TIME = "2020-01-01T00:00:00.000Z"
KML_NS = "http://www.opengis.net/kml/2.2"


def about(spec: LayerSpec, datum: str = "WGS84") -> str:
    """The layer's title, attribution, licence, sources and coordinate system, as text."""
    if datum == "WGS84":
        coords = "WGS84 (EPSG:4326), longitude/latitude"
    else:
        coords = (f"{datum} (shifted from WGS84 for Chinese web maps; labelled EPSG:4326, as "
                  f"{datum} has no EPSG code), longitude/latitude")
    return (f"{spec.title_en} / {spec.title_zh} (parkmap layer {spec.id})\n"
            f"Attribution: {spec.attribution}\nLicence: {spec.license}\n"
            f"Sources: {', '.join(spec.sources)}\nCoordinates: {coords}\n"
            "Lists and objects (e.g. themes) are JSON text.")


def text(value) -> str:
    """One property value as text (CSV, KML): JSON for lists and objects, '' for none."""
    value = clean_value(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def table(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The properties with one type per column, as GDAL writes them: lists and objects as
    JSON text, booleans and integers kept (nullable), anything mixed as text."""
    out = {}
    for name in frame.columns:
        if name == frame.geometry.name:
            continue
        values = [clean_value(v) for v in frame[name]]
        kinds = {type(v) for v in values if v is not None}
        if kinds & {list, dict}:
            values = [None if v is None else text(v) for v in values]
            kinds = {str}
        if kinds == {bool}:
            out[name] = pd.array(values, dtype="boolean")
        elif kinds == {int}:
            out[name] = pd.array(values, dtype="Int64")
        elif kinds and kinds <= {int, float}:
            out[name] = np.array([math.nan if v is None else v for v in values], dtype=float)
        else:  # text, or only missing values (a text field); arrays: no index to align
            out[name] = np.array([None if v is None else text(v) for v in values], dtype=object)
    return gpd.GeoDataFrame(pd.DataFrame(out, index=frame.index), geometry=frame.geometry.values,
                            crs=frame.crs)


def _written(write, name: str) -> bytes:
    """What ``write(path)`` leaves at ``name`` in a temporary folder (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="parkmap-dl-") as tmp:
        path = Path(tmp) / name
        write(path)
        return path.read_bytes()


def gpkg(frame: gpd.GeoDataFrame, spec: LayerSpec, datum: str = "WGS84") -> bytes:
    """GeoPackage: the description in gpkg_contents, the attribution also as layer metadata."""
    def write(path):
        import pyogrio  # GDAL: loaded by the first download, not by every worker at start

        pyogrio.write_dataframe(
            table(frame), path, driver="GPKG", layer=spec.id, geometry_type="Unknown",
            layer_options={"IDENTIFIER": spec.title_en, "DESCRIPTION": about(spec, datum)},
            layer_metadata=_metadata(spec, datum))
        _fixed_times(path)
    return _written(write, f"{spec.id}.gpkg")


def _fixed_times(path: Path) -> None:
    """GDAL stamps the writing time in the GeoPackage: a fixed one instead, so the same layer
    makes the same bytes (and ETag) in every app process."""
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE gpkg_contents SET last_change = ?", (GPKG_TIME,))
        db.execute("UPDATE gpkg_metadata_reference SET timestamp = ?", (GPKG_TIME,))


def flatgeobuf(frame: gpd.GeoDataFrame, spec: LayerSpec, datum: str = "WGS84") -> bytes:
    """FlatGeobuf with TITLE/DESCRIPTION; no spatial index when some feature has no geometry
    (the index cannot hold them, and they are kept)."""
    located = bool(frame.geometry.notna().all())
    def write(path):
        import pyogrio  # GDAL: loaded by the first download, not by every worker at start

        pyogrio.write_dataframe(
            table(frame), path, driver="FlatGeobuf", layer=spec.id, geometry_type="Unknown",
            layer_options={"TITLE": spec.title_en, "DESCRIPTION": about(spec, datum),
                           "SPATIAL_INDEX": "YES" if located else "NO"})
    return _written(write, f"{spec.id}.fgb")


def _metadata(spec: LayerSpec, datum: str) -> dict[str, str]:
    return {"TITLE_ZH": spec.title_zh, "TITLE_EN": spec.title_en,
            "ATTRIBUTION": spec.attribution, "LICENSE": spec.license,
            "SOURCES": ", ".join(spec.sources), "DATUM": datum}


# --- Shapefile ----------------------------------------------------------------------------

def dbf_fields(columns) -> dict[str, str]:
    """Property -> dBASE field name: at most 10 ASCII characters, unique ignoring case
    (a clash keeps the first and numbers the next: subdistric, subdistr_1)."""
    out, taken = {}, set()
    for name in columns:
        base = re.sub(r"[^A-Za-z0-9_]", "_", name)[:DBF_FIELD_CHARS] or "field"
        field, n = base, 0
        while field.lower() in taken:
            n += 1
            field = f"{base[:DBF_FIELD_CHARS - len(str(n)) - 1]}_{n}"
        taken.add(field.lower())
        out[name] = field
    return out


def _cut(value, cut: dict, field: str):
    if not isinstance(value, str) or len(value.encode("utf-8")) <= DBF_TEXT_BYTES:
        return value
    cut[field] = cut.get(field, 0) + 1
    return value.encode("utf-8")[:DBF_TEXT_BYTES].decode("utf-8", "ignore")


def shapefile_zip(frame: gpd.GeoDataFrame, spec: LayerSpec, datum: str = "WGS84") -> bytes:
    """A zip of one shapefile per geometry type (.shp .shx .dbf .prj .cpg), fields.csv and
    README.txt (attribution, licence, what the format changed)."""
    import pyogrio  # GDAL: loaded by the first download, not by every worker at start

    data = table(frame)
    names = dbf_fields([c for c in data.columns if c != data.geometry.name])
    cut: dict[str, int] = {}
    for prop, field in names.items():
        if pd.api.types.is_string_dtype(data[prop]):
            data[prop] = data[prop].map(lambda v, f=field: _cut(v, cut, f))
    data = data.rename(columns=names)
    families = data.geometry.geom_type.map(_FAMILIES)
    if data.geometry.notna().any() and families[data.geometry.notna()].isna().any():
        raise ValueError(f"layer {spec.id}: a geometry type a shapefile cannot hold")
    kinds = sorted(families.dropna().unique())
    parts = []  # (file stem, rows, shapefile geometry type or None for a table)
    if len(kinds) <= 1:
        parts.append((spec.id, data, _SHP_TYPES[kinds[0]] if kinds else None))
    else:
        parts += [(f"{spec.id}_{k}", data[families == k], _SHP_TYPES[k]) for k in kinds]
        if families.isna().any():
            parts.append((f"{spec.id}_unlocated", data[families.isna()], None))
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="parkmap-dl-") as tmp, \
            zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for stem, rows, geometry_type in parts:
            if geometry_type is None:
                target = Path(tmp) / f"{stem}.dbf"
                pyogrio.write_dataframe(pd.DataFrame(rows.drop(columns=rows.geometry.name)),
                                        target, driver="ESRI Shapefile", encoding="UTF-8")
            else:
                pyogrio.write_dataframe(rows, Path(tmp) / f"{stem}.shp", driver="ESRI Shapefile",
                                        geometry_type=geometry_type, encoding="UTF-8")
        for path in sorted(Path(tmp).iterdir()):
            _add(zf, path.name, path.read_bytes())
        _add(zf, "fields.csv", _fields_csv(names, cut))
        _add(zf, "README.txt", _shp_readme(spec, datum, parts, families, cut))
    return buf.getvalue()


def _add(zf: zipfile.ZipFile, name: str, content: str | bytes) -> None:
    info = zipfile.ZipInfo(name, _ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, content.encode("utf-8") if isinstance(content, str) else content)


def _fields_csv(names: dict[str, str], cut: dict[str, int]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["field", "property", "values_cut_at_254_bytes"])
    for prop, field in names.items():
        w.writerow([field, prop, cut.get(field, 0)])
    return buf.getvalue()


def _n(count: int) -> str:
    return f"{count} feature" + ("" if count == 1 else "s")


def _shp_readme(spec, datum, parts, families, cut) -> str:
    lines = [about(spec, datum), "", "Files (UTF-8 text, see the .cpg files):"]
    for stem, rows, geometry_type in parts:
        if geometry_type is None:
            lines.append(f"- {stem}.dbf: {_n(len(rows))} without geometry (unlocated), "
                         "a table only")
        else:
            nulls = int(rows.geometry.isna().sum())
            extra = f", of which {nulls} unlocated (null shape)" if nulls else ""
            lines.append(f"- {stem}.shp (.shx .dbf .prj .cpg): {_n(len(rows))}, "
                         f"{geometry_type}{extra}")
    if len(parts) > 1:
        lines.append("A shapefile holds one geometry type: this layer's features are split "
                     "by type into the files above; together they are the whole layer.")
    lines += ["", ("Field names are at most 10 characters: fields.csv maps each shapefile "
                   "field to the full property name.")]
    if cut:
        lines.append("Texts longer than 254 bytes (the dBASE limit) were cut at a character: "
                     + ", ".join(f"{f} ({n})" for f, n in sorted(cut.items()))
                     + ". The GeoPackage, FlatGeobuf, CSV and GeoJSON downloads keep them whole.")
    return "\n".join(lines) + "\n"


# --- KML ----------------------------------------------------------------------------------

def kml(frame: gpd.GeoDataFrame, spec: LayerSpec, datum: str = "WGS84") -> bytes:
    """KML 2.2, written element by element: every value is XML text (escaped by the
    serializer); balloon descriptions are HTML whose values are HTML-escaped first."""
    ET.register_namespace("", KML_NS)
    root = ET.Element(_k("kml"))
    doc = ET.SubElement(root, _k("Document"))
    ET.SubElement(doc, _k("name")).text = f"{spec.title_zh} / {spec.title_en}"
    ET.SubElement(doc, _k("description")).text = about(spec, datum)
    styles = {}
    for kind, style in spec.styles.items():
        styles[kind] = sid = "kind-" + re.sub(r"[^A-Za-z0-9_-]", "_", kind)
        _style(ET.SubElement(doc, _k("Style"), id=sid), style)
    cols = [c for c in frame.columns if c != frame.geometry.name]
    for props, geom in zip(frame[cols].to_dict("records"), frame.geometry):
        props = {k: text(v) for k, v in props.items()}
        pm = ET.SubElement(doc, _k("Placemark"))
        ET.SubElement(pm, _k("name")).text = (props.get("name_zh") or props.get("name_en")
                                             or props.get("id", ""))
        ET.SubElement(pm, _k("description")).text = _balloon(props, spec)
        if props.get("kind") in styles:
            ET.SubElement(pm, _k("styleUrl")).text = "#" + styles[props["kind"]]
        data = ET.SubElement(pm, _k("ExtendedData"))
        for key, value in props.items():
            ET.SubElement(ET.SubElement(data, _k("Data"), name=key), _k("value")).text = value
        if geom is not None and not geom.is_empty:
            _geometry(pm, geom)
    ET.indent(root, space=" ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8",
                                                                   xml_declaration=False)


def _k(tag: str) -> str:
    return f"{{{KML_NS}}}{tag}"


def _balloon(props: dict[str, str], spec: LayerSpec) -> str:
    """The popup's facts as an HTML table (values escaped: shown as text, never as markup)."""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(props[k])}</td></tr>"
                   for k in POPUP_FACTS if props.get(k))
    return (f"<table>{rows}<tr><th>data</th><td>{html.escape(spec.attribution)} "
            f"({html.escape(spec.license)})</td></tr></table>")


def _kml_color(hex_color: str, opacity: float) -> str:
    """#rrggbb + opacity -> KML's aabbggrr."""
    c = hex_color.lstrip("#")
    if not re.fullmatch(r"[0-9A-Fa-f]{6}", c):
        c = "3388ff"
    return f"{round(max(0.0, min(1.0, opacity)) * 255):02x}{c[4:6]}{c[2:4]}{c[0:2]}"


def _style(el, style) -> None:
    line = ET.SubElement(el, _k("LineStyle"))
    ET.SubElement(line, _k("color")).text = _kml_color(style.color, style.opacity)
    ET.SubElement(line, _k("width")).text = f"{style.weight:g}"
    poly = ET.SubElement(el, _k("PolyStyle"))
    ET.SubElement(poly, _k("color")).text = _kml_color(style.fill_color or style.color,
                                                      style.fill_opacity)
    icon = ET.SubElement(el, _k("IconStyle"))
    ET.SubElement(icon, _k("color")).text = _kml_color(style.color, 1.0)


def _coords(coords) -> str:
    return " ".join(f"{round(x, PRECISION)!r},{round(y, PRECISION)!r}" for x, y, *_ in coords)


def _geometry(parent, geom) -> None:
    kind = geom.geom_type
    if kind.startswith("Multi") or kind == "GeometryCollection":
        multi = ET.SubElement(parent, _k("MultiGeometry"))
        for part in geom.geoms:
            _geometry(multi, part)
    elif kind == "Point":
        ET.SubElement(ET.SubElement(parent, _k("Point")), _k("coordinates")).text = _coords(
            geom.coords)
    elif kind == "LineString":
        ET.SubElement(ET.SubElement(parent, _k("LineString")), _k("coordinates")).text = _coords(
            geom.coords)
    elif kind == "Polygon":
        poly = ET.SubElement(parent, _k("Polygon"))
        for tag, ring in [("outerBoundaryIs", geom.exterior),
                          *[("innerBoundaryIs", r) for r in geom.interiors]]:
            ET.SubElement(ET.SubElement(ET.SubElement(poly, _k(tag)), _k("LinearRing")),
                          _k("coordinates")).text = _coords(ring.coords)


# --- CSV ----------------------------------------------------------------------------------

def csv_wkt(frame: gpd.GeoDataFrame, spec: LayerSpec, datum: str = "WGS84") -> bytes:
    """CSV (UTF-8 with a BOM, so spreadsheets read the Chinese): ``wkt`` (lon lat; empty for
    an unlocated feature), every property, then the layer's attribution, licence and sources
    on every row (a CSV has no place for metadata, and a file travels without its headers)."""
    cols = [c for c in frame.columns if c != frame.geometry.name]
    meta = [spec.attribution, spec.license, ", ".join(spec.sources)]
    wkts = shapely.to_wkt(frame.geometry.to_numpy(), rounding_precision=PRECISION, trim=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["wkt", *cols, *CSV_META])
    for wkt, props in zip(wkts, frame[cols].to_dict("records")):
        w.writerow([wkt or "", *(text(props[c]) for c in cols), *meta])
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


# ext -> (Content-Type, writer)
FORMATS = {
    "gpkg": ("application/geopackage+sqlite3", gpkg),
    "shp.zip": ("application/zip", shapefile_zip),
    "kml": ("application/vnd.google-earth.kml+xml", kml),
    "fgb": ("application/flatgeobuf", flatgeobuf),
    "csv": ("text/csv", csv_wkt),
}


def write(fmt: str, frame: gpd.GeoDataFrame, spec: LayerSpec, datum: str = "WGS84") -> bytes:
    """The layer ``frame`` (lon/lat, in ``datum``) as a file of format ``fmt`` (FORMATS)."""
    return FORMATS[fmt][1](frame, spec, datum)

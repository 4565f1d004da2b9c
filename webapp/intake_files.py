"""Drafts in the files GIS and CAD software write: GeoPackage, zipped Shapefile, KML/KMZ, DXF.

webapp.intake calls ``file_format`` to tell an upload's format (by name and by content), and
``read_file`` to read the binary and XML ones into shapes and draft properties, in lon/lat;
intake then checks them exactly as it checks GeoJSON and CSV (limits, types, inside Shanghai,
validity) -- nothing here duplicates those checks.

Untrusted files meet GDAL (through pyogrio) only after this module has looked at them:
archives are checked before anything is unpacked (size, ratio, member count, names, symlinks,
nested archives) and only the members needed are written, under names made here, into a
temporary directory removed afterwards; a GeoPackage's header and table list are checked with
SQLite first (a cut-short file, and SQL views, which could be made to run for ever, are
refused). Whatever GDAL says about a bad file is trimmed to one line without server paths.
"""
from __future__ import annotations

import io
import re
import sqlite3
import stat
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry import Polygon

from webapp.intake import (NAME_MAX, TEXT_FIELDS, DraftError, DraftTooLarge, Limits,
                           _check_count)

# Extension -> format. GeoJSON and CSV (text) are read by webapp.intake itself.
TEXT_EXTENSIONS = {".geojson": "geojson", ".json": "geojson", ".csv": "csv"}
FILE_EXTENSIONS = {".gpkg": "gpkg", ".zip": "shapefile", ".kml": "kml", ".kmz": "kmz", ".dxf": "dxf"}
FORMAT_NAMES = {"geojson": "GeoJSON", "csv": "CSV", "gpkg": "a GeoPackage", "shapefile":
                "a zipped Shapefile", "kml": "KML", "kmz": "KMZ (zipped KML)", "dxf": "DXF"}
CONTENT_NAMES = {"zip": "a zip archive", "gpkg": "an SQLite/GeoPackage file", "kml": "KML",
                 "dxf": "a DXF drawing"}
ACCEPTED = ("accepted formats: GeoJSON (.geojson, .json), CSV (.csv), GeoPackage (.gpkg), "
            "zipped Shapefile (.zip), KML (.kml), KMZ (.kmz), DXF (.dxf, with crs)")
# Files planners send by mistake, and what to send instead.
HINTS = {".shp": "a Shapefile is several files: zip the .shp with its .shx, .dbf, .prj (and "
                 ".cpg) and upload the .zip",
         ".dwg": "DWG is not readable here: save the drawing as DXF (and give its crs)"}
for _ext in (".shx", ".dbf", ".prj", ".cpg"):
    HINTS[_ext] = HINTS[".shp"]

SQLITE_MAGIC = b"SQLite format 3\x00"
NESTED = (".zip", ".kmz", ".gz", ".tgz", ".tar", ".7z", ".rar", ".bz2", ".xz", ".zst", ".cab")
RATIO_FLOOR = 1_000_000  # a member smaller than this unpacked is never counted a bomb by ratio
UNPACK_CHUNK = 1 << 16
CRS_TEXT_MAX = 4000  # a WKT is long, but not longer
SQLITE_STEPS_MAX = 200_000  # progress-handler ticks (x1000 VM steps) for the table listing
WGS84 = CRS.from_epsg(4326)

# Property names planners' GIS files use, compared lower-case without spaces, "_" and "-".
FIELD_ALIASES = {"name": "name", "名称": "name", "名字": "name",
                 "namezh": "name_zh", "namecn": "name_zh", "namechs": "name_zh", "中文名": "name_zh",
                 "中文名称": "name_zh", "nameen": "name_en", "nameeng": "name_en", "英文名": "name_en",
                 "英文名称": "name_en", "zone": "zone", "分区": "zone", "role": "role"}
# .cpg contents (compared upper-case without spaces, "_" and "-") -> the encoding name GDAL
# (iconv) reads the .dbf with; any other .cpg is refused rather than guessed at.
CPG_ENCODINGS = {"UTF8": "UTF-8", "65001": "UTF-8", "GBK": "GBK", "936": "CP936",
                 "CP936": "CP936", "ANSI936": "CP936", "GB2312": "GB18030", "GB18030": "GB18030",
                 "54936": "GB18030", "BIG5": "BIG5", "950": "BIG5", "CP950": "BIG5",
                 "ANSI950": "BIG5", "1252": "CP1252", "CP1252": "CP1252", "ANSI1252": "CP1252",
                 "ISO88591": "ISO-8859-1", "88591": "ISO-8859-1", "LATIN1": "ISO-8859-1",
                 "437": "CP437", "CP437": "CP437"}
# DXF entities kept: points and lines (a closed one becomes a polygon); the rest is named.
DXF_IGNORED = (("AcDbBlockReference", "block references (INSERT: explode blocks to read them)"),
               ("AcDbHatch", "hatches (HATCH)"), ("AcDbMText", "text (TEXT, MTEXT)"),
               ("AcDbText", "text (TEXT, MTEXT)"), ("AcDbAttribute", "text (TEXT, MTEXT)"),
               ("AcDbDimension", "dimensions and leaders"), ("Leader", "dimensions and leaders"))


@dataclass
class FileRead:
    """What a file held, in lon/lat in ``datum``: shapes, properties, and facts for the draft."""

    geoms: list
    props: list[dict]
    facts: dict = field(default_factory=dict)
    source: str | None = None  # the coordinate system read from, for the messages


# --- telling the format ----------------------------------------------------------------------

def sniff(data: bytes) -> str | None:
    """The container an upload's bytes are ('zip', 'gpkg', 'kml', 'dxf'), or None (text)."""
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if data.startswith(SQLITE_MAGIC):
        return "gpkg"
    if data.startswith(b"AutoCAD Binary DXF"):
        return "dxf"
    head = data[:4096].decode("utf-8", "replace").lstrip("\ufeff")
    if re.match(r"\s*(?:999\r?\n[^\n]*\n\s*)*0\r?\n\s*SECTION\s*\n", head):
        return "dxf"
    if re.match(r"\s*(?:<\?xml[^>]*\?>\s*)?(?:(?:<!--.*?-->|<!DOCTYPE(?:[^\[>]|\[.*?\])*>)\s*)*"
                r"<(?:[\w.-]+:)?kml[\s>/]", head, re.S):
        return "kml"
    return None


def file_format(data: bytes, filename: str | None) -> str | None:
    """'gpkg', 'shapefile', 'kml', 'kmz' or 'dxf'; None for text (GeoJSON or CSV, told apart
    by webapp.intake). A name that says one format and content that is another, or a name
    with an extension not accepted, is a DraftError listing the accepted formats."""
    name = Path(filename or "").name[:40]
    ext = Path(filename or "").suffix.lower()
    content = sniff(data)
    if ext in TEXT_EXTENSIONS:
        if content:
            raise DraftError(f"{name}: named {ext} but it is {CONTENT_NAMES[content]}, not "
                             f"{FORMAT_NAMES[TEXT_EXTENSIONS[ext]]}; {ACCEPTED}")
        return None
    if ext in FILE_EXTENSIONS:
        fmt = FILE_EXTENSIONS[ext]
        if content != ("zip" if fmt in ("shapefile", "kmz") else fmt):
            what = f"it is {CONTENT_NAMES[content]}" if content else "its content is not"
            raise DraftError(f"{name}: named {ext} but {what} {FORMAT_NAMES[fmt]}"
                             + (" (it does not start with the SQLite header: damaged, or not a "
                                "GeoPackage)" if fmt == "gpkg" and not content else "")
                             + f"; {ACCEPTED}")
        return fmt
    if ext:
        if content is None and b"\x00" in data:
            return None  # intake says "not a text file"
        hint = HINTS.get(ext)
        raise DraftError(f"{name}: expected a GeoJSON, CSV, GeoPackage, zipped Shapefile, KML, "
                         f"KMZ or DXF file, not {ext[:20]}" + (f": {hint}" if hint else "")
                         + " (.geojson .json .csv .gpkg .zip .kml .kmz .dxf)")
    if content == "zip":
        return "kmz" if _zip_has_doc_kml(data) else "shapefile"
    return content


def _zip_has_doc_kml(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return any(i.filename.lower() == "doc.kml" for i in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False  # read_file says what is wrong with the archive


# --- reading ---------------------------------------------------------------------------------

def read_file(data: bytes, fmt: str, *, filename: str | None, datum: str, layer: str | None,
              crs: str | None, limits: Limits) -> FileRead:
    """Read a GeoPackage, zipped Shapefile, KML, KMZ or DXF upload into lon/lat shapes in
    ``datum`` and draft properties. DraftError (400) or DraftTooLarge (413) for anything wrong,
    GDAL's complaints included; the temporary files are gone when this returns."""
    given = parse_crs(crs) if crs else None
    name = Path(filename or "").name[:40] or FORMAT_NAMES[fmt]
    with tempfile.TemporaryDirectory(prefix="parkmap-draft-") as tmp:
        tmpdir = Path(tmp)
        try:
            if fmt == "gpkg":
                return _read_gpkg(data, tmpdir, name, layer, given, datum, limits)
            if fmt == "shapefile":
                return _read_shapefile(data, tmpdir, name, layer, given, datum, limits)
            if fmt in ("kml", "kmz"):
                return _read_kml(data, fmt, tmpdir, name, layer, given, datum, limits)
            return _read_dxf(data, tmpdir, name, layer, given, datum, limits)
        except DraftError:
            raise
        except UnicodeDecodeError as exc:
            raise DraftError(f"{name}: text in the file is not readable ({exc.reason} in "
                             f"{exc.encoding})") from None
        except Exception as exc:  # noqa: BLE001 - GDAL on untrusted bytes: any failure is a 400
            raise DraftError(f"{name}: could not be read as {FORMAT_NAMES[fmt]} "
                             f"({_gdal_text(exc, tmpdir, name)})") from None


def _gdal_text(exc: BaseException, tmpdir: Path, name: str) -> str:
    """One line of an error from GDAL (or zipfile, sqlite3) without any server path: the
    files written here are called by the upload's name."""
    text = str(exc) or type(exc).__name__
    for p in {str(tmpdir), str(tmpdir.resolve())}:
        text = re.sub(re.escape(p) + r"(?:/[^\s'\":;,()]*)?", lambda m: name, text)
    text = re.sub(r"(?<![\w.])(?:[A-Za-z]:)?(?:[/\\][^\s'\"/\\:;,()]+){2,}[/\\]?", "<file>", text)
    text = text.replace("\r", "\n").split("\n", 1)[0]
    text = re.split(r"\.?;\s", text, maxsplit=1)[0].strip(" .;")
    return (text[:160] + "…") if len(text) > 160 else (text or type(exc).__name__)


def _read_frame(path: Path, **kwargs):
    """pyogrio.read_dataframe with GDAL's warnings kept out of the logs (and out of tests that
    make warnings errors): what matters is checked afterwards."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pyogrio.read_dataframe(str(path), **kwargs)


def _feature_count(path: Path, layer: str, limits: Limits) -> None:
    """Refuse a layer with too many features before reading it, where the count is known."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n = pyogrio.read_info(str(path), layer=layer).get("features", -1)
    if n is not None and n >= 0:
        _check_count(int(n), limits)


# GeoPackage ------------------------------------------------------------------------------

def _read_gpkg(data, tmpdir, name, layer, given, datum, limits) -> FileRead:
    _check_sqlite_header(data, name)
    path = tmpdir / "draft.gpkg"
    path.write_bytes(data)
    tables, views = _gpkg_layers(path, name)
    chosen = _choose_layer(tables, layer, name, "GeoPackage", "layers",
                           views and f"SQL views are not read: {', '.join(v[:40] for v in views)}")
    _feature_count(path, chosen, limits)
    gdf = _read_frame(path, layer=chosen)
    geoms, props = _rows(gdf)
    if not geoms:
        raise DraftError(f"empty draft: layer {chosen[:40]!r} of {name} has no features")
    src = _source_crs(gdf.crs, given, f"layer {chosen[:40]!r} of {name}",
                      f"layer {chosen[:40]!r} of {name} has no coordinate system: state it in "
                      "the crs field (e.g. EPSG:4547)")
    return _lonlat(FileRead(geoms, props, {"layer": chosen[:NAME_MAX]}), src, datum)


def _check_sqlite_header(data: bytes, name: str) -> None:
    """A GeoPackage cut short (an interrupted upload or copy) is said to be so, before SQLite
    would call it "malformed"."""
    if len(data) < 100:
        raise DraftError(f"{name}: the GeoPackage is cut short ({len(data)} bytes, not even its "
                         "header); upload the whole file")
    page_size = int.from_bytes(data[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(data[28:32], "big")
    if pages and data[24:28] == data[92:96] and len(data) < page_size * pages:
        raise DraftError(f"{name}: the GeoPackage is cut short: {len(data):,} of its "
                         f"{page_size * pages:,} bytes; upload the whole file")


def _gpkg_layers(path: Path, name: str) -> tuple[list[str], list[str]]:
    """The GeoPackage's feature tables, and its feature layers that are SQL views."""
    con = None
    try:
        con = sqlite3.connect(path.as_uri() + "?mode=ro&immutable=1", uri=True)
        steps = iter(range(SQLITE_STEPS_MAX))
        con.set_progress_handler(lambda: next(steps, None) is None, 1000)
        rows = con.execute(
            "SELECT c.table_name, m.type FROM gpkg_contents AS c LEFT JOIN sqlite_master AS m "
            "ON m.name = c.table_name WHERE c.data_type = 'features' ORDER BY c.table_name"
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        msg = str(exc)
        if "no such table" in msg:
            raise DraftError(f"{name}: an SQLite database but not a GeoPackage (it has no "
                             "gpkg_contents table)") from None
        raise DraftError(f"{name}: not a readable GeoPackage ({msg[:80]})") from None
    finally:
        if con is not None:
            con.close()
    tables = [str(t) for t, kind in rows if kind == "table"]
    views = [str(t) for t, kind in rows if kind == "view"]
    return tables, views


def _choose_layer(names: list[str], wanted: str | None, name: str, what: str, kind: str,
                  note: str | None = None) -> str:
    """The one layer, or the one named in the ``layer`` field; several and none named, or a
    name not there, is a DraftError listing them."""
    listed = ", ".join(repr(n[:40]) for n in names[:30]) + (" …" if len(names) > 30 else "")
    extra = f" ({note})" if note else ""
    if not names:
        raise DraftError(f"{name}: the {what} has no vector layer to read{extra}")
    if wanted:
        for match in (lambda n: n == wanted, lambda n: n.lower() == wanted.lower(),
                      lambda n: PurePosixPath(n).name.lower() == wanted.lower().removesuffix(".shp")):
            found = [n for n in names if match(n)]
            if len(found) == 1:
                return found[0]
        raise DraftError(f"{name}: no layer {wanted[:40]!r} in the {what}; its {kind}: "
                         f"{listed}{extra}")
    if len(names) > 1:
        raise DraftError(f"{name}: the {what} has {len(names)} {kind} ({listed}); say which one "
                         f"to upload in the layer field{extra}")
    return names[0]


# Shapefile in a zip --------------------------------------------------------------------------

def _read_shapefile(data, tmpdir, name, layer, given, datum, limits) -> FileRead:
    with _open_zip(data, name, limits) as (zf, members):
        by_name = {m.lower(): (m, info) for m, info in members}
        stems = sorted(m[:-4] for m, _ in members if m.lower().endswith(".shp"))
        if not stems:
            found = ", ".join(m[:40] for m, _ in members[:10]) or "nothing"
            raise DraftError(f"{name}: the zip holds no Shapefile (.shp); found: {found}")
        stem = _choose_layer(stems, layer, name, "zip", "Shapefiles")
        shown = PurePosixPath(stem).name[:40]
        parts = {}
        for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
            hit = by_name.get((stem + ext).lower())
            if hit:
                parts[ext] = hit[1]
            elif ext in (".shx", ".dbf"):
                raise DraftError(f"{name}: {shown}.shp has no {ext} beside it in the zip; a "
                                 "Shapefile needs its .shp, .shx and .dbf (and .prj)")
        if ".prj" not in parts and given is None:
            raise DraftError(f"{name}: {shown}.shp has no .prj: its coordinate system is unknown; "
                             f"add the .prj file that came with it to the zip (or state the "
                             "coordinate system in the crs field, e.g. EPSG:4547)")
        budget = [limits.max_unpacked_bytes]
        for ext, info in parts.items():
            _extract(zf, info, tmpdir / f"layer{ext}", budget, name)
    path = tmpdir / "layer.shp"
    encoding, cpg = _shapefile_encoding(tmpdir / "layer.cpg", shown)
    _feature_count(path, "layer", limits)
    try:
        gdf = _read_frame(path, layer="layer", encoding=encoding)
    except UnicodeDecodeError:
        if cpg:
            raise DraftError(f"{name}: the text in {shown}.dbf is not {cpg} as {shown}.cpg says; "
                             "check the .cpg (Chinese GIS software usually writes GBK)") from None
        raise DraftError(f"{name}: the names in {shown}.dbf are not UTF-8 text and the Shapefile "
                         f"has no .cpg saying their encoding; add a {shown}.cpg file containing "
                         "GBK (what Chinese GIS software usually writes) or the encoding used") from None
    geoms, props = _rows(gdf)
    if not geoms:
        raise DraftError(f"empty draft: {shown}.shp has no features")
    if ".prj" in parts and gdf.crs is None and given is None:
        raise DraftError(f"{name}: {shown}.prj does not describe a coordinate system that can be "
                         "read; export the Shapefile again, or state it in the crs field")
    src = _source_crs(gdf.crs, given, f"{shown}.prj", "")
    facts = {"layer": stem[:NAME_MAX], "encoding": cpg or "UTF-8"}
    return _lonlat(FileRead(geoms, props, facts), src, datum)


def _shapefile_encoding(cpg_path: Path, shown: str) -> tuple[str, str | None]:
    """The encoding to read the .dbf with, and the .cpg's own word for it (None: no .cpg).

    A .cpg is honoured. Without one the text must be UTF-8: the .dbf's language byte is not
    trusted (ArcGIS writes "ANSI", meaning the writing PC's code page, which GDAL would read as
    Windows-1252 and garble GBK names without a word), and a guess could be wrong silently."""
    if not cpg_path.exists():
        return "UTF-8", None
    raw = cpg_path.read_bytes()[:64].decode("ascii", "replace").strip()
    encoding = CPG_ENCODINGS.get(re.sub(r"[\s_\-]", "", raw.upper()))
    if encoding is None:
        raise DraftError(f"{shown}.cpg names an encoding that is not known ({raw[:40]!r}); "
                         "write UTF-8 or GBK in it")
    return encoding, raw[:40]


# KML and KMZ ------------------------------------------------------------------------------

def _read_kml(data, fmt, tmpdir, name, layer, given, datum, limits) -> FileRead:
    path = tmpdir / "doc.kml"
    if fmt == "kmz":
        with _open_zip(data, name, limits) as (zf, members):
            doc = [info for m, info in members if m.lower() == "doc.kml"]
            if not doc:
                kmls = ", ".join(m[:40] for m, _ in members if m.lower().endswith(".kml"))
                raise DraftError(f"{name}: the KMZ has no doc.kml (its main KML document) at the "
                                 "top level" + (f"; found {kmls}: name it doc.kml, or upload the "
                                                ".kml itself" if kmls else ""))
            _extract(zf, doc[0], path, [limits.max_unpacked_bytes], name)
        if sniff(path.read_bytes()[:4096]) != "kml":
            raise DraftError(f"{name}: doc.kml in the KMZ is not KML (no <kml> root element)")
    else:
        path.write_bytes(data)
    if re.search(rb"<(?:\w+:)?NetworkLink\b", path.read_bytes()):
        # GDAL could be asked to fetch what it links: this server fetches nothing for anyone
        raise DraftError(f"{name}: the KML links other documents (NetworkLink), which are not "
                         "fetched here: save the linked placemarks into the file itself")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        names = [str(n) for n, _ in pyogrio.list_layers(str(path))]
    # A KML's folders are one document: all are read, unless the layer field names one.
    chosen = [_choose_layer(names, layer, name, "KML document", "folders")] if layer else names
    geoms, props, read = [], [], []
    for lyr in chosen:
        _feature_count(path, lyr, limits)
        gdf = _read_frame(path, layer=lyr)
        g, p = _rows(gdf)
        geoms += g
        props += p
        _check_count(len(geoms), limits)
        if g:
            read.append(lyr[:NAME_MAX])
    if not geoms:
        raise DraftError(f"empty draft: {name} has no placemarks")
    src = _source_crs(WGS84, given, "KML (always WGS84 lon/lat, by the KML standard)", "")
    return _lonlat(FileRead(geoms, props, {"layers": read}), src, datum)


# DXF ------------------------------------------------------------------------------------

def _read_dxf(data, tmpdir, name, layer, given, datum, limits) -> FileRead:
    if given is None:
        raise DraftError(f"{name}: a DXF drawing does not say its coordinate system: state it in "
                         "the crs field, e.g. EPSG:4549 (CGCS2000 3-degree Gauss-Krüger CM 120°E), "
                         "EPSG:4547 (CM 114°E), EPSG:32651 (UTM 51N), or EPSG:4326 if the "
                         "drawing is in lon/lat degrees")
    path = tmpdir / "draft.dxf"
    path.write_bytes(data)
    # Blocks are not inlined: an INSERT is one point, never a copy of its block (nested and
    # arrayed INSERTs could multiply a small file into millions of shapes).
    encoding = _dxf_encoding(data)
    gdf = _read_frame(path, layer="entities", INLINE_BLOCKS="NO",
                      **({"ENCODING": encoding} if encoding else {}))
    cad_layers = [str(v) if v is not None else "" for v in _column(gdf, "Layer")]
    if layer:
        present = sorted(set(cad_layers))
        keep = [c == layer or c.lower() == layer.lower() for c in cad_layers]
        if not any(keep):
            raise DraftError(f"{name}: no CAD layer {layer[:40]!r} in the drawing; its layers: "
                             + ", ".join(repr(c[:40]) for c in present[:30]))
        gdf = gdf[keep]
        cad_layers = [c for c, k in zip(cad_layers, keep) if k]
    subclasses = _column(gdf, "SubClasses")
    texts, blocks = _column(gdf, "Text"), _column(gdf, "BlockName")
    handles = _column(gdf, "EntityHandle")
    geoms, props, ignored, closed = [], [], {}, 0
    for g, sub, text, block, handle, cad in zip(gdf.geometry.values, subclasses, texts, blocks,
                                                handles, cad_layers):
        kind = _dxf_ignored(g, sub, text, block)
        if kind:
            ignored[kind] = ignored.get(kind, 0) + 1
            continue
        if g.geom_type == "LineString" and g.is_closed and len(g.coords) >= 4:
            g = Polygon(g.coords)  # a closed polyline (or circle) encloses an area: a zone
            closed += 1
        geoms.append(g)
        p = {"name": cad[:NAME_MAX]} if cad else {}
        if handle:
            p["handle"] = str(handle)[:20]
        props.append(p)
        _check_count(len(geoms), limits)
    if not geoms:
        what = "; ".join(f"{n} {k}" for k, n in ignored.items()) or "no entities"
        raise DraftError(f"empty draft: {name} has no points or lines to read (ignored: {what})")
    facts = {"dxf_ignored": ignored} if ignored else {}
    if closed:
        facts["dxf_closed_as_polygons"] = closed
    if layer:
        facts["layer"] = layer[:NAME_MAX]
    src = _source_crs(None, given, "", "")
    return _lonlat(FileRead(geoms, props, facts), src, datum)


def _dxf_encoding(data: bytes) -> str | None:
    """UTF-8 for text DXF that is UTF-8 (AutoCAD 2007 and later always write it, whatever
    $DWGCODEPAGE says; older files without a code page may be); None leaves it to GDAL, which
    follows $DWGCODEPAGE (ANSI_936: GBK) and otherwise assumes Windows-1252."""
    if data.startswith(b"AutoCAD Binary DXF"):
        return None
    head = data[:65536].decode("latin-1")
    version = re.search(r"\$ACADVER\s*\r?\n\s*1\s*\r?\n\s*AC(\d{4})", head)
    if version and int(version.group(1)) >= 1021:
        return "UTF-8"
    page = re.search(r"\$DWGCODEPAGE\s*\r?\n\s*3\s*\r?\n\s*(\S+)", head)
    if page:
        return "UTF-8" if re.sub(r"[\s_\-]", "", page.group(1).upper()) == "UTF8" else None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "UTF-8"


def _column(gdf, col: str) -> list:
    if col not in gdf:
        return [None] * len(gdf)
    return [None if _missing(v) else v for v in gdf[col].tolist()]


def _dxf_ignored(g, sub, text, block) -> str | None:
    """Why an entity is not read (the kind, for the note in the response), or None: points,
    lines, polylines, arcs, circles, ellipses and splines are read."""
    if block:
        return DXF_IGNORED[0][1]
    for marker, kind in DXF_IGNORED:
        if sub and marker in str(sub):
            return kind
    if g is None or g.is_empty:
        return "entities without a shape"
    if g.geom_type in ("Point", "MultiPoint"):
        return "text (TEXT, MTEXT)" if text else None
    if g.geom_type in ("LineString", "MultiLineString"):
        return None
    return f"filled areas ({g.geom_type}: HATCH, SOLID, 3DFACE)"


# --- archives --------------------------------------------------------------------------------

class _open_zip:
    """``with _open_zip(data, name, limits) as (zf, members)``: a zip archive checked before
    anything is unpacked; ``members`` are (name as the planner sees it, ZipInfo) of its files.

    Refused: a damaged archive, more members than allowed, more unpacked bytes than allowed or
    a member that would unpack to more than the allowed ratio (413), names that are absolute,
    climb out (..), carry a drive letter or backslash, symlinks, encrypted members, nested
    archives, and a name given twice (400)."""

    def __init__(self, data: bytes, name: str, limits: Limits):
        self.data, self.name, self.limits = data, name, limits
        self.zf = None

    def __enter__(self):
        name, limits = self.name, self.limits
        try:
            self.zf = zipfile.ZipFile(io.BytesIO(self.data))
            infos = self.zf.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            raise DraftError(f"{name}: not a readable zip archive ({str(exc)[:80]})") from None
        if len(infos) > limits.max_members:
            raise DraftTooLarge(f"{name}: the archive has {len(infos):,} members; at most "
                                f"{limits.max_members} are accepted")
        total, members, seen = 0, [], set()
        for info in infos:
            shown = _member_name(info)
            problem = _unsafe_member(info, shown)
            if problem:
                raise DraftError(f"{name}: refused: member {shown[:60]!r} {problem}")
            if info.is_dir() or shown.startswith("__MACOSX/") or PurePosixPath(shown).name.startswith("._"):
                continue
            if shown.lower() in seen:
                raise DraftError(f"{name}: refused: member {shown[:60]!r} appears twice")
            seen.add(shown.lower())
            total += info.file_size
            if total > limits.max_unpacked_bytes:
                raise DraftTooLarge(f"{name}: the archive would unpack to over "
                                    f"{limits.max_unpacked_bytes:,} bytes; the limit is "
                                    f"{limits.max_unpacked_bytes:,} (a zip bomb?)")
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > RATIO_FLOOR and ratio > limits.max_ratio:
                raise DraftTooLarge(f"{name}: member {shown[:60]!r} would unpack to {ratio:,.0f} "
                                    f"times its packed size; at most {limits.max_ratio} times is "
                                    "accepted (a zip bomb?)")
            members.append((shown, info))
        return self.zf, members

    def __exit__(self, *exc):
        if self.zf is not None:
            self.zf.close()


def _member_name(info: zipfile.ZipInfo) -> str:
    """A member's name as the planner wrote it: names without the UTF-8 flag, which Python
    reads as CP437, are often UTF-8 (macOS) or GBK (Chinese Windows)."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    for enc in ("utf-8", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            pass
    return info.filename


def _unsafe_member(info: zipfile.ZipInfo, shown: str) -> str | None:
    for n in (shown, info.filename):
        if "\x00" in n:
            return "has a NUL character in its name"
        if "\\" in n:
            return "has a backslash in its name (a Windows path)"
        if n.startswith("/"):
            return "has an absolute path"
        if re.match(r"[A-Za-z]:", n):
            return "has a drive letter"
        if ".." in PurePosixPath(n).parts:
            return "climbs out of the archive (..)"
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_ISLNK(mode):
        return "is a symbolic link"
    if info.flag_bits & 0x1:
        return "is encrypted"
    if not info.is_dir() and shown.lower().endswith(NESTED):
        return "is an archive inside the archive (unpack it and zip its files)"
    return None


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, budget: list[int],
             name: str) -> None:
    """Unpack one member to ``dest`` (a name made here), stopping at its declared size and at
    the archive's remaining budget whatever the compressed stream holds."""
    written = 0
    try:
        with zf.open(info) as src, open(dest, "wb") as out:
            while chunk := src.read(UNPACK_CHUNK):
                written += len(chunk)
                if written > info.file_size or written > budget[0]:
                    raise DraftTooLarge(f"{name}: member {_member_name(info)[:60]!r} unpacks to "
                                        "more than it declares (a zip bomb?)")
                out.write(chunk)
    except DraftError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise DraftError(f"{name}: member {_member_name(info)[:60]!r} could not be unpacked "
                         f"(the archive is damaged: {str(exc)[:80]})") from None
    except Exception as exc:  # noqa: BLE001 - zlib/bz2/lzma errors on a damaged stream
        raise DraftError(f"{name}: member {_member_name(info)[:60]!r} could not be unpacked "
                         f"(the archive is damaged: {type(exc).__name__})") from None
    budget[0] -= written


# --- properties ------------------------------------------------------------------------------

def _missing(v) -> bool:
    try:
        return v is None or bool(pd.isna(v))
    except (TypeError, ValueError):  # an array or other non-scalar: not missing
        return False


def _text(v) -> str | None:
    if _missing(v) or isinstance(v, (bytes, bytearray)):
        return None
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        v = int(v)
    s = str(v).strip()
    return s or None


def _field_map(columns) -> dict[str, str]:
    """Draft property -> the file's column for it (the first column that spells it)."""
    out = {}
    for col in columns:
        key = FIELD_ALIASES.get(re.sub(r"[\s_\-]", "", str(col).lower()))
        if key in TEXT_FIELDS and key not in out:
            out[key] = col
    return out


def _rows(gdf) -> tuple[list, list[dict]]:
    geoms = list(gdf.geometry.values)
    mapping = _field_map(c for c in gdf.columns if c != gdf.geometry.name)
    columns = {k: gdf[c].tolist() for k, c in mapping.items()}
    props = []
    for i in range(len(geoms)):
        p = {}
        for k, values in columns.items():
            t = _text(values[i])
            if t is not None:
                p[k] = t
        props.append(p)
    return geoms, props


# --- coordinate systems ----------------------------------------------------------------------

def parse_crs(text: str) -> CRS:
    """The ``crs`` field: anything pyproj reads (EPSG:4547, 4547, a WKT, a PROJ string), as a
    2D geographic or projected CRS; DraftError saying what is wrong otherwise."""
    t = str(text).strip()
    if len(t) > CRS_TEXT_MAX or "\x00" in t:
        raise DraftError(f"crs: not a coordinate system ({len(t):,} characters); give e.g. "
                         "EPSG:4547")
    shown = t[:40]
    try:
        crs = CRS.from_epsg(int(t)) if re.fullmatch(r"\d{1,6}", t) else CRS.from_user_input(t)
    except (CRSError, ValueError, TypeError):
        raise DraftError(f"crs: {shown!r} is not a coordinate system pyproj knows; give e.g. "
                         "EPSG:4547 (CGCS2000 Gauss-Krüger), EPSG:32651 (UTM 51N) or EPSG:4326"
                         ) from None
    if crs.is_compound:
        horizontal = [c for c in crs.sub_crs_list if c.is_geographic or c.is_projected]
        if horizontal:
            crs = horizontal[0]
    if not (crs.is_geographic or crs.is_projected) or crs.is_geocentric:
        raise DraftError(f"crs: {shown!r} is a {crs.type_name}, not a map's coordinate system; "
                         "give a projected (e.g. EPSG:4547) or geographic (EPSG:4326) one")
    return crs


def crs_label(crs: CRS) -> str:
    auth = crs.to_authority(min_confidence=90)
    code = f"{auth[0]}:{auth[1]}" if auth else "a custom CRS"
    return f"{code} ({crs.name[:60]})"


def is_wgs84_lonlat(crs: CRS) -> bool:
    return crs.is_geographic and crs.equals(WGS84, ignore_axis_order=True)


def check_lonlat_crs(text: str, fmt: str) -> None:
    """GeoJSON and CSV are lon/lat: a crs field may only restate WGS84."""
    crs = parse_crs(text)
    if not is_wgs84_lonlat(crs):
        raise DraftError(f"crs: {FORMAT_NAMES[fmt]} drafts are lon/lat, so the crs field "
                         f"({crs_label(crs)}) does not apply: leave it empty and state the "
                         "datum (WGS84, GCJ-02 or BD-09); crs is for DXF files and for "
                         "Shapefiles or GeoPackages without a coordinate system")


def _source_crs(in_file: CRS | None, given: CRS | None, where: str, missing: str) -> CRS:
    """The coordinate system to read from: the file's own, or the crs field's when the file
    has none; both and different is refused (which one is wrong is not for parkmap to guess)."""
    if in_file is not None and given is not None:
        if not in_file.equals(given, ignore_axis_order=True):
            raise DraftError(f"crs: {where} states {crs_label(in_file)}, and the crs field gives "
                             f"{crs_label(given)}; leave the crs field empty to use the file's "
                             "own, or correct the file")
        return in_file
    if in_file is None and given is None:
        raise DraftError(missing)
    return in_file if in_file is not None else given


def _lonlat(read: FileRead, src: CRS, datum: str) -> FileRead:
    """Shapes in ``src`` brought to lon/lat. The datum field (GCJ-02, BD-09) applies to WGS84
    lon/lat only: with any other coordinate system it is refused, as is a geographic CRS
    whose coordinates are not degrees, or a projected one whose coordinates all look like them."""
    label = crs_label(src)
    read.facts["crs"] = label
    read.source = label
    lonlat = is_wgs84_lonlat(src)
    if datum != "WGS84" and not lonlat:
        raise DraftError(f"datum {datum} applies to lon/lat drafts in WGS84, but this one is in "
                         f"{label}: leave the datum at WGS84 (the coordinate system says how to "
                         "reach WGS84)")
    xy = shapely.get_coordinates(np.array(read.geoms, dtype=object))
    finite = xy[np.isfinite(xy).all(axis=1)] if len(xy) else xy
    if len(finite):
        degrees = (np.abs(finite[:, 0]) <= 180) & (np.abs(finite[:, 1]) <= 90)
        if src.is_geographic and not degrees.all():
            x, y = finite[~degrees][0]
            raise DraftError(f"coordinate ({x:g}, {y:g}) is not in degrees, but {label} is "
                             "geographic (lon/lat): the data are projected; give the projected "
                             "coordinate system they were drawn in (e.g. EPSG:4547)")
        if src.is_projected and degrees.all():
            x, y = finite[0]
            raise DraftError(f"coordinates such as ({x:g}, {y:g}) look like lon/lat degrees (or "
                             f"a drawing not placed in real coordinates), but {label} is projected "
                             "(metres): if they are lon/lat, the coordinate system is EPSG:4326")
    if lonlat:
        return read
    with_z = int(sum(bool(shapely.has_z(g)) for g in read.geoms if g is not None))
    transformer = Transformer.from_crs(src, WGS84, always_xy=True)

    def to_wgs84(coords):
        lon, lat = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    read.geoms = [None if g is None else shapely.transform(g, to_wgs84) for g in read.geoms]
    if with_z:
        read.facts["elevation_dropped"] = with_z
    return read

"""`parkmap sources osm EXTRACT`: refresh the OSM source files from one OpenStreetMap extract.

Reads an extract (`.osm` XML, `.osm.pbf`, `.osm.gz`, `.osm.bz2`: whatever libosmium reads), keeps
what lies in 长宁区 + 静安区 plus a margin (default 1000 m, buffered in EPSG:32651 around the
district polygons of ``districts_cnmaps_wgs84.geojson``), and writes five files into the sources
folder, in the schema of the files they replace:

- ``osm_streets.geojson``: named ``highway=*`` ways, clipped, line-merged per name (one feature per
  merged piece; ``osm_id`` lists its ways, ``highway`` is the class most of them carry).
- ``osm_places.geojson``: one Point per named node / area / open way carrying amenity, office,
  building, shop, tourism, historic, heritage, leisure or landuse, or an ``addr:housenumber``.
  Areas give their centroid when it lies inside them, else a representative point
  (``point_method``); open ways give a representative point (a point on the line).
- ``osm_buildings.geojson``: ``building=*`` areas with a name or an ``addr:housenumber``, whole
  (not cut at the margin: kept when their representative point is inside, like their place point).
- ``osm_admin.geojson``: ``boundary=administrative`` + ``admin_level=8`` areas (relations and
  closed ways) whose representative point lies in 长宁区 or 静安区, whole (not clipped), with the
  district holding the larger share of their area.
- ``osm_waterways.geojson``: named river / canal / stream ways, clipped, line-merged per name.

Why PyPI ``osmium`` (pyosmium 4.x) and not pyrosm: it reads XML and PBF (and compressed XML)
alike, streams the file instead of loading it into memory, assembles multipolygon areas
(buildings, admin relations) itself in C++, and is the maintained binding to libosmium. Only
objects tagged ``name``, ``addr:housenumber`` or ``boundary`` reach Python (a libosmium
``KeyFilter``); node locations of every node are still cached for way and area geometry.

OSM is WGS84, so nothing is converted; coordinates are rounded to 6 decimals. Relations that are
not multipolygons or boundaries (e.g. ``type=site``) have no geometry here and are skipped.

Rules: the whole extract is read and every output computed before anything is written; each file
is written to a temp file and moved into place (``os.replace``). A kind with no feature in the
extract keeps the existing file (said on stderr and in SOURCES.md). The extract's timestamp is the
header's ``osmosis_replication_timestamp`` (or ``timestamp``), for XML the ``<meta osm_base>`` /
``<osm timestamp>`` attribute, else the newest object timestamp seen. It is recorded with the
file name, SHA-256 and feature counts in a marked block of ``<out>/SOURCES.md`` (replaced in
place on re-runs; the rest of the file is not touched). Bad input (missing, empty, not OSM, no
data, wrong region) raises :class:`OsmExtractError`: one line, exit code 2 from the CLI.
"""
from __future__ import annotations

import bz2
import gzip
import hashlib
import math
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point
from shapely.geometry.base import BaseGeometry

from geo.crs import METRIC_CRS, STORAGE_CRS
from geo.errors import ParkmapError
from geo.geojson_io import GeoJSONError, dumps, geometry_json, read_geojson
from layers.sources import SOURCES_DIR

DISTRICTS_FILE = "districts_cnmaps_wgs84.geojson"
DISTRICTS = {"changning": "长宁区", "jingan": "静安区"}  # slug -> name, in output order
DEFAULT_MARGIN_M = 1000.0
BLOCK_BEGIN = "<!-- parkmap sources osm: begin -->"
BLOCK_END = "<!-- parkmap sources osm: end -->"
CRS84 = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
LICENSE = "ODbL-1.0; (c) OpenStreetMap contributors"

# output kind -> file name (also the order files are written and listed)
FILES = {
    "streets": "osm_streets.geojson",
    "places": "osm_places.geojson",
    "buildings": "osm_buildings.geojson",
    "admin": "osm_admin.geojson",
    "waterways": "osm_waterways.geojson",
}
PLACE_KEYS = ("amenity", "office", "building", "shop", "tourism", "historic", "heritage",
              "leisure", "landuse")
# properties copied from tags, in output order (only those present are written, as before)
PLACE_PROPS = ("name", "name:en", "addr:street", "addr:housenumber", "building", "amenity",
               "landuse", "office", "operator", "website", "tourism", "historic", "heritage",
               "leisure", "shop")
WATERWAYS = ("river", "canal", "stream")
# named highway=* values that are points or areas, not streets
NOT_STREETS = {"platform", "bus_stop", "services", "rest_area", "elevator",
               "emergency_access_point", "turning_circle", "street_lamp"}
WATERWAY_METHOD = "OSM waterway ways, line-merged per name"
_MERGE_TOL = 1e-9  # degrees: "on the merged line" for a way's midpoint


class OsmExtractError(ParkmapError):
    """The extract cannot be used (missing, empty, not OSM, no data, wrong region); one line."""


# --------------------------------------------------------------------------- reading


@dataclass
class _Way:
    osm_id: int
    name: str
    cls: str  # highway or waterway value
    name_en: str | None
    geom: LineString


@dataclass
class _Read:
    """Everything kept from one pass over the extract (lon/lat shapely geometries)."""

    header_ts: tuple[str, str] | None = None  # (ISO timestamp, where it came from)
    newest: datetime | None = None
    n_objects: int = 0
    bbox: list[float] = field(default_factory=lambda: [math.inf, math.inf, -math.inf, -math.inf])
    header_box: tuple[float, float, float, float] | None = None
    in_region: bool = False
    streets: list[_Way] = field(default_factory=list)
    waterways: list[_Way] = field(default_factory=list)
    places: list[tuple[dict, Point]] = field(default_factory=list)
    buildings: list[tuple[dict, BaseGeometry]] = field(default_factory=list)
    admin: list[tuple[dict, MultiPolygon]] = field(default_factory=list)

    def grow(self, minx, miny, maxx, maxy) -> None:
        b = self.bbox
        b[0], b[1], b[2], b[3] = min(b[0], minx), min(b[1], miny), max(b[2], maxx), max(b[3], maxy)


class _Region:
    """The districts, and their union buffered by the margin, with fast point tests."""

    def __init__(self, districts: dict[str, BaseGeometry], margin_m: float):
        from pyproj import Transformer

        to_m = Transformer.from_crs(STORAGE_CRS, METRIC_CRS, always_xy=True).transform
        to_ll = Transformer.from_crs(METRIC_CRS, STORAGE_CRS, always_xy=True).transform
        self.to_m = to_m
        self.districts = districts  # name_zh -> lon/lat geometry
        self.districts_m = {k: transform(to_m, g) for k, g in districts.items()}
        union_m = shapely.union_all(list(self.districts_m.values()))
        self.area = transform(to_ll, union_m.buffer(margin_m) if margin_m > 0 else union_m)
        shapely.prepare(self.area)
        for g in self.districts.values():
            shapely.prepare(g)
        self.bounds = self.area.bounds
        self.districts_bounds = shapely.union_all(list(districts.values())).bounds
        self.margin_m = margin_m

    def bbox_hit(self, minx, miny, maxx, maxy) -> bool:
        b = self.bounds
        return not (maxx < b[0] or minx > b[2] or maxy < b[1] or miny > b[3])

    def contains(self, geom: BaseGeometry) -> bool:
        return self.area.contains(geom)

    def intersects(self, geom: BaseGeometry) -> bool:
        return self.area.intersects(geom)


def transform(func, geom: BaseGeometry) -> BaseGeometry:
    """``geom`` with every coordinate passed through ``func(xs, ys) -> (xs, ys)`` (pyproj)."""
    return shapely.transform(geom, func, interleaved=False)


def _tags(obj) -> dict[str, str]:
    return {t.k: t.v for t in obj.tags}


def _is_place(tags: dict) -> bool:
    return "name" in tags and ("addr:housenumber" in tags or any(k in tags for k in PLACE_KEYS))


def _place_props(tags: dict, osm_type: str, osm_id: int) -> dict:
    props = {k: tags[k] for k in PLACE_PROPS if tags.get(k)}
    props.update(osm_type=osm_type, osm_id=osm_id)
    return props


def _xml_header_ts(path: Path) -> tuple[str, str] | None:
    """`<meta osm_base=...>` (Overpass) or `<osm timestamp=...>` from the first 64 kB of an XML
    extract: libosmium does not put these in its header."""
    name = path.name.lower()
    opener = (gzip.open if name.endswith(".gz") else bz2.open if name.endswith(".bz2")
              else open if name.endswith((".osm", ".xml")) else None)
    if opener is None:
        return None
    try:
        with opener(path, "rb") as fh:
            head = fh.read(65536).decode("utf-8", "replace")
    except (OSError, EOFError, ValueError):
        return None
    for pattern, what in ((r"<meta\b[^>]*\bosm_base=\"([^\"]+)\"", "XML <meta osm_base>"),
                          (r"<osm\b[^>]*\btimestamp=\"([^\"]+)\"", "XML <osm timestamp>")):
        m = re.search(pattern, head)
        if m and _parse_ts(m.group(1)):
            return _iso(_parse_ts(m.group(1))), what
    return None


def _parse_ts(text: str) -> datetime | None:
    try:
        ts = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def _iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read_extract(path: Path, region: _Region) -> _Read:
    """One streaming pass (two with areas) over the extract; OsmExtractError on unreadable input."""
    import osmium

    out = _Read()
    wkb = osmium.geom.WKBFactory()
    try:
        proc = osmium.FileProcessor(str(path))
        header = proc.header
        for key in ("osmosis_replication_timestamp", "timestamp"):
            ts = _parse_ts(header.get(key, "")) if header.get(key, "") else None
            if ts:
                out.header_ts = (_iso(ts), f"header {key}")
                break
        box = header.box()
        if box.valid():
            out.header_box = (box.bottom_left.lon, box.bottom_left.lat,
                              box.top_right.lon, box.top_right.lat)
        if out.header_ts is None:
            out.header_ts = _xml_header_ts(path)
        proc = (proc.with_locations()
                .with_areas(osmium.filter.KeyFilter("name", "addr:housenumber", "boundary",
                                                    "building"))
                .with_filter(osmium.filter.KeyFilter("name", "addr:housenumber", "boundary")))
        if out.header_ts is None:  # the newest object decides: look at the filtered ones too
            proc.handler_for_filtered(_NewestTimestamp(out))
        for obj in proc:
            _take(obj, out, region, wkb)
    except OsmExtractError:
        raise
    except (RuntimeError, ValueError, OSError) as exc:  # libosmium reports bad input so
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "Could not detect file format" in first:
            raise OsmExtractError(f"{path}: not a readable OSM extract (unknown file type; libosmium "
                                  "reads .osm, .osm.pbf, .osm.gz, .osm.bz2, .o5m, .opl)") from None
        if "out of order" in first:  # area assembly needs nodes, ways, relations sorted by id
            raise OsmExtractError(f"{path}: objects are not sorted by type and id ({first}); "
                                  "sort the extract first (e.g. osmium sort)") from None
        raise OsmExtractError(f"{path}: not a readable OSM extract ({first})") from None
    return out


class _NewestTimestamp:
    """Handler for the objects the tag filter drops: they count for the newest timestamp only
    (installed only when the file header gives no timestamp)."""

    def __init__(self, out: _Read):
        self.out = out

    def _see(self, obj) -> None:
        ts = obj.timestamp
        if ts is not None and ts.timestamp() > 0 and (self.out.newest is None or ts > self.out.newest):
            self.out.newest = ts

    node = way = relation = _see


def _take(obj, out: _Read, region: _Region, wkb) -> None:
    kind = obj.type_str()
    if kind != "a":
        out.n_objects += 1
        ts = obj.timestamp
        if ts is not None and ts.timestamp() > 0 and (out.newest is None or ts > out.newest):
            out.newest = ts
    if kind == "n":
        loc = obj.location
        if not loc.valid():
            return
        x, y = loc.lon, loc.lat
        out.grow(x, y, x, y)
        if not region.bbox_hit(x, y, x, y):
            return
        pt = Point(x, y)
        if not region.contains(pt):
            return
        out.in_region = True
        tags = _tags(obj)
        if _is_place(tags):
            out.places.append(({**_place_props(tags, "node", obj.id), "point_method": "node"}, pt))
    elif kind == "w":
        tags = _tags(obj)
        name = tags.get("name")
        street = bool(name and tags.get("highway") and tags["highway"] not in NOT_STREETS
                      and tags.get("area") != "yes")
        water = bool(name and tags.get("waterway") in WATERWAYS)
        open_place = _is_place(tags) and not obj.is_closed()
        if not (street or water or open_place):
            return
        coords = [(n.lon, n.lat) for n in obj.nodes if n.location.valid()]
        if not coords:
            return
        xs, ys = [c[0] for c in coords], [c[1] for c in coords]
        out.grow(min(xs), min(ys), max(xs), max(ys))
        if not region.bbox_hit(min(xs), min(ys), max(xs), max(ys)):
            return
        coords = [c for i, c in enumerate(coords) if i == 0 or c != coords[i - 1]]
        geom = LineString(coords) if len(coords) > 1 else Point(coords[0])
        if not region.intersects(geom):
            return
        out.in_region = True
        if isinstance(geom, LineString):
            if street:
                out.streets.append(_Way(obj.id, name, tags["highway"], tags.get("name:en"), geom))
            if water:
                out.waterways.append(_Way(obj.id, name, tags["waterway"], tags.get("name:en"), geom))
        if open_place:
            pt = geom.representative_point() if isinstance(geom, LineString) else geom
            if region.contains(pt):
                out.places.append(({**_place_props(tags, "way", obj.id),
                                    "point_method": "representative_point"}, pt))
    elif kind == "a":
        tags = _tags(obj)
        building = tags.get("building", "no") != "no" and (
            "name" in tags or "addr:housenumber" in tags)
        admin = tags.get("boundary") == "administrative" and tags.get("admin_level") == "8"
        place = _is_place(tags)
        if not (building or admin or place):
            return
        try:
            geom = shapely.from_wkb(wkb.create_multipolygon(obj))  # hex string
        except (RuntimeError, shapely.errors.GEOSException):
            return  # a broken ring: libosmium could not build it
        if geom is None or geom.is_empty:
            return
        out.grow(*geom.bounds)
        if not region.bbox_hit(*geom.bounds):
            return
        osm_type = "way" if obj.from_way() else "relation"
        osm_id = obj.orig_id()
        valid = geom if geom.is_valid else shapely.make_valid(geom)  # for the tests only
        if region.intersects(valid):
            out.in_region = True
        if admin:
            out.admin.append(({"name": tags.get("name"), "admin_level": tags["admin_level"],
                               "osm_relation_id": osm_id,
                               "official_code_2023": tags.get("ref") or tags.get("official_code")},
                              geom))
        if building or place:
            rep = valid.representative_point()
            if not region.contains(rep):
                return
            if building:
                one = geom.geoms[0] if len(geom.geoms) == 1 else geom
                out.buildings.append((_place_props(tags, osm_type, osm_id), one))
            if place:
                c = valid.centroid
                inside = valid.contains(c)
                out.places.append(({**_place_props(tags, osm_type, osm_id),
                                    "point_method": "centroid" if inside else "representative_point"},
                                   c if inside else rep))


# --------------------------------------------------------------------------- building outputs


def _merge(ways: list[_Way], region: _Region) -> list[tuple[str, LineString, list[_Way]]]:
    """Clip the ways to the region, then line-merge per name: [(name, piece, its ways)]."""
    if not ways:
        return []
    clipped = shapely.intersection(np.array([w.geom for w in ways], dtype=object), region.area)
    by_name: dict[str, list[tuple[_Way, LineString]]] = defaultdict(list)
    for way, geom in zip(ways, clipped):
        for part in shapely.get_parts(geom):
            if isinstance(part, LineString) and part.length > 0:
                by_name[way.name].append((way, part))
    result = []
    for name in sorted(by_name):
        parts = by_name[name]
        merged = shapely.line_merge(MultiLineString([p for _, p in parts]))
        pieces = [g for g in shapely.get_parts(merged) if isinstance(g, LineString)]
        mids = np.array([p.interpolate(0.5, normalized=True) for _, p in parts], dtype=object)
        owner = [None] * len(parts)
        for i, piece in enumerate(pieces):
            for j in np.flatnonzero(shapely.dwithin(piece, mids, _MERGE_TOL)):
                if owner[j] is None:
                    owner[j] = i
        for j, o in enumerate(owner):  # a midpoint on no piece would be a GEOS oddity: nearest
            if o is None:
                owner[j] = int(np.argmin([pc.distance(mids[j]) for pc in pieces]))
        for i, piece in enumerate(pieces):
            members = [parts[j][0] for j in range(len(parts)) if owner[j] == i]
            if members:
                result.append((name, piece, members))
    result.sort(key=lambda r: (r[0], min(w.osm_id for w in r[2]), r[1].coords[0]))
    return result


def _majority(values: list[str], weights: list[float]) -> str | None:
    """The most frequent value; ties go to the larger summed weight, then alphabetical."""
    values_w = [(v, w) for v, w in zip(values, weights) if v]
    if not values_w:
        return None
    count, weight = Counter(v for v, _ in values_w), Counter()
    for v, w in values_w:
        weight[v] += w
    return min(count, key=lambda v: (-count[v], -weight[v], v))


def _street_features(read: _Read, region: _Region, source: str) -> list[dict]:
    feats = []
    for name, piece, ways in _merge(read.streets, region):
        lengths = [w.geom.length for w in ways]
        feats.append(_feature({
            "name": name,
            "name:en": _majority([w.name_en for w in ways], lengths),
            "highway": _majority([w.cls for w in ways], lengths),
            "osm_id": sorted({w.osm_id for w in ways}),
            "source": source}, piece))
    return feats


def _waterway_features(read: _Read, region: _Region, source: str) -> list[dict]:
    feats = []
    for name, piece, ways in _merge(read.waterways, region):
        feats.append(_feature({
            "name": name,
            "waterway": _majority([w.cls for w in ways], [w.geom.length for w in ways]),
            "derived": False,
            "method": WATERWAY_METHOD,
            "length_m": int(round(transform(region.to_m, piece).length)),
            "source": source}, piece))
    return feats


def _dedupe(items: list[tuple[dict, BaseGeometry]]) -> list[tuple[dict, BaseGeometry]]:
    seen, out = set(), []
    for props, geom in sorted(items, key=lambda it: (("node", "way", "relation").index(
            it[0]["osm_type"]), it[0]["osm_id"])):
        key = (props["osm_type"], props["osm_id"])
        if key not in seen:
            seen.add(key)
            out.append((props, geom))
    return out


def _admin_features(read: _Read, region: _Region, source: str, date: str | None,
                    sha256: str) -> list[dict]:
    feats = []
    for props, geom in read.admin:
        valid = geom if geom.is_valid else shapely.make_valid(geom)
        rep = valid.representative_point()
        if not any(d.contains(rep) for d in region.districts.values()):
            continue
        geom_m = transform(region.to_m, valid)
        shares = {name: geom_m.intersection(d).area for name, d in region.districts_m.items()}
        district = max(shares, key=lambda n: (shares[n], n == "长宁区"))
        feats.append(_feature({
            "name": props["name"], "district": district, "admin_level": props["admin_level"],
            "osm_relation_id": props["osm_relation_id"],
            "official_code_2023": props["official_code_2023"], "snapshot_date": date,
            "source_pbf_sha256": sha256, "source": source}, geom))
    feats.sort(key=lambda f: (list(DISTRICTS.values()).index(f["properties"]["district"]),
                              f["properties"]["name"] or "", f["properties"]["osm_relation_id"]))
    return feats


def _feature(props: dict, geom: BaseGeometry) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geometry_json(geom)}


# --------------------------------------------------------------------------- SOURCES.md block


def _replace_block(text: str, block: str) -> str:
    """``text`` with the marked block replaced (or appended); nothing else changes."""
    lines = text.splitlines(keepends=True)
    begin = next((i for i, ln in enumerate(lines) if ln.strip() == BLOCK_BEGIN), None)
    if begin is not None:
        end = next((i for i in range(begin + 1, len(lines)) if lines[i].strip() == BLOCK_END), None)
        if end is None:
            raise OsmExtractError(f"SOURCES.md has the line {BLOCK_BEGIN} but no {BLOCK_END} "
                                  "after it; fix it by hand (nothing was written)")
        return "".join(lines[:begin]) + block + "".join(lines[end + 1:])
    if not text:
        return block
    sep = "" if text.endswith("\n\n") else "\n" if text.endswith("\n") else "\n\n"
    return text + sep + block


def _block(meta: dict, counts: dict[str, int], kept: dict[str, bool]) -> str:
    b = meta["clip_bbox"]
    rows = []
    for kind, fname in FILES.items():
        n = counts[kind]
        if n:
            rows.append(f"- `{fname}`: {n:,} feature{'s' if n != 1 else ''}, written from this extract")
        elif kept[kind]:
            rows.append(f"- `{fname}`: 0 features in this extract; the existing file was **kept** "
                        "(it is not from this extract)")
        else:
            rows.append(f"- `{fname}`: 0 features in this extract; not written (no existing file)")
    return "\n".join([
        BLOCK_BEGIN,
        "## osm_*.geojson: refreshed from an OpenStreetMap extract (`parkmap sources osm`)",
        "",
        f"Written by `parkmap sources osm` (`layers/osm_extract.py`) from `{meta['file']}`, "
        f"SHA-256 `{meta['sha256']}`, timestamp **{meta['timestamp']}** ({meta['timestamp_from']}).",
        "",
        "- Licence **ODbL 1.0, © OpenStreetMap contributors** (share-alike applies to a derived "
        "database).",
        "- Datum **WGS84** lon/lat as in OSM, **no conversion**; coordinates rounded to 6 decimals.",
        f"- Clipped to 长宁区 + 静安区 (`{DISTRICTS_FILE}`) with a {meta['margin_m']:g} m margin "
        f"(buffered in EPSG:32651): lon {b[0]:.4f}–{b[2]:.4f}, lat {b[1]:.4f}–{b[3]:.4f}. "
        "Streets and waterways are cut at that line and line-merged per name; buildings, places "
        "and admin areas are kept whole when their point lies inside (admin: inside the "
        "districts themselves).",
        f"- Each feature's `source`: `{meta['source']}`.",
        *rows,
        BLOCK_END,
        "",
    ])


# --------------------------------------------------------------------------- entry point


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _load_districts(sources_dir: Path) -> dict[str, BaseGeometry]:
    path = sources_dir / DISTRICTS_FILE
    try:
        frame = read_geojson(path)
    except GeoJSONError as exc:
        raise OsmExtractError(f"district polygons: {exc}") from None
    if "slug" not in frame.columns:
        raise OsmExtractError(f"{path}: features have no 'slug' property")
    out = {}
    for slug, name in DISTRICTS.items():
        rows = frame[frame["slug"] == slug]
        if rows.empty or rows.geometry.iloc[0] is None:
            raise OsmExtractError(f"{path}: no feature with slug '{slug}' ({name})")
        geom = rows.geometry.iloc[0]
        out[name] = geom if geom.is_valid else shapely.make_valid(geom)
    return out


def _fmt_bbox(b) -> str:
    return f"lon {b[0]:.4f}–{b[2]:.4f}, lat {b[1]:.4f}–{b[3]:.4f}"


def refresh_osm(extract: str | Path, out_dir: str | Path = SOURCES_DIR,
                sources_dir: str | Path = SOURCES_DIR, margin_m: float = DEFAULT_MARGIN_M,
                log: Callable[[str], None] = lambda m: None) -> list[Path]:
    """Read ``extract``, write the five OSM files + the SOURCES.md block into ``out_dir``;
    return the paths written. ``log`` gets one line per file kept."""
    extract, out_dir, sources_dir = Path(extract), Path(out_dir), Path(sources_dir)
    if not (isinstance(margin_m, (int, float)) and math.isfinite(margin_m) and margin_m >= 0):
        raise OsmExtractError(f"--margin-m must be a number >= 0, got {margin_m}")
    if not extract.exists():
        raise OsmExtractError(f"{extract}: no such file")
    if not extract.is_file():
        raise OsmExtractError(f"{extract}: not a file")
    if extract.stat().st_size == 0:
        raise OsmExtractError(f"{extract}: empty file, no OSM data")

    region = _Region(_load_districts(sources_dir), float(margin_m))
    read = _read_extract(extract, region)
    if read.n_objects == 0:
        raise OsmExtractError(f"{extract}: no OSM data (no named, addressed or boundary object)")
    if not read.in_region:
        box = read.header_box or tuple(read.bbox)
        raise OsmExtractError(
            f"{extract}: wrong region: no object within 长宁区 + 静安区 (+{margin_m:g} m); "
            f"extract bbox {_fmt_bbox(box)}, districts bbox {_fmt_bbox(region.districts_bounds)}")

    if read.header_ts:
        timestamp, ts_from = read.header_ts
    elif read.newest is not None:
        timestamp, ts_from = _iso(read.newest), "newest object timestamp in the file"
    else:
        timestamp, ts_from = "unknown", "no header timestamp and no object timestamps"
    date = timestamp[:10] if timestamp != "unknown" else None
    sha256 = _sha256(extract)
    source = f"{extract.name}@{timestamp}"
    meta = {"file": extract.name, "sha256": sha256, "timestamp": timestamp,
            "timestamp_from": ts_from, "margin_m": float(margin_m), "source": source,
            "clip_bbox": region.bounds}

    feats = {
        "streets": _street_features(read, region, source),
        "places": [_feature({**p, "source": source}, g) for p, g in _dedupe(read.places)],
        "buildings": [_feature({**p, "source": source}, g) for p, g in _dedupe(read.buildings)],
        "admin": _admin_features(read, region, source, date, sha256),
        "waterways": _waterway_features(read, region, source),
    }
    counts = {k: len(v) for k, v in feats.items()}
    kept = {k: counts[k] == 0 and (out_dir / FILES[k]).is_file() for k in FILES}

    sources_md = out_dir / "SOURCES.md"
    try:
        old_md = sources_md.read_text(encoding="utf-8") if sources_md.is_file() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise OsmExtractError(f"{sources_md}: unreadable ({exc})") from None
    new_md = _replace_block(old_md, _block(meta, counts, kept))

    docs: dict[Path, str] = {}
    clip = {"districts": list(DISTRICTS.values()), "margin_m": float(margin_m),
            "bbox": [round(v, 6) for v in region.bounds]}
    description = (f"OpenStreetMap extract {extract.name}, timestamp {timestamp} ({ts_from}), "
                   f"sha256 {sha256}")
    for kind, fname in FILES.items():
        if not counts[kind]:
            continue
        doc = {"type": "FeatureCollection", "name": kind, "crs": CRS84, "license": LICENSE}
        if kind == "waterways":
            doc["derived"] = False
        doc.update(sources={source: description}, clip=clip, written_by="parkmap sources osm",
                   features=feats[kind])
        docs[out_dir / fname] = dumps(doc) + "\n"
    docs[sources_md] = new_md

    out_dir.mkdir(parents=True, exist_ok=True)
    tmps = []
    try:
        for path, text in docs.items():
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmps.append((tmp, path))
            tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        for tmp, _ in tmps:
            tmp.unlink(missing_ok=True)
        raise OsmExtractError(f"cannot write into {out_dir}: {exc.strerror or exc}") from None
    for tmp, path in tmps:
        os.replace(tmp, path)
    for kind, fname in FILES.items():
        if not counts[kind]:
            what = "kept the existing file" if kept[kind] else "nothing written (no existing file)"
            log(f"{out_dir / fname}: no {kind} feature in {extract.name}; {what}")
    return [path for _, path in tmps]

"""Placing named places from evidence: never a typed coordinate, always a computed one.

A place's ``placement`` (data/sources/places.csv) is one or more alternatives separated by
``||``, tried in order; the first that works places it, and the basis says why earlier ones
failed. Alternatives:

- ``correction:<place id>``      a location accepted from a suggestion (place_corrections.csv;
                                 added first, by the build, for every place that has one)
- ``address:<路><号>``           a sourced street address found in OSM (layers/addresses.py):
                                 building when an OSM object carries it, street when numbered
                                 neighbours on the same side bracket it (interpolated)
- ``osm:<name>``                 OSM named place with exactly that name          -> building
- ``research:<name_zh>``         sourced point of places_research.csv (its own confidence)
- ``cross:<street>&<street>``    crossing of two named OSM streets/roads          -> street
- ``on:<street>@<osm place>``    point of the street nearest to a named place     -> street
- ``polygon:N=a+b;E=c;S=d;W=e``  polygon enclosed by the named streets (四至; a side may be a
                                 named waterway)                                   -> street
- ``area:<ref>``                 representative point of a containing area        -> area
                                 (``zone=<east|central|west>``, ``subdistrict=<街道/镇>``,
                                 ``layout=<jingan_layout id>``, ``place=<id>``, ``district=<slug>``)
- ``none:<reason>``              not located: null geometry                       -> unlocated

All geometry work happens in METRIC_CRS; results are returned in lon/lat.
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
from shapely import polygonize, unary_union
from shapely import wkt as shapely_wkt
from shapely.geometry import MultiPoint, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from geo.crs import METRIC_CRS, geom_from_metric
from geo.errors import ParkmapError
from layers.addresses import AddressError, AddressIndex

CROSSING_SPREAD_M = 150.0  # dual carriageways cross in up to 4 points; farther apart = ambiguous
SAME_PLACE_SPREAD_M = 150.0  # same-name OSM places farther apart than this are different places
ANCHOR_MAX_M = 400.0  # "on a street near X": the street must pass this close to X
SIDE_TOUCH_M = 40.0  # each 四至 street must run along the polygon's edge within this distance
SIDE_MIN_LENGTH_M = 100.0


class PlacementError(ParkmapError):
    """One placement alternative could not be used; the message says why (goes into basis)."""


@dataclass(frozen=True)
class Area:
    """An area a place may be placed within (``area:<ref>``): lon/lat geometry and names."""
    geometry: BaseGeometry | None
    name_zh: str
    name_en: str


@dataclass
class Placement:
    geometry: BaseGeometry | None  # lon/lat; None when unlocated
    confidence: str  # building | street | area | unlocated
    basis: str
    area_ref: str | None = None  # the containing area used, for area placements
    within: Area | None = None  # that area: what an area ring stands for
    fallback: bool = False  # an earlier (better) alternative failed


# --- geometric helpers (METRIC_CRS in, METRIC_CRS out) ---------------------------------

def crossing(a: BaseGeometry, b: BaseGeometry, spread_m: float = CROSSING_SPREAD_M) -> Point | None:
    """Where two streets cross, or None if they do not (or cross in places too far apart)."""
    inter = a.intersection(b)
    if inter.is_empty:
        return None
    pts = MultiPoint([p for g in getattr(inter, "geoms", [inter])
                      for p in (g.coords if g.geom_type in ("Point", "LineString") else [])])
    if pts.is_empty:
        return None
    minx, miny, maxx, maxy = pts.bounds
    if max(maxx - minx, maxy - miny) > spread_m:
        return None  # they meet at several far-apart places: which one is meant is unknown
    return pts.centroid


def point_on_street(street: BaseGeometry, anchor: BaseGeometry,
                    max_m: float = ANCHOR_MAX_M) -> Point | None:
    """The street's point nearest to ``anchor``; None if the street never comes within max_m."""
    on_street = nearest_points(street, anchor)[0]
    return on_street if on_street.distance(anchor) <= max_m else None


def polygon_from_streets(sides: dict[str, BaseGeometry]) -> Polygon:
    """The block enclosed by the 四至 streets (side label -> street lines).

    The lines are noded and polygonized; the largest face and the faces touching it (strips
    between dual carriageways) are merged. Every side must run along the result, or it is not
    the block the 四至 describes.
    """
    lines = unary_union(list(sides.values()))
    faces = list(polygonize(list(getattr(lines, "geoms", [lines]))).geoms)
    if not faces:
        raise PlacementError("the named streets do not enclose any block")
    core = max(faces, key=lambda f: f.area)
    block = unary_union([f for f in faces if f.intersects(core)])
    if block.geom_type != "Polygon":
        raise PlacementError("the named streets enclose more than one block")
    block = Polygon(block.exterior)
    edge = block.exterior.buffer(SIDE_TOUCH_M)
    loose = [label for label, g in sides.items() if g.intersection(edge).length < SIDE_MIN_LENGTH_M]
    if loose:
        raise PlacementError(f"side(s) {', '.join(loose)} do not bound the enclosed block")
    return block


# --- the placer: resolves placement alternatives against the sources ---------------------

class Placer:
    """Places rows of places.csv using the sources and the areas available to refer to.

    ``streets``: frame with ``name`` (and optionally ``file``, the source it came from),
    ``named``: OSM named places, ``research``: places_research.csv rows, ``areas``: ref ->
    Area, e.g. "zone=east" -> Area(polygon, "东部中山公园地区…", "East: …"), ``addresses``: an
    AddressIndex, ``corrections``: place id -> its accepted corrections (place_corrections.csv
    rows, oldest first; the newest counts).
    """

    def __init__(self, streets: gpd.GeoDataFrame, named: gpd.GeoDataFrame,
                 research: list[dict], areas: dict[str, Area],
                 addresses: AddressIndex | None = None,
                 corrections: dict[str, list[dict]] | None = None):
        self.streets = streets.to_crs(METRIC_CRS)
        if "file" not in self.streets.columns:
            self.streets["file"] = "streets"
        self.named = named.to_crs(METRIC_CRS)
        self.research = {r["name_zh"]: r for r in research}
        self.areas = dict(areas)
        self.addresses = addresses
        self.corrections = corrections or {}
        self.street_source = " / ".join(dict.fromkeys(self.streets["file"]))

    def street(self, name: str) -> BaseGeometry:
        hit = self.streets[self.streets["name"] == name]
        if hit.empty:
            raise PlacementError(f"street {name} is not in {self.street_source}")
        return hit.geometry.union_all()

    def files(self, *names: str) -> str:
        """The source file(s) the named streets come from, for the basis."""
        hit = self.streets[self.streets["name"].isin(names)]
        return ", ".join(dict.fromkeys(hit["file"]))

    def named_place(self, name: str) -> Point:
        hit = self.named[self.named["name"] == name]
        if hit.empty:
            raise PlacementError(f"no OSM named place «{name}» in {PLACES_OSM}")
        pts = MultiPoint(list(hit.geometry))
        minx, miny, maxx, maxy = pts.bounds
        if max(maxx - minx, maxy - miny) > SAME_PLACE_SPREAD_M:
            raise PlacementError(f"{len(hit)} OSM places named «{name}» lie far apart")
        return pts.centroid

    def place(self, spec: str) -> Placement:
        """Try the ``||``-separated alternatives in order."""
        failures = []
        for alt in [a.strip() for a in spec.split("||") if a.strip()]:
            try:
                p = self._one(alt)
            except PlacementError as exc:
                failures.append(str(exc))
                continue
            if failures:
                p.basis = f"{'; '.join(failures)}. Instead: {p.basis}"
                p.fallback = True
            return p
        raise PlacementError("no placement alternative worked: " + "; ".join(failures))

    def _one(self, alt: str) -> Placement:
        method, _, arg = alt.partition(":")
        handler = getattr(self, f"_{method.strip()}", None)
        if handler is None or not arg.strip():
            raise ValueError(f"bad placement {alt!r} (see layers/places.py for the forms)")
        return handler(arg.strip())

    def _correction(self, place_id: str) -> Placement:
        found = self.corrections.get(place_id)
        if not found:
            raise ValueError(f"correction:{place_id}: no accepted correction for this place")
        c = found[-1]
        quote = f"; «{c['quote']}»" if c.get("quote") else ""
        url = c.get("source_url") or "no URL"
        return Placement(shapely_wkt.loads(c["wkt"]), c["precision"],
                         f"correction accepted {c['accepted_at']} by {c['accepted_by']} "
                         f"(suggestion {c['suggestion_id']}, {CORRECTIONS_FILE}): source {url}"
                         f"{quote}")

    def _address(self, address: str) -> Placement:
        if self.addresses is None:
            raise PlacementError(f"address {address}: no address data")
        try:
            found = self.addresses.locate(address)
        except AddressError as exc:
            raise PlacementError(str(exc)) from None
        return Placement(found.geometry, found.confidence, f"address {address}: {found.basis}")

    def _osm(self, name: str) -> Placement:
        return Placement(geom_from_metric(self.named_place(name)), "building",
                         f"OSM named place «{name}» ({PLACES_OSM})")

    def _research(self, name: str) -> Placement:
        row = self.research.get(name)
        if row is None:
            raise ValueError(f"places_research.csv has no row named {name!r}")
        if not row.get("lon_wgs84") or not row.get("lat_wgs84"):
            raise PlacementError(f"places_research.csv gives no point for {name}")
        if row["confidence"] not in ("building", "street"):
            raise PlacementError(f"places_research.csv rates its point for {name} {row['confidence']!r}")
        pt = Point(float(row["lon_wgs84"]), float(row["lat_wgs84"]))
        datum = "" if row["datum"] == "WGS84" else f", converted from {row['datum']}"
        return Placement(pt, row["confidence"],
                         f"sourced point (places_research.csv{datum}): {row['address']}; "
                         f"source: {row['source']}")

    def _cross(self, arg: str) -> Placement:
        a, sep, b = arg.partition("&")
        if not sep:
            raise ValueError(f"cross:{arg}: expected two streets joined by &")
        a, b = a.strip(), b.strip()
        pt = crossing(self.street(a), self.street(b))
        if pt is None:
            raise PlacementError(f"{a} and {b} do not cross in {self.street_source}")
        return Placement(geom_from_metric(pt), "street",
                         f"crossing of the OSM streets {a} and {b} ({self.files(a, b)})")

    def _on(self, arg: str) -> Placement:
        name, sep, anchor = arg.partition("@")
        if not sep:
            raise ValueError(f"on:{arg}: expected <street>@<OSM place>")
        name, anchor = name.strip(), anchor.strip()
        pt = point_on_street(self.street(name), self.named_place(anchor))
        if pt is None:
            raise PlacementError(f"{name} does not pass within {ANCHOR_MAX_M:.0f} m of «{anchor}»")
        return Placement(geom_from_metric(pt), "street",
                         f"on {name} ({self.files(name)}), at its point nearest to the OSM "
                         f"named place «{anchor}»")

    def _polygon(self, arg: str) -> Placement:
        sides, missing = {}, []
        for part in arg.split(";"):
            label, _, names = part.partition("=")
            geoms = []
            for n in [n.strip() for n in names.split("+") if n.strip()]:
                try:
                    geoms.append(self.street(n))
                except PlacementError:
                    missing.append(n)
            if geoms:
                sides[label.strip()] = unary_union(geoms)
        if missing:
            raise PlacementError(f"四至 street(s) {', '.join(missing)} not in {self.street_source}, "
                                 "so the polygon cannot be drawn along them")
        block = polygon_from_streets(sides)
        return Placement(geom_from_metric(block), "street",
                         f"polygon enclosed by the 四至 streets {arg} ({self.street_source})")

    def _area(self, ref: str) -> Placement:
        if ref not in self.areas:
            raise ValueError(f"area:{ref}: unknown area (known: {', '.join(self.areas)})")
        area = self.areas[ref]
        geom = area.geometry
        if geom is None or geom.is_empty:
            raise PlacementError(f"area {area.name_zh} is itself not located")
        pt = geom.representative_point() if geom.geom_type != "Point" else geom
        return Placement(pt, "area", f"within {area.name_zh}: placed at its representative point "
                                     "(only the containing area is known)", area_ref=ref,
                         within=area)

    def _none(self, reason: str) -> Placement:
        return Placement(None, "unlocated", f"not located: {reason}")


# --- the curated table data/sources/places.csv -----------------------------------------

PLACES_FILE = "places.csv"
PLACES_OSM = "osm_places.geojson"
BUILDINGS_OSM = "osm_buildings.geojson"
WATERWAYS_OSM = "osm_waterways.geojson"
CORRECTIONS_FILE = "place_corrections.csv"
CORRECTION_COLUMNS = ("place_id", "wkt", "precision", "source_url", "quote", "note",
                      "suggestion_id", "accepted_by", "accepted_at")
PRECISIONS = ("building", "street")  # what a correction may claim
PLACE_COLUMNS = ("id", "name_zh", "name_en", "kind", "district", "themes", "role", "source",
                 "passage_doc", "passage", "named_in", "year", "placement", "evidence",
                 "area_km2_official", "layer")
SEED_FILES = {"000": "seeds/000_ad1da9f858ca9f7a.txt", "001": "seeds/001_5c8107f7adb55706.txt",
              "003": "seeds/003_49581f62cfd03bd6.txt", "004": "seeds/004_1374ff59fa2fbedd.txt"}
SEED_YEAR = {"000": 2021, "003": 2021, "001": 2020, "004": 2024}  # year each plan first names things
STREET_FILES = ("osm_streets.geojson", "roads_rivers.geojson")


def read_places(ctx, layer: str) -> list[dict]:
    """The rows of places.csv for ``layer``, validated against the seeds and the vocabulary."""
    from layers.sources import SourceError
    from layers.themes import UnknownTheme, parse_themes

    rows = ctx.csv(PLACES_FILE, required=PLACE_COLUMNS)
    seeds = {doc: ctx.text(path) for doc, path in SEED_FILES.items()}
    problems, seen = [], set()
    for r in rows:
        where = f"{PLACES_FILE} {r['id'] or '(no id)'}"
        if not r["id"].isascii() or not r["id"] or r["id"] in seen:
            problems.append(f"{where}: id must be ascii and unique")
        seen.add(r["id"])
        try:
            r["themes"] = parse_themes(r["themes"], where)
        except UnknownTheme as exc:
            problems.append(str(exc))
        named = [d for d in r["named_in"].split(";") if d]
        if not named or any(d not in SEED_YEAR for d in named):
            problems.append(f"{where}: named_in {r['named_in']!r} must list seed ids {sorted(SEED_YEAR)}")
        elif str(min(SEED_YEAR[d] for d in named)) != r["year"]:
            problems.append(f"{where}: year {r['year']} is not the first year of {r['named_in']}")
        if r["passage_doc"] not in seeds or r["passage"] not in seeds[r["passage_doc"]]:
            problems.append(f"{where}: passage not found verbatim in seed {r['passage_doc']}")
        if r["passage_doc"] not in named:
            problems.append(f"{where}: passage_doc {r['passage_doc']} not in named_in")
    if problems:
        raise SourceError(f"{len(problems)} problem(s) in {PLACES_FILE}: " + "; ".join(problems))
    return [r for r in rows if r["layer"] == layer]


def street_frame(ctx) -> gpd.GeoDataFrame:
    """Named OSM streets, roads and waterways (a 四至 side may be a river) in one frame:
    columns name, file."""
    osm = ctx.geojson(STREET_FILES[0], required=("name",))[["name", "geometry"]].assign(file=STREET_FILES[0])
    roads = ctx.geojson(STREET_FILES[1], required=("name_zh",)).rename(columns={"name_zh": "name"})
    roads = roads[["name", "geometry"]].assign(file=STREET_FILES[1])
    water = ctx.geojson(WATERWAYS_OSM, required=("name",))[["name", "geometry"]]
    water = water.assign(file=WATERWAYS_OSM)
    return gpd.GeoDataFrame(pd.concat([osm, roads, water], ignore_index=True), crs=osm.crs)


def address_index(ctx) -> AddressIndex:
    """Every addressed OSM place and building, and the streets (layers/addresses.py)."""
    return AddressIndex.from_sources(ctx.geojson(PLACES_OSM, required=("name",)),
                                     ctx.geojson(BUILDINGS_OSM), ctx.geojson(STREET_FILES[0]),
                                     STREET_FILES[0], (PLACES_OSM, BUILDINGS_OSM))


def read_corrections(ctx, place_ids) -> dict[str, list[dict]]:
    """Accepted corrections by place id (place_corrections.csv; oldest first), validated."""
    from layers.sources import SourceError

    rows = ctx.csv(CORRECTIONS_FILE, required=CORRECTION_COLUMNS, allow_empty=True)
    out, problems = {}, []
    for i, r in enumerate(rows, start=2):
        where = f"{CORRECTIONS_FILE} line {i}"
        if r["place_id"] not in place_ids:
            problems.append(f"{where}: unknown place {r['place_id']!r}")
        if r["precision"] not in PRECISIONS:
            problems.append(f"{where}: precision {r['precision']!r} is not one of {PRECISIONS}")
        try:
            g = shapely_wkt.loads(r["wkt"])
            if g.is_empty or not g.is_valid:
                raise ValueError("empty or invalid")
        except Exception as exc:  # shapely raises GEOSException or ValueError
            problems.append(f"{where}: wkt is not a valid geometry ({str(exc)[:60]})")
        if not (r["source_url"] or r["quote"]):
            problems.append(f"{where}: a correction needs a source (source_url or quote)")
        out.setdefault(r["place_id"], []).append(r)
    if problems:
        raise SourceError(f"{len(problems)} problem(s) in {CORRECTIONS_FILE}: " + "; ".join(problems))
    return out


def placer_for(ctx, areas: dict[str, Area]) -> Placer:
    place_ids = {r["id"] for r in ctx.csv(PLACES_FILE, required=("id",))}
    return Placer(street_frame(ctx), ctx.geojson(PLACES_OSM, required=("name",)),
                  ctx.csv("places_research.csv", required=("name_zh", "lon_wgs84", "lat_wgs84")),
                  areas, address_index(ctx), read_corrections(ctx, place_ids))


def place_rows(rows: list[dict], placer: Placer) -> list[tuple[dict, Placement]]:
    """Place every row; rows inside another place (``area:place=<id>``) after that place."""
    from layers.sources import SourceError

    ordered = sorted(rows, key=lambda r: "area:place=" in r["placement"])
    placed = []
    for r in ordered:
        spec = r["placement"]
        if r["id"] in placer.corrections:
            spec = f"correction:{r['id']} || {spec}"
        try:
            p = placer.place(spec)
        except (PlacementError, ValueError) as exc:
            raise SourceError(f"{PLACES_FILE} {r['id']}: {exc}") from None
        placed.append((r, p))
        if p.geometry is not None:
            placer.areas[f"place={r['id']}"] = Area(p.geometry, r["name_zh"], r["name_en"])
    order = {r["id"]: i for i, r in enumerate(rows)}
    return sorted(placed, key=lambda rp: order[rp[0]["id"]])


ADDRESSES_FILE = "places_addresses.csv"


def location_sources(ctx) -> dict[str, dict]:
    """Per place id, the researched source of its location (places_addresses.csv): the page and
    its verbatim quote, shown beside the basis."""
    out = {}
    for r in ctx.csv(ADDRESSES_FILE, required=("id", "quote", "source_url", "source_date")):
        if r["quote"] or r["source_url"]:
            out[r["id"]] = {"location_quote": r["quote"] or None,
                            "location_source": r["source_url"] or None,
                            "location_date": r["source_date"] or None}
    return out


def place_properties(row: dict, p: Placement, sources: dict[str, dict] | None = None) -> dict:
    """Feature properties for a placed row (the contract's plus this layer family's own);
    ``sources``: location_sources()."""
    official = float(row["area_km2_official"]) if row["area_km2_official"] else None
    return {
        "id": row["id"], "name_zh": row["name_zh"], "name_en": row["name_en"], "kind": row["kind"],
        "district": row["district"], "zone": None, "role": row["role"], "source": row["source"],
        "basis": f"{p.basis}. Evidence: {row['evidence']}" if row["evidence"] else p.basis,
        "confidence": p.confidence,
        "approximate": p.confidence == "area" or p.fallback,
        "themes": row["themes"], "passage": row["passage"],
        "named_in": row["named_in"].split(";"), "year": int(row["year"]),
        "area_km2_official": official,
        "area_km2": None, "area_ref": p.area_ref,
        # what an area ring stands for: "somewhere in <within>"
        "within_zh": p.within.name_zh if p.within else None,
        "within_en": p.within.name_en if p.within else None,
        "subdistrict": None, "subdistrict_en": None,
        **(sources or {}).get(row["id"], {"location_quote": None, "location_source": None,
                                          "location_date": None}),
    }


def append_correction(sources_dir, row: dict) -> bool:
    """Add an accepted correction to ``<sources_dir>/place_corrections.csv`` (written whole, then
    renamed into place). False, and nothing written, when that suggestion is there already."""
    path = Path(sources_dir) / CORRECTIONS_FILE
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    rows = list(csv.DictReader(io.StringIO(text))) if text else []
    if any(r.get("suggestion_id") == row["suggestion_id"] for r in rows):
        return False
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CORRECTION_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows([*rows, {c: row.get(c) or "" for c in CORRECTION_COLUMNS}])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    os.replace(tmp, path)
    return True

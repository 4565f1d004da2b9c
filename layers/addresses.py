"""Street addresses (路 + 号) located in our OSM data, never geocoded by a service.

An address is found at

- ``building`` precision when an OSM place or building carries exactly that ``addr:street``
  and an ``addr:housenumber`` that is the number (or a range holding it, on the same side);
- ``street`` precision when the street is in the data and two numbered neighbours on the same
  side (odd or even) bracket the number: the point is interpolated along the street between
  where the two neighbours meet it, and the basis says so;
- otherwise AddressError says why (street missing, no neighbours, neighbours too far apart).

The same ``AddressIndex`` places rows of places.csv at build time (``address:`` placements)
and answers the map's "type an address" box at run time, from the index the build writes
(``addresses.geojson`` beside the layers), so both give the same answer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd
from shapely.geometry.base import BaseGeometry

from geo.crs import METRIC_CRS, STORAGE_CRS, geom_from_metric
from geo.errors import ParkmapError

NEIGHBOUR_MAX_M = 150.0  # an addressed object this far from its street is not "on" it
BRACKET_MAX_M = 1000.0  # neighbours farther apart along the street: too coarse to interpolate
INDEX_NAME = "addresses.geojson"

# "上海市长宁区长宁路1033号" -> ("长宁路", 1033). A street name ends in 路/街/道/弄/巷 (大道, 公路 too).
_ADDRESS = re.compile(r"^(?:上海市?)?(?:\S{1,4}?区)?\s*(?P<street>\S+?(?:路|街|道|弄|巷))\s*"
                      r"(?P<number>\d{1,5})\s*号?$")
_NUMBER = re.compile(r"^\s*(\d{1,5})\s*号?\s*(?:[-–~至]\s*(\d{1,5})\s*号?)?")


class AddressError(ParkmapError):
    """An address that cannot be located in the data; the message says why."""

    status = 404


class AddressFormatError(AddressError):
    """Text that is not a 路+号 address at all."""

    status = 400


def parse_address(text: str) -> tuple[str, int]:
    """``(street, number)`` of a 路+号 address; AddressError naming the expected form."""
    m = _ADDRESS.match(str(text).strip().replace(" ", ""))
    if not m:
        raise AddressFormatError(f"{str(text)[:60]!r} is not a street address of the form 长宁路1033号 "
                           "(street name, then house number)")
    return m.group("street"), int(m.group("number"))


def parse_housenumber(text) -> tuple[int, int] | None:
    """OSM ``addr:housenumber`` as an inclusive range: "934" -> (934, 934), "918-928" ->
    (918, 928), "1609号" and "15甲" -> their leading number; None when it holds no number."""
    if not isinstance(text, str):
        return None
    m = _NUMBER.match(text)
    if not m:
        return None
    a = int(m.group(1))
    b = int(m.group(2)) if m.group(2) else a
    return (a, b) if a <= b else (b, a)


@dataclass(frozen=True)
class Located:
    geometry: BaseGeometry  # lon/lat point
    confidence: str  # building | street
    basis: str


class AddressIndex:
    """Addressed OSM objects (points: ``street``, ``lo``, ``hi``, ``name``, ``kind``, ``file``)
    and named street lines, both in METRIC_CRS."""

    def __init__(self, points: gpd.GeoDataFrame, streets: gpd.GeoDataFrame,
                 street_names: set[str], street_source: str = "osm_streets.geojson"):
        self.points = points.to_crs(METRIC_CRS)
        self.streets = streets.to_crs(METRIC_CRS)  # only streets someone's address is on
        self.street_names = set(street_names)  # every street in the data
        self.street_source = street_source

    @classmethod
    def from_sources(cls, places: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame,
                     streets: gpd.GeoDataFrame, street_source: str = "osm_streets.geojson",
                     files: tuple[str, str] = ("osm_places.geojson", "osm_buildings.geojson")
                     ) -> "AddressIndex":
        """From OSM places (points) and buildings (footprints; their representative point)."""
        rows = []
        for frame, kind, file in ((buildings, "building", files[1]), (places, "place", files[0])):
            if "addr:street" not in frame.columns or "addr:housenumber" not in frame.columns:
                continue
            for _, r in frame[frame["addr:street"].notna()].iterrows():
                rng = parse_housenumber(r["addr:housenumber"])
                g = r.geometry
                if rng is None or g is None or g.is_empty:
                    continue
                pt = g if g.geom_type == "Point" else g.representative_point()
                rows.append({"street": str(r["addr:street"]).strip(), "lo": rng[0], "hi": rng[1],
                             "housenumber": str(r["addr:housenumber"]),
                             "name": r.get("name") if isinstance(r.get("name"), str) else "",
                             "kind": kind, "file": file, "geometry": pt})
        points = gpd.GeoDataFrame(rows, geometry="geometry", crs=STORAGE_CRS) if rows else \
            gpd.GeoDataFrame(columns=["street", "lo", "hi", "housenumber", "name", "kind", "file",
                                      "geometry"], geometry="geometry", crs=STORAGE_CRS)
        # the same object as a building and as a place (its point): keep the building
        points = points.drop_duplicates(subset=["street", "housenumber", "name"])
        named = streets[streets["name"].isin(set(points["street"]))][["name", "geometry"]]
        return cls(points, named, set(streets["name"].dropna()), street_source)

    # --- the built index, for the app ---------------------------------------------------------

    def to_frame(self) -> gpd.GeoDataFrame:
        """One lon/lat frame (``role``): addressed points, the streets they are on, and the
        names of the other streets (no geometry), so the app answers as the build does."""
        pts = self.points.assign(role="point")
        sts = self.streets[["name", "geometry"]].rename(columns={"name": "street"})
        sts = sts.assign(role="street")
        others = sorted(self.street_names - set(sts["street"]))
        names = gpd.GeoDataFrame({"street": others, "role": "name"}, geometry=[None] * len(others),
                                 crs=METRIC_CRS)
        frame = pd.concat([pts, sts, names], ignore_index=True)
        out = gpd.GeoDataFrame(frame, geometry="geometry", crs=METRIC_CRS).to_crs(STORAGE_CRS)
        out["id"] = [f"address-{i}" for i in range(len(out))]
        for col in ("lo", "hi"):
            out[col] = [int(v) if pd.notna(v) else None for v in out[col]]
        return out[["id", "role", "street", "lo", "hi", "housenumber", "name", "kind", "file",
                    "geometry"]]

    @classmethod
    def from_frame(cls, frame: gpd.GeoDataFrame, street_source: str = "osm_streets.geojson"
                   ) -> "AddressIndex":
        pts = frame[frame["role"] == "point"].copy()
        pts["lo"], pts["hi"] = pts["lo"].astype(int), pts["hi"].astype(int)
        sts = frame.loc[frame["role"] == "street", ["street", "geometry"]]
        names = set(frame.loc[frame["role"].isin(["street", "name"]), "street"])
        return cls(pts, sts.rename(columns={"street": "name"}), names, street_source)

    # --- locating -------------------------------------------------------------------------------

    def locate(self, address: str) -> Located:
        street, number = parse_address(address)
        return self.locate_number(street, number)

    def locate_number(self, street: str, number: int) -> Located:
        label = f"{street}{number}号"
        on = self.points[self.points["street"] == street]
        parity = number % 2
        exact = on[(on["lo"] <= number) & (on["hi"] >= number) & (on["lo"] % 2 == parity)]
        if len(exact):
            hit = exact.iloc[0]
            name = f" «{hit['name']}»" if hit["name"] else ""
            return Located(geom_from_metric(hit.geometry), "building",
                           f"OSM {hit['kind']}{name} carries the address "
                           f"{_label(street, hit['housenumber'])} ({hit['file']})")
        if street not in self.street_names:
            raise AddressError(f"{label}: no OSM object carries this address and {street} is not "
                               f"in {self.street_source}")
        lines = self.streets[self.streets["name"] == street]
        side = on[on["lo"] % 2 == parity]
        side_name = "odd" if parity else "even"
        below, above = side[side["hi"] < number], side[side["lo"] > number]
        if below.empty or above.empty:
            known = ", ".join(sorted(side["housenumber"], key=lambda h: parse_housenumber(h)[0]))
            raise AddressError(
                f"{label}: no OSM object carries this address, and no numbered neighbours on the "
                f"{side_name} side of {street} bracket {number} "
                f"({'known: ' + known if known else 'none known'})")
        lo = below.loc[below["hi"].idxmax()]
        hi = above.loc[above["lo"].idxmin()]
        return self._interpolate(street, number, lines, lo, hi, label, side_name)

    def _interpolate(self, street, number, lines, lo, hi, label, side_name) -> Located:
        best = None
        for line in lines.geometry:
            for part in getattr(line, "geoms", [line]):
                d_lo, d_hi = part.distance(lo.geometry), part.distance(hi.geometry)
                if d_lo <= NEIGHBOUR_MAX_M and d_hi <= NEIGHBOUR_MAX_M:
                    if best is None or d_lo + d_hi < best[0]:
                        best = (d_lo + d_hi, part)
        if best is None:
            raise AddressError(f"{label}: the neighbours {_label(street, lo['housenumber'])} and "
                               f"{_label(street, hi['housenumber'])} are not both within "
                               f"{NEIGHBOUR_MAX_M:.0f} m of one piece of {street}")
        part = best[1]
        a, b = part.project(lo.geometry), part.project(hi.geometry)
        if abs(b - a) > BRACKET_MAX_M:
            raise AddressError(f"{label}: the nearest neighbours {lo['housenumber']} and "
                               f"{hi['housenumber']} lie {abs(b - a):.0f} m apart along {street}, "
                               f"more than {BRACKET_MAX_M:.0f} m: too coarse to interpolate")
        span = hi["lo"] - lo["hi"]
        t = (number - lo["hi"]) / span if span else 0.5
        pt = part.interpolate(a + (b - a) * t)
        names = [_label(street, r["housenumber"]) + (f" «{r['name']}»" if r["name"] else "")
                 for r in (lo, hi)]
        return Located(geom_from_metric(pt), "street",
                       f"interpolated on OSM {street} ({self.street_source}) between the "
                       f"{side_name}-numbered neighbours {names[0]} and {names[1]} "
                       f"({abs(b - a):.0f} m apart; the number is not itself in the data)")


def _label(street: str, housenumber: str) -> str:
    return f"{street}{housenumber}" + ("" if str(housenumber).endswith("号") else "号")

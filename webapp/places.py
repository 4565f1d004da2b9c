"""The named places as built, and suggestions of where one is, checked before they are kept.

A suggestion gives a location (a point or footprint, in the datum it was picked in), how
precise it claims to be (building or street), and a source: a URL and/or a quote. It is
refused, with the reason, when the place is unknown (404), the location lies outside the
place's district, or the source is missing. Text stays text: it is stored as given
(normalised, control characters removed), never rendered as HTML or maths anywhere.
"""
from __future__ import annotations

import json
import re
import unicodedata
from typing import Mapping

import shapely
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from geo.crs import geom_to_metric
from geo.datum import convert_geometry
from geo.errors import ParkmapError
from geo.geojson_io import geometry_json
from layers.spec import LayerSpec, Style
from webapp.intake import DraftError, check_datum

LIMIT_DEFAULTS = {
    "SUGGESTION_MAX_BYTES": 20_000,  # one suggestion request body
    "SUGGESTION_MAX_PENDING": 1_000,  # suggestions waiting for review, all places together
    "SUGGESTION_RATE_PER_HOUR": 20,  # suggestions one client may send in an hour
}
TEXT_LIMITS = {"source_url": 500, "quote": 2000, "note": 2000, "contact": 200, "address": 200}
PRECISIONS = ("building", "street")
GEOMETRY_TYPES = ("Point", "Polygon", "MultiPolygon")
MAX_VERTICES = 500
INSIDE_TOLERANCE_M = 30.0  # as `parkmap check`: boundary sources disagree by a few metres
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


class SuggestionError(ParkmapError):
    """A suggestion refused; the message says which field and why."""

    status = 400


class UnknownPlace(ParkmapError):
    status = 404


def parks(store) -> list[tuple[dict, BaseGeometry | None]]:
    """Every park feature as built: (properties, shapely geometry or None when unlocated)."""
    return _features(store, "parks")


def named_places(store) -> dict[str, tuple[dict, BaseGeometry | None]]:
    """Every place the plans name, by id: the parks, and the 一园 of jingan_layout."""
    out = {p["id"]: (p, g) for p, g in parks(store)}
    out.update({p["id"]: (p, g) for p, g in _features(store, "jingan_layout")
                if p.get("kind") == "park"})
    return out


def _features(store, layer_id: str):
    doc = json.loads(store.geojson_text(layer_id))
    return [(f.get("properties") or {}, shape(f["geometry"]) if f.get("geometry") else None)
            for f in doc["features"]]


def get_place(store, place_id: str) -> dict:
    found = named_places(store).get(place_id)
    if found is None:
        raise UnknownPlace(f"unknown place {place_id[:60]!r}; place ids are listed in "
                           "/api/parks.csv")
    return found[0]


def clean_text(value, field: str) -> str | None:
    """User text as plain text: str, NFC, no control characters but newlines and tabs,
    trimmed, within its length limit (SuggestionError beyond it)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise SuggestionError(f"{field}: expected text")
    text = unicodedata.normalize("NFC", value)
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c)[0] != "C").strip()
    limit = TEXT_LIMITS[field]
    if len(text) > limit:
        raise SuggestionError(f"{field}: {len(text)} characters; at most {limit}")
    return text or None


def _geometry(fields: Mapping) -> BaseGeometry:
    raw = fields.get("geometry")
    if raw not in (None, ""):
        try:
            doc = json.loads(raw) if isinstance(raw, str) else raw
            geom = shape(doc)
        except (ValueError, TypeError, KeyError, AttributeError, shapely.errors.GEOSException):
            raise SuggestionError("geometry: not a GeoJSON geometry") from None
        if geom.geom_type not in GEOMETRY_TYPES:
            raise SuggestionError(f"geometry: a {geom.geom_type} is not a location; give a "
                                  f"{', '.join(GEOMETRY_TYPES)}")
        if shapely.get_num_coordinates(geom) > MAX_VERTICES:
            raise SuggestionError(f"geometry: more than {MAX_VERTICES} vertices")
    else:
        values = []
        for key in ("lon", "lat"):
            v = fields.get(key)
            if v in (None, ""):
                raise SuggestionError("give a location: lon and lat (click the map), or a "
                                      "GeoJSON geometry")
            if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                raise SuggestionError(f"{key}: expected a number")
            try:
                values.append(float(v))
            except ValueError:
                raise SuggestionError(f"{key}: {str(v)[:20]!r} is not a number") from None
        geom = Point(values)
    coords = shapely.get_coordinates(geom)
    if geom.is_empty or not coords.size or not (abs(coords) < 1000).all():
        raise SuggestionError("geometry: coordinates must be finite lon/lat degrees")
    if not geom.is_valid:
        raise SuggestionError(f"geometry: invalid ({shapely.is_valid_reason(geom)})")
    return geom


def read_suggestion(fields: Mapping, place: dict, districts) -> dict:
    """Validate a suggestion for ``place`` (its built properties) into the record kept:
    geometry in WGS84 (GeoJSON), the datum it was given in, precision, source and notes.
    ``districts``: the built districts layer (the location must lie in the place's)."""
    try:
        datum = check_datum(fields.get("datum"))
    except DraftError as exc:
        raise SuggestionError(f"datum: {exc}") from None
    precision = fields.get("precision")
    if precision not in PRECISIONS:
        raise SuggestionError(f"precision: {str(precision)[:20]!r} is not one of "
                              f"{', '.join(PRECISIONS)} (how exactly the location is known)")
    text = {k: clean_text(fields.get(k), k) for k in TEXT_LIMITS}
    if text["source_url"] and not _URL.match(text["source_url"]):
        raise SuggestionError("source_url: not an http(s) URL")
    if not (text["source_url"] or text["quote"]):
        raise SuggestionError("give a source: the page it is from (source_url) and/or a quote "
                              "saying where it is")
    wgs = convert_geometry(_geometry(fields), datum, "WGS84")
    district = districts[districts["district"] == place.get("district")]
    if district.empty:
        raise SuggestionError(f"{place['id']} has no district to check the location against")
    inside = geom_to_metric(district.geometry.iloc[0]).buffer(INSIDE_TOLERANCE_M)
    if not geom_to_metric(wgs).within(inside):
        c = wgs.representative_point()
        raise SuggestionError(
            f"the location ({c.x:.5f}, {c.y:.5f} in WGS84) is outside "
            f"{district['name_zh'].iloc[0]} ({district['name_en'].iloc[0]}), where "
            f"{place['name_zh']} is; check the point, and the datum ({datum} was stated: "
            "GCJ-02 if it was picked on Amap or Tencent maps)")
    return {"place_id": place["id"], "place_name_zh": place.get("name_zh"),
            "place_name_en": place.get("name_en"), "geometry": geometry_json(wgs),
            "datum": datum, "precision": precision, **text}


# How a suggestion is drawn in the review figure (not a registry layer).
SUGGESTION_LAYER = LayerSpec(
    id="suggestion",
    title_zh="建议位置",
    title_en="Suggested location",
    description_zh="他人建议的位置（待审核）。",
    description_en="A location suggested by someone (pending review).",
    sources=(),
    attribution="suggestion",
    license="as suggested",
    styles={"suggestion": Style("建议位置", "Suggested location", "point", color="#b71c1c",
                                weight=3, fill_color="#e53935", fill_opacity=0.9, radius=8)},
    build=lambda ctx: None,
    group="plan",
)

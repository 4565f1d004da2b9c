"""Query parameters of /ogc requests, checked: a bad one is a 400 in the OGC exception format
(never a 500), an unknown one too (OGC API - Features Part 1, /req/core/query-param-unknown)."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import shapely
from flask import current_app, request

from webapp.ogc.catalogue import Features, OGCError

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CRS84H = "http://www.opengis.net/def/crs/OGC/0/CRS84h"
FORMATS = ("json", "html")
COMMON = ("f", "lang")
ITEMS = (*COMMON, "limit", "offset", "bbox", "bbox-crs", "datetime")
# RFC 3339 date-time, or an interval of two (either end open: ".." or empty)
_INSTANT = r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}))?"
_DATETIME = re.compile(rf"^(?:{_INSTANT}|(?:{_INSTANT}|\.\.)?/(?:{_INSTANT}|\.\.)?)$", re.I)


class InvalidParameter(OGCError):
    status, code = 400, "InvalidParameterValue"


def check_known(allowed) -> None:
    """400 for a parameter this request does not take (each named once)."""
    lang()
    for name in request.args:
        if name not in allowed:
            raise InvalidParameter(f"unknown query parameter {name[:40]!r}; this request takes: "
                                   + ", ".join(allowed))
    for name in allowed:
        if len(request.args.getlist(name)) > 1:
            raise InvalidParameter(f"query parameter {name!r} given more than once")


def lang() -> str:
    value = request.args.get("lang", "zh")
    if value not in ("zh", "en"):
        raise InvalidParameter(f"lang={value[:20]!r} is not allowed; use zh or en")
    return value


def output_format(choices=("json", "html")) -> str:
    """``f`` (json|html) when given, else the Accept header: HTML for browsers, JSON for
    everyone else (JSON is the default)."""
    f = request.args.get("f")
    if f is not None:
        if f not in choices:
            raise InvalidParameter(f"f={f[:20]!r} is not a format here; use one of: "
                                   + ", ".join(choices))
        return f
    best = request.accept_mimetypes.best_match(
        ["application/json", "application/geo+json", "application/schema+json",
         "application/vnd.oai.openapi+json", "text/html"], default="application/json")
    return "html" if best == "text/html" and "html" in choices else "json"


def _integer(name: str, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"\s*\+?\d{1,12}\s*", raw):
        raise InvalidParameter(f"{name}={raw[:20]!r} is not a whole number")
    value = int(raw)
    if value < minimum:
        raise InvalidParameter(f"{name}={value} is too small; the least is {minimum}")
    if maximum is not None and value > maximum:
        raise InvalidParameter(f"{name}={value} is over the maximum of {maximum} (OGC_MAX_LIMIT); "
                               "page with offset and the next links")
    return value


def limits() -> tuple[int, int]:
    """(default, maximum) items per page: the settings OGC_DEFAULT_LIMIT and OGC_MAX_LIMIT."""
    maximum = max(1, int(current_app.config["OGC_MAX_LIMIT"]))
    return min(max(1, int(current_app.config["OGC_DEFAULT_LIMIT"])), maximum), maximum


def _bbox() -> tuple[float, float, float, float] | None:
    raw = request.args.get("bbox")
    if raw is None:
        return None
    crs = request.args.get("bbox-crs", CRS84)
    if crs not in (CRS84, CRS84H):
        raise InvalidParameter(f"bbox-crs={crs[:80]!r} is not supported; the only one is {CRS84}")
    parts = raw.split(",")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        nums = []
    if len(parts) not in (4, 6) or len(nums) != len(parts) or not all(map(math.isfinite, nums)):
        raise InvalidParameter(f"bbox={raw[:60]!r}: give 4 numbers (min lon, min lat, max lon, "
                               "max lat) or 6 (with min and max height), comma-separated")
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    minx, miny, maxx, maxy = nums
    if minx > maxx or miny > maxy:
        raise InvalidParameter(f"bbox={raw[:60]!r}: a minimum is greater than its maximum "
                               "(boxes across the antimeridian are not supported)")
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InvalidParameter(f"bbox={raw[:60]!r}: longitudes are -180..180, latitudes -90..90")
    return minx, miny, maxx, maxy


def _datetime() -> None:
    raw = request.args.get("datetime")
    if raw is not None and not _DATETIME.fullmatch(raw.strip()):
        raise InvalidParameter(f"datetime={raw[:40]!r} is not an RFC 3339 date-time or interval")


@dataclass(frozen=True)
class ItemsQuery:
    limit: int
    offset: int
    bbox: tuple[float, float, float, float] | None
    filters: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, feats: Features) -> "ItemsQuery":
        """The request's items query against a collection (its filterable properties)."""
        check_known((*ITEMS, *feats.values))
        default, maximum = limits()
        limit = _integer("limit", default, 1, maximum)
        offset = _integer("offset", 0, 0)
        bbox = _bbox()
        _datetime()  # checked; our features carry no time, so it restricts nothing
        filters = tuple((name, request.args[name]) for name in feats.values if name in request.args)
        return cls(limit, offset, bbox, filters)

    def matches(self, feats: Features) -> np.ndarray:
        """Indices of the features that pass the bbox and property filters, in order."""
        keep = np.ones(len(feats.ids), dtype=bool)
        for name, value in self.filters:
            keep &= feats.values[name] == value
        if self.bbox is not None:
            box = shapely.box(*self.bbox)
            located = np.array([g is not None for g in feats.geometries], dtype=bool)
            hit = np.zeros(len(feats.ids), dtype=bool)
            hit[located] = shapely.intersects(feats.geometries[located].astype(object), box)
            keep &= hit
        return np.flatnonzero(keep)

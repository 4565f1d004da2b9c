"""Split a polygon into pieces along lines (roads, rivers) without gaps or overlaps.

The polygon's boundary and the lines are noded together and polygonized; the faces inside
the polygon are the pieces. Parts of a line outside the polygon, and lines that stop short
of the boundary (dangles), cut nothing: a line must cross the polygon from edge to edge.
"""
from __future__ import annotations

from shapely import polygonize, unary_union
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry


class SplitError(ValueError):
    """The lines do not cut the polygon the way the caller requires."""


def split_polygon(polygon: Polygon | MultiPolygon, *lines: BaseGeometry) -> list[Polygon]:
    """Pieces of ``polygon`` cut by ``lines``, largest first; their union is ``polygon``."""
    if polygon.is_empty or not polygon.is_valid:
        raise SplitError("cannot split an empty or invalid polygon")
    noded = unary_union([polygon.boundary, *lines])  # nodes every crossing
    faces = polygonize(list(getattr(noded, "geoms", [noded]))).geoms
    pieces = [f for f in faces if polygon.contains(f.representative_point())]
    return sorted(pieces, key=lambda p: p.area, reverse=True)


def split_in_two(polygon: Polygon | MultiPolygon, line: BaseGeometry,
                 axis: str = "x") -> tuple[Polygon, Polygon]:
    """The two pieces of ``polygon`` cut by ``line``, ordered by their centroids along ``axis``.

    ``axis="x"``: (western, eastern) for a line crossing north-south; ``axis="y"``: (southern,
    northern) for a line crossing east-west. Raises SplitError unless there are exactly two pieces.
    """
    pieces = split_polygon(polygon, line)
    if len(pieces) != 2:
        raise SplitError(f"line cuts the polygon into {len(pieces)} piece(s), expected 2")
    key = {"x": lambda p: p.centroid.x, "y": lambda p: p.centroid.y}[axis]
    low, high = sorted(pieces, key=key)
    return low, high

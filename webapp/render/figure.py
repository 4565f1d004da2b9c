"""Static figures (PNG, SVG) of built layers with matplotlib, styled from the layer registry.

Drawn in EPSG:32651 (metres) with equal aspect, so the scale bar is true; the north arrow
points to true north (UTM grid north differs by the meridian convergence, about 0.8° here).
Leaflet sizes are CSS pixels (1/96 in) and become points (1/72 in) on paper: 1 px = 0.75 pt.
No pyplot: each render owns its Figure, so concurrent requests do not share state.
"""
from __future__ import annotations

import io
import math
import textwrap
import threading
import time
from dataclasses import dataclass, field, replace
from functools import cached_property

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib import patheffects
from pyproj import Transformer

from geo.crs import METRIC_CRS, STORAGE_CRS
from geo.errors import ParkmapError
from layers.spec import LayerSpec, Style
from webapp.render.fonts import cjk_font

PX_TO_PT = 0.75
MM_PER_INCH = 25.4
FORMATS = ("png", "svg")
LANGS = ("zh", "en")
# A4 landscape at 300 dpi: a full-page figure, or scaled to the text width of a portrait page.
DEFAULT_WIDTH_MM, DEFAULT_HEIGHT_MM, DEFAULT_DPI = 297.0, 210.0, 300
SIZE_RANGE_MM = (40.0, 1189.0)  # up to the long side of A0
DPI_RANGE = (50, 600)
MAX_PIXELS = 40_000_000  # A2 at 300 dpi or A4 at 600 fit; bounds memory and time per request
PAD = 0.04  # fraction of the data extent added around it


class FigureParamError(ParkmapError):
    """A size, resolution, language or format a figure cannot be made with."""

    status = 400


@dataclass(frozen=True)
class FigureOptions:
    width_mm: float = DEFAULT_WIDTH_MM
    height_mm: float = DEFAULT_HEIGHT_MM
    dpi: int = DEFAULT_DPI
    lang: str = "zh"
    fmt: str = "png"

    def __post_init__(self):
        lo, hi = SIZE_RANGE_MM
        for name in ("width_mm", "height_mm"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                raise FigureParamError(f"{name.split('_')[0]} must be {lo:g}-{hi:g} mm, got {v!r}")
        if not isinstance(self.dpi, int) or not DPI_RANGE[0] <= self.dpi <= DPI_RANGE[1]:
            raise FigureParamError(f"dpi must be an integer {DPI_RANGE[0]}-{DPI_RANGE[1]}, "
                                   f"got {self.dpi!r}")
        if self.pixels[0] * self.pixels[1] > MAX_PIXELS:
            raise FigureParamError(f"{self.pixels[0]}x{self.pixels[1]} px is more than "
                                   f"{MAX_PIXELS // 1_000_000} megapixels; lower the size or dpi")
        if self.lang not in LANGS:
            raise FigureParamError(f"lang must be one of {', '.join(LANGS)}, got {self.lang!r}")
        if self.fmt not in FORMATS:
            raise FigureParamError(f"format must be one of {', '.join(FORMATS)}, got {self.fmt!r}")

    @property
    def pixels(self) -> tuple[int, int]:
        """PNG size in pixels: the size in mm at this dpi, rounded."""
        return (round(self.width_mm / MM_PER_INCH * self.dpi),
                round(self.height_mm / MM_PER_INCH * self.dpi))

    @property
    def inches(self) -> tuple[float, float]:
        """Figure size, nudged to whole pixels (matplotlib truncates fractional ones)."""
        w, h = self.pixels
        return w / self.dpi, h / self.dpi


@dataclass
class Item:
    """One layer (or a draft styled like one) to draw: its spec and its features (EPSG:4326)."""
    spec: LayerSpec
    frame: gpd.GeoDataFrame
    labels: bool = True  # label its polygons and points (not its lines)

    @cached_property
    def metric(self) -> gpd.GeoDataFrame:
        """The located features in METRIC_CRS, projected once per render (the legend, the
        drawing and the labels all need them)."""
        return located(self.frame).to_crs(METRIC_CRS)


@dataclass
class Panel:
    title_zh: str
    title_en: str
    items: list[Item]
    # (minx, miny, maxx, maxy) in METRIC_CRS; None: the located features of non-context items
    extent: tuple[float, float, float, float] | None = None


@dataclass
class Content:
    """What a figure shows: a title, one panel per map (two for a comparison), extra notes."""
    title_zh: str
    title_en: str
    panels: list[Panel]
    notes_zh: list[str] = field(default_factory=list)
    notes_en: list[str] = field(default_factory=list)


def _pick(obj, lang: str, attr: str) -> str:
    return getattr(obj, f"{attr}_{lang}")


# --- geometry helpers -------------------------------------------------------------------

def located(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    geoms = frame.geometry
    return frame[geoms.notna() & ~geoms.is_empty]


def metric_extent(items: list[Item]) -> tuple[float, float, float, float]:
    """Bounds (metres) of the located features of the non-context items (else of all)."""
    frames = [located(it.frame) for it in items if it.spec.group != "context"]
    frames = [f for f in frames if len(f)] or [located(it.frame) for it in items]
    return frames_extent(frames)


def frames_extent(frames) -> tuple[float, float, float, float]:
    frames = [located(f) for f in frames]
    frames = [f for f in frames if len(f)]
    if not frames:
        raise FigureParamError("nothing to draw: no feature has a location")
    bounds = [f.to_crs(METRIC_CRS).total_bounds for f in frames]
    minx, miny = min(b[0] for b in bounds), min(b[1] for b in bounds)
    maxx, maxy = max(b[2] for b in bounds), max(b[3] for b in bounds)
    return minx, miny, maxx, maxy


def fit_extent(extent, aspect: float, pad: float = PAD):
    """Grow ``extent`` (metres) by ``pad`` and to the frame's width/height ``aspect``."""
    minx, miny, maxx, maxy = extent
    w = max(maxx - minx, 200.0) * (1 + 2 * pad)
    h = max(maxy - miny, 200.0) * (1 + 2 * pad)
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def nice_length(max_m: float) -> float:
    """Largest 1, 2 or 5 x 10^n metres not above ``max_m``."""
    exp = 10 ** math.floor(math.log10(max_m))
    return max(m * exp for m in (1, 2, 5) if m * exp <= max_m)


def convergence_deg(x: float, y: float) -> float:
    """Angle from grid north to true north at metric point (x, y), clockwise positive."""
    to_ll = Transformer.from_crs(METRIC_CRS, STORAGE_CRS, always_xy=True)
    to_m = Transformer.from_crs(STORAGE_CRS, METRIC_CRS, always_xy=True)
    lon, lat = to_ll.transform(x, y)
    x2, y2 = to_m.transform(lon, lat + 0.01)
    return math.degrees(math.atan2(x2 - x, y2 - y))


# --- style -> matplotlib ----------------------------------------------------------------

def linestyle(style: Style, k: float = 1.0):
    """Leaflet dashArray ("6 4", px) as a matplotlib dash tuple in points (times ``k``)."""
    if not style.dash_array:
        return "solid"
    parts = [float(p) * PX_TO_PT * k for p in style.dash_array.replace(",", " ").split()]
    if len(parts) % 2:
        parts *= 2  # SVG/Leaflet repeat an odd list to make it even
    return (0, tuple(parts))


def legend_handle(style: Style, lang: str, k: float = 1.0):
    """``k`` scales line widths, dashes and markers with the figure (1 at A4)."""
    label = _pick(style, lang, "label")
    lw = style.weight * PX_TO_PT * k
    if style.shape == "fill":
        face = to_rgba(style.fill_color or style.color, style.fill_opacity)
        return Patch(facecolor=face, edgecolor=to_rgba(style.color, style.opacity),
                     linewidth=lw, linestyle=linestyle(style, k), label=label)
    if style.shape == "point":
        return Line2D([], [], linestyle="none", marker="o",
                      markersize=2 * style.radius * PX_TO_PT * k,
                      markerfacecolor=to_rgba(style.fill_color or style.color, style.fill_opacity),
                      markeredgecolor=to_rgba(style.color, style.opacity),
                      markeredgewidth=lw, label=label)
    return Line2D([], [], color=to_rgba(style.color, style.opacity), linewidth=lw,
                  linestyle=linestyle(style, k), label=label)


def confidence_style(style: Style, confidence) -> Style:
    """A point's style as the interactive map draws it (parkmap.js pointStyle): the plan
    location's confidence sets fill opacity, weight and dashes (area-level: a hollow dashed
    ring), so a figure does not show a guessed point as an exact one."""
    from webapp.render.compose import CONFIDENCE_LOOK

    look = CONFIDENCE_LOOK.get(confidence) if isinstance(confidence, str) else None
    if not look:
        return style
    return replace(style, fill_opacity=look["fillOpacity"], weight=look["weight"],
                   dash_array=look.get("dashArray") or style.dash_array)


def confidence_legend(lang: str, k: float = 1.0) -> list:
    """The interactive legend's "location confidence" group: a heading, then one grey
    marker per confidence level."""
    from webapp.render.compose import CONFIDENCE_LOOK, UI_TEXT

    heading = Line2D([], [], linestyle="none", label=UI_TEXT[lang]["confidence"])
    grey = Style("", "", "point", "#444444", fill_color="#444444", radius=5)
    return [heading] + [
        legend_handle(replace(confidence_style(grey, level), label_zh=look["label_zh"],
                              label_en=look["label_en"]), lang, k)
        for level, look in CONFIDENCE_LOOK.items()]


def _polygon_path(geom) -> MplPath:
    """A (multi)polygon as one compound path: exterior and holes, even-odd filled."""
    verts, codes = [], []
    for poly in getattr(geom, "geoms", [geom]):
        for ring in (poly.exterior, *poly.interiors):
            xy = shapely.get_coordinates(ring)
            verts.append(xy)
            codes.append([MplPath.MOVETO] + [MplPath.LINETO] * (len(xy) - 2) + [MplPath.CLOSEPOLY])
    return MplPath(np.concatenate(verts), np.concatenate(codes))


def _draw_group(ax, geoms: gpd.GeoSeries, style: Style, z: float, k: float) -> None:
    """Matplotlib collections straight from the geometries (GeoSeries.plot redraws the
    whole figure on every call, which made a figure take seconds)."""
    edge = to_rgba(style.color, style.opacity)
    face = to_rgba(style.fill_color or style.color, style.fill_opacity)
    lw = style.weight * PX_TO_PT * k
    kinds = geoms.geom_type
    polys = geoms[kinds.isin(["Polygon", "MultiPolygon"])]
    lines = geoms[kinds.isin(["LineString", "MultiLineString", "LinearRing"])]
    points = geoms[kinds.isin(["Point", "MultiPoint"])]
    if len(polys):
        ax.add_collection(PathCollection(
            [_polygon_path(g) for g in polys], facecolors=[face], edgecolors=[edge],
            linewidths=lw, linestyles=[linestyle(style, k)], zorder=z))
    if len(lines):
        parts = shapely.get_parts(lines.values)
        ax.add_collection(LineCollection(
            [shapely.get_coordinates(p) for p in parts], colors=[edge], linewidths=lw,
            linestyles=[linestyle(style, k)], zorder=z + 0.1))
    if len(points):
        xy = shapely.get_coordinates(points.values)
        ax.scatter(xy[:, 0], xy[:, 1], marker="o", s=(2 * style.radius * PX_TO_PT * k) ** 2,
                   c=[face if style.fill_opacity else "none"], edgecolors=[edge],
                   linewidths=lw, linestyles=[linestyle(style, k)], zorder=z + 0.2)


# --- labels -----------------------------------------------------------------------------

_POINT_OFFSETS = ((6, 0, "left", "center"), (-6, 0, "right", "center"), (0, 6, "center", "bottom"),
                  (0, -6, "center", "top"), (5, 5, "left", "bottom"), (-5, 5, "right", "bottom"),
                  (5, -5, "left", "top"), (-5, -5, "right", "top"))


MAX_LABELS = 80  # per panel: past this a map is a wall of text; the rest are counted in a note
LABEL_CELL_PX = 64  # grid cell of the placed-label index


class _Placed:
    """Window boxes of placed labels in a uniform grid: a candidate is checked against the
    boxes in the cells it touches, not against every label placed (which was quadratic)."""

    def __init__(self, boxes=()):
        self.cells: dict[tuple[int, int], list] = {}
        for b in boxes:
            self.add(b)

    def _keys(self, b):
        c = LABEL_CELL_PX
        for i in range(int(b.x0 // c), int(b.x1 // c) + 1):
            for j in range(int(b.y0 // c), int(b.y1 // c) + 1):
                yield i, j

    def add(self, box) -> None:
        for key in self._keys(box):
            self.cells.setdefault(key, []).append(box)

    def overlaps(self, box) -> bool:
        return any(box.overlaps(b) for key in self._keys(box) for b in self.cells.get(key, ()))


def _place_labels(ax, renderer, candidates, fontsize: float, obstacles=(),
                  deadline: float | None = None) -> int:
    """Greedy: each label takes the first offset that overlaps no placed label (nor the scale
    bar and north arrow, ``obstacles``), up to MAX_LABELS; returns how many were left out."""
    placed = _Placed(a.get_window_extent(renderer) for a in obstacles)
    frame = ax.get_window_extent(renderer)
    halo = [patheffects.withStroke(linewidth=2.2, foreground="white")]
    done = 0
    for n, (text, x, y, is_point, weight) in enumerate(candidates):
        if done >= MAX_LABELS:
            return len(candidates) - n + (n - done)
        check_deadline(deadline)
        offsets = _POINT_OFFSETS if is_point else ((0, 0, "center", "center"),) + _POINT_OFFSETS
        for dx, dy, ha, va in offsets:
            t = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points",
                            ha=ha, va=va, fontsize=fontsize, fontweight=weight, zorder=50,
                            path_effects=halo, annotation_clip=True)
            box = t.get_window_extent(renderer)
            inside = (box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0
                      and box.y1 <= frame.y1)
            if inside and not placed.overlaps(box):
                placed.add(box)
                done += 1
                break
            t.remove()
    return len(candidates) - done


class RenderTimeout(ParkmapError):
    """A figure that takes longer than the render time limit (RENDER_TIMEOUT_S)."""

    status = 503
    retry_after = 30


def check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise RenderTimeout("the figure took longer than the render time limit; try a smaller "
                            "size or resolution, or later")


def _label_candidates(items: list[Item], lang: str, extent):
    """Areas first (largest first: they name the map's structure), then points of the
    topmost layer first (parks before stations)."""
    box = shapely.box(*extent)
    polys, points = [], []
    for it in reversed(items):
        if not it.labels or it.spec.group == "context":
            continue
        f = it.metric
        names = f[f"name_{lang}"] if f"name_{lang}" in f.columns else [None] * len(f)
        for name, geom in zip(names, f.geometry):
            if not isinstance(name, str) or not name:
                continue
            if geom.geom_type in ("Point", "MultiPoint"):
                p = geom.centroid
                if box.contains(p):
                    points.append((name, p.x, p.y, True, "normal"))
            elif geom.geom_type in ("Polygon", "MultiPolygon"):
                visible = geom.intersection(box)
                if visible.area > 0.02 * box.area or visible.area > 0.5 * geom.area:
                    p = visible.representative_point()
                    polys.append((visible.area, (name, p.x, p.y, False, "bold")))
    polys.sort(key=lambda c: -c[0])
    return [c for _, c in polys] + points


# --- the figure ---------------------------------------------------------------------------

def panel_extents(panels: list[Panel], aspect: float) -> list[tuple]:
    """Each panel's extent fitted to ``aspect``; several panels share one scale (same span)."""
    extents = [fit_extent(p.extent or metric_extent(p.items), aspect) for p in panels]
    if len(extents) > 1:
        span = max(e[2] - e[0] for e in extents)
        extents = [fit_extent(((e[0] + e[2] - span) / 2, (e[1] + e[3]) / 2,
                               (e[0] + e[2] + span) / 2, (e[1] + e[3]) / 2), aspect, pad=0)
                   for e in extents]
    return extents


def _mm(fig_mm: float, v: float) -> float:
    """``v`` mm as a fraction of a page side of ``fig_mm`` mm (figure coordinates): the layout
    is worked out in millimetres, matplotlib places in fractions."""
    return v / fig_mm


def _scale_bar(ax, extent, fontsize: float):
    minx, miny, maxx, maxy = extent
    w, h = maxx - minx, maxy - miny
    length = nice_length(w * 0.22)
    x0, y0 = minx + 0.04 * w, miny + 0.045 * h
    bar_h = h * 0.008
    backdrop = ax.add_patch(Rectangle((x0 - 0.015 * w, y0 - 0.035 * h), length + 0.045 * w,
                                      0.085 * h, facecolor=(1, 1, 1, 0.8), edgecolor="none",
                                      zorder=60))
    for i in range(4):
        ax.add_patch(Rectangle((x0 + i * length / 4, y0), length / 4, bar_h, zorder=61,
                               facecolor="black" if i % 2 == 0 else "white",
                               edgecolor="black", linewidth=0.5))
    km = length >= 1000
    for frac in (0, 0.5, 1):
        v = length * frac / (1000 if km else 1)
        ax.text(x0 + length * frac, y0 + bar_h * 1.8, f"{v:g}", ha="center", va="bottom",
                fontsize=fontsize, zorder=62)
    # the unit beside the bar's end, clear of the end's number (centred above it)
    ax.annotate("km" if km else "m", (x0 + length, y0 + bar_h / 2), xytext=(fontsize * 0.8, 0),
                textcoords="offset points", ha="left", va="center", fontsize=fontsize, zorder=62)
    return backdrop


def _north_arrow(ax, extent, fontsize: float) -> list:
    minx, miny, maxx, maxy = extent
    w, h = maxx - minx, maxy - miny
    size = 0.07 * min(w, h)
    cx, cy = maxx - 0.05 * w, maxy - 0.06 * h - size
    angle = math.radians(convergence_deg(cx, cy))
    tip = (cx + size * math.sin(angle), cy + size * math.cos(angle))
    arrow = ax.annotate("", xy=tip, xytext=(cx, cy), zorder=62,
                        arrowprops=dict(arrowstyle="-|>,head_length=0.8,head_width=0.4",
                                        color="black", linewidth=1.2))
    letter = ax.annotate("N", xy=tip, xytext=(0, 2), textcoords="offset points", ha="center",
                va="bottom", fontsize=fontsize * 1.3, fontweight="bold", zorder=62,
                path_effects=[patheffects.withStroke(linewidth=2.5, foreground="white")])
    return [arrow.arrow_patch, letter]


def attributions(content: Content) -> list[str]:
    """Each layer's attribution, split at ';' so a credit shared by layers appears once."""
    seen = []
    for panel in content.panels:
        for it in panel.items:
            for part in (it.spec.attribution or "").split(";"):
                part = part.strip()
                if part and part not in seen:
                    seen.append(part)
    return seen


def unlocated_notes(content: Content, lang: str) -> list[str]:
    notes = []
    for panel in content.panels:
        for it in panel.items:
            n = int((it.frame.geometry.isna() | it.frame.geometry.is_empty).sum())
            if n and (it.spec.id, n) not in [(s, c) for s, c, _ in notes]:
                title = _pick(it.spec, lang, "title")
                if len(content.panels) > 1:
                    title = f"{_pick(panel, lang, 'title')} · {title}"
                text = (f"{title}：{n} 项位置未知，未绘制" if lang == "zh"
                        else f"{title}: {n} without a known location, not drawn")
                notes.append((it.spec.id, n, text))
    return [t for _, _, t in notes]


def _in_view(item: Item, extent) -> gpd.GeoDataFrame:
    """The item's located features (METRIC_CRS) whose bounding box meets ``extent``."""
    if extent is None:
        return item.metric
    minx, miny, maxx, maxy = extent
    return item.metric.cx[minx:maxx, miny:maxy]


def legend_entries(content: Content, lang: str, k: float = 1.0, extents=None,
                   base_map: bool = True) -> list:
    """One handle per (layer, kind) drawn, in drawing order; ``extents`` (one per panel,
    METRIC_CRS) leaves out what falls outside the frame, ``base_map=False`` the context
    layers. When points with a plan-location confidence are drawn, the interactive legend's
    confidence group follows."""
    handles, seen, confident = [], set(), False
    for panel, extent in zip(content.panels, extents or [None] * len(content.panels)):
        for it in panel.items:
            if not base_map and it.spec.group == "context":
                continue
            f = _in_view(it, extent)
            kinds = f["kind"] if "kind" in f.columns else []
            for kind in dict.fromkeys(kinds):
                style = it.spec.style_for(kind)
                key = (it.spec.id, _pick(style, lang, "label"))
                if key not in seen:
                    seen.add(key)
                    handles.append(legend_handle(style, lang, k))
            if "confidence" in f.columns and not confident:
                points = f.geom_type.isin(["Point", "MultiPoint"])
                confident = bool(f.loc[points, "confidence"].isin(["building", "street", "area"]).any())
    return handles + (confidence_legend(lang, k) if confident else [])


_RENDER_LOCK = threading.Lock()  # rc_context changes matplotlib's global rcParams


def render(content: Content, options: FigureOptions = FigureOptions(),
           deadline: float | None = None) -> bytes:
    """The figure as PNG or SVG bytes. Raises FontUnavailable (503) if no CJK font exists,
    RenderTimeout (503) if it is still drawing at ``deadline`` (time.monotonic())."""
    font = cjk_font()
    # text.parse_math off: names, notes and sources (some typed by users) are drawn as the
    # text they are, never parsed as mathtext ("$\\frac..$" would be maths or an error)
    with _RENDER_LOCK, matplotlib.rc_context({"font.family": [font.name, "DejaVu Sans"],
                                "lines.scale_dashes": False, "svg.fonttype": "path",
                                "axes.unicode_minus": False, "text.parse_math": False,
                                "text.usetex": False}):
        fig = _draw(content, options, deadline)
        check_deadline(deadline)
        buf = io.BytesIO()
        meta = {"Title": _pick(content, options.lang, "title")}
        if options.fmt == "png":
            meta["Software"] = "parkmap"
        fig.savefig(buf, format=options.fmt, dpi=options.dpi, metadata=meta)
    return buf.getvalue()


# what a legend too big for the page leaves out: (zh, en) with the base map's entries, (zh, en)
# with every entry
_LEGEND_NOTES = ("底图（河流、道路、地铁）未列入图例", "Base map (rivers, roads, metro) not in the legend",
                 "图幅过小，图例从略：见交互地图",
                 "Legend left out: the figure is too small; see the interactive map")
MIN_TEXT_PT = 4.0  # legend, notes and credits never get smaller than this (legible in print)
_LEGEND_TRIES = ((1, 1.0), (1, 0.85), (1, 0.7), (2, 1.0), (2, 0.85), (2, 0.7))  # (columns, size)


def _wrap(text_artist, texts: list[str], width_mm: float, dpi: int) -> None:
    """Set ``texts`` on the artist, each wrapped to ``width_mm`` at its font: the characters
    per line come from the measured width of the text itself, so CJK and Latin both fit."""
    renderer = text_artist.figure.canvas.get_renderer()
    lines = []
    for t in texts:
        text_artist.set_text(t)
        w = text_artist.get_window_extent(renderer).width / dpi * MM_PER_INCH
        chars = max(8, int(len(t) * width_mm / w)) if w > width_mm else len(t)
        lines.append(textwrap.fill(t, chars))
    text_artist.set_text("\n".join(lines))


def _fit_width(text_artist, width_mm: float, dpi: int) -> None:
    """Shrink a one-line text (down to 60 %) so it does not run off the page, then wrap."""
    renderer = text_artist.figure.canvas.get_renderer()
    w = text_artist.get_window_extent(renderer).width / dpi * MM_PER_INCH
    if w > width_mm:
        size = text_artist.get_fontsize()
        text_artist.set_fontsize(max(size * 0.6, size * width_mm / w))
        _wrap(text_artist, [text_artist.get_text()], width_mm, dpi)


def _legend_extent(panel: Panel):
    """A frame surely containing what the panel will show whatever its final aspect (the
    legend is laid out before the map's size, hence its extent, is known)."""
    e = panel.extent or metric_extent(panel.items)
    wide, tall = fit_extent(e, 3.0), fit_extent(e, 1 / 3.0)
    return wide[0], tall[1], wide[2], tall[3]


def _draw(content: Content, options: FigureOptions, deadline: float | None = None) -> Figure:
    """Landscape: maps left, legend and notes in a column on the right (the legend takes a
    second column or smaller type before it would cover the notes). Portrait: legend and
    notes below the maps. Everything beside the maps is measured first, so the maps take
    exactly the space left; sizes scale with the page (``k``, 1 at A4)."""
    lang = options.lang
    W, H, dpi = options.width_mm, options.height_mm, options.dpi
    k = max(0.6, min(2.0, math.sqrt(W * H / (DEFAULT_WIDTH_MM * DEFAULT_HEIGHT_MM))))
    fig = Figure(figsize=options.inches, dpi=dpi, facecolor="white")
    renderer = FigureCanvasAgg(fig).get_renderer()

    def size_mm(artist) -> tuple[float, float]:
        box = artist.get_window_extent(renderer)
        return box.width / dpi * MM_PER_INCH, box.height / dpi * MM_PER_INCH

    margin, title_band, gap = 8.0 * k, 16.0 * k, 6.0 * k
    landscape = W >= H * 1.1
    title = fig.text(_mm(W, margin), 1 - _mm(H, margin), _pick(content, lang, "title"),
                     ha="left", va="top", fontsize=15 * k, fontweight="bold")
    _fit_width(title, W - 2 * margin, dpi)
    other = "en" if lang == "zh" else "zh"
    subtitle = fig.text(_mm(W, margin), 1 - _mm(H, margin) - size_mm(title)[1] / H - _mm(H, 1.5 * k),
                        _pick(content, other, "title"), ha="left", va="top", fontsize=9 * k,
                        color="#444")
    _fit_width(subtitle, W - 2 * margin, dpi)
    title_band = max(title_band, size_mm(title)[1] + size_mm(subtitle)[1] + 4 * k)

    notes = list(content.notes_zh if lang == "zh" else content.notes_en)
    notes += unlocated_notes(content, lang)
    credits = [("数据：" if lang == "zh" else "Data: ") + "; ".join(attributions(content))]
    footer_pt = max(MIN_TEXT_PT, 5.5 * k)
    footer = fig.text(0, _mm(H, margin), "", ha="left", va="bottom", fontsize=footer_pt,
                      color="#333", linespacing=1.3)
    reserve = footer_pt * 1.3 / 72 * MM_PER_INCH  # one more line: labels left out (known later)

    rough = [_legend_extent(p) for p in content.panels]
    handles = legend_entries(content, lang, k, rough)
    legend_opts = dict(frameon=False, title="图例" if lang == "zh" else "Legend",
                       alignment="left", handlelength=2.4, borderaxespad=0, columnspacing=1.2)
    top = _mm(H, H - margin - title_band)
    side, bottom, legend = 0.0, 0.0, None
    if landscape:
        base_side, max_side = min(70.0 * k, 0.3 * W), 0.5 * (W - 2 * margin)
        fitted = False
        # the notes go under the legend, or across the foot of the page; on a small page the
        # base map's entries (rivers, roads, metro: what any map shows) leave the legend
        # and on a page too small for any legend, a note says so rather than text overlapping
        attempts = [("all", False), ("all", True)]
        if handles:
            attempts += [("plan", True), ("none", False), ("none", True)]
        for entries, footer_below in attempts:
            if entries != "all":
                handles = (legend_entries(content, lang, k, rough, base_map=False)
                           if entries == "plan" else [])
                notes = [n for n in notes if n not in _LEGEND_NOTES] + [
                    _LEGEND_NOTES[(0 if entries == "plan" else 2) + (lang == "en")]]
            for ncol, shrink in (_LEGEND_TRIES if handles else ((1, 1.0),)):
                if handles:
                    legend = fig.legend(handles=handles, loc="upper left", ncol=ncol,
                                        bbox_to_anchor=(0, top),
                                        fontsize=max(MIN_TEXT_PT, 7.5 * k * shrink),
                                        title_fontsize=max(MIN_TEXT_PT, 8.5 * k * shrink),
                                        labelspacing=0.5 if shrink == 1.0 else 0.3,
                                        **legend_opts)
                lw, lh = size_mm(legend) if legend else (0.0, 0.0)
                side = min(max(base_side, lw), max_side)
                _wrap(footer, notes + credits, W - 2 * margin if footer_below else side, dpi)
                footer_h = size_mm(footer)[1] + reserve + 2 * k
                room = H - 2 * margin - title_band - footer_h
                map_room = room if footer_below else H - 2 * margin - title_band
                if lw <= max_side and lh <= room and map_room >= 20:
                    fitted = True
                    break
                if legend is not None:
                    legend.remove()
                    legend = None
            if fitted:
                break
        else:
            raise FigureParamError(f"{W:g}x{H:g} mm is too small for this map's legend and "
                                   "notes; make the figure larger")
        if legend is None and footer_below:
            side = 0.0  # nothing left beside the maps
        lx = W - margin - side
        footer.set_x(_mm(W, margin if footer_below else lx))
        bottom = footer_h if footer_below else 0.0
        if legend is not None:
            legend.set_bbox_to_anchor((_mm(W, lx), top), transform=fig.transFigure)
    else:
        footer.set_x(_mm(W, margin))
        for entries in ("all", "plan", "none") if handles else ("all",):
            if entries != "all":
                handles = (legend_entries(content, lang, k, rough, base_map=False)
                           if entries == "plan" else [])
                notes = [n for n in notes if n not in _LEGEND_NOTES] + [
                    _LEGEND_NOTES[(0 if entries == "plan" else 2) + (lang == "en")]]
            _wrap(footer, notes + credits, W - 2 * margin, dpi)
            footer_h = size_mm(footer)[1] + reserve
            bottom = footer_h + 4 * k
            if handles:
                for ncol, shrink in ((2, 1.0), (2, 0.85), (2, 0.7), (1, 0.7)):
                    legend = fig.legend(handles=handles, loc="lower left", ncol=ncol,
                                        bbox_to_anchor=(_mm(W, margin), _mm(H, margin + footer_h + 2 * k)),
                                        fontsize=max(MIN_TEXT_PT, 7.5 * k * shrink),
                                        title_fontsize=max(MIN_TEXT_PT, 8.5 * k * shrink),
                                        **legend_opts)
                    if size_mm(legend)[0] <= W - 2 * margin or ncol == 1:
                        break
                    legend.remove()
                bottom = footer_h + 2 * k + size_mm(legend)[1] + 4 * k
            if H - 2 * margin - title_band - bottom >= 20 or entries == "none":
                break
            if legend is not None:
                legend.remove()
                legend = None

    map_h = H - 2 * margin - title_band - bottom
    if map_h < 20:
        raise FigureParamError(f"{W:g}x{H:g} mm leaves no room for the map beside its title, "
                               "legend and notes; make the figure larger")
    map_w = W - 2 * margin - (side + margin / 2 if side else 0)
    n = len(content.panels)
    pw = (map_w - gap * (n - 1)) / n
    ph = map_h - (6.0 * k if n > 1 else 0)  # room for panel titles
    extents = panel_extents(content.panels, pw / ph)
    omitted = 0
    for i, (panel, extent) in enumerate(zip(content.panels, extents)):
        ax = fig.add_axes((_mm(W, margin + i * (pw + gap)), _mm(H, margin + bottom),
                           _mm(W, pw), _mm(H, ph)))
        if n > 1:
            ax.set_title(_pick(panel, lang, "title"), fontsize=10 * k, fontweight="bold", pad=3)
        _draw_panel(ax, panel, extent, k)
        check_deadline(deadline)
        obstacles = [_scale_bar(ax, extent, 6.5 * k), *_north_arrow(ax, extent, 6.5 * k)]
        omitted += _place_labels(ax, renderer, _label_candidates(panel.items, lang, extent),
                                 6.0 * k, obstacles, deadline)
    if omitted:
        notes.append(f"{omitted} 个标注因空间不足省略" if lang == "zh"
                     else f"{omitted} labels left out for lack of space")
        _wrap(footer, notes + credits, W - 2 * margin if bottom or not side else side, dpi)
    return fig


def _draw_panel(ax, panel: Panel, extent, k: float) -> None:
    minx, miny, maxx, maxy = extent
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("#f7f6f2")
    for spine in ax.spines.values():
        spine.set_linewidth(0.6)
    for layer_no, it in enumerate(panel.items):
        f = _in_view(it, extent)  # bbox pre-filter; matplotlib clips the rest
        if not len(f):
            continue
        none = pd.Series([None] * len(f), index=f.index)
        kinds = f["kind"] if "kind" in f.columns else none
        points = f.geom_type.isin(["Point", "MultiPoint"])
        # points take their confidence's look, as on the interactive map; other shapes do not
        looks = f["confidence"].where(points, None) if "confidence" in f.columns else none
        for (kind, conf), group in f.geometry.groupby([kinds, looks], dropna=False, sort=False):
            style = confidence_style(it.spec.style_for(kind), conf)
            _draw_group(ax, group, style, z=1 + layer_no, k=k)


# --- what to draw: named maps, layer lists ------------------------------------------------

def items_for(layer_ids, store) -> list[Item]:
    from layers.registry import get_layer

    specs = [get_layer(i) for i in layer_ids]  # raises UnknownLayer (404) first
    return [Item(spec, store.frame(spec.id)) for spec in specs]


def _built_note(store) -> tuple[list[str], list[str]]:
    try:
        day = store.index().get("generated")
    except ParkmapError:
        day = None
    if not day:
        return [], []
    return [f"图层构建于 {day}（parkmap）"], [f"Layers built {day} (parkmap)"]


def focus_layers(named_map) -> list[str]:
    """The layers that make this map what it is: those not shared by every named map
    (changning_zones for Changning, ...); the figure frames their features."""
    from webapp.maps import MAPS

    shared = set.intersection(*(set(m.layers) for m in MAPS))
    return [i for i in named_map.layers if i not in shared] or list(named_map.layers)


def map_content(map_id: str, store) -> Content:
    from webapp.maps import get_map

    m = get_map(map_id)  # raises UnknownMap (404)
    items = items_for(m.layers, store)
    focus = [it for it in items if it.spec.id in focus_layers(m)]
    panel = Panel(m.title_zh, m.title_en, items, extent=metric_extent(focus))
    return Content(m.title_zh, m.title_en, [panel], *_built_note(store))


def layers_content(layer_ids: list[str], store) -> Content:
    items = items_for(layer_ids, store)
    title_zh = "、".join(it.spec.title_zh for it in items)
    title_en = ", ".join(it.spec.title_en for it in items)
    return Content(title_zh, title_en, [Panel(title_zh, title_en, items)], *_built_note(store))


def layout_panel(layout, store) -> Panel:
    """A layout (webapp.layouts) as its map draws it, framed on its zones/belts (or draft)."""
    from webapp.render.compare import LayoutLayers
    from webapp.layouts import DRAFT_LAYER

    items = items_for(layout.layers, LayoutLayers(layout, store))
    if layout.draft is not None:
        items.append(Item(DRAFT_LAYER, layout.draft))
    focus = [f for f in (layout.units, layout.draft) if f is not None and len(located(f))]
    return Panel(layout.title_zh, layout.title_en, items,
                 extent=frames_extent(focus) if focus else None)


def compare_content(left_id: str, right_id: str, store, drafts=None) -> Content:
    """Two layouts side by side at one scale (the compare page's pair, as a figure)."""
    from webapp.layouts import resolve

    left, right = resolve(left_id, store, drafts), resolve(right_id, store, drafts)
    return Content(f"布局对比：{left.title_zh} ｜ {right.title_zh}",
                   f"Layouts compared: {left.title_en} | {right.title_en}",
                   [layout_panel(left, store), layout_panel(right, store)], *_built_note(store))


def draft_content(draft_id: str, store, drafts) -> Content:
    """An uploaded draft over the base, as the compare page draws it."""
    from webapp.layouts import resolve

    layout = resolve(DRAFT_PREFIX + draft_id, store, drafts)
    return Content(layout.title_zh, layout.title_en, [layout_panel(layout, store)],
                   *_built_note(store))


LAYERS_PREFIX, DRAFT_PREFIX, COMPARE = "layers:", "draft:", "compare"


def draft_ids(target: str) -> list[str]:
    """The drafts a figure target draws (``draft:<id>``, or in ``compare:a,b``)."""
    if target.startswith(DRAFT_PREFIX):
        return [target[len(DRAFT_PREFIX):]]
    if target.startswith(COMPARE + ":"):
        return [p.strip()[len(DRAFT_PREFIX):] for p in target[len(COMPARE) + 1:].split(",")
                if p.strip().startswith(DRAFT_PREFIX)]
    return []


def content_for(target: str, store, drafts=None) -> Content:
    """``target``: a named map id; ``layers:<id>,<id>``; ``compare`` (the default pair) or
    ``compare:<layout>,<layout>``; ``draft:<id>`` (``drafts``: a webapp.stores.drafts.DraftStore)."""
    if target.startswith(LAYERS_PREFIX):
        ids = [i.strip() for i in target[len(LAYERS_PREFIX):].split(",") if i.strip()]
        if not ids:
            raise FigureParamError("layers: give at least one layer id, e.g. layers:parks,line2")
        return layers_content(ids, store)
    if target == COMPARE or target.startswith(COMPARE + ":"):
        from webapp.layouts import DEFAULT_LEFT, DEFAULT_RIGHT

        pair = target[len(COMPARE) + 1:].split(",") if target != COMPARE else [DEFAULT_LEFT,
                                                                                DEFAULT_RIGHT]
        if len(pair) != 2 or not all(pair):
            raise FigureParamError("compare: give two layouts, e.g. compare:changning_zones,"
                                   "jingan_layout")
        return compare_content(pair[0].strip(), pair[1].strip(), store, drafts)
    if target.startswith(DRAFT_PREFIX):
        if drafts is None:
            raise FigureParamError("drafts are not available here")
        return draft_content(target[len(DRAFT_PREFIX):], store, drafts)
    return map_content(target, store)


SUGGESTION_MARGIN_M = 1200.0  # around the current and suggested locations


def suggestion_content(record: dict, store) -> Content:
    """A suggestion beside the place's current placement, at one scale (the review figure of
    `parkmap suggestions show`): left as the map draws it now, right with the suggestion."""
    from shapely.geometry import shape

    from layers.registry import get_layer
    from webapp.places import SUGGESTION_LAYER, named_places

    props, current = named_places(store).get(record["place_id"], ({}, None))
    base = items_for(["context", "districts", "subdistricts"], store)
    parks = store.frame("parks")
    layer = "parks" if record["place_id"] in set(parks["id"]) else "jingan_layout"
    frame = store.frame(layer)
    place = Item(get_layer(layer), frame[frame["id"] == record["place_id"]])
    suggested = shape(record["geometry"])
    marks = gpd.GeoDataFrame(
        [{"id": record["id"], "name_zh": "建议位置（待审核）", "name_en": "Suggested (pending review)",
          "kind": "suggestion"}], geometry=[suggested], crs=STORAGE_CRS)
    shown = [g for g in (current, suggested) if g is not None and not g.is_empty]
    focus = gpd.GeoSeries(shown, crs=STORAGE_CRS).to_crs(METRIC_CRS).union_all()
    extent = focus.buffer(SUGGESTION_MARGIN_M).bounds
    name_zh, name_en = props.get("name_zh") or record["place_id"], props.get("name_en") or ""
    conf = props.get("confidence") or "unlocated"
    left = Panel(f"现定位（{conf}）", f"Now ({conf})", [*base, place], extent=extent)
    right = Panel(f"建议（{record['precision']}）", f"Suggested ({record['precision']})",
                  [*base, Item(place.spec, place.frame, labels=False),
                   Item(SUGGESTION_LAYER, marks)], extent=extent)
    source = record.get("source_url") or record.get("quote") or ""
    notes_zh = [f"建议 {record['id']}，{record['created']}：{source[:120]}"]
    notes_en = [f"Suggestion {record['id']}, {record['created']}: {source[:120]}"]
    if current is None:
        notes_zh.append("此地点目前未定位。")
        notes_en.append("This place is not located now.")
    return Content(f"位置建议：{name_zh}", f"Suggested location: {name_en}", [left, right],
                   notes_zh, notes_en)

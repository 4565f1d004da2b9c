"""The figures that tell layouts apart, every one measured in METRIC_CRS (EPSG:32651).

Inputs are lon/lat GeoDataFrames (STORAGE_CRS) as the layers and drafts store them; each
function projects what it measures. A layout is made of *units* (zones or belts: polygons
measured by area, lines measured by length), *parks* and the district they belong to.

Parks are counted as points: a point geometry as is, any other geometry by its representative
point (a point guaranteed inside it). Parks with ``confidence: unlocated`` have no geometry and
are left out of every spatial figure, but counted and reported as such; parks located only to
an area (``confidence: area`` or ``approximate: true``) are counted like the others and also
reported separately so a reader can weigh them.
"""
from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.crs import METRIC_CRS, STORAGE_CRS, to_metric

RADII_M = (500, 800)  # straight-line walking radii around stations

_POLYGONAL = ("Polygon", "MultiPolygon")
_LINEAL = ("LineString", "MultiLineString", "LinearRing")


@dataclass(frozen=True)
class Definition:
    """What one figure is: its unit and how it was computed, in English and Chinese."""
    key: str
    unit: str  # "km2", "km", "m", "count", "share", "per_km2"
    label_en: str
    label_zh: str
    text_en: str
    text_zh: str

    def label(self, lang: str) -> str:
        return self.label_zh if lang == "zh" else self.label_en

    def text(self, lang: str) -> str:
        return self.text_zh if lang == "zh" else self.text_en


_CRS_EN = f"measured in {METRIC_CRS} (UTM 51N, metres)"
_CRS_ZH = f"在 {METRIC_CRS}（UTM 51N，米）中量算"
_PARKS_EN = ("parks = located parks of the layout, each as its point (polygon: representative "
             "point); unlocated parks are left out, area-confidence/approximate ones are included")
_PARKS_ZH = "园区 = 本布局中已定位的园区，按点计（面取内部代表点）；未定位者不计，片区级/近似定位者计入"


def _definitions() -> dict[str, Definition]:
    d = [
        Definition("area_km2", "km2", "Area", "面积",
                   f"Area of the zone/belt polygon, {_CRS_EN}. Total: area of the union of all "
                   "zones/belts (ground covered twice counts once).",
                   f"功能区/带的面积，{_CRS_ZH}。合计为各区并集面积（重叠部分只计一次）。"),
        Definition("share_of_district", "share", "Share of district", "占全区比例",
                   "Area of the zone/belt inside the district divided by the district's area, "
                   f"both {_CRS_EN}.",
                   f"功能区/带位于区界内的面积除以全区面积，均{_CRS_ZH}。"),
        Definition("length_km", "km", "Length in district", "区内长度",
                   f"Length of a line feature (axis, belt drawn as a line) inside the district, {_CRS_EN}.",
                   f"线状要素（轴、以线表示的带）在区界内的长度，{_CRS_ZH}。"),
        Definition("parks", "count", "Parks", "园区数",
                   f"Number of parks whose point lies in the zone/belt (boundary included); {_PARKS_EN}. "
                   "A park in two overlapping belts counts in each; the total counts it once.",
                   f"点位落在该功能区/带内（含边界）的园区数；{_PARKS_ZH}。位于两个重叠带内的园区各计一次，合计只计一次。"),
        Definition("parks_per_km2", "per_km2", "Parks per km²", "每平方公里园区数",
                   "Parks counted in the zone/belt divided by its area (km², "
                   f"{METRIC_CRS}); empty where the area is zero.",
                   f"该功能区/带内园区数除以其面积（平方公里，{METRIC_CRS}）；面积为零时留空。"),
        Definition("line2_length_km", "km", "Line 2 length in district", "2号线区内长度",
                   f"Length of the Metro Line 2 track (one direction) inside the district, {_CRS_EN}.",
                   f"地铁2号线线路（单向轨道）在区界内的长度，{_CRS_ZH}。"),
        Definition("parks_located", "count", "Parks located", "已定位园区",
                   f"Parks of the layout with a geometry; the base of every share below. {_PARKS_EN}.",
                   f"本布局中有几何位置的园区，为下列各比例的分母。{_PARKS_ZH}。"),
        Definition("parks_approximate", "count", "of which approximate", "其中近似定位",
                   "Located parks placed only to an area (confidence 'area' or approximate: true); "
                   "their point may be several hundred metres off.",
                   "仅定位到片区的园区（confidence 为 area 或 approximate 为真），点位可能偏差数百米。"),
        Definition("parks_unlocated", "count", "Parks unlocated", "未定位园区",
                   "Parks the plans name but whose location is unknown (null geometry): "
                   "left out of every spatial figure.",
                   "规划点名但位置未知（几何为空）的园区：不计入任何空间指标。"),
    ]
    for target, en, nearest, zh in (("line2", "a Line 2 station", "Line 2 station", "2号线车站"),
                                    ("metro", "any metro station", "station of any metro line",
                                     "任一地铁站")):
        for r in RADII_M:
            d.append(Definition(
                f"near_{target}_{r}m", "count", f"Parks ≤ {r} m from {en}", f"距{zh} {r} 米内园区",
                f"Located parks whose straight-line distance to the nearest {nearest} "
                f"is at most {r} m, {_CRS_EN}; {_PARKS_EN}.",
                f"与最近{zh}直线距离不超过 {r} 米的已定位园区数，{_CRS_ZH}；{_PARKS_ZH}。"))
            d.append(Definition(
                f"near_{target}_{r}m_share", "share", f"Share ≤ {r} m from {en}", f"距{zh} {r} 米内比例",
                f"The count above divided by the located parks of the layout (radius {r} m, "
                f"straight line, {METRIC_CRS}).",
                f"上项除以本布局已定位园区数（半径 {r} 米，直线，{METRIC_CRS}）。"))
    d += [
        Definition("line2_distance_mean_m", "m", "Mean distance to Line 2 station", "距2号线车站平均距离",
                   f"Mean over located parks of the straight-line distance to the nearest Line 2 "
                   f"station, {_CRS_EN}; {_PARKS_EN}.",
                   f"已定位园区到最近2号线车站直线距离的平均值，{_CRS_ZH}；{_PARKS_ZH}。"),
        Definition("line2_distance_median_m", "m", "Median distance to Line 2 station", "距2号线车站距离中位数",
                   "Median of the same distances (half the parks are nearer).",
                   "同上距离的中位数（一半园区更近）。"),
        Definition("overlap_km2", "km2", "Overlap", "重叠面积",
                   "Area covered by both layouts: the union of one layout's zones/belts intersected "
                   f"with the other's, {_CRS_EN}.",
                   f"两个布局共同覆盖的面积：一方功能区/带并集与另一方并集的交集，{_CRS_ZH}。"),
        Definition("overlap_share_left", "share", "Overlap / left area", "重叠占左侧面积",
                   "Overlap divided by the area of the left layout's union of zones/belts.",
                   "重叠面积除以左侧布局功能区/带并集面积。"),
        Definition("overlap_share_right", "share", "Overlap / right area", "重叠占右侧面积",
                   "Overlap divided by the area of the right layout's union of zones/belts.",
                   "重叠面积除以右侧布局功能区/带并集面积。"),
    ]
    return {x.key: x for x in d}


DEFINITIONS: dict[str, Definition] = _definitions()


# --- helpers --------------------------------------------------------------------------------

def _metric_geoms(gdf: gpd.GeoDataFrame | None) -> np.ndarray:
    """Non-empty geometries of a lon/lat frame, projected to METRIC_CRS (numpy array)."""
    if gdf is None or not len(gdf):
        return np.array([], dtype=object)
    if gdf.crs is None:
        gdf = gdf.set_crs(STORAGE_CRS)
    keep = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if not len(keep):
        return np.array([], dtype=object)
    return np.asarray(to_metric(keep.geometry).values, dtype=object)


def _union(geoms) -> BaseGeometry:
    geoms = [g for g in geoms if g is not None and not g.is_empty]
    return shapely.union_all(geoms) if geoms else shapely.Polygon()


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """The polygonal part of a geometry (empty polygon if none)."""
    if geom.geom_type in _POLYGONAL:
        return geom
    if geom.geom_type == "GeometryCollection":
        return _union([_polygonal(g) for g in geom.geoms])
    return shapely.Polygon()


def _lineal(geom: BaseGeometry) -> BaseGeometry:
    if geom.geom_type in _LINEAL:
        return geom
    if geom.geom_type == "GeometryCollection":
        return _union([_lineal(g) for g in geom.geoms])
    return shapely.LineString()


def _r(value, nd):
    return None if value is None else round(float(value), nd)


def _ratio(num, den, nd=4):
    return None if not den else round(float(num) / float(den), nd)


def park_points(parks: gpd.GeoDataFrame | None) -> tuple[np.ndarray, dict]:
    """Located parks as METRIC_CRS points, plus the located/approximate/unlocated counts."""
    if parks is None or not len(parks):
        return np.array([], dtype=object), {"parks_located": 0, "parks_approximate": 0,
                                            "parks_unlocated": 0}
    located = parks.geometry.notna() & ~parks.geometry.is_empty
    approx = np.zeros(len(parks), dtype=bool)
    if "confidence" in parks:
        approx |= (parks["confidence"] == "area").to_numpy()
    if "approximate" in parks:
        approx |= parks["approximate"].map(lambda v: v is True or v == 1 or v == "true").to_numpy(bool)
    geoms = _metric_geoms(parks)
    pts = np.array([g if g.geom_type == "Point" else g.representative_point() for g in geoms],
                   dtype=object)
    counts = {"parks_located": int(located.sum()),
              "parks_approximate": int((approx & located.to_numpy()).sum()),
              "parks_unlocated": int((~located).sum())}
    return pts, counts


def nearest_distances_m(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Distance (m) from each METRIC_CRS point to the nearest target; empty if no targets."""
    if not len(points) or not len(targets):
        return np.array([], dtype=float)
    return shapely.distance(points[:, None], targets[None, :]).min(axis=1)


def _access(pts: np.ndarray, stations: gpd.GeoDataFrame | None,
            name: str) -> tuple[dict, np.ndarray]:
    """Counts and shares of parks within each radius of a station, and the distances."""
    out = {}
    dist = nearest_distances_m(pts, _metric_geoms(stations))
    for r in RADII_M:
        if len(dist):
            n = int((dist <= r).sum())
            out[f"near_{name}_{r}m"] = n
            out[f"near_{name}_{r}m_share"] = _ratio(n, len(pts))
        else:
            out[f"near_{name}_{r}m"] = None if not len(pts) else 0
            out[f"near_{name}_{r}m_share"] = None if not len(pts) else 0.0
    return out, dist


# --- the figures ----------------------------------------------------------------------------

def unit_figures(units: gpd.GeoDataFrame, district: BaseGeometry | None, pts: np.ndarray) -> list[dict]:
    """Per zone/belt: area, share of district and parks (polygons) or length in district (lines).

    ``district`` and ``pts`` are already in METRIC_CRS.
    """
    rows = []
    if units is None or not len(units):
        return rows
    geoms = _metric_geoms(units)
    keep = units[units.geometry.notna() & ~units.geometry.is_empty]
    district_area = district.area if district is not None else 0.0
    for (_, u), g in zip(keep.iterrows(), geoms):
        row = {k: u.get(k) if isinstance(u.get(k), str) else None
               for k in ("id", "name_zh", "name_en", "zone")}
        poly, line = _polygonal(g), _lineal(g)
        if not poly.is_empty:
            area = poly.area
            inside = poly.intersection(district).area if district is not None else 0.0
            n = int(shapely.covered_by(pts, poly).sum()) if len(pts) else 0
            row.update(kind="area", area_km2=_r(area / 1e6, 4),
                       share_of_district=_ratio(inside, district_area),
                       parks=n, parks_per_km2=_ratio(n, area / 1e6, 2))
        elif not line.is_empty:
            inside = line.intersection(district).length if district is not None else line.length
            row.update(kind="line", length_km=_r(inside / 1e3, 3))
        else:
            continue
        rows.append(row)
    return rows


def layout_figures(*, units: gpd.GeoDataFrame, parks: gpd.GeoDataFrame | None,
                   district: gpd.GeoDataFrame | None, line2: gpd.GeoDataFrame | None,
                   line2_stations: gpd.GeoDataFrame | None,
                   metro_stations: gpd.GeoDataFrame | None) -> dict:
    """Every figure of one layout (see DEFINITIONS), as a JSON-ready dict.

    ``district`` is a frame whose geometries together form the district (dissolved here).
    """
    dist_geom = _union(_metric_geoms(district)) if district is not None and len(district) else None
    if dist_geom is not None and dist_geom.is_empty:
        dist_geom = None
    pts, park_counts = park_points(parks)
    rows = unit_figures(units, dist_geom, pts)

    polys = _union([_polygonal(g) for g in _metric_geoms(units)])
    total = {}
    if not polys.is_empty:
        n = int(shapely.covered_by(pts, polys).sum()) if len(pts) else 0
        total = {"area_km2": _r(polys.area / 1e6, 4),
                 "share_of_district": _ratio(polys.intersection(dist_geom).area, dist_geom.area)
                 if dist_geom is not None else None,
                 "parks": n, "parks_per_km2": _ratio(n, polys.area / 1e6, 2)}

    route = _union(_lineal(g) for g in _metric_geoms(line2))
    line2_km = None
    if not route.is_empty and dist_geom is not None:
        line2_km = _r(route.intersection(dist_geom).length / 1e3, 3)

    figs = {"crs": METRIC_CRS, "district_area_km2": _r(dist_geom.area / 1e6, 4) if dist_geom else None,
            "units": rows, "total": total, **park_counts, "line2_length_km": line2_km}
    near_line2, dist = _access(pts, line2_stations, "line2")
    near_metro, _ = _access(pts, metro_stations, "metro")
    figs.update(near_line2)
    figs.update(near_metro)
    figs["line2_distance_mean_m"] = _r(dist.mean(), 1) if len(dist) else None
    figs["line2_distance_median_m"] = _r(np.median(dist), 1) if len(dist) else None
    return figs


def overlap_figures(units_a: gpd.GeoDataFrame, units_b: gpd.GeoDataFrame) -> dict:
    """Ground covered by both layouts (their zone/belt unions intersected), km² and shares."""
    a = _union([_polygonal(g) for g in _metric_geoms(units_a)])
    b = _union([_polygonal(g) for g in _metric_geoms(units_b)])
    both = a.intersection(b).area if not (a.is_empty or b.is_empty) else 0.0
    return {"overlap_km2": _r(both / 1e6, 4), "overlap_share_left": _ratio(both, a.area),
            "overlap_share_right": _ratio(both, b.area)}


SUMMARY_KEYS = (
    "line2_length_km", "parks_located", "parks_approximate", "parks_unlocated",
    *[f"near_{t}_{r}m{s}" for t in ("line2", "metro") for r in RADII_M for s in ("", "_share")],
    "line2_distance_mean_m", "line2_distance_median_m",
)
UNIT_KEYS = ("area_km2", "share_of_district", "parks", "parks_per_km2", "length_km")


def figure_rows(figs: dict, layout: str, lang: str = "en") -> list[dict]:
    """One layout's figures as flat rows (layout, scope, figure, value, unit, definition).

    The one tabular form: the CSV, the CLI and the page table are all made from it.
    """
    rows = []

    def add(scope, key, value):
        d = DEFINITIONS[key]
        rows.append({"layout": layout, "scope": scope, "figure": key, "label": d.label(lang),
                     "value": value, "unit": d.unit, "definition": d.text(lang)})

    for u in figs["units"]:
        scope = u.get("id") or u.get("name_en") or u.get("name_zh")
        for key in UNIT_KEYS:
            if key in u:
                add(scope, key, u[key])
    for key in ("area_km2", "share_of_district", "parks", "parks_per_km2"):
        if key in figs["total"]:
            add("total", key, figs["total"][key])
    for key in SUMMARY_KEYS:
        add("layout", key, figs[key])
    return rows


def overlap_rows(overlap: dict, left: str, right: str, lang: str = "en") -> list[dict]:
    return [{"layout": f"{left} & {right}", "scope": "overlap", "figure": k,
             "label": DEFINITIONS[k].label(lang), "value": v, "unit": DEFINITIONS[k].unit,
             "definition": DEFINITIONS[k].text(lang)} for k, v in overlap.items()]

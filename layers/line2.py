"""Metro Line 2: the OSM track, cut into the 长宁区 innovation axis (地铁2号线创新轴), its link east
through 静安寺 to 南京西路, and the rest of the line; plus the stations in order with zones."""
from __future__ import annotations

import geopandas as gpd
from shapely.geometry import LineString, Point
from shapely.ops import linemerge, substring

from geo.crs import METRIC_CRS, STORAGE_CRS, geom_from_metric, geom_to_metric
from layers.sources import OSM_ATTRIBUTION, SourceError
from layers.spec import LayerSpec, Style

ROUTE = "line2_route.geojson"
STATIONS = "line2_stations.csv"
LINK_END = "南京西路"  # the link runs from the 长宁区 boundary east to this station
MAX_STATION_OFFSET_M = 50.0
# Stations whose source point is known to stand off the track, with why and the measured
# offset it may not exceed (line2_stations.csv, note and dist_to_osm_line2_track_m).
KNOWN_OFFSETS = {
    "人民广场": (140.0, "source point stands for the whole Line 1/2/8 interchange complex, "
                    "133 m from the Line 2 track"),
}
ROUTE_KINDS = ("line2_route", "innovation_axis", "axis_link")

_ZONE_ROLES = {"east": "创新轴东段：创新融合", "central": "创新轴中段：集成应用", "west": "创新轴西段：产业承载"}
_ENGLISH_FALLBACK = {"蟠祥路・国家会计学院": "Panxiang Road (National Accounting Institute)"}


def _route_metric(ctx) -> LineString:
    src = ctx.geojson(ROUTE)
    if src.empty or src.geometry.isna().any():
        raise SourceError(f"{ROUTE}: expected the Line 2 track, found no geometry")
    line = linemerge(list(src.geometry)) if len(src) > 1 else src.geometry.iloc[0]
    if not isinstance(line, LineString):
        raise SourceError(f"{ROUTE}: expected one continuous LineString, got {line.geom_type}")
    line = geom_to_metric(line)
    return line if line.coords[0][0] < line.coords[-1][0] else line.reverse()  # west -> east


def _stations(ctx) -> list[dict]:
    rows = ctx.csv(STATIONS, ("seq", "name_zh", "name_en", "lon", "lat", "source", "note"))
    out = []
    for r in rows:
        try:
            seq, lon, lat = int(r["seq"]), float(r["lon"]), float(r["lat"])
        except ValueError:
            raise SourceError(f"{STATIONS}: row {r.get('seq')!r} has a non-numeric seq/lon/lat") from None
        out.append({**r, "seq": seq, "point": Point(lon, lat)})
    return sorted(out, key=lambda r: r["seq"])


def _piece(line_m: LineString, start: float, end: float):
    return geom_from_metric(substring(line_m, start, end))


def _route_pieces(line_m, changning_m, link_end_m) -> list[dict]:
    inside = line_m.intersection(changning_m)
    if inside.is_empty:
        raise SourceError(f"{ROUTE}: the Line 2 track does not cross 长宁区")
    chain = [line_m.project(Point(c)) for g in getattr(inside, "geoms", [inside]) for c in g.coords]
    a, b = min(chain), max(chain)
    c = line_m.project(link_end_m)
    if c <= b:
        raise SourceError(f"{STATIONS}: {LINK_END} station is not east of 长宁区 along the track")
    base = {"district": None, "zone": None, "confidence": "street"}
    return [
        {**base, "id": "line2-route-west", "name_zh": "地铁2号线（西段）", "name_en": "Metro Line 2 (west)",
         "kind": "line2_route", "role": "2号线（长宁区以西）", "source": ROUTE,
         "basis": "OSM Line 2 track, west terminus to the 长宁区 boundary", "geometry": _piece(line_m, 0, a)},
        {**base, "id": "line2-innovation-axis", "name_zh": "地铁2号线创新轴",
         "name_en": "Metro Line 2 innovation axis", "kind": "innovation_axis", "district": "changning",
         "role": "串联东部创新融合、中部集成应用、西部产业承载", "source": "000 三(三); 003 一(一)1",
         "basis": "OSM Line 2 track clipped to the 长宁区 boundary (AMap, GCJ-02 -> WGS84)",
         "geometry": _piece(line_m, a, b)},
        {**base, "id": "line2-axis-link", "name_zh": "2号线：长宁—静安连接段（静安寺、南京西路）",
         "name_en": "Line 2 link to Jing'an (Jing'an Temple, West Nanjing Road)", "kind": "axis_link",
         "district": "jingan", "role": "连接长宁创新轴与静安南京西路商业商务提升赋能带",
         "source": "000 三(三); 001 一(二)",
         "basis": f"OSM Line 2 track from the 长宁区 boundary to the {LINK_END} station",
         "geometry": _piece(line_m, b, c)},
        {**base, "id": "line2-route-east", "name_zh": "地铁2号线（东段）", "name_en": "Metro Line 2 (east)",
         "kind": "line2_route", "role": "2号线（南京西路以东）", "source": ROUTE,
         "basis": f"OSM Line 2 track, {LINK_END} station to the east terminus",
         "geometry": _piece(line_m, c, line_m.length)},
    ]


def build(ctx) -> gpd.GeoDataFrame:
    line_m = _route_metric(ctx)
    districts = ctx.layer("districts")
    zones = ctx.layer("changning_zones")
    changning = districts.loc[districts["district"] == "changning"].geometry.iloc[0]
    stations = _stations(ctx)
    link_end = [s for s in stations if s["name_zh"] == LINK_END]
    if not link_end:
        raise SourceError(f"{STATIONS}: no {LINK_END} station")
    rows = _route_pieces(line_m, geom_to_metric(changning), geom_to_metric(link_end[0]["point"]))
    for s in stations:
        p = s["point"]
        district = next((d for d, g in zip(districts["district"], districts.geometry) if g.contains(p)), None)
        zone = next((z for z, g in zip(zones["zone"], zones.geometry) if g.contains(p)), None)
        pm = geom_to_metric(p)
        known = KNOWN_OFFSETS.get(s["name_zh"])
        rows.append({
            "id": f"line2-station-{s['seq']:02d}", "name_zh": s["name_zh"],
            "name_en": s["name_en"] or _ENGLISH_FALLBACK.get(s["name_zh"], f"{s['name_zh']} Station"),
            "kind": "axis_station" if zone else "station", "district": district, "zone": zone,
            "role": _ZONE_ROLES[zone] if zone else ("连接静安区布局" if district == "jingan" else "2号线车站"),
            "source": f"000 三(三); {STATIONS}" if zone else STATIONS,
            "basis": f"{STATIONS}: {s['source']}", "confidence": "building",
            "seq": s["seq"], "chainage_km": round(line_m.project(pm) / 1000, 3),
            "dist_to_route_m": round(line_m.distance(pm), 1),
            "location_note": known[1] if known else (s["note"] or None), "geometry": p,
        })
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=STORAGE_CRS)
    gdf["seq"] = [int(v) if v == v else None for v in gdf["seq"]]  # ints, not floats with NaN
    return gdf


def station_problems(gdf: gpd.GeoDataFrame) -> list[str]:
    """Stations west->east along the track, each on it (50 m) unless a known, bounded offset."""
    if not all(g is not None and g.is_valid for g in gdf.geometry):
        return ["line2: order and offsets not checked: a geometry is missing or invalid"]
    m = gdf.to_crs(METRIC_CRS)
    route = linemerge(list(m.loc[m["kind"].isin(ROUTE_KINDS)].geometry))
    if not isinstance(route, LineString):
        return [f"line2: route pieces do not join into one line ({route.geom_type})"]
    if route.coords[0][0] > route.coords[-1][0]:
        route = route.reverse()
    st = m.loc[m["kind"].isin(("station", "axis_station"))].sort_values("seq")
    problems = []
    chain = [route.project(g) for g in st.geometry]
    for (name_a, ca), (name_b, cb) in zip(zip(st["name_zh"], chain), zip(st["name_zh"][1:], chain[1:])):
        if cb <= ca:
            problems.append(f"line2: station {name_b} is not east of {name_a} along the track")
    for name, g in zip(st["name_zh"], st.geometry):
        limit = KNOWN_OFFSETS.get(name, (MAX_STATION_OFFSET_M,))[0]
        d = route.distance(g)
        if d > limit:
            problems.append(f"line2: station {name} is {d:.0f} m from the track (limit {limit:.0f} m)")
    return problems


def zone_problems(gdf: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> list[str]:
    problems = []
    st = gdf.loc[gdf["kind"].isin(("station", "axis_station"))]
    for name, tagged, g in zip(st["name_zh"], st["zone"], st.geometry):
        if g is None:
            continue  # reported by station_problems
        actual = next((z for z, zg in zip(zones["zone"], zones.geometry) if zg.contains(g)), None)
        tagged = tagged if isinstance(tagged, str) else None
        if tagged != actual:
            problems.append(f"line2: station {name} tagged zone {tagged}, lies in {actual}")
    return problems


def check(gdf: gpd.GeoDataFrame, layers: dict) -> list[str]:
    problems = station_problems(gdf)
    if "changning_zones" in layers:
        problems += zone_problems(gdf, layers["changning_zones"])
    return problems


LAYER = LayerSpec(
    id="line2",
    title_zh="地铁2号线创新轴",
    title_en="Metro Line 2 innovation axis",
    description_zh="地铁2号线（OpenStreetMap 线路）：长宁区段为规划的“地铁2号线创新轴”，串联东、中、西三大功能区；"
                   "向东经静安寺至南京西路的连接段衔接静安区布局；其余线路以细线保留，便于全图参照。车站按西→东顺序。",
    description_en="Metro Line 2 (OpenStreetMap track): the Changning stretch is the planned 'Line 2 "
                   "innovation axis' linking the three functional areas; the link east through Jing'an "
                   "Temple to West Nanjing Road joins Jing'an's layout; the rest of the line is kept as a "
                   "thin line for orientation. Stations in order, west to east.",
    sources=(ROUTE, STATIONS),
    attribution=f"{OSM_ATTRIBUTION}; stations: beyondsimulations/Metro-Inflow-Optimization (MIT)",
    license="ODbL 1.0 (OSM track); MIT (station list)",
    styles={
        "innovation_axis": Style("地铁2号线创新轴（长宁段）", "Line 2 innovation axis (Changning)", "line",
                                 color="#5a9e0f", weight=7, opacity=0.95),
        "axis_link": Style("2号线连接段（静安寺—南京西路）", "Line 2 link (Jing'an Temple - West Nanjing Rd)",
                           "line", color="#5a9e0f", weight=5, opacity=0.9, dash_array="10 6"),
        "line2_route": Style("2号线其余线路", "Line 2, rest of the line", "line", color="#97d700",
                             weight=3, opacity=0.7),
        "axis_station": Style("创新轴车站", "Innovation-axis station", "point", color="#2e5b06",
                              weight=2, fill_color="#c5e1a5", fill_opacity=1.0, radius=6),
        "station": Style("2号线车站", "Line 2 station", "point", color="#5a9e0f", weight=2,
                         fill_color="#ffffff", fill_opacity=1.0, radius=4),
    },
    build=build,
    simplify_m=2.0,
    group="plan",
)

"""parkmap beside its peer: the same built layers as a Python user would put them on a web map
with plain folium (and, for static figures and the layout figures, plain geopandas +
matplotlib), measured in the same run. It reports; it asserts nothing.

    python scripts/bench_peer.py [--json OUT.json] [--timeout S] [--n-large N] ...
    python scripts/benchmark.py --peer            (the same, as a section of the benchmark)

Definitions (printed with the tables):

- Peer page: for a named map (webapp.maps.MAPS), every layer of its ``layers`` tuple, read from
  the built file, through ``folium.GeoJson(data, name=<title>, tooltip=GeoJsonTooltip(
  ["name_zh", "name_en"]), popup=GeoJsonPopup(<the first feature's properties>),
  style_function=<the layer's style for the feature's kind, from layers.json>,
  marker=CircleMarker(...))``, a ``LayerControl``, default tiles (OpenStreetMap), ``m.save()``.
  folium's CDN assets are fetched once from the npm registry into scripts/.bench-cache/ and the
  saved page is pointed at local copies; a Python http.server thread serves page and assets,
  gzip-compressed (precompressed in memory) when the browser asks for it.
- parkmap page: ``parkmap serve`` (gunicorn) on the same layers folder, basemap=none (its
  default). Every request to another host is aborted in the browser (the peer's OSM tiles) and
  counted apart; transfer is the sum of the encoded bodies of every response the page loaded
  (Playwright ``request.sizes()``). Every run sends ``Accept-Encoding: gzip, deflate`` (gzip for
  both: on 127.0.0.1 Chromium's own header offers br and zstd too, which parkmap answers with
  brotli and the peer's http.server cannot); one run each with Chromium's own header is
  reported under the table.
- Drawn: parkmap: ``<html data-pm-ready="1">`` (set when every layer is on the map);
  peer: the load event has fired (folium adds its GeoJSON inline, synchronously, before it) and
  every ``geo_json_*`` L.GeoJSON of the page exists with its features added. For both, the time
  is ``performance.now()`` (from navigation start) in the first requestAnimationFrame callback
  that sees the condition. Each run is a fresh browser context (empty cache), 1366x900,
  parkmap and peer alternated (ABBA), after one unmeasured run of each.
- JS heap: CDP ``Runtime.getHeapUsage().usedSize`` after drawn and
  ``HeapProfiler.collectGarbage``.
- Synthetic parks: a copy of the layers folder whose parks.geojson holds N seeded random points
  in the Changning and Jing'an district polygons, each with the properties of a real park of
  that district (kind, role, source, passage, themes, ...), its own id/name, zone and subdistrict
  from the polygons it falls in, and confidence building/street/area mixed; layers.json's count
  and bounds follow. Polygons: the same, each feature a 200-vertex ring (kind ``area``,
  parks-like: it is the parks layer).
- Python-side timings run in a fresh subprocess each (bounded by --timeout): first compose of
  /map/<id> (Flask test client, first request of a new app: includes reading the layers) vs
  reading the layer files + building the folium map + ``m.save()``; /figure/<map>.png (first
  request; re-render = the same request on a new app in the same process, so the layer frames
  and matplotlib are warm but no response is cached) vs ``geopandas.read_file`` + ``plot`` +
  ``savefig`` at the same size and dpi; /api/compare (first request, then warm) vs the same
  figures written with geopandas (sjoin, sjoin_nearest, overlay).
"""
from __future__ import annotations

import argparse
import gzip
import http.server
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CACHE = Path(__file__).resolve().parent / ".bench-cache"
VENDOR = CACHE / "vendor"
CHROMIUM = os.environ.get("PARKMAP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
VIEWPORT = {"width": 1366, "height": 900}
SEED = 20261130
EXTERNAL = re.compile(r"^https?://(?!127\.0\.0\.1[:/]|localhost[:/])")

# folium's CDN URL -> (npm package, version, file in the package, local path under VENDOR)
ASSETS = [
    ("https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js",
     "leaflet", "1.9.3", "dist/leaflet.js"),
    ("https://code.jquery.com/jquery-3.7.1.min.js", "jquery", "3.7.1", "dist/jquery.min.js"),
    ("https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js",
     "bootstrap", "5.2.2", "dist/js/bootstrap.bundle.min.js"),
    ("https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js",
     "drmonty-leaflet-awesome-markers", "2.0.2", "js/leaflet.awesome-markers.js"),
    ("https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css",
     "leaflet", "1.9.3", "dist/leaflet.css"),
    ("https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css",
     "bootstrap", "5.2.2", "dist/css/bootstrap.min.css"),
    ("https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css",
     "bootstrap", "3.1.1", "dist/css/bootstrap-glyphicons.css"),  # extracted, see _glyphicons
    ("https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css",
     "@fortawesome/fontawesome-free", "6.2.0", "css/all.min.css"),
    ("https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css",
     "drmonty-leaflet-awesome-markers", "2.0.2", "css/leaflet.awesome-markers.css"),
    ("https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css",
     "folium-templates", "generated", "leaflet.awesome.rotate.min.css"),  # see _rotate_css
]
ASSET_NOTES = [
    ("leaflet 1.9.3, jquery 3.7.1 (its dist/jquery.min.js is the code.jquery.com file), bootstrap "
     "5.2.2, @fortawesome/fontawesome-free 6.2.0: the same versions from npm."),
    ("Leaflet.awesome-markers 2.0.2 (cdnjs): npm `drmonty-leaflet-awesome-markers@2.0.2`, a "
     "repackaging of the same 2.0.2 release (js/, css/ and the marker images)."),
    ("bootstrap 3.0.0 `bootstrap-glyphicons.css` (netdna): bootstrap 3.0.0 is not on npm; the "
     "closest is `bootstrap@3.1.1` — its dist/css/bootstrap.css glyphicon rules (@font-face + "
     "`.glyphicon*`) extracted into one file, fonts beside it (not loaded: no icon is drawn)."),
    ("folium's `leaflet.awesome.rotate.min.css` (jsDelivr from GitHub, not on npm nor in the "
     "installed folium): written here from its pattern (`.fa-rotate-<n>` for 0-359 degrees), "
     "minified; about the same size, not byte-identical."),
]
CDN_HOSTS = ("cdn.jsdelivr.net", "code.jquery.com", "cdnjs.cloudflare.com", "netdna.bootstrapcdn.com")


def _local_dir(pkg: str, version: str) -> Path:
    return VENDOR / f"{pkg.split('/')[-1]}@{version}"


def _npm_pack(spec: str, dest: Path) -> Path:
    """A package tarball from the npm registry (npm's own client: it checks the integrity)."""
    dest.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(["npm", "pack", spec, "--silent", "--pack-destination", str(dest)],
                         capture_output=True, text=True, timeout=180, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"npm pack {spec} failed: {out.stderr.strip()[-400:]}")
    return dest / out.stdout.strip().splitlines()[-1]


def _extract(tgz: Path, into: Path) -> None:
    tmp = into.with_name(into.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(tgz) as tar:
        tar.extractall(tmp, filter="data")
    shutil.rmtree(into, ignore_errors=True)
    (tmp / "package").rename(into)
    shutil.rmtree(tmp, ignore_errors=True)


def _glyphicons(bootstrap3: Path) -> None:
    """bootstrap 3's glyphicon rules (the 3.0.0 'bootstrap-glyphicons.css' is those rules)."""
    css = (bootstrap3 / "dist/css/bootstrap.css").read_text(encoding="utf-8")
    start = css.index("@font-face")
    out, pos = [], start
    while True:
        end = css.index("}", pos) + 1
        rule = css[pos:end]
        selector = rule.split("{", 1)[0].strip()
        if not selector.startswith(("@font-face", ".glyphicon")):
            break
        out.append(rule.strip())
        pos = end
    (bootstrap3 / "dist/css/bootstrap-glyphicons.css").write_text("\n".join(out) + "\n",
                                                                   encoding="utf-8")


def _rotate_css(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(
        f".fa-rotate-{d}{{-ms-transform:rotate({d}deg);-webkit-transform:rotate({d}deg);"
        f"transform:rotate({d}deg)}}" for d in range(360)), encoding="utf-8")


def fetch_assets(log=print) -> dict[str, str]:
    """folium's CDN URLs -> local URL paths (/vendor/...); fetched once into scripts/.bench-cache."""
    packs = CACHE / "npm"
    for pkg, version in sorted({(a[1], a[2]) for a in ASSETS}):
        local = _local_dir(pkg, version)
        if pkg == "folium-templates":
            if not (local / "leaflet.awesome.rotate.min.css").is_file():
                _rotate_css(local / "leaflet.awesome.rotate.min.css")
            continue
        if local.is_dir():
            continue
        log(f"fetching {pkg}@{version} from the npm registry")
        _extract(_npm_pack(f"{pkg}@{version}", packs), local)
        if pkg == "bootstrap" and version.startswith("3."):
            _glyphicons(local)
    urls = {}
    for url, pkg, version, file in ASSETS:
        path = _local_dir(pkg, version) / file
        if not path.is_file():
            raise RuntimeError(f"{path} missing after fetching {pkg}@{version}")
        urls[url] = "/vendor/" + path.relative_to(VENDOR).as_posix()
    return urls


def localize(html: str, urls: dict[str, str]) -> str:
    for url, local in urls.items():
        html = html.replace(url, local)
    hosts = "|".join(map(re.escape, CDN_HOSTS))
    left = sorted(set(re.findall(rf'(?:src|href)="https?://({hosts})/', html)))
    if left:
        raise RuntimeError(f"peer page still links {', '.join(left)}: folium's assets changed? "
                           "update ASSETS in scripts/bench_peer.py")
    return html


# --- synthetic layers ---------------------------------------------------------------------------

def _polys(doc: dict, pred) -> list:
    from shapely.geometry import shape
    return [(f["properties"], shape(f["geometry"])) for f in doc["features"]
            if f.get("geometry") and pred(f["properties"])]


def synthetic_layers(src: str | Path, out: str | Path, n: int, *, polygons: bool = False,
                     vertices: int = 200, seed: int = SEED) -> Path:
    """A copy of the built layers folder ``src`` at ``out`` whose parks.geojson holds ``n``
    seeded synthetic parks in Changning and Jing'an (points, or ``vertices``-vertex polygons of
    60-200 m radius), each carrying the properties of a real park of its district; layers.json's
    feature count and bounds updated. Deterministic for a given (src, n, polygons, seed)."""
    import numpy as np
    import shapely

    src, out = Path(src), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for p in src.iterdir():
        if p.is_file() and p.name not in ("parks.geojson", "layers.json"):
            shutil.copy2(p, out / p.name)
    read = lambda name: json.loads((src / name).read_text(encoding="utf-8"))
    districts = _polys(read("districts.geojson"),
                       lambda p: p.get("district") in ("changning", "jingan") and p.get("kind") == "district")
    zones = _polys(read("changning_zones.geojson"), lambda p: bool(p.get("zone")))
    zones += _polys(read("jingan_layout.geojson"), lambda p: bool(p.get("zone")))
    zones = [(p, g) for p, g in zones if g.geom_type in ("Polygon", "MultiPolygon")]
    subs = _polys(read("subdistricts.geojson"), lambda p: True)
    real = read("parks.geojson")["features"]
    templates = {d: [f["properties"] for f in real if f["properties"].get("district") == d]
                 for d in ("changning", "jingan")}

    rng = np.random.default_rng(seed + n + (7 if polygons else 0))
    union = shapely.union_all([g for _, g in districts])
    shapely.prepare(union)
    x0, y0, x1, y1 = union.bounds
    xs, ys = np.empty(0), np.empty(0)
    while len(xs) < n:
        cx = rng.uniform(x0, x1, 2 * n + 100)
        cy = rng.uniform(y0, y1, 2 * n + 100)
        keep = shapely.contains_xy(union, cx, cy)
        xs, ys = np.concatenate([xs, cx[keep]]), np.concatenate([ys, cy[keep]])
    xs, ys = xs[:n], ys[:n]

    def which(items, key):
        """For every point, key(props) of the first of ``items`` containing it, else None."""
        found = np.full(n, -1)
        for j, (props, geom) in enumerate(items):
            shapely.prepare(geom)
            found[shapely.contains_xy(geom, xs, ys) & (found < 0)] = j
        keys = [key(props) for props, _ in items]
        return [keys[j] if j >= 0 else None for j in found]

    district = which(districts, lambda p: p["district"])
    zone = which(zones, lambda p: (p["district"], p["zone"]))
    sub = which(subs, lambda p: (p["name_zh"], p["name_en"]))
    conf = rng.choice(["building", "street", "area"], size=n, p=[0.3, 0.3, 0.4])
    pick = rng.integers(0, 1 << 30, size=n)
    radius_m = rng.uniform(60, 200, size=n)
    jitter = rng.uniform(0.9, 1.1, size=(n, vertices)) if polygons else None
    angles = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    features, minx, miny, maxx, maxy = [], math.inf, math.inf, -math.inf, -math.inf
    for i in range(n):
        d = district[i] or "changning"
        t = templates[d][pick[i] % len(templates[d])]
        z = zone[i][1] if zone[i] is not None and zone[i][0] == d else None
        s_zh, s_en = sub[i] if sub[i] is not None else (None, None)
        c = str(conf[i])
        props = {
            "id": f"park-syn-{i}", "name_zh": f"合成园区{i}号", "name_en": f"Synthetic park {i}",
            "kind": "area" if polygons else t["kind"], "district": d, "zone": z,
            "role": t["role"], "source": t["source"],
            "basis": (f"synthetic (scripts/bench_peer.py, seed {seed}): random "
                      f"{'polygon' if polygons else 'point'} in {d}"
                      + (f", {s_zh}" if s_zh else "") + f"; confidence {c} assigned at random"),
            "confidence": c, "approximate": c == "area", "themes": list(t.get("themes") or []),
            "passage": t.get("passage"), "named_in": list(t.get("named_in") or []),
            "year": t.get("year"), "area_km2_official": None, "area_km2": None,
            "area_ref": (f"subdistrict={s_zh}" if s_zh else f"zone={z}") if c == "area" else None,
            "within_zh": (s_zh or d) if c == "area" else None,
            "within_en": (s_en or d) if c == "area" else None,
            "subdistrict": s_zh, "subdistrict_en": s_en,
            "location_quote": t.get("location_quote"), "location_source": t.get("location_source"),
            "location_date": t.get("location_date"),
        }
        x, y = float(xs[i]), float(ys[i])
        if polygons:
            r = radius_m[i] * jitter[i]
            dx = r * np.cos(angles) / (111_320 * math.cos(math.radians(y)))
            dy = r * np.sin(angles) / 110_574
            ring = [[round(x + a, 6), round(y + b, 6)] for a, b in zip(dx, dy)]
            ring.append(ring[0])
            geom = {"type": "Polygon", "coordinates": [ring]}
            bx, by = [p[0] for p in ring], [p[1] for p in ring]
            minx, maxx, miny, maxy = min(minx, *bx), max(maxx, *bx), min(miny, *by), max(maxy, *by)
        else:
            geom = {"type": "Point", "coordinates": [round(x, 6), round(y, 6)]}
            minx, maxx, miny, maxy = min(minx, x), max(maxx, x), min(miny, y), max(maxy, y)
        features.append({"type": "Feature", "properties": props, "geometry": geom})
    (out / "parks.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
        encoding="utf-8")
    index = read("layers.json")
    for meta in index["layers"]:
        if meta["id"] == "parks":
            meta["feature_count"] = n
            meta["bounds"] = [round(v, 6) for v in (minx, miny, maxx, maxy)]
    (out / "layers.json").write_text(json.dumps(index, ensure_ascii=False, indent=1),
                                     encoding="utf-8")
    return out


# --- the peer: plain folium, plain geopandas ---------------------------------------------------

def _layer_meta(layers_dir: Path) -> dict[str, dict]:
    index = json.loads((Path(layers_dir) / "layers.json").read_text(encoding="utf-8"))
    return {m["id"]: m for m in index["layers"]}


def peer_map(layers_dir: str | Path, map_id: str):
    """What a Python user writes with plain folium for a named map: returns (folium.Map, the
    number of GeoJson layers with something to draw)."""
    import folium

    from webapp.maps import get_map

    layers_dir = Path(layers_dir)
    named = get_map(map_id)
    meta = _layer_meta(layers_dir)
    m = folium.Map(location=list(named.center), zoom_start=named.zoom)  # OpenStreetMap tiles
    drawn = 0
    for layer_id in named.layers:
        data = json.loads((layers_dir / meta[layer_id]["file"]).read_text(encoding="utf-8"))
        styles = meta[layer_id]["styles"]
        first = next(iter(styles.values()))["leaflet"]

        def style(feature, styles=styles, first=first):
            s = styles.get(feature["properties"].get("kind"))
            return s["leaflet"] if s else first

        fields = list(data["features"][0]["properties"]) if data["features"] else []
        folium.GeoJson(
            data, name=meta[layer_id]["title_zh"],
            tooltip=folium.GeoJsonTooltip(["name_zh", "name_en"]),
            popup=folium.GeoJsonPopup(fields) if fields else None,
            style_function=style,
            marker=folium.CircleMarker(radius=6, fill=True),
        ).add_to(m)
        drawn += any(f.get("geometry") for f in data["features"])
    folium.LayerControl().add_to(m)
    return m, drawn


def _figure_size_mm():
    from webapp.render.figure import DEFAULT_DPI, DEFAULT_HEIGHT_MM, DEFAULT_WIDTH_MM
    return DEFAULT_WIDTH_MM, DEFAULT_HEIGHT_MM, DEFAULT_DPI


def peer_figure(layers_dir: Path, map_id: str, frames: dict | None = None) -> tuple[bytes, dict]:
    """A static PNG of a named map with plain geopandas + matplotlib: the map's layers coloured
    by kind (layers.json styles), framed on the layers that make the map what it is (as
    parkmap's figure: those not on every map), A4 landscape at 300 dpi. No labels, legend,
    scale bar or north arrow (parkmap draws those)."""
    import geopandas as gpd
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from webapp.maps import MAPS, get_map

    named = get_map(map_id)
    meta = _layer_meta(layers_dir)
    if frames is None:
        frames = {lid: gpd.read_file(Path(layers_dir) / meta[lid]["file"]).to_crs(32651)
                  for lid in named.layers}
    shared = set.intersection(*(set(m.layers) for m in MAPS))
    focus = [lid for lid in named.layers if lid not in shared] or list(named.layers)
    w_mm, h_mm, dpi = _figure_size_mm()
    fig, ax = plt.subplots(figsize=(w_mm / 25.4, h_mm / 25.4))
    for lid in named.layers:
        gdf = frames[lid]
        gdf = gdf[gdf.geometry.notna()]
        for kind, part in gdf.groupby(gdf["kind"].fillna("")):
            st = meta[lid]["styles"].get(kind) or next(iter(meta[lid]["styles"].values()))
            poly = part.geom_type.isin(["Polygon", "MultiPolygon"])
            point = part.geom_type.isin(["Point", "MultiPoint"])
            if poly.any():
                part[poly].plot(ax=ax, facecolor=st["fill_color"] or "none", edgecolor=st["color"],
                                alpha=None, linewidth=st["weight"] * 0.75)
            if (~poly & ~point).any():
                part[~poly & ~point].plot(ax=ax, color=st["color"], linewidth=st["weight"] * 0.75)
            if point.any():
                part[point].plot(ax=ax, color=st["fill_color"] or st["color"],
                                 edgecolor=st["color"], markersize=(st["radius"] * 0.75) ** 2)
    x0, y0, x1, y1 = gpd.pd.concat([frames[lid].geometry for lid in focus]).total_bounds
    pad = 0.04 * max(x1 - x0, y1 - y0)
    ax.set_xlim(x0 - pad, x1 + pad)
    ax.set_ylim(y0 - pad, y1 + pad)
    ax.set_aspect("equal")
    ax.set_axis_off()
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue(), frames


def peer_compare(layers_dir: Path, frames: dict | None = None) -> tuple[dict, dict]:
    """/api/compare's figures for the default pair (changning_zones, jingan_layout), written
    with plain geopandas: per zone/belt area, share of district, parks covered, parks/km²;
    union; Line 2 length in district; nearest Line 2 / metro station (sjoin_nearest) and the
    parks within 500 and 800 m; overlap of the two layouts. In EPSG:32651."""
    import geopandas as gpd
    import pandas as pd

    from webapp.layouts import (DEFAULT_LEFT, DEFAULT_RIGHT, LINE2_ROUTE_KINDS,
                                LINE2_STATION_KINDS, METRO_STATION_KINDS, get_def)

    meta = _layer_meta(layers_dir)
    if frames is None:
        frames = {lid: gpd.read_file(Path(layers_dir) / meta[lid]["file"]).to_crs(32651)
                  for lid in ("parks", "districts", "line2", "context", "changning_zones",
                              "jingan_layout")}
    parks_all, districts, line2, context = (frames[k] for k in ("parks", "districts", "line2", "context"))
    l2_stations = line2[line2["kind"].isin(LINE2_STATION_KINDS)]
    metro = pd.concat([context[context["kind"].isin(METRO_STATION_KINDS)], l2_stations])
    route = line2[line2["kind"].isin(LINE2_ROUTE_KINDS)]
    out, unions = {}, {}
    for lid in (DEFAULT_LEFT, DEFAULT_RIGHT):
        d = get_def(lid)
        dist = districts[districts["district"] == d.district].dissolve()
        units = frames[d.unit_layer]
        if d.unit_kinds:
            units = units[units["kind"].isin(d.unit_kinds)]
        units = units[units.geom_type.isin(["Polygon", "MultiPolygon"])].reset_index(drop=True)
        parks = parks_all[(parks_all["district"] == d.district) & parks_all.geometry.notna()]
        pts = parks.copy()
        pts["geometry"] = parks.geometry.representative_point()
        units["area_km2"] = units.area / 1e6
        units["share_of_district"] = units.intersection(dist.geometry.iloc[0]).area / dist.area.iloc[0]
        hits = gpd.sjoin(pts, units[["geometry"]], predicate="covered_by")
        units["parks"] = hits.groupby("index_right").size().reindex(units.index, fill_value=0)
        units["parks_per_km2"] = units["parks"] / units["area_km2"]
        union = units.dissolve()
        unions[lid] = union
        res = {"units": units.drop(columns="geometry").to_dict("records"),
               "total_area_km2": float(union.area.iloc[0] / 1e6),
               "total_parks": int(gpd.sjoin(pts, union[["geometry"]], predicate="covered_by").shape[0]),
               "line2_length_km": float(route.dissolve().intersection(dist.geometry.iloc[0]).length.iloc[0] / 1e3)}
        for name, stations in (("line2", l2_stations), ("metro", metro)):
            near = gpd.sjoin_nearest(pts, stations[["geometry"]], distance_col="m")
            near = near[~near.index.duplicated()]["m"]
            for r in (500, 800):
                res[f"near_{name}_{r}m"] = int((near <= r).sum())
            if name == "line2":
                res["line2_distance_mean_m"], res["line2_distance_median_m"] = float(near.mean()), float(near.median())
        out[lid] = res
    both = gpd.overlay(unions[DEFAULT_LEFT], unions[DEFAULT_RIGHT], how="intersection")
    out["overlap_km2"] = float(both.area.sum() / 1e6)
    return out, frames


# --- workers: each Python-side measurement in its own fresh process ----------------------------

def _worker(kind: str, a: dict) -> dict:
    import logging
    logging.disable(logging.CRITICAL)
    t = time.perf_counter
    if kind == "compose-parkmap":
        from webapp import create_app
        with tempfile.TemporaryDirectory() as inst:
            client = create_app({"LAYERS_DIR": a["layers"], "INSTANCE_DIR": inst}).test_client()
            t0 = t()
            resp = client.get(a["path"])
            secs = t() - t0
            body = resp.data
        if resp.status_code != 200:
            return {"error": f"HTTP {resp.status_code}: {body[:160].decode(errors='replace')}"}
        return {"seconds": secs, "status": resp.status_code, "bytes": len(body),
                "gzip": len(gzip.compress(body, 6))}
    if kind == "compose-peer":
        t0 = t()
        m, drawn = peer_map(a["layers"], a["map"])
        m.save(a["out"])
        secs = t() - t0
        size = Path(a["out"]).stat().st_size
        return {"seconds": secs, "bytes": size, "layers": drawn}
    if kind == "figure-parkmap":
        from webapp import create_app
        cfg = {"LAYERS_DIR": a["layers"], "RENDER_TIMEOUT_S": a["timeout"],
               "RENDER_RATE_PER_HOUR": 100000, "RENDER_MAX_QUEUE": 8}
        out = {"rerender": []}
        deadline = time.monotonic() + a["timeout"]
        for i in range(1 + a["repeat"]):
            with tempfile.TemporaryDirectory() as inst:
                client = create_app({**cfg, "INSTANCE_DIR": inst}).test_client()
                t0 = t()
                resp = client.get(a["path"])
                secs = t() - t0
                if resp.status_code != 200:
                    out["error"] = f"HTTP {resp.status_code}: {resp.data[:200].decode(errors='replace')}"
                    break
                if i == 0:
                    out.update(first=secs, bytes=len(resp.data))
                    t0 = t()
                    again = client.get(a["path"])
                    out["cached"] = t() - t0 if again.status_code == 200 else None
                else:
                    out["rerender"].append(secs)
            if time.monotonic() > deadline:
                break
        return out
    if kind == "figure-peer":
        out = {"rerender": []}
        t0 = t()
        png, frames = peer_figure(Path(a["layers"]), a["map"])
        out.update(first=t() - t0, bytes=len(png))
        deadline = time.monotonic() + a["timeout"]
        for _ in range(a["repeat"]):
            t0 = t()
            peer_figure(Path(a["layers"]), a["map"], frames)
            out["rerender"].append(t() - t0)
            if time.monotonic() > deadline:
                break
        return out
    if kind == "compare-parkmap":
        from webapp import create_app
        with tempfile.TemporaryDirectory() as inst:
            client = create_app({"LAYERS_DIR": a["layers"], "INSTANCE_DIR": inst}).test_client()
            t0 = t()
            resp = client.get("/api/compare")
            out = {"first": t() - t0, "status": resp.status_code, "warm": []}
            if resp.status_code != 200:
                return {"error": f"HTTP {resp.status_code}: {resp.data[:160].decode(errors='replace')}"}
            deadline = time.monotonic() + a["timeout"]
            for _ in range(a["repeat"]):
                t0 = t()
                client.get("/api/compare")
                out["warm"].append(t() - t0)
                if time.monotonic() > deadline:
                    break
        return out
    if kind == "compare-peer":
        t0 = t()
        _, frames = peer_compare(Path(a["layers"]))
        out = {"first": t() - t0, "warm": []}
        deadline = time.monotonic() + a["timeout"]
        for _ in range(a["repeat"]):
            t0 = t()
            peer_compare(Path(a["layers"]), frames)
            out["warm"].append(t() - t0)
            if time.monotonic() > deadline:
                break
        return out
    raise ValueError(kind)


def run_worker(kind: str, limit: float, **a) -> dict:
    """A worker in a fresh process; {"timeout": seconds} if it ran past ``limit`` seconds."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.Popen([sys.executable, __file__, "--worker", kind, json.dumps(a)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"timeout": limit}
    if proc.returncode != 0:
        return {"error": (err.strip().splitlines() or [f"exit {proc.returncode}"])[-1][:300]}
    return json.loads(out.strip().splitlines()[-1])


# --- servers -----------------------------------------------------------------------------------

_COMPRESS = (".html", ".js", ".css", ".json", ".geojson", ".svg", ".txt")
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css",
          ".json": "application/json", ".svg": "image/svg+xml", ".png": "image/png",
          ".woff": "font/woff", ".woff2": "font/woff2", ".ttf": "font/ttf",
          ".eot": "application/vnd.ms-fontobject"}


class StaticServer:
    """Peer pages (/peer/...) and folium's assets (/vendor/...) from a ThreadingHTTPServer in a
    thread; text is sent gzip-compressed (level 6, compressed once and kept) when asked for."""

    def __init__(self, pages: Path):
        self.roots = {"/peer/": Path(pages), "/vendor/": VENDOR}
        self._memo: dict[Path, tuple] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                entry = server.lookup(urllib.parse.unquote(urllib.parse.urlsplit(self.path).path))
                if entry is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                raw, gz, ctype = entry
                use_gz = gz is not None and "gzip" in self.headers.get("Accept-Encoding", "")
                body = gz if use_gz else raw
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-cache")
                if gz is not None:
                    self.send_header("Vary", "Accept-Encoding")
                if use_gz:
                    self.send_header("Content-Encoding", "gzip")
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def lookup(self, path: str):
        for prefix, root in self.roots.items():
            if path.startswith(prefix):
                f = (root / path[len(prefix):]).resolve()
                if root.resolve() not in f.parents or not f.is_file():
                    return None
                return self.load(f)
        return None

    def load(self, f: Path):
        key = (f, f.stat().st_mtime_ns)
        with self._lock:
            hit = self._memo.get(f)
            if hit and hit[0] == key:
                return hit[1]
        raw = f.read_bytes()
        gz = gzip.compress(raw, 6) if f.suffix in _COMPRESS else None
        entry = (raw, gz, _TYPES.get(f.suffix, "application/octet-stream"))
        with self._lock:
            self._memo[f] = (key, entry)
        return entry

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """`parkmap serve` (gunicorn, its defaults: a worker per core x 4 threads) on a layers
    folder, in a subprocess; --timeout raised so a slow page is measured, not killed."""

    def __init__(self, layers: Path, instance: Path, timeout: int, wait: float):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        instance.mkdir(parents=True, exist_ok=True)
        self.log = open(instance.parent / f"serve-{self.port}.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "webapp.cli", "serve", "--port", str(self.port), "--layers",
             str(layers), "--access-log", "", "--timeout", str(int(timeout))],
            env={**os.environ, "PARKMAP_INSTANCE_DIR": str(instance)}, cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=self.log, start_new_session=True)
        deadline = time.monotonic() + wait
        while True:
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"parkmap serve on {layers} did not start (log: {self.log.name})")
            time.sleep(0.2)

    def warm(self, path: str, rounds: int = 3, parallel: int = 4) -> None:
        """The page and every same-site URL written in it (assets, layer data, whatever the
        page links), over HTTP with gzip, several times from parallel connections so each
        gunicorn worker's caches are filled before the browser runs."""
        from concurrent.futures import ThreadPoolExecutor

        def get(url):
            req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
            try:
                with urllib.request.urlopen(req, timeout=600) as r:
                    body = r.read()
                    return gzip.decompress(body) if r.headers.get("Content-Encoding") == "gzip" else body
            except OSError:
                return b""

        html = get(self.base + path).decode("utf-8", "replace")
        html = html.replace("&amp;", "&").replace("\\u0026", "&").replace("\\/", "/")
        links = {u for u in re.findall(r"""(/(?:api|assets|static|vendor)/[^"'\s<>{}\\]+)""", html)}
        with ThreadPoolExecutor(parallel) as pool:
            for _ in range(rounds):
                list(pool.map(get, [self.base + path] + [self.base + u for u in sorted(links)] * parallel))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


# --- the browser ---------------------------------------------------------------------------------

_READY_JS = """
(() => {
  const mode = %s, expect = %d;
  let loaded = false;
  window.addEventListener('load', () => { loaded = true; }, {once: true});
  function done() {
    if (mode === 'parkmap') {
      const html = document.documentElement;
      return !!html && html.getAttribute('data-pm-ready') === '1';
    }
    if (!loaded || typeof L === 'undefined') return false;
    let n = 0;
    for (const k of Object.keys(window)) {
      if (/^geo_json_[0-9a-f]+$/.test(k) && window[k] instanceof L.GeoJSON
          && window[k].getLayers().length > 0) n++;
    }
    return n >= expect;
  }
  function tick() {
    if (done()) { window.__benchDrawn = performance.now(); return; }
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
})();
"""


GZIP_ONLY = "gzip, deflate"  # what the comparison asks for; see visit()


def visit(browser, url: str, mode: str, expect: int, timeout_s: float,
          accept_encoding: str | None = GZIP_ONLY) -> dict:
    """One navigation in a fresh context: drawn (ms from navigation start), wall time, transfer
    (encoded bodies), requests, aborted external requests, JS heap after GC.

    ``accept_encoding``: sent on every request instead of Chromium's own. On http://127.0.0.1
    Chromium advertises br and zstd too, and parkmap answers brotli where it is taken, which
    the peer's http.server cannot: so the comparison runs with gzip for both; None keeps
    Chromium's header (the reference line under the table)."""
    ctx = browser.new_context(viewport=VIEWPORT, extra_http_headers=(
        {"Accept-Encoding": accept_encoding} if accept_encoding else None))
    aborted = []

    def abort(route):
        aborted.append(route.request.url)
        route.abort()

    ctx.route(EXTERNAL, abort)
    ctx.add_init_script(_READY_JS % (json.dumps(mode), expect))
    page = ctx.new_page()
    finished, inflight = [], set()

    def done(r):
        inflight.discard(r)
        finished.append(r)

    page.on("request", lambda r: inflight.add(r))
    page.on("requestfinished", done)
    page.on("requestfailed", lambda r: inflight.discard(r))
    cdp = ctx.new_cdp_session(page)
    out = {}
    t0 = time.perf_counter()
    try:
        page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
        left = max(1.0, timeout_s - (time.perf_counter() - t0))
        page.wait_for_function("() => window.__benchDrawn !== undefined", polling=100,
                               timeout=left * 1000)
        out["wall_ms"] = (time.perf_counter() - t0) * 1000
        out["drawn_ms"] = page.evaluate("window.__benchDrawn")
        try:  # what the page still loads after drawn counts in its transfer too
            page.wait_for_load_state("load", timeout=30000)
        except Exception:
            pass
        quiet, until = None, time.monotonic() + 5  # then no request in flight for 150 ms
        while time.monotonic() < until:
            if inflight:
                quiet = None
            elif quiet is None:
                quiet = time.monotonic()
            elif time.monotonic() - quiet >= 0.15:
                break
            page.wait_for_timeout(25)
        cdp.send("HeapProfiler.collectGarbage")
        out["heap"] = cdp.send("Runtime.getHeapUsage")["usedSize"]
        sizes = [r.sizes() for r in finished]
        out["transfer"] = sum(s["responseBodySize"] for s in sizes)
        out["encodings"] = sorted({(r.response().headers.get("content-encoding") or "identity")
                                   for r in finished if r.response() is not None})
        out["requests"] = len(sizes)
        out["aborted"] = len(aborted)
    except Exception as exc:  # a timeout or a crashed page is a result, reported as such
        timed_out = "Timeout" in type(exc).__name__ or "Timeout" in str(exc)
        out = {"error": f"timed out (> {timeout_s:.0f} s)" if timed_out else "failed",
               "elapsed_s": time.perf_counter() - t0, "detail": str(exc).splitlines()[0][:200]}
    finally:
        try:
            ctx.close()
        except Exception:
            pass
    return out


def _med(runs: list[dict], key: str):
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else None


def summarize(runs: list[dict]) -> dict:
    ok = [r for r in runs if "error" not in r]
    s = {"n": len(ok), "runs": runs}
    for key in ("drawn_ms", "wall_ms", "transfer", "heap", "requests", "aborted"):
        s[key] = _med(ok, key)
    s["encodings"] = sorted({e for r in ok for e in r.get("encodings", ())})
    errors = [r["error"] for r in runs if "error" in r]
    if errors:
        s["error"] = errors[0]
    return s


def alternate(browser, a: tuple, b: tuple, n: int, timeout_s: float, warm: bool = True,
              n_b: int | None = None) -> tuple[dict, dict]:
    """``n`` runs of each of two (url, mode, expect), alternated ABBA, after one unmeasured run
    of each; ``n_b`` limits the second's runs (a slow peer)."""
    n_b = n if n_b is None else n_b
    if warm:
        visit(browser, *a, timeout_s)
        if n_b:
            visit(browser, *b, timeout_s)
    ra, rb = [], []
    for i in range(max(n, n_b)):
        order = [(a, ra, n), (b, rb, n_b)]
        if i % 2:
            order.reverse()
        for target, runs, limit in order:
            if i < limit and not (runs and "error" in runs[-1]):  # one time-out is enough
                runs.append(visit(browser, *target, timeout_s))
    return summarize(ra), summarize(rb)


# --- formatting ----------------------------------------------------------------------------------

def _kib(n):
    return "–" if n is None else f"{n / 1024:,.1f} KiB" if n < 1048576 else f"{n / 1048576:,.1f} MiB"


def _int(v):
    return "–" if v is None else f"{round(v):,}"


def _ms(v):
    return "–" if v is None else f"{v:,.0f} ms"


def _s(v):
    if v is None:
        return "–"
    return f"{v * 1000:,.1f} ms" if v < 1 else f"{v:,.2f} s" if v < 100 else f"{v:,.0f} s"


def _ratio(a, b, bound=None):
    """a / b in bold; with b unknown but above ``bound`` (the peer timed out), "< a/bound"."""
    if a is not None and b is None and bound:
        return f"**< {a / bound:.2g}**"
    if a is None or b is None or not b:
        return "–"
    r = a / b
    return f"**{r:.2f}**" if r >= 0.01 else f"**{r:.4f}**"


def _cell(summary: dict, key: str, fmt) -> str:
    """A browser median with its run count, or why there is none."""
    if summary.get(key) is None:
        return summary.get("error") or "–"
    n = summary.get("n")
    return fmt(summary[key]) + (f" (n={n})" if n is not None else "")


# --- the run -------------------------------------------------------------------------------------

def bench_peer(report: list[str], result: dict, *, layers: str | Path | None = None,
               page_repeat: int = 7, repeat: int = 5, n_small: int = 1000,
               n_medium: int = 10_000, n_large: int = 100_000, polygons: int = 1000,
               vertices: int = 200, large_repeat: int = 5, timeout: float = 180.0,
               scale_map: str = "changning", figure_map: str = "overview",
               skip_large: bool = False, log=None) -> None:
    """Append the peer comparison (Markdown) to ``report`` and its numbers to
    ``result["peer"]``."""
    from playwright.sync_api import sync_playwright

    from layers.sources import LAYERS_DIR
    from webapp.maps import MAPS

    log = log or (lambda m: print(f"[bench_peer {time.strftime('%H:%M:%S')}] {m}", file=sys.stderr, flush=True))
    started = time.perf_counter()
    layers = Path(layers or LAYERS_DIR)
    res: dict = {"settings": {"page_repeat": page_repeat, "repeat": repeat, "n_small": n_small,
                              "n_medium": n_medium, "n_large": n_large, "polygons": polygons,
                              "vertices": vertices, "large_repeat": large_repeat,
                              "timeout_s": timeout, "scale_map": scale_map,
                              "figure_map": figure_map, "layers": str(layers)}}
    result["peer"] = res
    urls = fetch_assets(log)
    tmp = Path(tempfile.mkdtemp(prefix="bench-peer-"))
    pages = tmp / "pages"
    pages.mkdir()
    static = StaticServer(pages)
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    servers: list[AppServer] = []

    def peer_page(layers_dir: Path, map_id: str, name: str, t: float) -> dict:
        raw = pages / f"{name}.raw.html"
        info = run_worker("compose-peer", t, layers=str(layers_dir), map=map_id, out=str(raw))
        if "seconds" in info:
            html = localize(raw.read_text(encoding="utf-8"), urls)
            (pages / f"{name}.html").write_text(html, encoding="utf-8")
            raw.unlink()
            static.load(pages / f"{name}.html")  # compressed now, not during a run
            info["url"] = f"{static.base}/peer/{name}.html"
        return info

    def app(layers_dir: Path, name: str) -> AppServer:
        s = AppServer(layers_dir, tmp / f"instance-{name}", timeout=int(timeout) + 60,
                      wait=max(60.0, timeout))
        servers.append(s)
        return s

    try:
        # 1. the real layers: every named map and the Changning embed
        log("real layers: peer pages")
        real_peer = {m.id: peer_page(layers, m.id, f"real-{m.id}", timeout) for m in MAPS}
        res["real_peer_compose"] = real_peer
        server = app(layers, "real")
        res["pages"] = {}
        targets = [(f"/map/{m.id}", m.id) for m in MAPS] + [(f"/embed/{scale_map}", scale_map)]
        for path, map_id in targets:
            log(f"browser: {path} ({page_repeat} runs each, alternated)")
            peer = real_peer[map_id]
            server.warm(path)
            pm, fo = alternate(browser, (server.base + path, "parkmap", 0),
                               (peer.get("url", "about:blank"), "peer", peer.get("layers", 0)),
                               page_repeat, timeout)
            res["pages"][path] = {"parkmap": pm, "peer": fo}
        first_path, first_map = targets[0]
        log(f"browser: {first_path} with Chromium's own Accept-Encoding (transfer reference)")
        res["transfer_default_encoding"] = {
            "parkmap": summarize([visit(browser, server.base + first_path, "parkmap", 0, timeout, None)]),
            "peer": summarize([visit(browser, real_peer[first_map].get("url", "about:blank"), "peer",
                                     real_peer[first_map].get("layers", 0), timeout, None)])}
        server.stop()
        servers.remove(server)

        # 2. synthetic parks
        syn = {}
        sizes = [("points", n_small), ("points", n_medium)] + ([] if skip_large else [("points", n_large)])
        sizes.append(("polygons", polygons))
        res["synthetic"] = {}
        for shape, n in sizes:
            key = f"{n}-{shape}"
            log(f"synthetic: writing {n:,} {shape}")
            t0 = time.perf_counter()
            folder = synthetic_layers(layers, tmp / f"layers-{key}", n, polygons=shape == "polygons",
                                      vertices=vertices)
            syn[key] = folder
            entry = res["synthetic"][key] = {"n": n, "shape": shape, "vertices": vertices if shape == "polygons" else 1,
                                             "write_s": time.perf_counter() - t0,
                                             "parks_geojson_bytes": (folder / "parks.geojson").stat().st_size}
            path = f"/map/{scale_map}"
            large = n == n_large and shape == "points"
            with_peer = shape == "points" and n in (n_medium, n_large)
            if with_peer:
                log(f"synthetic {key}: peer page (compose, timeout {timeout:.0f} s)")
                entry["peer_compose"] = peer_page(folder, scale_map, f"syn-{key}", timeout)
            log(f"synthetic {key}: parkmap serve")
            try:
                server = app(folder, key)
                server.warm(path)
            except Exception as exc:
                entry["parkmap"] = {"error": f"server: {exc}"}
                continue
            runs = large_repeat if large else repeat
            if with_peer and "url" in entry["peer_compose"]:
                log(f"synthetic {key}: browser ({runs} parkmap runs, "
                    f"{1 if large else runs} peer run(s), alternated)")
                pm, fo = alternate(browser, (server.base + path, "parkmap", 0),
                                   (entry["peer_compose"]["url"], "peer", entry["peer_compose"]["layers"]),
                                   runs, timeout, warm=not large, n_b=1 if large else runs)
                entry["parkmap"], entry["peer"] = pm, fo
            else:
                log(f"synthetic {key}: browser ({runs} parkmap runs)")
                if not large:
                    visit(browser, server.base + path, "parkmap", 0, timeout)
                entry["parkmap"] = summarize([visit(browser, server.base + path, "parkmap", 0, timeout)
                                              for _ in range(runs)])
                if with_peer:
                    entry["peer"] = {"error": "peer page not made: " + json.dumps(entry["peer_compose"])}
            server.stop()
            servers.remove(server)

        # 3. Python side: compose at the large N, figures, compare
        big = syn.get(f"{n_large}-points")
        med = syn[f"{n_medium}-points"]
        if big is not None:
            log(f"compose /map/{scale_map} at {n_large:,} parks")
            res["compose_large"] = {
                "parkmap": run_worker("compose-parkmap", timeout, layers=str(big), path=f"/map/{scale_map}"),
                "peer": res["synthetic"][f"{n_large}-points"].get("peer_compose", {})}
        res["figures"] = {}
        for n, folder in ((n_medium, med), (n_large, big)):
            if folder is None:
                continue
            log(f"figure /figure/{figure_map}.png at {n:,} parks")
            reps = repeat if n == n_medium else max(1, min(repeat, large_repeat))
            res["figures"][n] = {
                "parkmap": run_worker("figure-parkmap", timeout * (1 + reps), layers=str(folder),
                                      path=f"/figure/{figure_map}.png", repeat=reps, timeout=timeout),
                "peer": run_worker("figure-peer", timeout * (1 + reps), layers=str(folder),
                                   map=figure_map, repeat=reps, timeout=timeout)}
        cmp_folder = big or med
        cmp_n = n_large if big is not None else n_medium
        log(f"/api/compare at {cmp_n:,} parks")
        res["compare"] = {"n": cmp_n,
                          "parkmap": run_worker("compare-parkmap", timeout * 2, layers=str(cmp_folder),
                                                repeat=repeat, timeout=timeout),
                          "peer": run_worker("compare-peer", timeout * 2, layers=str(cmp_folder),
                                             repeat=repeat, timeout=timeout)}
    finally:
        for s in servers:
            s.stop()
        try:
            browser.close()
        finally:
            pw.stop()
        static.close()
        shutil.rmtree(tmp, ignore_errors=True)
    res["elapsed_s"] = time.perf_counter() - started
    report += format_report(res)


def _fig(d: dict, key: str):
    """seconds of a worker result: 'first', 'cached' or the median of 'rerender'/'warm'."""
    if key in ("rerender", "warm"):
        vals = d.get(key) or []
        return (statistics.median(vals), len(vals)) if vals else (None, 0)
    return d.get(key), 1


def _wcell(d: dict, key: str, fmt=_s) -> str:
    if "timeout" in d:
        return f"timed out (> {d['timeout']:.0f} s)"
    v, n = _fig(d, key)
    if v is None:
        return d.get("error", "–")[:120]
    return fmt(v) + (f" (n={n})" if key in ("rerender", "warm") else "")


def format_report(res: dict) -> list[str]:
    st = res["settings"]
    out = ["## parkmap beside plain folium (same layers, same run)", "",
           ("ratio = parkmap ÷ peer (below 1: parkmap is smaller or faster). Browser: Debian's "
            "Chromium, headless, 1366x900, fresh context per run, parkmap and peer alternated; "
            "medians, n = runs. Peer for figures and /api/compare: plain geopandas + matplotlib."), "",
           "| | parkmap | plain folium | ratio |", "|---|---:|---:|---:|"]

    def row(label, a, b, va, vb, bound=None):
        out.append(f"| {label} | {a} | {b} | {_ratio(va, vb, bound)} |")

    def bound(summary, unit):
        """The limit (seconds x ``unit``) a timed-out peer ran past, else None."""
        if "timeout" in summary:
            return summary["timeout"] * unit
        if str(summary.get("error", "")).startswith("timed out"):
            return st["timeout_s"] * unit
        return None

    pages = res.get("pages", {})
    first = next(iter(pages), None)
    if first:
        pm, fo = pages[first]["parkmap"], pages[first]["peer"]
        row(f"{first} transfer, gzip, without tiles", _cell(pm, "transfer", _kib),
            _cell(fo, "transfer", _kib), pm.get("transfer"), fo.get("transfer"))
    for i, (path, p) in enumerate(pages.items()):
        pm, fo = p["parkmap"], p["peer"]
        label = (f"navigation → every layer drawn, {path} (median of {st['page_repeat']})" if i == 0
                 else f"same, {path}")
        row(label, _cell(pm, "drawn_ms", _ms), _cell(fo, "drawn_ms", _ms), pm.get("drawn_ms"),
            fo.get("drawn_ms"), bound(fo, 1000))
    syn = res.get("synthetic", {})
    for key, label in ((f"{st['n_medium']}-points", f"{st['n_medium']:,} synthetic parks: drawn"),
                       (f"{st['n_large']}-points", f"{st['n_large']:,} synthetic parks: drawn")):
        e = syn.get(key)
        if not e:
            continue
        pm, fo = e.get("parkmap", {}), e.get("peer", {})
        row(label + f" (/map/{st['scale_map']})", _cell(pm, "drawn_ms", _ms), _cell(fo, "drawn_ms", _ms),
            pm.get("drawn_ms"), fo.get("drawn_ms"), bound(fo, 1000))
        if key.startswith(str(st["n_large"])):
            row(f"{st['n_large']:,} synthetic parks: JS heap", _cell(pm, "heap", _kib),
                _cell(fo, "heap", _kib), pm.get("heap"), fo.get("heap"))
    comp = res.get("compose_large")
    if comp:
        pm, fo = comp["parkmap"], comp["peer"]
        row(f"map page HTML at {st['n_large']:,} parks (bytes; parkmap: /map/{st['scale_map']}, "
            "peer: the saved file)", _wcell(pm, "bytes", _kib), _wcell(fo, "bytes", _kib),
            pm.get("bytes"), fo.get("bytes"))
        row(f"first compose at {st['n_large']:,} parks (parkmap: first request of a new app; "
            "peer: read + build + save)", _wcell(pm, "seconds"), _wcell(fo, "seconds"),
            pm.get("seconds"), fo.get("seconds"), bound(fo, 1))
    for n, f in res.get("figures", {}).items():
        pm, fo = f["parkmap"], f["peer"]
        row(f"static figure /figure/{st['figure_map']}.png, {int(n):,} parks: first render",
            _wcell(pm, "first"), _wcell(fo, "first"), pm.get("first"), fo.get("first"), bound(fo, 1))
        row(f"static figure, {int(n):,} parks: re-render", _wcell(pm, "rerender"), _wcell(fo, "rerender"),
            _fig(pm, "rerender")[0], _fig(fo, "rerender")[0])
    c = res.get("compare")
    if c:
        pm, fo = c["parkmap"], c["peer"]
        row(f"/api/compare, {c['n']:,} parks: first", _wcell(pm, "first"), _wcell(fo, "first"),
            pm.get("first"), fo.get("first"), bound(fo, 1))
        row(f"/api/compare, {c['n']:,} parks: warm", _wcell(pm, "warm"), _wcell(fo, "warm"),
            _fig(pm, "warm")[0], _fig(fo, "warm")[0])
    out.append("")

    out += [f"### parkmap at scale (synthetic parks, /map/{st['scale_map']})", "",
            "| parks layer | parks.geojson | drawn | JS heap | transfer (gzip) | requests |",
            "|---|---:|---:|---:|---:|---:|"]
    for key, e in syn.items():
        pm = e.get("parkmap", {})
        what = (f"{e['n']:,} points" if e["shape"] == "points"
                else f"{e['n']:,} polygons x {e['vertices']} vertices (parks layer, kind area)")
        out.append(f"| {what} | {_kib(e['parks_geojson_bytes'])} | {_cell(pm, 'drawn_ms', _ms)} | "
                   f"{_cell(pm, 'heap', _kib)} | {_cell(pm, 'transfer', _kib)} | "
                   f"{_int(pm.get('requests'))} |")
    out.append("")

    out += ["### Details", "", "| page | side | drawn | wall (goto → seen) | JS heap | transfer | requests | aborted (tiles) |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
    for path, p in pages.items():
        for side in ("parkmap", "peer"):
            s = p[side]
            out.append(f"| {path} | {side} | {_cell(s, 'drawn_ms', _ms)} | {_ms(s.get('wall_ms'))} | "
                       f"{_kib(s.get('heap'))} | {_kib(s.get('transfer'))} | {_int(s.get('requests'))} | "
                       f"{_int(s.get('aborted'))} |")
    for key, e in syn.items():
        for side in ("parkmap", "peer"):
            s = e.get(side)
            if s:
                out.append(f"| synthetic {key} | {side} | {_cell(s, 'drawn_ms', _ms)} | {_ms(s.get('wall_ms'))} | "
                           f"{_kib(s.get('heap'))} | {_kib(s.get('transfer'))} | {_int(s.get('requests'))} | "
                           f"{_int(s.get('aborted'))} |")
    out.append("")
    notes = []
    for key, e in syn.items():
        pc = e.get("peer_compose")
        if pc:
            notes.append(f"peer page for {key}: compose {_wcell(pc, 'seconds')}, "
                         f"{_kib(pc.get('bytes'))} HTML")
    for n, f in res.get("figures", {}).items():
        pm = f["parkmap"]
        if pm.get("cached") is not None:
            notes.append(f"/figure/{st['figure_map']}.png at {int(n):,} parks asked again of the same app "
                         f"(its cache): {_s(pm['cached'])}; PNG {_kib(pm.get('bytes'))} (peer "
                         f"{_kib(f['peer'].get('bytes'))})")
    ref = res.get("transfer_default_encoding")
    if ref and first:
        pm, fo = ref["parkmap"], ref["peer"]
        notes.append(f"every browser run sends Accept-Encoding: {GZIP_ONLY} (gzip for both). With "
                     f"Chromium's own header (on 127.0.0.1 it offers br and zstd too), {first} "
                     f"transfers {_kib(pm.get('transfer'))} from parkmap "
                     f"({', '.join(pm.get('encodings') or ['?'])}) and {_kib(fo.get('transfer'))} "
                     f"from the peer ({', '.join(fo.get('encodings') or ['?'])}; Python's "
                     "http.server here does gzip only); one run each")
    notes.append("drawn follows each side's own page: parkmap's flag means its layers are on the map "
                 "the way parkmap draws them (whatever it chooses for many points, e.g. grouping, "
                 "counts); the peer draws one CircleMarker per feature, as folium does")
    notes.append(f"the peer has no embed page of its own: /embed/{st['scale_map']} is compared with "
                 f"the same folium page as /map/{st['scale_map']} (folium's output is a bare map)")
    out += ["Notes:", ""] + [f"- {x}" for x in notes + ASSET_NOTES] + [
        (f"- Synthetic runs: {st['repeat']} runs each at {st['n_small']:,} and {st['n_medium']:,} "
         f"points and for the polygons; at {st['n_large']:,} points parkmap {st['large_repeat']} "
         f"run(s) and the peer once, each bounded by {st['timeout_s']:.0f} s, no unmeasured "
         "warm-up run in the browser (parkmap's server warmed over HTTP)."),
        f"- Whole peer section: {res.get('elapsed_s', 0):.0f} s.", ""]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="also write the numbers as JSON")
    ap.add_argument("--layers", type=Path, help="built layers folder (default data/layers)")
    ap.add_argument("--page-repeat", type=int, default=7, help="browser runs per real page (7)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per other measurement (5)")
    ap.add_argument("--n-small", type=int, default=1000)
    ap.add_argument("--n-medium", type=int, default=10_000)
    ap.add_argument("--n-large", type=int, default=100_000)
    ap.add_argument("--polygons", type=int, default=1000)
    ap.add_argument("--vertices", type=int, default=200)
    ap.add_argument("--large-repeat", type=int, default=5,
                    help="parkmap browser runs at --n-large (the peer runs once)")
    ap.add_argument("--timeout", type=float, default=180.0,
                    help="seconds one slow step may take before it is reported as timed out")
    ap.add_argument("--scale-map", default="changning")
    ap.add_argument("--figure-map", default="overview")
    ap.add_argument("--skip-large", action="store_true", help="leave out the --n-large runs")
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "ARGS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker[0], json.loads(args.worker[1]))))
        return 0
    report: list[str] = []
    result: dict = {}
    bench_peer(report, result, layers=args.layers, page_repeat=args.page_repeat,
               repeat=args.repeat, n_small=args.n_small, n_medium=args.n_medium,
               n_large=args.n_large, polygons=args.polygons, vertices=args.vertices,
               large_repeat=args.large_repeat, timeout=args.timeout, scale_map=args.scale_map,
               figure_map=args.figure_map, skip_large=args.skip_large)
    print("\n".join(report))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

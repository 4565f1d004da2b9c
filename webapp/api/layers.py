"""JSON/GeoJSON/CSV twins of the pages: /api/maps, /api/layers, /api/layers/<id>.geojson,
/api/parks.csv. Layer GeoJSON is served as built, or shifted to GCJ-02 with ?datum=gcj02
(for GCJ-02 tiles such as Amap)."""
from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from geo.datum import convert_frame
from geo.errors import ParkmapError
from geo.geojson_io import dumps, to_feature_collection
from layers.registry import all_layers, get_layer
from layers.sources import SourceError
from webapp import stores
from webapp.api.downloads import download_urls
from webapp.http import Prepared, content_disposition
from webapp.maps import MAPS, get_map
from webapp.pages.assets import IMMUTABLE
from webapp.places import parks
from webapp.render.cache import app_cache
from webapp.render.compose import check_choice
from webapp.render.mapdata import feature_details, map_geojson, planned_area

bp = Blueprint("api", __name__, url_prefix="/api")

DATUMS = {"wgs84": "WGS84", "gcj02": "GCJ-02"}
DETAILS = ("full", "map", "overview")
PARK_COLUMNS = ("id", "name_zh", "name_en", "district", "zone", "subdistrict", "subdistrict_en",
                "lon", "lat", "confidence", "approximate", "within_zh", "within_en", "themes",
                "role", "source", "basis", "year")
LAYER_CACHE_SIZE = 32  # layers x datums x builds kept


def _map_json(m) -> dict:
    return {**m.metadata(), "urls": {
        "map": url_for("pages.full_map", map_id=m.id), "embed": url_for("pages.embed", map_id=m.id),
        "api": url_for("api.map_metadata", map_id=m.id)}}


@bp.get("/maps")
def maps():
    return jsonify(maps=[_map_json(m) for m in MAPS])


@bp.get("/maps/<map_id>")
def map_metadata(map_id: str):
    return jsonify(_map_json(get_map(map_id)))


@bp.get("/layers")
def layers():
    """Registry metadata, with feature counts and bounds from the built index when present,
    and the URL of each download format."""
    built = {}
    try:
        built = {entry["id"]: entry for entry in stores.layers().index().get("layers", [])}
    except (SourceError, ValueError):  # unbuilt index: only the counts are lost
        current_app.logger.warning("layers.json unreadable in %s", current_app.config["LAYERS_DIR"])
    out = []
    for spec in all_layers():
        meta = spec.metadata()
        entry = built.get(spec.id, {})
        meta.update(feature_count=entry.get("feature_count"), bounds=entry.get("bounds"),
                    geojson=url_for("api.layer_geojson", layer_id=spec.id),
                    downloads=download_urls(spec.id))
        out.append(meta)
    return jsonify(layers=out)


@bp.get("/layers/<layer_id>.geojson")
def layer_geojson(layer_id: str):
    """A layer: as built (``detail=full``, the default), or as the map draws it
    (``detail=map``, and ``detail=overview``: coarser outlines for low zooms;
    webapp.render.mapdata); in WGS84, or shifted to GCJ-02 (``datum=gcj02``)."""
    spec = get_layer(layer_id)  # 404 with the known ids before anything else
    datum = DATUMS[check_choice("datum", request.args.get("datum", "wgs84"), DATUMS)]
    detail = check_choice("detail", request.args.get("detail", "full"), DETAILS)
    store = stores.layers()
    resp = _prepared(store, spec, datum, detail).response("application/geo+json")
    if request.args.get("v") == store.version:  # the URL names this build: it never changes
        resp.headers["Cache-Control"] = IMMUTABLE
    return resp


def _prepared(store, spec, datum: str, detail: str) -> Prepared:
    """A layer as served, bytes, gzip and ETag made once per build of the layers."""
    def make() -> Prepared:
        if detail in ("map", "overview"):
            clip = (planned_area(store.frame("districts"), spec.map_clip_m)
                    if spec.map_clip_m is not None else None)
            tolerance = (spec.overview_simplify_m if detail == "overview" and
                         spec.overview_simplify_m is not None else spec.simplify_m)
            return Prepared.of(map_geojson(store.frame(spec.id), tolerance, datum, clip))
        if datum == "WGS84":
            return Prepared.of(store.geojson_text(spec.id))
        gdf = convert_frame(store.frame(spec.id), "WGS84", datum)
        return Prepared.of(dumps(to_feature_collection(gdf, name=spec.id, datum=datum)) + "\n")

    return app_cache("layer-bodies", LAYER_CACHE_SIZE).get(
        (str(store.dir), store.version, spec.id, datum, detail), make)


@bp.get("/layers/<layer_id>/features/<path:feature_id>.json")
def feature(layer_id: str, feature_id: str):
    """One feature's every property (what a map popup shows), by its id."""
    get_layer(layer_id)
    store = stores.layers()
    details = app_cache("feature-details", 16).get(
        (str(store.dir), store.version, layer_id),
        lambda: feature_details(store.geojson_text(layer_id)))
    if feature_id not in details:
        raise UnknownFeature(f"layer {layer_id!r} has no feature {feature_id[:60]!r}")
    resp = jsonify(id=feature_id, layer=layer_id, properties=details[feature_id])
    if request.args.get("v") == store.version:
        resp.headers["Cache-Control"] = IMMUTABLE
    return resp


class UnknownFeature(ParkmapError):
    status = 404


@bp.get("/parks.csv")
def parks_csv():
    """Every park, unlocated ones included (empty lon/lat); themes joined with '; '."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=PARK_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for props, geom in parks(stores.layers()):
        row = {k: _cell(props.get(k)) for k in PARK_COLUMNS}
        if geom is not None and not geom.is_empty:
            pt = geom if geom.geom_type == "Point" else geom.representative_point()
            row["lon"], row["lat"] = f"{pt.x:.6f}", f"{pt.y:.6f}"
        w.writerow(row)
    return Response(buf.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": content_disposition("parks.csv")})


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)

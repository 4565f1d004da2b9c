"""Every built layer as a download for desktop GIS and CAD: /api/layers/<id>.gpkg, .shp.zip,
.kml, .fgb and .csv (webapp.render.downloads writes them), in WGS84 or, with ?datum=gcj02, in
GCJ-02 as the GeoJSON route does. Each body is made once per build and kept; a URL carrying
?v=<build tag> is cached immutable."""
from __future__ import annotations

from flask import Blueprint, request, url_for

from geo.datum import convert_frame
from layers.registry import get_layer
from webapp import stores
from webapp.http import Prepared, content_disposition
from webapp.pages.assets import IMMUTABLE
from webapp.render import downloads
from webapp.render.cache import app_cache
from webapp.render.compose import check_choice

bp = Blueprint("downloads", __name__, url_prefix="/api")

DATUMS = {"wgs84": "WGS84", "gcj02": "GCJ-02"}  # as /api/layers/<id>.geojson
DOWNLOAD_CACHE_SIZE = 64  # layers x formats x datums kept (the largest body is about 0.6 MB)
# The key each format has in /api/layers' ``downloads`` (the GeoJSON's is "geojson").
KEYS = {"gpkg": "gpkg", "shp.zip": "shp", "kml": "kml", "fgb": "fgb", "csv": "csv"}


def download_urls(layer_id: str) -> dict[str, str]:
    """Format -> URL of the layer's every download, its GeoJSON first."""
    return {"geojson": url_for("api.layer_geojson", layer_id=layer_id),
            **{key: url_for("downloads.layer_file", layer_id=layer_id, fmt=ext)
               for ext, key in KEYS.items()}}


def layer_file(layer_id: str, fmt: str):
    spec = get_layer(layer_id)  # 404 naming the known layers
    datum = DATUMS[check_choice("datum", request.args.get("datum", "wgs84"), DATUMS)]
    store = stores.layers()

    def make() -> Prepared:
        frame = store.frame(spec.id)
        if datum != "WGS84":
            frame = convert_frame(frame, "WGS84", datum)
        return Prepared.of(downloads.write(fmt, frame, spec, datum))

    prepared = app_cache("layer-downloads", DOWNLOAD_CACHE_SIZE).get(
        (str(store.dir), store.version, spec.id, fmt, datum), make)
    resp = prepared.response(downloads.FORMATS[fmt][0])
    suffix = "" if datum == "WGS84" else "-gcj02"
    resp.headers["Content-Disposition"] = content_disposition(f"{spec.id}{suffix}.{fmt}",
                                                              "attachment")
    if request.args.get("v") == store.version:  # the URL names this build: it never changes
        resp.headers["Cache-Control"] = IMMUTABLE
    return resp


# One rule per extension (an unknown extension matches none: a 404), one endpoint to build
# them: url_for("downloads.layer_file", layer_id=..., fmt="kml").
for _ext in downloads.FORMATS:
    bp.add_url_rule(f"/layers/<layer_id>.{_ext}", "layer_file", layer_file,
                    defaults={"fmt": _ext})

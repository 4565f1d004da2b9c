"""The compare API: figures of two layouts (/api/compare, .csv), the layouts themselves, and
planners' drafts (/api/layouts: list, upload, read, delete, each layer as a layout draws it)."""
from __future__ import annotations

import json
import time
from urllib.parse import quote

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from webapp import stores
from webapp.errors import error_response, wants_json
from webapp.http import content_disposition
from webapp.intake import DraftError, DraftTooLarge, Limits, read_draft
from webapp.layouts import (DEFAULT_LEFT, DEFAULT_RIGHT, DRAFT_PREFIX, LAYOUTS, UnknownLayout,
                            draft_district, draft_summary, figures, layout_ids, resolve)
from webapp.pages.compare import sides
from webapp.render.cache import app_cache
from webapp.render import compose as c
from webapp.render.compare import compare_figures, compare_rows, csv_text, layer_text
from webapp.security import rate_limit

bp = Blueprint("layouts", __name__, url_prefix="/api")

MULTIPART_SLACK = 64 * 1024  # form fields and boundaries around the file in an upload


COMPARE_CACHE_SIZE = 64


def _compare_result() -> tuple[dict, str]:
    """The figures of two layouts, computed once per pair of layout versions: a built layout
    changes only with the layers' build, a draft never (it is stored once; a deleted one is
    checked for on every request, so it is a 404 at once)."""
    lang = c.check_choice("lang", request.args.get("lang", "zh"), c.LANGS)
    left, right = sides()
    store, drafts = stores.layers(), stores.drafts()
    for side in (left, right):
        if side.startswith(DRAFT_PREFIX) and not drafts.exists(side[len(DRAFT_PREFIX):]):
            resolve(side, store, drafts)  # UnknownDraft (404), saying why

    def make() -> dict:
        started = time.perf_counter()
        result = compare_figures(resolve(left, store, drafts), resolve(right, store, drafts),
                                 store, lang)
        result["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return result

    key = (str(store.dir), store.version, left, right, lang)
    return app_cache("compare", COMPARE_CACHE_SIZE).get(key, make), lang


@bp.get("/compare")
def api_compare():
    result, _ = _compare_result()
    resp = jsonify(result)
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/compare.csv")
def api_compare_csv():
    result, lang = _compare_result()
    name = f"compare_{result['left']['layout']['id']}_{result['right']['layout']['id']}.csv"
    return Response(csv_text(compare_rows(result, lang)), mimetype="text/csv",
                    headers={"Content-Disposition": content_disposition(name.replace(":", "-")),
                             "Cache-Control": "no-cache"})


def _layout_json(layout_meta: dict, urls=None) -> dict:
    lid = layout_meta["id"]
    api, compare = urls or _url_patterns()
    return {**layout_meta, "urls": {
        "api": api.replace("LAYOUT", quote(lid, safe=":")),
        "compare": compare.replace("OTHER", DEFAULT_LEFT if lid != DEFAULT_LEFT else DEFAULT_RIGHT)
                          .replace("LAYOUT", quote(lid, safe=":"))}}


def _url_patterns() -> tuple[str, str]:
    """The two URLs of a layout with placeholders, built once per listing (url_for per draft
    was most of a thousand-draft listing's time)."""
    return (url_for("layouts.api_layout", layout_id="LAYOUT"),
            url_for("compare.page", left="OTHER", right="LAYOUT"))


def _builtin_metadata(store) -> list[dict]:
    """The built-in layouts' metadata, made once per build of the layers."""
    return app_cache("layout-metadata", 4).get(
        (store.version,), lambda: [resolve(d.id, store, None).metadata() for d in LAYOUTS])


@bp.get("/layouts")
def api_layouts():
    """The built-in layouts, then every draft from the store's index (no draft is read)."""
    urls = _url_patterns()
    out = [_layout_json(m, urls) for m in _builtin_metadata(stores.layers())]
    out += [_layout_json(draft_summary(m), urls) for m in stores.drafts().index()]
    resp = jsonify(layouts=out, limits=Limits.from_config(current_app.config).__dict__,
                   datums=["WGS84", "GCJ-02", "BD-09"])
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/layouts")
def api_upload():
    rate_limit("uploads", "UPLOAD_RATE_PER_HOUR")
    limits = Limits.from_config(current_app.config)
    if request.content_length and request.content_length > limits.max_bytes + MULTIPART_SLACK:
        raise DraftTooLarge(f"upload too large: {request.content_length:,} bytes; the limit is "
                            f"{limits.max_bytes:,}")
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise DraftError("no file: send the draft in the form field 'file'")
        data, filename = upload.read(limits.max_bytes + 1), upload.filename or None
        fields = request.form
    else:
        data = request.stream.read(limits.max_bytes + 1)  # never more, even if chunked
        filename, fields = request.args.get("filename"), request.args
    datum = fields.get("datum") or request.args.get("datum")
    gdf, facts = read_draft(data, filename=filename, datum=datum, limits=limits,
                            layer=fields.get("layer") or request.args.get("layer"),
                            crs=fields.get("crs") or request.args.get("crs"))
    facts["district"] = draft_district(gdf, stores.layers().frame("districts"))
    meta, token = stores.drafts().save(gdf, facts, name=fields.get("name"), filename=filename,
                                       original=data)
    body = _layout_json(draft_summary(meta))
    body["token"] = token  # shown once: deleting the draft needs it (X-Draft-Token)
    resp = jsonify(body)
    resp.status_code = 201
    resp.headers["Location"] = body["urls"]["api"]
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/layouts/<layout_id>")
def api_layout(layout_id: str):
    store = stores.layers()
    layout = resolve(layout_id, store, stores.drafts())
    body = _layout_json(layout.metadata())
    body["figures"] = figures(layout, store)
    body["urls"]["layers"] = {lid: url_for("layouts.layout_layer", layout_id=layout.id, layer_id=lid)
                              for lid in (*layout.layers, *layout.overlays())}
    resp = jsonify(body)
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.delete("/layouts/<layout_id>")
def api_delete(layout_id: str):
    if not layout_id.startswith(DRAFT_PREFIX):
        if layout_id in layout_ids():
            raise DraftError(f"{layout_id!r} is a built-in layout; only drafts (draft:<id>) can be deleted")
        raise UnknownLayout(f"unknown layout {layout_id[:40]!r}; drafts are addressed as draft:<id>")
    token = request.headers.get("X-Draft-Token") or request.args.get("token")
    stores.drafts().delete(layout_id[len(DRAFT_PREFIX):], token)
    resp = jsonify(deleted=layout_id)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/layouts/<layout_id>/layers/<layer_id>.geojson")
def layout_layer(layout_id: str, layer_id: str):
    datum = {"wgs84": "WGS84", "gcj02": "GCJ-02"}[
        c.check_choice("datum", request.args.get("datum", "wgs84"), ("wgs84", "gcj02"))]
    store = stores.layers()
    text = layer_text(resolve(layout_id, store, stores.drafts()), store, layer_id, datum)
    resp = Response(text, mimetype="application/geo+json")
    if layout_id.startswith(DRAFT_PREFIX):
        resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.errorhandler(DraftError)
def _draft_error(exc: DraftError):
    """The app's error response, plus where the upload went wrong and any repaired shapes."""
    resp = error_response(exc.status, str(exc))
    if wants_json() and exc.details:
        resp.set_data(json.dumps({**resp.get_json(), **exc.details}, ensure_ascii=False))
    return resp

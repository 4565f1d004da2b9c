"""Putting places on the map: suggest where a place is (kept for review), and find a typed
street address in our own address data (no geocoding service).

    POST /api/places/<place_id>/suggestions   JSON or form: lon, lat (or geometry), datum,
                                              precision, source_url and/or quote, note,
                                              contact, address -> 201 {id, status: pending}
    GET  /api/geocode?address=长宁路1033号      -> the point and how it was found, or 404 why not
"""
from __future__ import annotations

import json

from flask import Blueprint, current_app, jsonify, request

from webapp import stores
from webapp.places import SuggestionError, get_place, read_suggestion
from webapp.security import rate_limit

bp = Blueprint("places", __name__, url_prefix="/api")


class SuggestionsFull(SuggestionError):
    status = 507


def _fields() -> dict:
    """The request's fields: a JSON object, or form fields (one value each); the body is read
    only up to SUGGESTION_MAX_BYTES (413 beyond, chunked or not)."""
    request.max_content_length = int(current_app.config["SUGGESTION_MAX_BYTES"])
    if request.mimetype == "application/json":
        try:
            doc = json.loads(request.get_data().decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise SuggestionError("not a JSON object (UTF-8)") from None
        if not isinstance(doc, dict):
            raise SuggestionError("not a JSON object")
        return doc
    return {k: v for k, v in request.form.items()}


@bp.post("/places/<place_id>/suggestions")
def suggest(place_id: str):
    store = stores.layers()
    place = get_place(store, place_id)  # 404 before anything is counted
    rate_limit("suggestions", "SUGGESTION_RATE_PER_HOUR")
    record = read_suggestion(_fields(), place, store.frame("districts"))
    suggestions = stores.suggestions()
    limit = int(current_app.config["SUGGESTION_MAX_PENDING"])
    if suggestions.count("pending") >= limit:
        raise SuggestionsFull(f"{limit} suggestions are waiting for review already; please try "
                              "again after the operator has reviewed them")
    saved = suggestions.add(record)
    resp = jsonify(id=saved["id"], status=saved["status"], place_id=saved["place_id"],
                   created=saved["created"],
                   message="thank you: the suggestion is kept for review and changes nothing "
                           "on the map until it is accepted")
    resp.status_code = 201
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/geocode")
def geocode():
    address = request.args.get("address", "")
    if not address.strip():
        raise SuggestionError("give an address, e.g. /api/geocode?address=延安西路934号")
    found = stores.layers().addresses().locate(address[:200])  # AddressError: 400/404 why
    lon, lat = round(found.geometry.x, 6), round(found.geometry.y, 6)
    return jsonify(address=address[:200], lon=lon, lat=lat, datum="WGS84",
                   precision=found.confidence, basis=found.basis)

"""The OpenAPI 3.0 document of /ogc (conformance class oas30): every path, its parameters and
responses. It names no collection: collections are a path parameter (drafts come and go),
listed at /ogc/collections."""
from __future__ import annotations

_EXCEPTION = {"type": "object", "required": ["code"], "properties": {
    "code": {"type": "string"}, "description": {"type": "string"}}}
_LINK = {"type": "object", "required": ["href"], "properties": {
    "href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"},
    "title": {"type": "string"}}}


def _json(schema: dict, media: str = "application/json", description: str = "") -> dict:
    return {"description": description or "OK", "content": {
        media: {"schema": schema}, "text/html": {"schema": {"type": "string"}}}}


def document(base_url: str, default_limit: int, max_limit: int, filterable) -> dict:
    """The document for an API whose root is ``base_url`` (…/ogc)."""
    ref = {"$ref": "#/components/schemas/link"}
    errors = {"400": {"$ref": "#/components/responses/InvalidParameter"},
              "404": {"$ref": "#/components/responses/NotFound"}}
    common = [{"$ref": "#/components/parameters/f"}, {"$ref": "#/components/parameters/lang"}]
    collection_id = {"$ref": "#/components/parameters/collectionId"}
    item_filters = [{"name": name, "in": "query", "required": False, "style": "form",
                     "explode": False, "schema": {"type": "string"},
                     "description": f"Only features whose `{name}` property equals this value "
                                    "(where the collection's features have the property: see "
                                    "its queryables)."} for name in filterable]

    def get(op_id: str, summary: str, ok: dict, params=(), tags=("Features",)) -> dict:
        return {"get": {"operationId": op_id, "summary": summary, "tags": list(tags),
                        "parameters": [*params, *common], "responses": {"200": ok, **errors}}}

    return {
        "openapi": "3.0.3",
        "info": {"title": "parkmap OGC API - Features", "version": "1.0.0",
                 "description": "Shanghai's online-new-economy spatial plans (Changning, Jing'an): "
                                "the map's layers, the compare page's layouts and planners' "
                                "uploaded drafts, as OGC API - Features collections (lon/lat, "
                                "CRS84).",
                 "license": {"name": "see each collection's license"}},
        "servers": [{"url": base_url}],
        "tags": [{"name": "Capabilities"}, {"name": "Features"}],
        "paths": {
            "/": get("getLandingPage", "Landing page", _json({"type": "object"}),
                     tags=("Capabilities",)),
            "/conformance": get("getConformance", "Conformance classes implemented",
                                _json({"type": "object", "properties": {"conformsTo": {
                                    "type": "array", "items": {"type": "string"}}}}),
                                tags=("Capabilities",)),
            "/api": get("getApi", "This document",
                        _json({"type": "object"}, "application/vnd.oai.openapi+json;version=3.0"),
                        tags=("Capabilities",)),
            "/collections": get("getCollections", "The collections",
                                _json({"type": "object", "properties": {
                                    "collections": {"type": "array", "items": {"type": "object"}},
                                    "links": {"type": "array", "items": ref}}}),
                                tags=("Capabilities",)),
            "/collections/{collectionId}": get(
                "describeCollection", "One collection", _json({"type": "object"}),
                [collection_id], tags=("Capabilities",)),
            "/collections/{collectionId}/queryables": get(
                "getQueryables", "Properties the items may be filtered by (JSON Schema)",
                _json({"type": "object"}, "application/schema+json"), [collection_id]),
            "/collections/{collectionId}/items": get(
                "getFeatures", "Features of a collection, a page at a time (next/prev links)",
                _json({"$ref": "#/components/schemas/featureCollectionGeoJSON"},
                      "application/geo+json"),
                [collection_id, {"$ref": "#/components/parameters/limit"},
                 {"$ref": "#/components/parameters/offset"},
                 {"$ref": "#/components/parameters/bbox"},
                 {"$ref": "#/components/parameters/bbox-crs"},
                 {"$ref": "#/components/parameters/datetime"}, *item_filters]),
            "/collections/{collectionId}/items/{featureId}": get(
                "getFeature", "One feature, by its id",
                _json({"type": "object"}, "application/geo+json"),
                [collection_id, {"$ref": "#/components/parameters/featureId"}]),
        },
        "components": {
            "parameters": {
                "f": {"name": "f", "in": "query", "required": False, "style": "form",
                      "explode": False, "description": "Output format (else the Accept header)",
                      "schema": {"type": "string", "enum": ["json", "html"]}},
                "lang": {"name": "lang", "in": "query", "required": False,
                         "description": "Language of titles and HTML pages",
                         "schema": {"type": "string", "enum": ["zh", "en"], "default": "zh"}},
                "collectionId": {
                    "name": "collectionId", "in": "path", "required": True,
                    "description": "A layer id (parks, changning_zones ...), layout-<layout id> "
                                   "or draft-<draft id>",
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"}},
                "featureId": {"name": "featureId", "in": "path", "required": True,
                              "description": "The feature's id property",
                              "schema": {"type": "string"}},
                "limit": {"name": "limit", "in": "query", "required": False, "style": "form",
                          "explode": False,
                          "description": f"Features per page (at most {max_limit}: more is a 400)",
                          "schema": {"type": "integer", "minimum": 1, "maximum": max_limit,
                                     "default": default_limit}},
                "offset": {"name": "offset", "in": "query", "required": False, "style": "form",
                           "explode": False, "description": "Features to skip (the next links "
                                                            "carry it)",
                           "schema": {"type": "integer", "minimum": 0, "default": 0}},
                "bbox": {"name": "bbox", "in": "query", "required": False, "style": "form",
                         "explode": False,
                         "description": "Only features intersecting this box: min lon, min lat, "
                                        "max lon, max lat (CRS84), or 6 numbers with heights",
                         "schema": {"type": "array", "minItems": 4, "maxItems": 6,
                                    "items": {"type": "number"}}},
                "bbox-crs": {"name": "bbox-crs", "in": "query", "required": False,
                             "schema": {"type": "string", "format": "uri",
                                        "enum": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"]}},
                "datetime": {"name": "datetime", "in": "query", "required": False,
                             "description": "Checked, but restricts nothing: the features carry "
                                            "no time", "schema": {"type": "string"}},
            },
            "schemas": {
                "exception": _EXCEPTION,
                "link": _LINK,
                "featureCollectionGeoJSON": {
                    "type": "object", "required": ["type", "features"], "properties": {
                        "type": {"type": "string", "enum": ["FeatureCollection"]},
                        "features": {"type": "array", "items": {"type": "object"}},
                        "links": {"type": "array", "items": ref},
                        "numberMatched": {"type": "integer", "minimum": 0},
                        "numberReturned": {"type": "integer", "minimum": 0}}},
            },
            "responses": {
                "InvalidParameter": {"description": "A query parameter is unknown or invalid",
                                     "content": {"application/json": {
                                         "schema": {"$ref": "#/components/schemas/exception"}}}},
                "NotFound": {"description": "No such collection or feature",
                             "content": {"application/json": {
                                 "schema": {"$ref": "#/components/schemas/exception"}}}},
            },
        },
    }

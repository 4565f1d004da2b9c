"""OGC API - Features under /ogc: the layers, the built-in layouts and the drafts as collections
(webapp/ogc/catalogue.py says which and how they are named), for GIS clients (QGIS, GDAL's
OAPIF driver, OWSLib) and as plain HTML pages.

Conformance: Part 1 Core, GeoJSON, HTML, OpenAPI 3.0; Part 3 Queryables (and queryables as
query parameters: ``?zone=east``). Paths, links and JSON members as the standard has them;
errors as its exception document (``{"code", "description"}``), a 400 for any unknown or bad
query parameter, a 404 for an unknown collection or feature.

Why not pygeoapi (measured in its 0.21 release): it would add 26 packages and 208 MB to the
environment (rasterio with a second GDAL alone 108 MB), 0.4 s and 27 MB per process on import;
every one of its HTML templates loads Bootstrap/Leaflet from CDNs or runs inline scripts, its
links come from one configured server URL (wrong behind another host or proxy), it ignores an
unknown filter silently and logs every client error as an ERROR with a traceback. What we use
of it (Features over GeoJSON we already hold) is the few hundred lines here.

The HTML pages load only this app's files (Leaflet from the asset bundle, ogc-map.js beside
this module); none has an inline script, so the strict CSP holds. Answers that depend on the
drafts (the collections list, a draft's pages) and answers negotiated by the Accept header are
``no-cache`` (revalidated by ETag), so the whole-response cache never keeps them.
"""
from __future__ import annotations

import json
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, render_template, request, url_for

from geo.errors import ParkmapError
from webapp.ogc import catalogue as cat
from webapp.ogc import openapi, query as q

bp = Blueprint("ogc", __name__, url_prefix="/ogc", static_folder="static",
               static_url_path="/static")

CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
)
JSON, GEOJSON, HTML = "application/json", "application/geo+json", "text/html"
SCHEMA_JSON = "application/schema+json"
OPENAPI_JSON = "application/vnd.oai.openapi+json;version=3.0"
REL_CONFORMANCE = "http://www.opengis.net/def/rel/ogc/1.0/conformance"
REL_DATA = "http://www.opengis.net/def/rel/ogc/1.0/data"
REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
TEXT = {
    "zh": {"title": "parkmap：上海在线新经济空间规划（长宁、静安）",
           "description": "地图的图层、比较页的布局与规划师上传的草图，"
                          "作为 OGC API – Features 要素集合提供（经纬度，CRS84）。"},
    "en": {"title": "parkmap: Shanghai's online-new-economy spatial plans (Changning, Jing'an)",
           "description": "The map's layers, the compare page's layouts and planners' uploaded "
                          "drafts as OGC API - Features collections (lon/lat, CRS84)."},
}


# --- responses -------------------------------------------------------------------------------

def _url(endpoint: str, **values) -> str:
    return url_for(endpoint, _external=True, **values)


def _link(href: str, rel: str, mimetype: str, title: str | None = None) -> dict:
    link = {"href": href, "rel": rel, "type": mimetype}
    if title:
        link["title"] = title
    return link


def _self_links(endpoint: str, json_type: str = JSON, **values) -> list[dict]:
    """self and alternate, the request's format first (rel self) and the other one."""
    fmt = q.output_format()
    lang = request.args.get("lang")
    extra = {"lang": lang} if lang else {}
    as_json = _link(_url(endpoint, f="json", **values, **extra), "self", json_type, "JSON")
    as_html = _link(_url(endpoint, f="html", **values, **extra), "alternate", HTML, "HTML")
    if fmt == "html":
        as_json["rel"], as_html["rel"] = "alternate", "self"
        return [as_html, as_json]
    return [as_json, as_html]


def _respond(doc, mimetype: str, template: str, public: bool = True, **context) -> Response:
    """The document as JSON, or the HTML page ``template`` over it."""
    if q.output_format() == "html":
        lang = q.lang()
        resp = Response(render_template(template, doc=doc, lang=lang, t=TEXT[lang], **context),
                        mimetype=HTML)
    else:
        body = doc if isinstance(doc, str) else json.dumps(doc, ensure_ascii=False,
                                                           separators=(",", ":"))
        resp = Response(body, mimetype=mimetype)
    return _cache(resp, public)


def _cache(resp: Response, public: bool) -> Response:
    if "f" not in request.args:  # chosen by the Accept header: the same URL has two answers
        resp.vary.add("Accept")
        public = False
    if not public:
        resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.errorhandler(ParkmapError)
def _error(exc: ParkmapError):
    """Every error under /ogc in the OGC API exception format (or as a page, for HTML)."""
    status = exc.status
    code = getattr(exc, "code", None) or {400: "InvalidParameterValue", 404: "NotFound",
                                          503: "ServiceUnavailable"}.get(status, "NoApplicableCode")
    if status >= 500:
        current_app.logger.error("ogc: %s", exc)
    doc = {"code": code, "description": str(exc)}
    try:
        html = q.output_format() == "html" and q.lang()
    except ParkmapError:
        html = False
    if html:
        resp = Response(render_template("ogc/exception.html", doc=doc, status=status, lang=html,
                                        t=TEXT[html]), mimetype=HTML)
    else:
        resp = Response(json.dumps(doc, ensure_ascii=False), mimetype=JSON)
    resp.status_code = status
    resp.headers["Cache-Control"] = "no-store"
    resp.vary.add("Accept")
    if getattr(exc, "retry_after", None):
        resp.headers["Retry-After"] = str(exc.retry_after)
    return resp


# --- capabilities ----------------------------------------------------------------------------

@bp.get("", strict_slashes=False)
def landing():
    q.check_known(q.COMMON)
    lang = q.lang()
    doc = {"title": TEXT[lang]["title"], "description": TEXT[lang]["description"],
           "links": [*_self_links("ogc.landing"),
                     _link(_url("ogc.api", f="json"), "service-desc", OPENAPI_JSON,
                           "The API definition (OpenAPI 3.0)"),
                     _link(_url("ogc.api", f="html"), "service-doc", HTML,
                           "The API documentation"),
                     _link(_url("ogc.conformance"), "conformance", JSON, "Conformance classes"),
                     _link(_url("ogc.conformance"), REL_CONFORMANCE, JSON, "Conformance classes"),
                     _link(_url("ogc.collections"), "data", JSON, "Collections"),
                     _link(_url("ogc.collections"), REL_DATA, JSON, "Collections")]}
    return _respond(doc, JSON, "ogc/landing.html")


@bp.get("/conformance")
def conformance():
    q.check_known(q.COMMON)
    doc = {"conformsTo": list(CONFORMANCE), "links": _self_links("ogc.conformance")}
    return _respond(doc, JSON, "ogc/conformance.html")


@bp.get("/api")
@bp.get("/openapi", endpoint="openapi")
def api():
    q.check_known(q.COMMON)
    default, maximum = q.limits()
    doc = openapi.document(_url("ogc.landing").rstrip("/"), default, maximum, cat.FILTERABLE)
    if q.output_format() == "html":
        return _respond(doc, JSON, "ogc/api.html")
    return _cache(Response(json.dumps(doc, ensure_ascii=False), mimetype=OPENAPI_JSON), True)


# --- collections -----------------------------------------------------------------------------

def _collection_doc(c: cat.Collection, lang: str, feats: cat.Features | None = None) -> dict:
    cid = c.id
    doc = {"id": cid, "title": c.title(lang), "description": c.description(lang),
           "itemType": "feature",
           "links": [_link(_url("ogc.collection", collection_id=cid), "self", JSON, "JSON"),
                     _link(_url("ogc.collection", collection_id=cid, f="html"), "alternate", HTML,
                           "HTML"),
                     _link(_url("ogc.items", collection_id=cid), "items", GEOJSON, "GeoJSON"),
                     _link(_url("ogc.items", collection_id=cid, f="html"), "items", HTML, "HTML"),
                     _link(_url("ogc.queryables", collection_id=cid), REL_QUERYABLES, SCHEMA_JSON,
                           "Queryables")],
           "crs": [q.CRS84]}
    if c.bbox:
        doc["extent"] = {"spatial": {"bbox": [list(c.bbox)], "crs": q.CRS84}}
    if c.attribution:
        doc["attribution"] = c.attribution
    if c.license:
        doc["license"] = c.license
    return doc


@bp.get("/collections")
def collections():
    q.check_known(q.COMMON)
    lang = q.lang()
    doc = {"collections": [_collection_doc(c, lang) for c in cat.all_collections()],
           "links": _self_links("ogc.collections")}
    # the drafts in it come and go
    return _respond(doc, JSON, "ogc/collections.html", public=False)


@bp.get("/collections/<collection_id>")
def collection(collection_id: str):
    q.check_known(q.COMMON)
    c = cat.get_collection(collection_id)
    doc = _collection_doc(c, q.lang())
    doc["links"][:2] = _self_links("ogc.collection", collection_id=c.id)
    return _respond(doc, JSON, "ogc/collection.html", public=c.public)


@bp.get("/collections/<collection_id>/queryables")
def queryables(collection_id: str):
    q.check_known(q.COMMON)
    c = cat.get_collection(collection_id)
    lang = q.lang()
    props = {}
    for name, values in cat.features(c).queryables().items():
        schema = {"title": name, "type": "string"}
        if values is not None:
            schema["enum"] = values
        props[name] = schema
    doc = {"$schema": "https://json-schema.org/draft/2019-09/schema",
           "$id": _url("ogc.queryables", collection_id=c.id),
           "type": "object", "title": c.title(lang),
           "description": "Properties the items may be filtered by, as ?name=value (equality)",
           "properties": props, "additionalProperties": False}
    return _respond(doc, SCHEMA_JSON, "ogc/queryables.html", public=c.public, collection=c)


# --- features --------------------------------------------------------------------------------

def _items_url(collection_id: str, **overrides) -> str:
    args = {k: v for k, v in request.args.items() if k not in overrides}
    args.update({k: v for k, v in overrides.items() if v is not None})
    return _url("ogc.items", collection_id=collection_id) + "?" + urlencode(args)


@bp.get("/collections/<collection_id>/items")
def items(collection_id: str):
    c = cat.get_collection(collection_id)
    feats = cat.features(c)
    query = q.ItemsQuery.parse(feats)
    fmt, lang = q.output_format(), q.lang()
    matched = query.matches(feats)
    page = matched[query.offset:query.offset + query.limit]
    links = [_link(_items_url(c.id, f="json"), "self", GEOJSON, "GeoJSON"),
             _link(_items_url(c.id, f="html"), "alternate", HTML, "HTML")]
    if fmt == "html":
        links[0]["rel"], links[1]["rel"] = "alternate", "self"
        links.reverse()
    if query.offset + len(page) < len(matched):
        links.append(_link(_items_url(c.id, offset=str(query.offset + query.limit)), "next",
                           GEOJSON if fmt == "json" else HTML, "Next page"))
    if query.offset > 0:
        links.append(_link(_items_url(c.id, offset=str(max(0, query.offset - query.limit))),
                           "prev", GEOJSON if fmt == "json" else HTML, "Previous page"))
    links.append(_link(_url("ogc.collection", collection_id=c.id), "collection", JSON,
                       c.title(lang)))
    # no timeStamp: the same page of the same build is the same body (one ETag, 304s)
    head = {"type": "FeatureCollection", "numberMatched": int(len(matched)),
            "numberReturned": int(len(page)), "links": links}
    if fmt == "html":
        rows = [json.loads(feats.texts[i]) for i in page]
        return _respond({**head, "features": rows}, GEOJSON, "ogc/items.html", public=c.public,
                        collection=c, offset=query.offset, filters=query.filters,
                        filterable=feats.queryables(),
                        data_url=_items_url(c.id, f="json"))
    body = json.dumps(head, ensure_ascii=False, separators=(",", ":"))
    body = body[:-1] + ',"features":[' + ",".join(feats.texts[i] for i in page) + "]}"
    return _respond(body, GEOJSON, "", public=c.public)


@bp.get("/collections/<collection_id>/items/<path:feature_id>")
def item(collection_id: str, feature_id: str):
    q.check_known(q.COMMON)
    c = cat.get_collection(collection_id)
    feats = cat.features(c)
    if feature_id not in feats.position:
        raise cat.NotFound(f"collection {c.id!r} has no feature {feature_id[:60]!r}")
    doc = json.loads(feats.texts[feats.position[feature_id]])
    lang = q.lang()
    doc["links"] = [*_self_links("ogc.item", GEOJSON, collection_id=c.id, feature_id=feature_id),
                    _link(_url("ogc.collection", collection_id=c.id), "collection", JSON,
                          c.title(lang))]
    return _respond(doc, GEOJSON, "ogc/item.html", public=c.public, collection=c,
                    data_url=_url("ogc.item", collection_id=c.id, feature_id=feature_id, f="json"))


@bp.get("/<path:anything>")
def unknown(anything: str):
    """Any other path under /ogc: a 404 in the OGC exception format."""
    raise cat.NotFound(f"no resource /ogc/{anything[:60]}; start at /ogc (the landing page)")

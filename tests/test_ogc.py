"""OGC API - Features under /ogc: through Flask's test client (every path, paging, filters,
errors, drafts, HTML under the CSP) and through a real client, GDAL's OAPIF driver, reading
every collection from a live server."""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import shapely
from shapely.geometry import shape

from layers.registry import all_layers, layer_ids
from layers.store import LayerStore
from webapp import create_app
from webapp.layouts import LAYOUTS, resolve
from webapp.ogc import CONFORMANCE

LAYOUT_IDS = [f"layout-{d.id}" for d in LAYOUTS]
STATIC_IDS = layer_ids() + LAYOUT_IDS
EXCEPTION_KEYS = {"code", "description"}
REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"


@pytest.fixture()
def instance(tmp_path) -> Path:
    return tmp_path / "instance"


@pytest.fixture()
def app(built, instance):
    return create_app({"LAYERS_DIR": str(built), "INSTANCE_DIR": str(instance)})


@pytest.fixture()
def client(app):
    return app.test_client()


def get_json(client, url, status=200, **kw):
    r = client.get(url, **kw)
    assert r.status_code == status, (url, r.status_code, r.get_data(as_text=True)[:300])
    return r.get_json(force=True)


def built_features(built: Path, layer_id: str) -> list[dict]:
    return json.loads((built / f"{layer_id}.geojson").read_text(encoding="utf-8"))["features"]


def read_all(client, collection_id: str, limit: int, **params) -> tuple[list[dict], list[dict]]:
    """Every feature of a collection, following next links from the first page; and the pages."""
    url = f"/ogc/collections/{collection_id}/items"
    pages, feats = [], []
    query = {"limit": limit, **params}
    while url:
        doc = get_json(client, url, query_string=query)
        pages.append(doc)
        feats += doc["features"]
        nxt = [link["href"] for link in doc["links"] if link["rel"] == "next"]
        assert len(nxt) <= 1
        url, query = (nxt[0], None) if nxt else (None, None)
    return feats, pages


def upload(client, data: bytes, filename="draft.geojson", **fields):
    return client.post("/api/layouts", data={"file": (io.BytesIO(data), filename), **fields},
                       content_type="multipart/form-data")


DRAFT = json.dumps({"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"name": "片区甲", "zone": "east"},
     "geometry": {"type": "Polygon", "coordinates": [[[121.40, 31.20], [121.42, 31.20],
                                                      [121.42, 31.22], [121.40, 31.22],
                                                      [121.40, 31.20]]]}},
    {"type": "Feature", "properties": {"name": "园区乙"},
     "geometry": {"type": "Point", "coordinates": [121.41, 31.21]}},
    {"type": "Feature", "properties": {"name_en": "Axis"},
     "geometry": {"type": "LineString", "coordinates": [[121.38, 31.20], [121.43, 31.22]]}},
]}).encode()


# --- capabilities ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/ogc", "/ogc/"])
def test_landing_page_links_the_api_conformance_and_collections(client, path):
    doc = get_json(client, path)
    assert doc["title"] and doc["description"]
    rels = {link["rel"]: link for link in doc["links"]}
    assert {"self", "alternate", "service-desc", "service-doc", "conformance", "data",
            "http://www.opengis.net/def/rel/ogc/1.0/conformance",
            "http://www.opengis.net/def/rel/ogc/1.0/data"} <= set(rels)
    assert rels["service-desc"]["type"].startswith("application/vnd.oai.openapi+json")
    for link in doc["links"]:
        assert link["href"].startswith("http://localhost/ogc")
        assert client.get(link["href"]).status_code == 200, link
    assert get_json(client, "/ogc?lang=en")["title"].startswith("parkmap: Shanghai")


def test_conformance_lists_core_geojson_html_oas30_and_queryables(client):
    doc = get_json(client, "/ogc/conformance")
    assert set(CONFORMANCE) <= set(doc["conformsTo"])
    for part in ("core", "geojson", "html", "oas30"):
        assert f"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{part}" in doc["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables" in doc["conformsTo"]


def test_openapi_document_describes_every_path_and_the_limit_setting(built, instance):
    client = create_app({"LAYERS_DIR": str(built), "INSTANCE_DIR": str(instance),
                         "OGC_MAX_LIMIT": 500, "OGC_DEFAULT_LIMIT": 20}).test_client()
    r = client.get("/ogc/api")
    assert r.status_code == 200 and r.mimetype == "application/vnd.oai.openapi+json"
    doc = r.get_json(force=True)
    assert doc["openapi"].startswith("3.0") and doc["servers"] == [{"url": "http://localhost/ogc"}]
    assert {"/", "/conformance", "/api", "/collections", "/collections/{collectionId}",
            "/collections/{collectionId}/items", "/collections/{collectionId}/items/{featureId}",
            "/collections/{collectionId}/queryables"} <= set(doc["paths"])
    limit = doc["components"]["parameters"]["limit"]["schema"]
    assert limit == {"type": "integer", "minimum": 1, "maximum": 500, "default": 20}
    refs = re.findall(r'"\$ref": "#/components/(\w+)/([\w-]+)"', json.dumps(doc))
    for kind, name in refs:  # every reference resolves
        assert name in doc["components"][kind], (kind, name)
    assert client.get("/ogc/openapi").get_json(force=True) == doc


# --- collections -----------------------------------------------------------------------------

def test_collections_are_the_layers_then_the_layouts(client, built):
    doc = get_json(client, "/ogc/collections")
    ids = [c["id"] for c in doc["collections"]]
    assert ids == STATIC_IDS
    index = {e["id"]: e for e in json.loads((built / "layers.json").read_text())["layers"]}
    for c in doc["collections"]:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", c["id"])
        assert c["itemType"] == "feature" and c["title"] and c["description"]
        rels = {(link["rel"], link["type"]) for link in c["links"]}
        assert {("self", "application/json"), ("items", "application/geo+json"),
                ("items", "text/html"),
                (REL_QUERYABLES, "application/schema+json")} <= rels
        (bbox,) = c["extent"]["spatial"]["bbox"]
        assert 120.8 < bbox[0] < bbox[2] < 122.2 and 30.6 < bbox[1] < bbox[3] < 31.9
        if c["id"] in index:
            assert bbox == pytest.approx(index[c["id"]]["bounds"])
        one = get_json(client, f"/ogc/collections/{c['id']}")
        assert {k: v for k, v in one.items() if k != "links"} == \
            {k: v for k, v in c.items() if k != "links"}
    english = get_json(client, "/ogc/collections?lang=en")["collections"]
    titles = {c["id"]: c["title"] for c in english}
    assert titles["parks"] == next(s.title_en for s in all_layers() if s.id == "parks")


def test_unknown_collection_is_a_404_in_the_ogc_exception_format(client):
    for path in ("/ogc/collections/nope", "/ogc/collections/nope/items",
                 "/ogc/collections/nope/queryables", "/ogc/collections/nope/items/x",
                 "/ogc/collections/draft-00000000", "/ogc/collections/draft-zz/items",
                 "/ogc/collections/layout-nope", "/ogc/collections/layout-changning_zones/items/x",
                 "/ogc/collections/parks/items/no-such-park", "/ogc/nothing/here"):
        doc = get_json(client, path, status=404)
        assert set(doc) == EXCEPTION_KEYS and doc["code"] == "NotFound", path


# --- items -----------------------------------------------------------------------------------

@pytest.mark.parametrize("layer_id", layer_ids())
def test_items_are_the_built_geojson_features(client, built, layer_id):
    """Every feature, its id (the id property) and every property as /api/layers serves them."""
    served = get_json(client, f"/ogc/collections/{layer_id}/items?limit=10000")
    api = get_json(client, f"/api/layers/{layer_id}.geojson")
    expected = built_features(built, layer_id)
    assert api["features"] == expected
    assert served["type"] == "FeatureCollection"
    assert served["numberMatched"] == served["numberReturned"] == len(expected)
    for got, want in zip(served["features"], expected):
        assert got["id"] == want["properties"]["id"]
        assert got["properties"] == want["properties"]
        assert got["geometry"] == want["geometry"]


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda d: d.id)
def test_layout_collections_are_the_units_the_compare_page_draws(client, built, layout):
    units = resolve(layout.id, LayerStore(built), None).units
    doc = get_json(client, f"/ogc/collections/layout-{layout.id}/items?limit=10000")
    assert [f["id"] for f in doc["features"]] == list(units["id"])
    assert doc["numberMatched"] == len(units) > 0
    own = {f["properties"]["id"]: f["properties"]
           for lid in (layout.unit_layer, "line2") for f in built_features(built, lid)}
    for f in doc["features"]:
        if layout.tag_years:  # as in its layer, plus the documents and year naming it
            tags = {k: f["properties"][k] for k in ("named_in", "year")}
            assert f["properties"] == {**own[f["id"]], **tags}
            assert tags["named_in"] and tags["year"] <= layout.until_year
        else:
            assert f["properties"] == own[f["id"]]
        assert shape(f["geometry"]).equals_exact(
            units.geometry[units["id"] == f["id"]].iloc[0], 1e-6)


@pytest.mark.parametrize("collection_id,limit", [("context", 7), ("parks", 10), ("line2", 35),
                                                  ("subdistricts", 1), ("layout-jingan_layout", 3)])
def test_paging_walks_every_feature_exactly_once(client, collection_id, limit):
    everything = get_json(client, f"/ogc/collections/{collection_id}/items?limit=10000")
    feats, pages = read_all(client, collection_id, limit)
    assert [f["id"] for f in feats] == [f["id"] for f in everything["features"]]
    assert len({f["id"] for f in feats}) == len(feats) == everything["numberMatched"]
    assert len(pages) == -(-len(feats) // limit)
    for i, page in enumerate(pages):
        assert page["numberMatched"] == len(feats)
        assert page["numberReturned"] == len(page["features"]) <= limit
        rels = [link["rel"] for link in page["links"]]
        assert ("next" in rels) == (i < len(pages) - 1)
        assert ("prev" in rels) == (i > 0)
        assert "self" in rels and "alternate" in rels and "collection" in rels
    if len(pages) > 1:  # a prev link goes back a page
        prev = next(link["href"] for link in pages[1]["links"] if link["rel"] == "prev")
        assert get_json(client, prev)["features"] == pages[0]["features"]
    beyond = get_json(client, f"/ogc/collections/{collection_id}/items?offset=100000")
    assert beyond["features"] == [] and beyond["numberReturned"] == 0
    assert beyond["numberMatched"] == len(feats)


def test_default_and_maximum_limits_are_settings(built, instance):
    client = create_app({"LAYERS_DIR": str(built), "INSTANCE_DIR": str(instance),
                         "OGC_DEFAULT_LIMIT": 4, "OGC_MAX_LIMIT": 9}).test_client()
    assert get_json(client, "/ogc/collections/parks/items")["numberReturned"] == 4
    assert get_json(client, "/ogc/collections/parks/items?limit=9")["numberReturned"] == 9
    doc = get_json(client, "/ogc/collections/parks/items?limit=10", status=400)
    assert doc["code"] == "InvalidParameterValue" and "maximum of 9" in doc["description"]
    feats, pages = read_all(client, "parks", 9)
    assert len(feats) == get_json(client, "/ogc/collections/parks/items")["numberMatched"]
    assert len(pages) == -(-len(feats) // 9)


def test_bbox_returns_exactly_the_features_it_intersects(client, built):
    box = (121.38, 31.19, 121.43, 31.23)
    for layer_id in ("parks", "context", "changning_zones", "line2"):
        frame = LayerStore(built).frame(layer_id)
        located = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
        want = list(located[located.geometry.intersects(shapely.box(*box))]["id"])
        bbox = ",".join(map(str, box))
        feats, _ = read_all(client, layer_id, 10, bbox=bbox)
        assert [f["id"] for f in feats] == want and want, layer_id
        assert layer_id == "changning_zones" or len(want) < len(frame)
        six = get_json(client, f"/ogc/collections/{layer_id}/items",
                       query_string={"bbox": f"{box[0]},{box[1]},-10,{box[2]},{box[3]},10",
                                     "limit": 10000,
                                     "bbox-crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"})
        assert [f["id"] for f in six["features"]] == want
    nowhere = get_json(client, "/ogc/collections/parks/items?bbox=0,0,1,1")
    assert nowhere["numberMatched"] == 0 and nowhere["features"] == []


def test_property_filters_and_queryables(client, built):
    parks = built_features(built, "parks")
    for name, value in (("zone", "east"), ("district", "jingan"), ("kind", "park"),
                        ("confidence", "area")):
        want = [f["properties"]["id"] for f in parks if f["properties"].get(name) == value]
        feats, _ = read_all(client, "parks", 5, **{name: value})
        assert [f["id"] for f in feats] == want and want, (name, value)
    both = get_json(client, "/ogc/collections/parks/items",
                    query_string={"district": "changning", "confidence": "building", "limit": 1000})
    assert [f["id"] for f in both["features"]] == [
        f["properties"]["id"] for f in parks
        if f["properties"]["district"] == "changning"
        and f["properties"]["confidence"] == "building"]
    # a link carries the filters on
    feats, pages = read_all(client, "parks", 2, zone="west")
    assert all(f["properties"]["zone"] == "west" for f in feats) and len(pages) > 1
    assert get_json(client, "/ogc/collections/parks/items?zone=nowhere")["numberMatched"] == 0

    r = client.get("/ogc/collections/parks/queryables")
    assert r.status_code == 200 and r.mimetype == "application/schema+json"
    q = r.get_json(force=True)
    assert q["type"] == "object" and q["$id"].endswith("/ogc/collections/parks/queryables")
    assert set(q["properties"]) == {"kind", "zone", "district", "confidence"}
    assert q["properties"]["district"]["enum"] == sorted(
        {f["properties"]["district"] for f in parks if f["properties"]["district"]})
    assert q["additionalProperties"] is False
    # only where the collection has the property
    zones = get_json(client, "/ogc/collections/changning_zones/queryables")["properties"]
    for name in set(zones) ^ {"kind", "zone", "district", "confidence"}:
        doc = get_json(client, f"/ogc/collections/changning_zones/items?{name}=x", status=400)
        assert doc["code"] == "InvalidParameterValue"


def test_a_feature_by_its_id(client, built):
    for layer_id in ("parks", "line2", "districts"):
        for want in built_features(built, layer_id)[:3]:
            fid = want["properties"]["id"]
            doc = get_json(client, f"/ogc/collections/{layer_id}/items/{fid}")
            assert doc["type"] == "Feature" and doc["id"] == fid
            assert doc["properties"] == want["properties"] and doc["geometry"] == want["geometry"]
            rels = {link["rel"] for link in doc["links"]}
            assert {"self", "alternate", "collection"} <= rels
    r = client.get("/ogc/collections/parks/items/park-bonc-hq-park")
    assert r.mimetype == "application/geo+json" and r.get_json(force=True)["geometry"] is None


BAD = [
    ("parks/items?bbox=121.5,31.1,121.4,31.3", 400, "greater than"),
    ("parks/items?bbox=121.3,31.4,121.4,31.3", 400, "greater than"),
    ("parks/items?bbox=1,2,3", 400, "4 numbers"),
    ("parks/items?bbox=1,2,3,4,5", 400, "4 numbers"),
    ("parks/items?bbox=a,b,c,d", 400, "4 numbers"),
    ("parks/items?bbox=1,2,nan,4", 400, "4 numbers"),
    ("parks/items?bbox=", 400, "4 numbers"),
    ("parks/items?bbox=0,0,200,1", 400, "-180..180"),
    ("parks/items?bbox=1,2,3,4&bbox-crs=EPSG:3857", 400, "bbox-crs"),
    ("parks/items?limit=0", 400, "least is 1"),
    ("parks/items?limit=-1", 400, "whole number"),
    ("parks/items?limit=ten", 400, "whole number"),
    ("parks/items?limit=1.5", 400, "whole number"),
    ("parks/items?limit=", 400, "whole number"),
    ("parks/items?limit=10001", 400, "maximum of 10000"),
    ("parks/items?limit=" + "9" * 40, 400, "whole number"),
    ("parks/items?offset=-3", 400, "whole number"),
    ("parks/items?offset=x", 400, "whole number"),
    ("parks/items?limit=1&limit=2", 400, "more than once"),
    ("parks/items?datetime=yesterday", 400, "RFC 3339"),
    ("parks/items?color=red", 400, "unknown query parameter 'color'"),
    ("parks/items?name_zh=x", 400, "unknown query parameter"),
    ("parks/items?f=xml", 400, "not a format"),
    ("parks/items?lang=fr", 400, "lang"),
    ("parks?bbox=1,2,3,4", 400, "unknown query parameter"),
    ("parks/items/park-bonc-hq-park?limit=3", 400, "unknown query parameter"),
    ("parks/queryables?zone=east", 400, "unknown query parameter"),
    ("nope/items?limit=0", 404, "no collection"),
]


@pytest.mark.parametrize("path,status,message", BAD)
def test_bad_queries_are_4xx_in_the_ogc_exception_format(client, path, status, message):
    for accept in ("application/json", "*/*"):
        r = client.get("/ogc/collections/" + path, headers={"Accept": accept})
        assert r.status_code == status, (path, r.get_data(as_text=True))
        assert r.mimetype == "application/json" and r.headers["Cache-Control"] == "no-store"
        doc = r.get_json()
        assert set(doc) == EXCEPTION_KEYS and message in doc["description"], doc
        assert doc["code"] == ("NotFound" if status == 404 else "InvalidParameterValue")
    r = client.get("/ogc/collections/" + path, headers={"Accept": "text/html"})
    assert r.status_code == status  # a browser gets the same error as a page


def test_datetime_is_checked_and_restricts_nothing(client):
    every = get_json(client, "/ogc/collections/parks/items")["numberMatched"]
    for value in ("2024-01-01T00:00:00Z", "2020-01-01/..", "../2021-12-31", "2024-05-01"):
        assert get_json(client, "/ogc/collections/parks/items",
                        query_string={"datetime": value})["numberMatched"] == every


# --- drafts ----------------------------------------------------------------------------------

def test_a_draft_is_a_collection_until_it_is_deleted(client, built):
    r = upload(client, DRAFT, name="OGC 草图")
    assert r.status_code == 201, r.get_json()
    layout_id, token = r.get_json()["id"], r.get_json()["token"]
    draft_id = layout_id.removeprefix("draft:")
    cid = f"draft-{draft_id}"
    listed = get_json(client, "/ogc/collections")
    assert [c["id"] for c in listed["collections"]] == STATIC_IDS + [cid]
    c = get_json(client, f"/ogc/collections/{cid}")
    assert "OGC 草图" in c["title"]
    served = get_json(client, f"/ogc/collections/{cid}/items")
    stored = get_json(client, f"/api/layouts/{layout_id}/layers/draft.geojson")
    assert served["numberMatched"] == 3
    assert [f["id"] for f in served["features"]] == [f"draft-{draft_id}-{i}" for i in range(3)]
    for got, want in zip(served["features"], stored["features"], strict=True):
        assert got["properties"] == want["properties"] and got["geometry"] == want["geometry"]
    one = get_json(client, f"/ogc/collections/{cid}/items/draft-{draft_id}-1")
    assert one["properties"]["name_zh"] == "园区乙"
    assert get_json(client, f"/ogc/collections/{cid}/items?zone=east")["numberMatched"] == 1
    assert get_json(client, f"/ogc/collections/{cid}/items?bbox=121.404,31.209,121.406,31.211"
                    )["numberMatched"] == 2  # inside the zone, crossed by the axis
    assert set(get_json(client, f"/ogc/collections/{cid}/queryables")["properties"]) == {
        "kind", "zone", "district", "confidence"}
    r = client.get(f"/ogc/collections/{cid}/items?f=json")
    assert r.headers["Cache-Control"] == "no-cache"  # never kept: it may be deleted

    assert client.delete(f"/api/layouts/{layout_id}",
                         headers={"X-Draft-Token": token}).status_code == 200
    assert [c["id"] for c in get_json(client, "/ogc/collections")["collections"]] == STATIC_IDS
    for path in ("", "/items", "/items?f=json", f"/items/draft-{draft_id}-1", "/queryables"):
        doc = get_json(client, f"/ogc/collections/{cid}{path}", status=404)
        assert doc["code"] == "NotFound" and "no such draft" in doc["description"]


# --- caching: the whole-response cache never mixes formats or keeps drafts -------------------

def test_negotiated_answers_vary_on_accept_and_are_not_kept_whole(client):
    html = client.get("/ogc/collections/parks", headers={"Accept": "text/html"})
    assert html.mimetype == "text/html" and "Accept" in html.headers["Vary"]
    assert html.headers["Cache-Control"] == "no-cache"
    as_json = client.get("/ogc/collections/parks", headers={"Accept": "application/json"})
    assert as_json.mimetype == "application/json" and as_json.get_json()["id"] == "parks"
    fixed = client.get("/ogc/collections/parks/items?f=json")
    assert fixed.headers["Cache-Control"].startswith("public")
    again = client.get("/ogc/collections/parks/items?f=json",
                       headers={"If-None-Match": fixed.headers["ETag"]})
    assert again.status_code == 304
    assert client.get("/ogc/collections?f=json").headers["Cache-Control"] == "no-cache"


# --- HTML ------------------------------------------------------------------------------------

_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
_REFS = re.compile(r'<(script|link|img|iframe)\b[^>]*?\b(?:src|href)="([^"]+)"', re.I)


def html_pages(client, draft: str | None = None) -> list[str]:
    pages = ["/ogc", "/ogc/conformance", "/ogc/api", "/ogc/collections"]
    for cid in STATIC_IDS + ([draft] if draft else []):
        first = get_json(client, f"/ogc/collections/{cid}/items?limit=1")["features"][0]["id"]
        pages += [f"/ogc/collections/{cid}", f"/ogc/collections/{cid}/items",
                  f"/ogc/collections/{cid}/items?limit=2&offset=1",
                  f"/ogc/collections/{cid}/queryables", f"/ogc/collections/{cid}/items/{first}"]
    pages += ["/ogc/collections/parks/items/park-bonc-hq-park", "/ogc/collections/nope"]
    return pages


def test_html_pages_load_nothing_from_other_hosts_and_run_no_inline_script(client):
    r = upload(client, DRAFT, name="<script>alert(1)</script>")
    draft = "draft-" + r.get_json()["id"].removeprefix("draft:")
    loaded = set()
    for page in html_pages(client, draft):
        path, _, query = page.partition("?")
        args = {k: v[0] for k, v in parse_qs(query).items()}
        for how in ({"query_string": {**args, "f": "html"}},
                    {"query_string": args, "headers": {"Accept": "text/html,*/*;q=0.8"}},
                    {"query_string": {**args, "f": "html", "lang": "en"}}):
            r = client.get(path, **how)
            assert r.status_code == (404 if page.endswith("/nope") else 200), page
            assert r.mimetype == "text/html", page
            html = r.get_data(as_text=True)
            policy = r.headers["Content-Security-Policy"]
            assert "script-src 'self';" in policy and "default-src 'self'" in policy
            for attrs, body in _SCRIPT.findall(html):
                assert re.search(r"\bsrc=", attrs) and not body.strip(), (page, attrs)
            for tag, ref in _REFS.findall(html):
                assert not re.match(r"(https?:)?//", ref), (page, tag, ref)  # this app's own
                loaded.add(ref)
            assert "<script>alert(1)" not in html
            for href in re.findall(r'href="(https?://[^"]+)"', html):
                assert href.startswith("http://localhost/"), (page, href)
    assert any(ref.endswith("leaflet.js") for ref in loaded)
    for ref in loaded:  # the scripts and styles the pages load are there
        assert client.get(ref).status_code == 200, ref
    js = client.get("/ogc/static/ogc-map.js")
    assert js.status_code == 200 and "fetch(" in js.get_data(as_text=True)


def test_html_items_page_lists_its_features_and_pages(client):
    html = client.get("/ogc/collections/parks/items?f=html&limit=5&zone=east").get_data(
        as_text=True)
    east = get_json(client, "/ogc/collections/parks/items?limit=5&zone=east")
    for f in east["features"]:
        assert f"/ogc/collections/parks/items/{f['id']}?f=html" in html
        assert f["properties"]["name_zh"] in html
    assert 'rel="next"' in html and "zone=east" in html
    assert 'data-url="http://localhost/ogc/collections/parks/items?' in html


# --- a real client: GDAL's OGC API - Features driver ------------------------------------------

GDAL_READ = r"""
import json, sys
import pyogrio
# nothing but the server under test: no proxy, no retries, a bounded wait
pyogrio.set_gdal_config_options({"GDAL_HTTP_TIMEOUT": "30", "GDAL_HTTP_MAX_RETRY": "0",
                                 "GDAL_HTTP_PROXY": None, "GDAL_HTTP_USERAGENT": "parkmap-test"})
url = "OAPIF:" + sys.argv[1]
out = {"layers": [name for name, _ in pyogrio.list_layers(url)], "read": {}}
for name in out["layers"]:
    df = pyogrio.read_dataframe(url, layer=name)
    rows = json.loads(df.drop(columns="geometry").to_json(orient="records", force_ascii=False))
    out["read"][name] = {"rows": rows,
                         "geometry": [None if g is None else g.wkb_hex for g in df.geometry]}
print(json.dumps(out, ensure_ascii=False))
"""


def test_gdal_oapif_driver_reads_every_collection(app, built, client):
    """GDAL (the OAPIF driver, as QGIS uses it) lists and reads every collection, a draft
    included, from a live server: the same features, ids and properties as the built GeoJSON.
    GDAL runs in a child process: its HTTP requests block the GIL-holding reader, so a server
    thread in this process could not answer them."""
    from support import LiveServer

    r = upload(client, DRAFT, name="gdal")
    draft = "draft-" + r.get_json()["id"].removeprefix("draft:")
    with LiveServer(app) as server:
        run = subprocess.run([sys.executable, "-c", GDAL_READ, server.base + "/ogc"],
                             capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout)
    assert out["layers"] == STATIC_IDS + [draft]
    for cid in out["layers"]:
        expected = get_json(client, f"/ogc/collections/{cid}/items?limit=10000")["features"]
        if cid in layer_ids():
            assert [f["properties"] for f in expected] == [
                f["properties"] for f in built_features(built, cid)]
        got = out["read"][cid]
        assert len(got["rows"]) == len(expected) > 0, cid
        assert [row["id"] for row in got["rows"]] == [f["id"] for f in expected], cid
        for row, want, wkb in zip(got["rows"], expected, got["geometry"]):
            for key, value in want["properties"].items():
                if isinstance(value, str) or (isinstance(value, (int, float))
                                              and not isinstance(value, bool)):
                    assert row[key] == pytest.approx(value) if isinstance(value, float) \
                        else row[key] == value, (cid, want["id"], key)
                elif value is None:
                    assert row.get(key) is None, (cid, want["id"], key)
            if want["geometry"] is None:
                assert wkb is None
            else:
                assert shapely.from_wkb(bytes.fromhex(wkb)).equals_exact(
                    shape(want["geometry"]), 1e-6), (cid, want["id"])


# --- junk on the real collections: 4xx, never a 5xx ------------------------------------------

JUNK = ["", " ", "x" * 3000, "9" * 5000, "%", "\x00", "\r\n", "\u2028", "中文", "NaN", "-inf",
        "1e309", "-1", "0", "1,2,3,4", "121.4,31.2,121.3,31.1", "1,2,3,4,5,6", ",,,", "[]",
        "../../etc/passwd", "<script>alert(1)</script>", "2024-13-45", "../..", "json", "html"]


def test_junk_parameters_on_real_collections_are_never_a_5xx(client):
    import random

    rng = random.Random(20261130)
    names = ["f", "lang", "limit", "offset", "bbox", "bbox-crs", "datetime", "zone", "kind",
             "district", "confidence", "properties", "sortby", "filter", "crs"]
    paths = ["/ogc", "/ogc/conformance", "/ogc/api", "/ogc/collections"]
    for cid in ("parks", "context", "layout-changning_2024", "draft-0000000g"):
        paths += [f"/ogc/collections/{cid}", f"/ogc/collections/{cid}/items",
                  f"/ogc/collections/{cid}/queryables",
                  f"/ogc/collections/{cid}/items/park-simic-valley",
                  f"/ogc/collections/{cid}/items/{rng.choice(JUNK).replace('/', '%2F') or 'x'}"]
    for _ in range(600):
        query = {n: rng.choice(JUNK) for n in rng.sample(names, rng.randint(0, 4))}
        path = rng.choice(paths)
        r = client.open(path, method=rng.choice(["GET", "GET", "HEAD"]), query_string=query,
                        headers={"Accept": rng.choice(["application/json", "text/html", "*/*"])})
        assert r.status_code < 500, (path, query, r.get_data(as_text=True)[:200])
        if r.status_code >= 400 and r.mimetype == "application/json" and r.data:
            assert set(r.get_json()) == EXCEPTION_KEYS, (path, query)


# --- in a real browser: the pages' maps draw under the CSP, from this app alone ---------------

@pytest.mark.browser
def test_html_maps_draw_in_a_browser_from_this_app_alone(browser, app, client):
    from support import LiveServer, until

    draft = "draft-" + upload(client, DRAFT, name="<img src=x onerror=alert(1)>"
                              ).get_json()["id"].removeprefix("draft:")
    with LiveServer(app) as server:
        context = browser.new_context()
        page = context.new_page()
        problems, hosts = [], set()
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("dialog", lambda d: (problems.append("dialog"), d.dismiss()))
        page.on("request", lambda req: hosts.add(req.url.split("/")[2]))
        for path, drawn in ((f"/ogc/collections/parks/items?f=html&zone=east", None),
                            (f"/ogc/collections/{draft}/items", 3),
                            ("/ogc/collections/changning_zones/items/zone-changning-east", 1)):
            page.goto(server.base + path)
            if drawn is None:
                located = get_json(client, "/ogc/collections/parks/items?zone=east")["features"]
                drawn = sum(1 for f in located if f["geometry"])
            until(page, f"document.querySelectorAll('#ogc-map .leaflet-interactive')"
                        f".length === {drawn}")
        page.goto(f"{server.base}/ogc/collections/{draft}?f=html")
        assert "<img src=x onerror=alert(1)>" in page.inner_text("h1")  # markup shown as text
        assert problems == [] and hosts == {server.base.split("/")[2]}
        context.close()


def test_the_map_page_links_the_endpoint_and_says_how_to_add_it_in_qgis(client):
    for lang, words in (("zh", "添加 WFS / OGC API – Features 图层"),
                        ("en", "Add WFS / OGC API – Features Layer")):
        html = client.get(f"/map/changning?lang={lang}").get_data(as_text=True)
        ogc = html[html.index('class="pm-ogc"'):]
        ogc = ogc[:ogc.index("</p>")]
        assert f'href="/ogc?lang={lang}"' in ogc and words in ogc
        assert "<code>http://localhost/ogc</code>" in ogc

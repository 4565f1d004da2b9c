"""Issue 9's findings, each reproduced as it was reported, answered now with a 4xx (or working);
and the classes they belong to (user text in figures, headers from URLs, stored drafts read
back, limits as settings)."""
from __future__ import annotations

import io
import json
import shutil
import threading
import time
from urllib.parse import quote

import pytest

from webapp import create_app
from webapp.cli import main
from webapp.render import figure

SQUARE = [[121.41, 31.20], [121.44, 31.20], [121.44, 31.22], [121.41, 31.22], [121.41, 31.20]]


def square_draft(name="zone", **props):
    return json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"name": name, **props},
        "geometry": {"type": "Polygon", "coordinates": [SQUARE]}}]}).encode()


@pytest.fixture()
def instance(tmp_path):
    return tmp_path / "instance"


def make_app(built, instance, **config):
    return create_app({"LAYERS_DIR": str(built), "INSTANCE_DIR": str(instance), **config})


@pytest.fixture()
def client(built, instance):
    return make_app(built, instance).test_client()


def upload(client, data=None, **fields):
    return client.post("/api/layouts", data={"file": (io.BytesIO(data or square_draft()),
                                                      "d.geojson"), **fields},
                       content_type="multipart/form-data")


# 1. HIGH: one small CSV with 40,000 columns pinned the CPU (quadratic duplicate check) -------

def test_1_a_csv_with_forty_thousand_columns_is_refused_at_once(client):
    n = 40_000
    data = (",".join(f"c{i}" for i in range(n)) + ",lon,lat\n" + "," * n + "121.4,31.2\n").encode()
    started = time.perf_counter()
    r = client.post("/api/layouts", data={"file": (io.BytesIO(data), "cols.csv")},
                    content_type="multipart/form-data")
    assert r.status_code == 400 and "40,002 columns; at most 200" in r.get_json()["error"]
    assert time.perf_counter() - started < 2


def test_1_duplicate_columns_are_still_named(client):
    r = client.post("/api/layouts", data={"file": (io.BytesIO(b"lon,lat,lng\n121.4,31.2,1\n"),
                                                   "d.csv")}, content_type="multipart/form-data")
    assert r.status_code == 400 and "'lon' appears more than once" in r.get_json()["error"]


# 2. user text in figures is text, never mathtext ----------------------------------------------

@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_2_a_draft_named_like_maths_draws_as_text(client, fmt):
    maths = "$\\undefinedcommand$"
    lid = upload(client, square_draft(name=maths), name=maths).get_json()["id"]
    r = client.get(f"/figure/{lid}.{fmt}?width=80&height=60&dpi=80&lang=en")
    assert r.status_code == 200
    if fmt == "svg":  # the title is drawn from the text as given (paths: no "$" parsed away)
        assert r.mimetype == "image/svg+xml"


# 3. figure file names: CR LF, U+2028, U+3000 in the URL never reach a header ------------------

@pytest.mark.parametrize("junk", ["%0d%0a", "%E2%80%A8", "%E3%80%80", "%20%0b%09"])
def test_3_file_names_in_headers_are_safe(client, junk):
    r = client.get(f"/figure/layers:parks,{junk}.png?dpi=100&width=60&height=50")
    assert r.status_code == 200
    cd = r.headers["Content-Disposition"]
    assert cd.isascii() and "\r" not in cd and "\n" not in cd
    assert cd.startswith('inline; filename="parkmap-layers-parks') and "filename*=UTF-8''" in cd


def test_3_any_name_becomes_a_safe_header():
    from webapp.http import content_disposition

    for name in ('a"; filename=evil.exe', "地图\r\nSet-Cookie: x=1.png", "\u2028.png", ""):
        cd = content_disposition(name)
        assert cd.isascii() and cd.count('"') == 2 and "\r" not in cd and "\n" not in cd


# 4. renders are cached, bounded, time-limited and rate-limited --------------------------------

def test_4_a_draft_figure_is_drawn_once_and_not_after_its_draft_is_deleted(
        built, instance, monkeypatch):
    client = make_app(built, instance).test_client()
    body = upload(client).get_json()
    calls = []
    real = figure.render
    monkeypatch.setattr(figure, "render", lambda *a, **k: calls.append(1) or real(*a, **k))
    url = f"/figure/{body['id']}.png?width=120&height=90&dpi=60"
    assert client.get(url).status_code == 200 and client.get(url).status_code == 200
    assert len(calls) == 1  # the second came from the cache
    client.delete(f"/api/layouts/{body['id']}", headers={"X-Draft-Token": body["token"]})
    assert client.get(url).status_code == 404  # never a stale figure of a deleted draft


def test_4_renders_past_the_queue_the_time_limit_or_the_rate_are_refused(built, instance):
    url = "/figure/overview.png?width=120&height=90&dpi=60"
    busy = make_app(built, instance, RENDER_MAX_QUEUE=0).test_client().get(url)
    assert busy.status_code == 503 and int(busy.headers["Retry-After"]) > 0
    slow = make_app(built, instance, RENDER_TIMEOUT_S=0).test_client().get(url)
    assert slow.status_code == 503 and "render time limit" in slow.get_data(as_text=True)
    client = make_app(built, instance, RENDER_RATE_PER_HOUR=1).test_client()
    assert client.get(url).status_code == 200
    assert client.get(url).status_code == 200  # cached: costs nothing, counts nothing
    r = client.get("/figure/jingan.png?width=120&height=90&dpi=60")
    assert r.status_code == 429 and r.headers["Retry-After"]


# 5. listing while drafts come and go; the listing reads no draft -----------------------------

def test_5_listing_never_fails_while_drafts_are_uploaded_and_deleted(built, instance):
    app = make_app(built, instance, UPLOAD_RATE_PER_HOUR=0)
    failures, stop = [], time.monotonic() + 4

    def churn():
        c = app.test_client()
        while time.monotonic() < stop:
            r = upload(c)
            if r.status_code != 201:
                failures.append(("upload", r.status_code))
                continue
            body = r.get_json()
            d = c.delete(f"/api/layouts/{body['id']}", headers={"X-Draft-Token": body["token"]})
            if d.status_code != 200:
                failures.append(("delete", d.status_code))

    def listing():
        c = app.test_client()
        while time.monotonic() < stop:
            r = c.get("/api/layouts")
            if r.status_code != 200:
                failures.append(("list", r.status_code))

    threads = [threading.Thread(target=churn) for _ in range(4)] + [
        threading.Thread(target=listing) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    index = json.loads((instance / "drafts" / "index.json").read_text())
    assert index["drafts"] == {} and not list((instance / "drafts").glob("*.geojson"))


def test_5_the_listing_comes_from_the_index(client, monkeypatch):
    from webapp.stores.drafts import DraftStore

    upload(client)
    monkeypatch.setattr(DraftStore, "load", lambda *a: pytest.fail("the listing read a draft"))
    r = client.get("/api/layouts")
    assert r.status_code == 200 and r.get_json()["layouts"][-1]["id"].startswith("draft:")


# 6. one hand-edited or older-format draft takes nothing down ---------------------------------

def _hand_made(instance, draft_id, doc):
    d = instance / "drafts"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{draft_id}.geojson").write_text(json.dumps(doc))
    (d / "index.json").unlink(missing_ok=True)  # as if the folder were copied in by hand


META = {"id": "aaaaaaa4", "name": "x", "created": "2026-01-01T00:00:00Z", "datum": "WGS84",
        "features": 1}


@pytest.mark.parametrize("meta,feature", [
    ({"id": "aaaaaaa4", "created": "2026-01-01T00:00:00Z"}, None),  # the reported repro
    ({**META, "datum": None}, {"name_zh": "x"}),
    (META, {"geometry": {"type": "Point", "coordinates": [0, 0]}}),
    (META, {"geometry": {"type": "GeometryCollection", "geometries": []}}),
])
def test_6_a_damaged_draft_is_left_out_and_a_404(client, instance, meta, feature):
    feature = {"type": "Feature", "properties": {"name_zh": "x", "name_en": "x"},
               "geometry": {"type": "Point", "coordinates": [121.42, 31.21]}, **(feature or {})}
    _hand_made(instance, "aaaaaaa4", {"type": "FeatureCollection", "features": [feature],
                                      "draft": meta})
    for url in ("/api/layouts", "/compare", "/embed/compare"):
        assert client.get(url).status_code == 200, url
    listed = [x["id"] for x in client.get("/api/layouts").get_json()["layouts"]]
    if "draft:aaaaaaa4" in listed:  # its metadata was whole: only reading it finds the damage
        assert client.get("/compare?right=draft:aaaaaaa4").status_code == 404
        listed = [x["id"] for x in client.get("/api/layouts").get_json()["layouts"]]
    assert "draft:aaaaaaa4" not in listed
    for url in ("/compare?right=draft:aaaaaaa4", "/embed/compare?right=draft:aaaaaaa4",
                "/api/layouts/draft:aaaaaaa4", "/figure/draft:aaaaaaa4.png"):
        assert client.get(url).status_code == 404, url


def test_6_a_draft_without_properties_just_works(client, instance):
    _hand_made(instance, "aaaaaaa5", {"type": "FeatureCollection", "draft": {**META, "id": "aaaaaaa5"},
                                      "features": [{"type": "Feature", "properties": None,
                                                    "geometry": {"type": "Polygon",
                                                                 "coordinates": [SQUARE]}}]})
    for url in ("/compare?right=draft:aaaaaaa5", "/embed/compare?right=draft:aaaaaaa5",
                "/api/layouts/draft:aaaaaaa5", "/api/compare?right=draft:aaaaaaa5",
                "/figure/draft:aaaaaaa5.png?width=120&height=90&dpi=60"):
        assert client.get(url).status_code == 200, url


# 7. owners, origins and quotas ----------------------------------------------------------------

def test_7_only_the_uploader_deletes_and_other_sites_change_nothing(client):
    body = upload(client).get_json()
    assert client.delete(f"/api/layouts/{body['id']}").status_code == 403
    r = client.delete(f"/api/layouts/{body['id']}", headers={"X-Draft-Token": "guess"})
    assert r.status_code == 403 and "wrong edit token" in r.get_json()["error"]
    r = upload(client)  # a form posted from another site: refused before it is read
    evil = client.post("/api/layouts", headers={"Origin": "http://evil.example"},
                       data={"file": (io.BytesIO(square_draft()), "d.geojson")},
                       content_type="multipart/form-data")
    assert evil.status_code == 403
    d = client.delete(f"/api/layouts/{body['id']}", headers={
        "X-Draft-Token": body["token"], "Origin": "http://evil.example"})
    assert d.status_code == 403
    assert client.delete(f"/api/layouts/{body['id']}",
                         headers={"X-Draft-Token": body["token"]}).status_code == 200


def test_7_quotas_are_settings(built, instance):
    client = make_app(built, instance, DRAFT_MAX_COUNT=2, UPLOAD_RATE_PER_HOUR=3).test_client()
    assert [upload(client).status_code for _ in range(2)] == [201, 201]
    r = upload(client)
    assert r.status_code == 507 and "the draft store is full: 2 drafts" in r.get_json()["error"]
    r = upload(client)
    assert r.status_code == 429 and r.headers["Retry-After"]
    small = make_app(built, instance / "other", DRAFT_MAX_TOTAL_BYTES=300).test_client()
    assert upload(small).status_code == 507


def test_7_old_drafts_expire(built, instance):
    client = make_app(built, instance, DRAFT_TTL_DAYS=30).test_client()
    old = upload(client).get_json()["id"][6:]
    index = instance / "drafts" / "index.json"
    doc = json.loads(index.read_text())
    doc["drafts"][old]["created"] = "2020-01-01T00:00:00Z"
    index.write_text(json.dumps(doc))
    assert f"draft:{old}" not in [x["id"] for x in client.get("/api/layouts").get_json()["layouts"]]
    upload(client)  # the next upload sweeps it
    assert not (instance / "drafts" / f"{old}.geojson").exists()


# 8. an instance folder that cannot be written is a 503 saying so --------------------------------

def test_8_an_unwritable_instance_is_a_503(built, tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "drafts").write_text("a file where the drafts folder should be")
    client = make_app(built, instance).test_client()
    r = upload(client)
    assert r.status_code == 503 and "drafts cannot be stored" in r.get_json()["error"]
    assert client.get("/api/layouts").status_code == 200 and client.get("/compare").status_code == 200


# 9. the built layers are checked before they are served --------------------------------------

@pytest.fixture()
def layers_copy(built, tmp_path):
    dst = tmp_path / "layers"
    shutil.copytree(built, dst)
    return dst


@pytest.mark.parametrize("damage,named", [
    (lambda d: (d / "layers.json").write_text("{"), "layers.json"),
    (lambda d: (d / "parks.geojson").unlink(), "parks.geojson"),
    (lambda d: (d / "context.geojson").write_text((d / "context.geojson").read_text()[:500]),
     "context.geojson"),
    (lambda d: (d / "districts.geojson").write_text(
        '{"type": "FeatureCollection", "features": []}'), "districts.geojson"),
])
def test_9_broken_layers_stop_serve_with_one_line_and_are_never_served(
        layers_copy, capsys, damage, named):
    damage(layers_copy)
    assert main(["serve", "--layers", str(layers_copy), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert named in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    client = create_app({"LAYERS_DIR": str(layers_copy)}).test_client()
    for url in ("/api/layers/context.geojson", "/map/changning", "/compare", "/api/compare"):
        assert client.get(url).status_code == 503, url


def test_9_a_broken_rebuild_leaves_the_last_good_one_served(layers_copy, built):
    client = create_app({"LAYERS_DIR": str(layers_copy)}).test_client()
    good = client.get("/api/layers/parks.geojson").get_data()
    (layers_copy / "parks.geojson").write_text('{"type": "Feat')  # a build cut short
    shutil.copy(built / "layers.json", layers_copy / "layers.tmp")
    (layers_copy / "layers.tmp").replace(layers_copy / "layers.json")  # ... that wrote its index
    r = client.get("/api/layers/parks.geojson")
    assert r.status_code == 200 and r.get_data() == good
    assert client.get("/map/changning").status_code == 200


# 11. no silent repair ---------------------------------------------------------------------------

@pytest.mark.parametrize("geometry,message", [
    ({"type": "Polygon", "coordinates": [SQUARE[:-1]]}, "not closed"),
    ({"type": "Point", "coordinates": ["121.42", "31.22"]}, "is not 2 or 3 numbers"),
    ({"type": "LineString", "coordinates": [[121.42, 31.22], [121.43, True]]}, "not 2 or 3 numbers"),
])
def test_11_nothing_is_repaired_or_converted_silently(client, geometry, message):
    doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
                                                      "geometry": geometry}]}
    r = upload(client, json.dumps(doc).encode())
    assert r.status_code == 400 and message in r.get_json()["error"]


# 12. headers -----------------------------------------------------------------------------------

def test_12_pages_allow_only_their_own_inline_scripts_by_hash(client):
    import base64
    import hashlib
    import re

    for url in ("/map/changning", "/embed/jingan", "/compare"):
        r = client.get(url)
        csp = r.headers["Content-Security-Policy"]
        assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0], url
        html = r.get_data(as_text=True)
        import html as html_lib
        docs = [html] + [html_lib.unescape(d) for d in re.findall(r'srcdoc="([^"]*)"', html)]
        for doc in docs:
            for attrs, body in re.findall(r"<script\b([^>]*)>(.*?)</script>", doc, re.S):
                if "src=" in attrs:
                    continue
                digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
                assert f"'sha256-{digest}'" in csp, url
        assert r.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_12_embeds_may_be_framed_anywhere_and_the_rest_only_here(client, built, instance):
    assert "frame-ancestors *" in client.get("/embed/changning").headers["Content-Security-Policy"]
    assert "frame-ancestors *" in client.get("/embed/compare").headers["Content-Security-Policy"]
    for url in ("/map/changning", "/compare", "/"):
        assert "frame-ancestors 'self'" in client.get(url).headers["Content-Security-Policy"]
    other = make_app(built, instance, FRAME_ANCESTORS="https://reports.example.org",
                     FRAME_ANCESTORS_PAGES="'none'").test_client()
    assert "frame-ancestors https://reports.example.org" in other.get(
        "/embed/jingan").headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in other.get("/map/jingan").headers["Content-Security-Policy"]


@pytest.mark.parametrize("url", ["/api/layers/parks.geojson", "/api/parks.csv", "/api/layouts",
                                 "/figure/layers:districts.svg?width=60&height=50&dpi=60"])
def test_12_data_and_svg_load_nothing(client, url):
    csp = client.get(url).headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'none'") and "frame-ancestors 'none'" in csp


def test_ids_in_urls_never_reach_headers_raw(client):
    for junk in ("\u2028", "\u3000", "\r\n", "\x00"):
        r = client.get("/api/compare.csv", query_string={"left": junk})
        assert r.status_code == 404 and all(v.isascii() for v in r.headers.values())
    r = client.get("/figure/" + quote("compare:changning_zones,draft:00000000") + ".png")
    assert r.status_code == 404

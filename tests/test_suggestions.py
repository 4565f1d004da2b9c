"""Suggesting where a place is: the API (checked, bounded, same-origin), the address search,
and the operator's review on the command line (list, show, accept, reject)."""
from __future__ import annotations

import csv
import json
import shutil

import pytest
from PIL import Image

from geo.datum import wgs84_to_gcj02
from layers.sources import SOURCES_DIR, BuildContext
from webapp import create_app
from webapp.cli import main
from webapp.stores.suggestions import SuggestionStore

PLACE = "park-bonc-hq-park"  # unlocated, in 长宁区
IN_CHANGNING = (121.36, 31.21)  # WGS84
IN_JINGAN = (121.455, 31.265)
URL = f"/api/places/{PLACE}/suggestions"


@pytest.fixture()
def instance(tmp_path):
    return tmp_path / "instance"


@pytest.fixture()
def app(built, instance):
    return create_app({"LAYERS_DIR": str(built), "INSTANCE_DIR": str(instance)})


@pytest.fixture()
def client(app):
    return app.test_client()


def good(**extra):
    return {"lon": IN_CHANGNING[0], "lat": IN_CHANGNING[1], "precision": "building",
            "source_url": "https://example.org/bonc", "quote": "东方国信科创园位于……", **extra}


def test_a_suggestion_is_kept_pending_and_changes_nothing(client, instance, built):
    before = client.get("/api/layers/parks.geojson").get_data()
    r = client.post(URL, json=good(note="near the metro", contact="me@example.org"))
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    body = r.get_json()
    assert body["status"] == "pending" and body["place_id"] == PLACE
    stored = SuggestionStore(instance / "suggestions").get(body["id"])
    assert stored["geometry"] == {"type": "Point", "coordinates": list(IN_CHANGNING)}
    assert stored["precision"] == "building" and stored["note"] == "near the metro"
    assert client.get("/api/layers/parks.geojson").get_data() == before


def test_a_form_post_in_gcj02_is_converted_to_wgs84(client, instance):
    lon, lat = wgs84_to_gcj02(*IN_CHANGNING)
    r = client.post(URL, data={"lon": str(lon), "lat": str(lat), "datum": "GCJ-02",
                               "precision": "street", "quote": "在某路上"})
    assert r.status_code == 201
    stored = SuggestionStore(instance / "suggestions").get(r.get_json()["id"])
    x, y = stored["geometry"]["coordinates"]
    assert abs(x - IN_CHANGNING[0]) < 1e-6 and abs(y - IN_CHANGNING[1]) < 1e-6
    assert stored["datum"] == "GCJ-02"


def test_a_footprint_may_be_given_as_geojson(client):
    x, y = IN_CHANGNING
    square = {"type": "Polygon", "coordinates": [[[x, y], [x + .001, y], [x + .001, y + .001],
                                                  [x, y + .001], [x, y]]]}
    assert client.post(URL, json=good(lon=None, lat=None, geometry=square)).status_code == 201


@pytest.mark.parametrize("change,status,message", [
    ({"lon": IN_JINGAN[0], "lat": IN_JINGAN[1]}, 400, "outside 长宁区"),
    ({"precision": "exact"}, 400, "precision"),
    ({"precision": None}, 400, "precision"),
    ({"source_url": None, "quote": None}, 400, "give a source"),
    ({"source_url": "javascript:alert(1)"}, 400, "not an http"),
    ({"lon": None}, 400, "give a location"),
    ({"lon": "east"}, 400, "not a number"),
    ({"lon": True}, 400, "expected a number"),
    ({"lon": 1e308, "lat": 1e308}, 400, "finite"),
    ({"lon": float("nan")}, 400, "finite"),
    ({"datum": "mars"}, 400, "unknown datum"),
    ({"quote": "x" * 2001}, 400, "at most 2000"),
    ({"note": ["a list"]}, 400, "expected text"),
    ({"geometry": {"type": "LineString", "coordinates": [[121.36, 31.21], [121.37, 31.21]]}},
     400, "not a location"),
    ({"geometry": "{not json"}, 400, "not a GeoJSON geometry"),
])
def test_bad_suggestions_are_refused_with_the_reason(client, instance, change, status, message):
    body = {k: v for k, v in good(**change).items() if v is not None}
    r = client.post(URL, data=json.dumps(body, allow_nan=True), content_type="application/json")
    assert r.status_code == status and message in r.get_json()["error"], r.get_json()
    assert not (instance / "suggestions").exists() or not list((instance / "suggestions").glob("*.json"))


def test_unknown_places_and_bodies_that_are_not_objects(client):
    r = client.post("/api/places/park-nowhere/suggestions", json=good())
    assert r.status_code == 404 and "unknown place" in r.get_json()["error"]
    assert client.post(URL, data="[1, 2]", content_type="application/json").status_code == 400
    assert client.post(URL, data=b"\xff\xfe", content_type="application/json").status_code == 400
    assert client.get(URL).status_code == 405


def test_a_suggestion_from_another_site_is_refused(client, app):
    r = client.post(URL, json=good(), headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "cross-site" in r.get_json()["error"]
    r = client.post(URL, json=good(), headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert client.post(URL, json=good(), headers={"Origin": "http://localhost"}).status_code == 201
    app.config["ALLOWED_ORIGINS"] = "https://reports.example.org"
    r = client.post(URL, json=good(), headers={"Origin": "https://reports.example.org"})
    assert r.status_code == 201


def test_limits_are_settings(built, instance):
    app = create_app({"LAYERS_DIR": str(built), "INSTANCE_DIR": str(instance),
                      "SUGGESTION_MAX_BYTES": 2000, "SUGGESTION_RATE_PER_HOUR": 4,
                      "SUGGESTION_MAX_PENDING": 2})
    client = app.test_client()
    assert client.post(URL, json=good(note="x" * 1990)).status_code == 413
    assert [client.post(URL, json=good()).status_code for _ in range(2)] == [201, 201]
    r = client.post(URL, json=good())
    assert r.status_code == 507 and "waiting for review" in r.get_json()["error"]
    r = client.post(URL, json=good())  # the fifth this hour from this client (bad ones count)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


def test_user_text_is_stored_as_text(client, instance):
    evil = "<img src=x onerror=alert(1)> $\\undefinedcommand$ \x00\x1b[31m"
    r = client.post(URL, json=good(quote=evil, note=evil))
    stored = SuggestionStore(instance / "suggestions").get(r.get_json()["id"])
    assert stored["quote"] == "<img src=x onerror=alert(1)> $\\undefinedcommand$ [31m"


def test_the_address_search_answers_from_our_own_data(client):
    r = client.get("/api/geocode", query_string={"address": "延安西路934号"})
    body = r.get_json()
    assert r.status_code == 200 and body["precision"] == "building" and body["datum"] == "WGS84"
    assert "长宁区妇幼保健院" in body["basis"]
    r = client.get("/api/geocode", query_string={"address": "法华镇路535号"})
    assert r.status_code == 404 and "法华镇路 is not in" in r.get_json()["error"]
    for bad in ("", "hello", "x" * 5000):
        assert client.get("/api/geocode", query_string={"address": bad}).status_code == 400


# --- the operator's review ------------------------------------------------------------------

@pytest.fixture()
def sources(tmp_path):
    dst = tmp_path / "sources"
    shutil.copytree(SOURCES_DIR, dst)
    return dst


def _cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_review_accept_appends_a_correction_the_build_uses(client, instance, built, sources,
                                                            tmp_path, capsys):
    sid = client.post(URL, json=good()).get_json()["id"]
    other = client.post(URL, json=good(quote="另一个")).get_json()["id"]
    code, out, _ = _cli(capsys, "suggestions", "list", "--instance", str(instance))
    assert code == 0 and sid in out and other in out and PLACE in out
    fig = tmp_path / "review.png"
    code, out, _ = _cli(capsys, "suggestions", "show", sid, "--instance", str(instance),
                        "--layers", str(built), "--figure", str(fig))
    assert code == 0 and "now:        unlocated" in out and "https://example.org/bonc" in out
    with Image.open(fig) as img:
        assert img.size[0] > 1000  # two panels: now | suggested
    code, out, _ = _cli(capsys, "suggestions", "accept", sid, "--instance", str(instance),
                        "--sources", str(sources), "--by", "reviewer")
    assert code == 0 and "run `parkmap build`" in out
    with (sources / "place_corrections.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["place_id"], r["suggestion_id"], r["accepted_by"]) for r in rows] == [
        (PLACE, sid, "reviewer")]
    code, _, err = _cli(capsys, "suggestions", "accept", sid, "--instance", str(instance),
                        "--sources", str(sources))
    assert code == 2 and "already accepted" in err
    code, out, _ = _cli(capsys, "suggestions", "reject", other, "--why", "duplicate",
                        "--instance", str(instance))
    assert code == 0
    assert SuggestionStore(instance / "suggestions").get(other)["reason"] == "duplicate"
    code, out, _ = _cli(capsys, "suggestions", "list", "--status", "all", "--instance", str(instance))
    assert "accepted" in out and "rejected" in out
    parks = BuildContext(sources).layer("parks").set_index("id")
    assert parks.loc[PLACE, "confidence"] == "building"
    assert f"suggestion {sid}" in parks.loc[PLACE, "basis"]


@pytest.mark.parametrize("argv,message", [
    (("show", "0123456789"), "no suggestion"),
    (("show", "../etc"), "10 hexadecimal"),
    (("accept", "0123456789"), "no suggestion"),
    (("reject", "0123456789", "--why", "x"), "no suggestion"),
    (("reject", "0123456789", "--why", "  "), "say why"),
])
def test_review_of_what_is_not_there_is_one_line(instance, capsys, argv, message):
    code, _, err = _cli(capsys, "suggestions", *argv, "--instance", str(instance))
    assert code == 2 and message in err and "Traceback" not in err

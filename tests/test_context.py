"""The context layer: the quiet offline base map (rivers, ring/elevated roads, metro network)."""
from __future__ import annotations

import json
import shutil

import pytest

from layers import context
from layers.sources import SOURCES_DIR, BuildContext, SourceError
from layers.spec import REQUIRED_PROPERTIES


@pytest.fixture(scope="module")
def layer(ctx):
    return ctx.layer("context")


def test_contents(layer):
    counts = layer["kind"].value_counts().to_dict()
    assert counts == {"metro_station": 226, "metro_line": 19, "river": 4, "ring_road": 3,
                      "elevated_road": 2, "street": 1}
    assert {"内环高架路", "中环路", "延安高架路", "南北高架路", "苏州河", "黄浦江"} <= set(layer["name_zh"])
    assert layer.geometry.is_valid.all() and layer.geometry.notna().all()


def test_feature_contract(layer):
    for col in REQUIRED_PROPERTIES:
        assert col in layer.columns
        if col not in ("district", "zone"):
            assert layer[col].notna().all() and (layer[col] != "").all(), col
    assert layer["id"].is_unique and layer["id"].str.startswith("context-").all()
    assert layer["id"].str.fullmatch(r"[a-z0-9-]+").all()
    assert layer["district"].isna().all() and layer["zone"].isna().all()


def test_english_station_names_come_from_the_line2_list_where_there_is_one(layer):
    by_zh = dict(zip(layer.loc[layer["kind"] == "metro_station", "name_zh"],
                     layer.loc[layer["kind"] == "metro_station", "name_en"]))
    assert by_zh["中山公园"] == "Zhongshan Park"
    assert by_zh["龙耀路"] == "龙耀路 Station"  # no English name in any source


def test_derived_features_say_how_they_were_derived(layer):
    rivers = layer.loc[layer["kind"] == "river"]
    assert rivers["basis"].str.contains("district boundary").all()
    assert layer.loc[layer["kind"] == "ring_road", "basis"].isna().all()  # OSM as is, not derived


def test_quiet_basemap_metadata(layer):
    spec = context.LAYER
    assert spec.group == "context"
    assert "© OpenStreetMap contributors" in spec.attribution and "ODbL" in spec.license
    assert set(layer["kind"]) == set(spec.styles)
    # rivers under roads under stations: the layer is ordered for drawing
    order = list(dict.fromkeys(layer["kind"]))
    assert order.index("river") < order.index("ring_road") < order.index("metro_station")


def test_unknown_source_kind_is_a_clear_error(tmp_path):
    shutil.copytree(SOURCES_DIR, tmp_path / "sources")
    path = tmp_path / "sources" / "roads_rivers.geojson"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["features"][0]["properties"]["kind"] = "canal"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(SourceError, match=r"roads_rivers.geojson: unknown kind\(s\) \['canal'\]"):
        BuildContext(tmp_path / "sources").layer("context")

"""The subdistricts layer (街道/镇), and places placed at them or corrected by a reviewer."""
from __future__ import annotations

import shutil

import pytest
from shapely.geometry import Point

from geo.crs import METRIC_CRS, area_km2
from layers import subdistricts as sd
from layers.places import CORRECTION_COLUMNS
from layers.sources import SOURCES_DIR, BuildContext, SourceError
from layers.spec import REQUIRED_PROPERTIES


@pytest.fixture(scope="module")
def gdf(ctx):
    return ctx.layer("subdistricts")


def test_every_subdistrict_of_both_districts_with_its_names_and_area(gdf):
    counts = gdf["district"].value_counts().to_dict()
    assert counts == {"changning": 10, "jingan": 14}
    for col in (*REQUIRED_PROPERTIES, "area_km2", "name_en_status", "osm_relation_id"):
        assert col in gdf.columns
    by = gdf.set_index("name_zh")
    assert by.loc["江苏路街道", "name_en"] == "Jiangsu Road Subdistrict"
    assert by.loc["新泾镇", "name_en"] == "Xinjing Town"
    assert by.loc["新泾镇", "name_en_status"] == "sourced"
    assert set(gdf["name_en_status"]) == {"sourced", "rendered"}  # and says which
    assert gdf["id"].is_unique and all(i.isascii() for i in gdf["id"])
    for _, r in gdf.iterrows():
        assert r["area_km2"] == pytest.approx(area_km2(r.geometry), abs=0.006)


def test_changning_subdistricts_carry_their_share_of_each_zone(gdf, ctx):
    zones = ctx.layer("changning_zones").to_crs(METRIC_CRS)
    for _, r in gdf[gdf["district"] == "changning"].to_crs(METRIC_CRS).iterrows():
        shares = r["zone_shares"]
        assert set(shares) <= {"east", "central", "west"} and r["zone"] == max(shares, key=shares.get)
        assert sum(shares.values()) == pytest.approx(1.0, abs=0.02)
        for z, share in shares.items():
            zg = zones.loc[zones["zone"] == z].geometry.iloc[0]
            assert r.geometry.intersection(zg).area / r.geometry.area == pytest.approx(share, abs=0.001)
    assert gdf.loc[gdf["district"] == "jingan", "zone_shares"].isna().all()


def test_their_union_matches_each_district_and_check_catches_a_gap(gdf, ctx):
    layers = {"districts": ctx.layer("districts")}
    found = sd.overlaps(gdf, layers["districts"])
    assert found["changning"] >= 0.99 and found["jingan"] >= 0.99
    assert sd.check(gdf, layers) == []
    gap = gdf[gdf["name_zh"] != "新泾镇"]  # 11.9 of 37 km²
    assert any("changning" in p and "overlaps its boundary" in p for p in sd.check(gap, layers))


def test_a_place_known_by_its_subdistrict_is_drawn_there_and_says_so(ctx):
    parks = ctx.layer("parks").set_index("id")
    xijiao = parks.loc["park-xijiao-finance-park"]
    assert xijiao["confidence"] == "area" and xijiao["area_ref"] == "subdistrict=新泾镇"
    assert (xijiao["within_zh"], xijiao["within_en"]) == ("新泾镇", "Xinjing Town")
    assert (xijiao["subdistrict"], xijiao["subdistrict_en"]) == ("新泾镇", "Xinjing Town")
    assert xijiao["zone"] == "west"  # 91 % of 新泾镇 is west of the Middle Ring
    town = ctx.layer("subdistricts").set_index("name_zh").loc["新泾镇"].geometry
    assert town.covers(xijiao.geometry) and "Xinjing Town has introduced" in xijiao["basis"]


def test_located_places_know_their_subdistrict_and_rings_only_their_own(ctx):
    parks = ctx.layer("parks")
    subs = ctx.layer("subdistricts")
    for _, r in parks[parks.geometry.notna()].iterrows():
        if r["confidence"] in ("building", "street"):
            holder = subs[subs.geometry.covers(r.geometry.representative_point())]
            assert r["subdistrict"] == holder["name_zh"].iloc[0], r["id"]
        elif not str(r["area_ref"]).startswith(("subdistrict=", "place=")):
            # a ring at a zone's point is not "in" whatever subdistrict that point falls in
            assert not isinstance(r["subdistrict"], str), r["id"]
        if r["confidence"] == "area":
            assert r["within_zh"] and r["within_en"], r["id"]  # every ring names its area


def _sources(tmp_path):
    dst = tmp_path / "sources"
    shutil.copytree(SOURCES_DIR, dst)
    return dst


def _correction(src, **row):
    values = {"place_id": "park-bonc-hq-park", "wkt": "POINT (121.36 31.21)",
              "precision": "building", "source_url": "https://example.org/bonc", "quote": "东方国信",
              "note": "", "suggestion_id": "s1", "accepted_by": "tester",
              "accepted_at": "2026-11-30T00:00:00Z", **row}
    with (src / "place_corrections.csv").open("a", encoding="utf-8") as fh:
        fh.write(",".join(values[c] for c in CORRECTION_COLUMNS) + "\n")


def test_an_accepted_correction_places_the_place_with_its_source(tmp_path):
    src = _sources(tmp_path)
    _correction(src)
    _correction(src, wkt="POINT (121.365 31.212)", precision="street", suggestion_id="s2")
    parks = BuildContext(src).layer("parks").set_index("id")
    r = parks.loc["park-bonc-hq-park"]
    assert r.geometry.equals(Point(121.365, 31.212))  # the newest correction counts
    assert r["confidence"] == "street" and not r["approximate"]
    assert r["basis"].startswith("correction accepted 2026-11-30T00:00:00Z by tester (suggestion s2")
    assert "https://example.org/bonc" in r["basis"] and r["zone"] == "west"


@pytest.mark.parametrize("row,message", [
    ({"place_id": "park-nowhere"}, "unknown place"),
    ({"precision": "area"}, "precision"),
    ({"wkt": "POINT (121.36"}, "not a valid geometry"),
    ({"source_url": "", "quote": ""}, "needs a source"),
])
def test_a_damaged_correction_fails_the_build_with_its_line(tmp_path, row, message):
    src = _sources(tmp_path)
    _correction(src, **row)
    with pytest.raises(SourceError, match=f"place_corrections.csv line 2: .*{message}"):
        BuildContext(src).layer("parks")

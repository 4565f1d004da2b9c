"""Plan references and their anchors (webapp/passages.py): the rule the popups' links and the
plan reader's section anchors share. tests/test_focus.py checks parkmap.js gives the same."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from webapp.passages import passage_anchor, passage_url, references, section_anchor

# (reference, (doc, anchor)): the cases the JS copy is checked against too
CASES = [
    ("000 一(一)3", ("000", "一-一-3")),
    ("000 三(三)", ("000", "三-三")),
    ("003 五", ("003", "五")),
    ("004 二(三)", ("004", "二-三")),
    ("001 二(五)21", ("001", "二-五-21")),
    ("002", ("002", "")),
    ("000 （一）", ("000", "一")),          # full-width brackets
    ("000 一((二))", ("000", "一-二")),      # repeats collapse
    ("000 【三】〔四〕", ("000", "三-四")),
    ("000 ()", ("000", "")),                # nothing but brackets: the whole document
]
NOT_REFERENCES = ["", "00", "0000 一", "abc 一", "line2_stations.csv", "000  一", "000 一 二",
                  " 000 一", "000 一\n", "osm_admin.geojson: OSM relation 13469094", "000 ",
                  "٠٠٠ 一"]  # Arabic-Indic digits are not our document ids


@pytest.mark.parametrize("ref, want", CASES)
def test_passage_anchor(ref, want):
    assert passage_anchor(ref) == want
    doc, anchor = want
    assert passage_url(ref) == f"/plan/{doc}" + (f"#{anchor}" if anchor else "")


@pytest.mark.parametrize("ref", NOT_REFERENCES)
def test_anything_else_is_not_a_reference(ref):
    with pytest.raises(ValueError, match="not a plan reference"):
        passage_anchor(ref)
    assert passage_url(ref) is None


def test_section_anchor_is_what_the_reader_names_its_sections():
    assert section_anchor("一(一)3") == "一-一-3"
    assert section_anchor("三(三)") == "三-三"
    assert section_anchor("五") == "五"
    assert section_anchor("二(三)") == "二-三"
    assert section_anchor("(一)") == "一"


def test_references_splits_a_source_value():
    assert references("000 一(一)3; 000 三(三); 003 一(一)2") == ["000 一(一)3", "000 三(三)",
                                                                 "003 一(一)2"]
    assert references("000 三(三);line2_stations.csv; ") == ["000 三(三)", "line2_stations.csv"]
    assert references("") == []


def test_every_plan_reference_in_the_built_layers_has_an_anchor(layers_dir: Path):
    """Every "<3 digits> ..." reference in the committed layers is one the rule reads."""
    seen = 0
    for path in sorted(layers_dir.glob("*.geojson")):
        for f in json.loads(path.read_text(encoding="utf-8")).get("features", []):
            for ref in references(str(f["properties"].get("source") or "")):
                if ref[:3].isdigit() and ref[3:4] in ("", " "):
                    doc, anchor = passage_anchor(ref)
                    assert doc == ref[:3] and "(" not in anchor and not anchor.startswith("-")
                    seen += 1
    assert seen > 50

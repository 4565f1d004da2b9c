"""Plan references ("000 一(一)3") and where the plan reader shows them (/plan/<doc>#<anchor>).

A feature's ``source`` lists the plan sections it comes from, "<doc> <section>" separated by
"; " (doc: the seed document's 3-digit id, 000…004; section: its heading numbers, e.g. 一(一)3
for part 一, item (一), point 3). The map popups link each reference to its passage in the
plan reader; the plan reader (webapp/plans.py) imports ``section_anchor`` to give its sections
the same anchors, so the two never disagree. The same rule is written once in JS:
``passageAnchor`` in webapp/static/parkmap.js (tests/test_passages.py checks they agree).

The anchor rule: every bracket (ASCII or full-width: () （） [] ［］ 【】 〔〕) becomes a hyphen,
runs of hyphens collapse to one, and hyphens at either end go:

    一(一)3 -> 一-一-3    三(三) -> 三-三    五 -> 五    二(三) -> 二-三
"""
from __future__ import annotations

import re

# "<3 digits>" or "<3 digits> <section>" (one space; a section has no whitespace). Any other
# reference ("line2_stations.csv", an OSM relation...) is not a plan passage.
REFERENCE = re.compile(r"([0-9]{3})(?: (\S+))?")
_BRACKETS = re.compile(r"[()（）\[\]［］【】〔〕]")
_HYPHENS = re.compile(r"-{2,}")


def section_anchor(section: str) -> str:
    """The anchor of a plan section: "一(一)3" -> "一-一-3", "三(三)" -> "三-三", "五" -> "五"."""
    return _HYPHENS.sub("-", _BRACKETS.sub("-", section)).strip("-")


def passage_anchor(ref: str) -> tuple[str, str]:
    """(doc, anchor) of a plan reference: "000 一(一)3" -> ("000", "一-一-3"); a reference to a
    whole document ("003") -> ("003", ""). Raises ValueError if ``ref`` is not a plan
    reference ("<3 digits>" or "<3 digits> <section>")."""
    m = REFERENCE.fullmatch(ref)
    if not m:
        raise ValueError(f"not a plan reference: {ref[:60]!r} (expected e.g. '000 一(一)3')")
    return m.group(1), section_anchor(m.group(2) or "")


def passage_url(ref: str) -> str | None:
    """The plan reader's URL of a reference ("/plan/000#一-一-3", "/plan/003"), None if ``ref``
    is not a plan reference. The anchor is not percent-encoded (as the popups write it)."""
    try:
        doc, anchor = passage_anchor(ref)
    except ValueError:
        return None
    return f"/plan/{doc}" + (f"#{anchor}" if anchor else "")


def references(source: str) -> list[str]:
    """The references of a ``source`` value: "000 一(一)3; 003 五" -> ["000 一(一)3", "003 五"]."""
    return [r.strip() for r in source.split(";") if r.strip()]

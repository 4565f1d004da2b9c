"""The plan reader (issue 13) through Flask's test client: structure and anchors, mentions,
coverage (against `parkmap check --places`), search and its limits, no outside host."""
from __future__ import annotations

import csv
import html as html_module
import json
import re
import shutil
from collections import Counter
from itertools import pairwise

import pytest

from layers.check import PLACE_COLUMNS, place_table, places_report
from layers.sources import SOURCES_DIR
from layers.store import LayerStore
from webapp import create_app
from webapp.passages import passage_anchor, references
from webapp.plans import (BLOCKED, FEATURE_ALIASES, PLANS, UNMAPPED, PlanIndex, blocks,
                          document_text, place_aliases)

EVIL = "<img src=x onerror=alert(1)>"
DOCS = [p.doc for p in PLANS]


@pytest.fixture(scope="module")
def app(built):
    return create_app({"LAYERS_DIR": str(built)})


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def pages(client):
    return {d: client.get(f"/plan/{d}").get_data(as_text=True) for d in DOCS}


@pytest.fixture(scope="module")
def index(built):
    return PlanIndex.build(LayerStore(built))


def _places() -> list[dict]:
    with (SOURCES_DIR / "places.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _text_of(html: str) -> str:
    """The page's text as a reader sees it (tags dropped, entities decoded)."""
    body = re.sub(r"<script\b.*?</script>", "", html, flags=re.DOTALL)
    return html_module.unescape(re.sub(r"<[^>]+>", "", body))


def _ids(html: str) -> set[str]:
    return {html_module.unescape(i) for i in re.findall(r'\sid="([^"]*)"', html)}


# --- structure -------------------------------------------------------------------------------

def test_every_section_reference_resolves_to_an_anchor_on_the_page(pages, built):
    refs = {r for row in _places() for r in references(row["source"])}
    for layer in ("changning_zones", "jingan_layout", "line2"):  # the layers' own references
        for f in json.loads((built / f"{layer}.geojson").read_text(encoding="utf-8"))["features"]:
            refs |= {r for r in references(f["properties"]["source"] or "")
                     if re.fullmatch(r"[0-9]{3}( \S+)?", r)}
    assert len(refs) > 25
    for ref in sorted(refs):
        doc, anchor = passage_anchor(ref)
        assert doc in pages, ref
        assert not anchor or anchor in _ids(pages[doc]), ref


def test_headings_carry_the_anchor_of_their_reference(pages):
    for d in DOCS:
        heads = [b for b in blocks(d) if b.anchor is not None]
        assert heads, d
        for b in heads:
            assert b.anchor == passage_anchor(b.ref)[1]
            assert f'id="{b.anchor}"' in pages[d]
        assert len({b.anchor for b in heads}) == len(heads), d  # unique on the page
    html = pages["000"]
    assert re.search(r'<p id="一-一-3" class="pm-item"[^>]*><a class="pm-num" href="#一-一-3">3、</a>'
                     r'产业园区主题特色鲜明', html)
    assert re.search(r'<h3 id="三-三" class="pm-section"[^>]*><a class="pm-num" href="#三-三">\(三\)'
                     r'</a>优化产业链空间功能布局</h3>', html)
    assert re.search(r'<h2 id="三" class="pm-chapter"[^>]*><a class="pm-num" href="#三">三、</a>主要任务',
                     html)
    assert re.search(r'<h2 id="五" class="pm-chapter"', pages["003"])  # "003 五"
    assert 'id="二-四-14"' in pages["001"]  # 1.-style items numbered across sections
    # the table of contents links every chapter and section
    toc = pages["003"][pages["003"].index('class="pm-toc"'):pages["003"].index("</nav>", pages["003"].index('class="pm-toc"'))]
    assert 'href="#五"' in toc and 'href="#五-三"' in toc


def test_every_passage_is_in_its_document_verbatim_and_on_its_page(pages):
    for row in _places():
        assert row["passage"] in document_text(row["passage_doc"]), row["id"]
        assert row["passage"] in _text_of(pages[row["passage_doc"]]), row["id"]


def test_summaries_and_languages(pages, client):
    for p in PLANS:
        html = pages[p.doc]
        assert html.startswith("<!doctype html>\n<html lang=\"zh-CN\">")
        assert f"<h1 id=\"top\">{html_module.escape(p.title_zh, quote=False)}</h1>" in html
        assert re.search(r'<section class="pm-plan-summary" lang="en"', html)
        assert p.summary_en in _text_of(html)
        assert "<main" in html and "<nav" in html and "<aside" in html
    index = client.get("/plan").get_data(as_text=True)
    for p in PLANS:
        assert f'href="/plan/{p.doc}"' in index and str(p.year) in index
    assert 'href="/plan"' in client.get("/").get_data(as_text=True)  # linked from the home page


# --- names and mentions ----------------------------------------------------------------------

def test_every_alias_occurs_in_a_document():
    texts = "\n".join(document_text(d) for d in DOCS)
    names = [a for aliases in place_aliases().values() for a in aliases]
    names += [a for aliases in FEATURE_ALIASES.values() for a in aliases]
    names += list(UNMAPPED) + list(BLOCKED)
    assert len(names) > 40
    assert [n for n in names if n not in texts] == []


def test_every_named_place_is_found_in_some_plan(index, built):
    found = {m.target for d in DOCS for _, m in index.doc_mentions(d)}
    places = {r["id"] for r in _places()}
    assert places - found == set()


def test_mentions_never_overlap_and_take_the_longest_name(index):
    for d in DOCS:
        for b, ms in zip(blocks(d), index.mentions[d]):
            assert all(a.end <= c.start for a, c in pairwise(ms)), b.ref
            assert all(b.text[m.start:m.end] == m.text for m in ms)

    def target(doc, text):
        return {m.target for _, m in index.doc_mentions(doc) if m.text == text}

    assert target("004", "东虹桥地区") == {"park-east-hongqiao"}  # not 虹桥地区 (central area)
    assert target("003", "中山公园数字金融城") == {"zone-changning-east"}  # not 中山公园
    assert target("003", "中山公园") == {"park-zhongshan-park"}  # the park, not the station
    assert target("001", "南京西路") == {"layout-jingan-area-nanjingxilu"}  # not the station
    assert target("001", "上海市北区块链生态谷") == {"park-shibei-blockchain-valley"}
    assert target("001", "市北") == {"layout-jingan-shibei-park"}
    assert not any(m.text.startswith("市北高新集团") for _, m in index.doc_mentions("001"))
    assert target("000", "北新泾街道") == {"subdistrict-beixinjing"}  # not the 北新泾 station


def test_a_known_name_is_highlighted_and_linked_to_the_map(pages):
    html = pages["003"]
    link = re.search(r'<a class="pm-mention pm-linked" href="([^"]+)" data-id="park-simic-valley" '
                     r'data-layer="parks" aria-label="([^"]+)">新微智谷</a>', html)
    assert link, "新微智谷 not linked"
    assert link.group(1) == "/map/changning?focus=park-simic-valley"
    assert html_module.unescape(link.group(2)) == (
        "园区：新微智谷（位置：片区级）/ Park: SIMIC Valley (CAS SIMIT incubation complex) "
        "(location: area)")
    assert 'href="/map/jingan?focus=layout-jingan-shibei-park"' in pages["001"]
    # an alias: 缤谷大厦 (003) is the 缤谷人工智能产业大厦 of the map
    assert re.search(r'data-id="park-bingu-ai-building"[^>]*>缤谷大厦</a>', html)
    # every linked mention opens a map that draws its layer
    for page in pages.values():
        for href in re.findall(r'class="pm-mention pm-linked" href="([^"]+)"', page):
            assert re.fullmatch(r"/map/(changning|jingan|overview)\?focus=[a-z0-9-]+", href), href


def test_unlocated_places_are_marked_and_not_linked(pages):
    html = pages["000"]
    button = re.search(r'<button type="button" class="pm-mention pm-unlocated" '
                       r'data-id="park-bonc-hq-park" data-layer="parks" aria-label="([^"]+)">'
                       r'东方国信跨国企业\(总部\)科创园</button>', html)
    assert button
    assert "未定位" in html_module.unescape(button.group(1))
    assert "unlocated" in html_module.unescape(button.group(1))
    assert "focus=park-bonc-hq-park" not in html
    assert re.search(r'class="pm-mention pm-unmapped"[^>]*>虹桥智谷</button>', html)  # no feature


def test_cards_carry_name_confidence_and_basis(pages):
    cards = json.loads(re.search(r'<script type="application/json" id="pm-plan-cards">(.*?)</script>',
                                 pages["000"], re.DOTALL).group(1))
    c = cards["park-huawei-unicom-ai-center"]
    assert c["name_zh"] == "华为-联通人工智能创新示范中心" and c["confidence"] == "building"
    assert c["located"] is True and "长宁路1033号" in c["basis"]
    assert cards["park-bonc-hq-park"]["located"] is False
    ids = set(re.findall(r'class="pm-mention pm-(?:linked|unlocated)"[^>]*data-id="([^"]+)"', pages["000"]))
    assert ids == set(cards)


# --- coverage --------------------------------------------------------------------------------

# Map features named per plan, by confidence; then the named places per `check --places` class.
FIGURES = {
    "000": ({"building": 5, "street": 3, "area": 19, "boundary": 1, "unlocated": 3},
            {"building": 5, "street": 2, "area:zone": 13, "area:subdistrict": 1, "area:place": 2,
             "unlocated": 3}),
    "001": ({"street": 2, "area": 15, "boundary": 1, "unlocated": 6},
            {"street": 1, "area:layout": 9, "unlocated": 6}),
    "002": ({}, {}),
    "003": ({"building": 4, "street": 4, "area": 21},
            {"building": 4, "street": 3, "area:zone": 15, "area:subdistrict": 1, "area:place": 2}),
    "004": ({"area": 11, "unlocated": 1}, {"area:zone": 4, "area:place": 6, "unlocated": 1}),
}


@pytest.mark.parametrize("doc", DOCS)
def test_coverage_json(client, doc):
    r = client.get(f"/api/plans/{doc}/coverage")
    assert r.status_code == 200 and r.mimetype == "application/json"
    cov = r.get_json()
    assert set(cov["definitions"]) == {"named", "places", "not_on_map", "not_named"}
    named = cov["named"]
    assert named["count"] == len(named["features"]) == sum(named["by_confidence"].values())
    by_conf, by_class = FIGURES[doc]
    assert named["by_confidence"] == by_conf
    assert {k: v for k, v in cov["places"]["by_class"].items() if v} == by_class
    assert list(cov["places"]["by_class"]) == list(PLACE_COLUMNS)
    assert cov["places"]["count"] == sum(by_class.values())
    unlocated = [f["id"] for f in named["features"] if not f["located"]]
    assert [f["id"] for f in cov["not_on_map"]["unlocated"]] == unlocated
    assert all(f["map"] is None for f in cov["not_on_map"]["unlocated"])
    ids = {f["id"] for f in named["features"]}
    assert not ids & {f["id"] for f in cov["not_named"]}
    for f in named["features"]:
        assert f["first"].startswith(f"/plan/{doc}#") and f["mentions"] >= 1


def test_coverage_details(client, pages):
    cov = client.get("/api/plans/000/coverage").get_json()
    assert [f["name_zh"] for f in cov["not_on_map"]["no_feature"]] == ["虹桥智谷", "虹桥商务区"]
    not_named = {f["id"]: f["named_in"] for f in cov["not_named"]}
    assert not_named["park-shanghai-silicon-alley"] == ["004"]  # named later, in 004 only
    assert not any(i.startswith("layout-jingan") for i in not_named)  # Changning's map only
    assert cov["named"]["count"] == 31
    html = pages["000"]
    assert "31 map features named in this plan" in html and 'id="pm-coverage"' in html


def test_coverage_summed_over_plans_equals_check_places(client, built, capsys):
    """Each named place counted once over the five plans: the same table as `parkmap check
    --places` (every place of places.csv is named in some plan)."""
    classes, seen = Counter(), set()
    for d in DOCS:
        for f in client.get(f"/api/plans/{d}/coverage").get_json()["named"]["features"]:
            if f["place_class"] and f["id"] not in seen:
                seen.add(f["id"])
                classes[f["place_class"]] += 1
    store = LayerStore(built)
    table = place_table(store)
    want = {c: sum(row.get(c, 0) for row in table.values()) for c in PLACE_COLUMNS}
    assert {c: classes.get(c, 0) for c in PLACE_COLUMNS} == want
    print(places_report(store))  # what the command prints: its "all" row, parsed
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| all |"))
    printed = [int(x) for x in row.strip("|").split("|")[1:]]
    assert printed == [*(classes.get(c, 0) for c in PLACE_COLUMNS), len(seen)]


# --- search ----------------------------------------------------------------------------------

def test_search_chinese_text(client):
    r = client.get("/api/plans/search", query_string={"q": "虹桥", "limit": 50})
    assert r.status_code == 200
    body = r.get_json()
    assert body["lang"] == "zh" and body["total"] > 20
    assert len(body["results"]) == min(50, body["total"])
    for hit in body["results"]:
        assert hit["snippet"]["match"] == "虹桥"
        assert hit["url"] == f"/plan/{hit['doc']}" + (f"#{hit['anchor']}" if hit["anchor"] else "")
    assert {h["doc"] for h in body["results"]} >= {"000", "003"}
    one = client.get("/api/plans/search", query_string={"q": "上海硅巷"}).get_json()
    assert one["total"] == 1 and one["results"][0]["doc"] == "004"  # one hit per passage
    assert one["results"][0]["features"][0]["map"] == \
        "/map/changning?focus=park-shanghai-silicon-alley"


def test_search_english_names_find_chinese_passages(client):
    body = client.get("/api/plans/search", query_string={"q": "Hongqiao"}).get_json()
    assert body["lang"] == "en" and body["total"] >= 5
    assert all("虹桥" in h["snippet"]["match"] or h["matched"] == "text" for h in body["results"])
    assert any(h["matched"] == "name" for h in body["results"])
    assert "zone-changning-central" in {f["id"] for f in body["matched_features"]}
    aws = client.get("/api/plans/search", query_string={"q": "aws", "lang": "en"}).get_json()
    assert aws["total"] >= 1 and aws["results"][0]["doc"] == "001"  # Latin text, any case


def test_search_page_shows_the_query_as_text(client):
    html = client.get("/plan/search", query_string={"q": "新微智谷"}).get_data(as_text=True)
    assert "<mark>新微智谷</mark>" in html and 'href="/plan/003#五-一"' in html
    evil = client.get("/plan/search", query_string={"q": "<b>x"})
    assert evil.status_code == 200
    text = evil.get_data(as_text=True)
    assert "<b>x" not in text and "&lt;b&gt;x" in text
    assert "No passage matches" in text
    assert client.get("/plan/search").status_code == 200  # the form alone


@pytest.mark.parametrize("query, fragment", [
    ({"q": ""}, "q: give a word"), ({"q": "   "}, "q: give a word"), ({}, "q: give a word"),
    ({"q": "虹" * 41}, "at most 40 characters"), ({"q": "x", "lang": "fr"}, "lang='fr'"),
    ({"q": "x", "limit": "0"}, "limit must be"), ({"q": "x", "limit": "51"}, "limit must be"),
    ({"q": "x", "limit": "ten"}, "limit must be"), ({"q": "a\x00b"}, "control characters"),
])
def test_bad_searches_are_400_with_a_message(client, query, fragment):
    r = client.get("/api/plans/search", query_string=query)
    assert r.status_code == 400 and fragment in r.get_json()["error"]
    if "q" in query:
        page = client.get("/plan/search", query_string=query)
        assert page.status_code == 400 and fragment in html_module.unescape(page.get_data(as_text=True))


def test_search_limits_are_settings(built):
    client = create_app({"LAYERS_DIR": str(built), "PLAN_SEARCH_MAX_QUERY": 4,
                         "PLAN_SEARCH_MAX_RESULTS": 3}).test_client()
    body = client.get("/api/plans/search", query_string={"q": "虹桥"}).get_json()
    assert len(body["results"]) == 3 and body["total"] > 3 and body["limit"] == 3
    assert client.get("/api/plans/search", query_string={"q": "虹桥", "limit": 4}).status_code == 400
    assert client.get("/api/plans/search", query_string={"q": "上海硅巷x"}).status_code == 400
    body = client.get("/api/plans/search", query_string={"q": "虹桥", "limit": 2}).get_json()
    assert len(body["results"]) == 2


# --- errors, hosts, scripts --------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/plan/999", "/plan/00", "/plan/0000", "/api/plans/999/coverage"])
def test_unknown_plan_is_404(client, path):
    r = client.get(path)
    assert r.status_code == 404
    if path.startswith("/api/"):
        assert "unknown plan" in r.get_json()["error"]
    else:
        assert "unknown plan" in r.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/plan", "/plan/000", "/plan/001", "/plan/002", "/plan/003",
                                  "/plan/004", "/plan/search?q=%E8%99%B9%E6%A1%A5",
                                  "/plan/search?q=Hongqiao"])
def test_pages_reference_no_outside_host_and_run_no_inline_script(client, path):
    r = client.get(path)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    for url in re.findall(r'\s(?:src|href|action|data-src)="([^"]*)"', html):
        assert url.startswith(("/", "#")) and not url.startswith("//"), url
    for attrs, _ in re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.DOTALL):
        assert "src=" in attrs or 'type="application/json"' in attrs, attrs
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "sha256" not in csp
    assert "http://" not in re.sub(r'<script type="application/json".*?</script>', "", html, flags=re.DOTALL)


def test_a_hostile_name_is_text(built, tmp_path):
    """A park named <img ...>: its name is in no document, so its alias 缤谷大厦 still finds it;
    the card data, the aria-label and the coverage listing carry the name as text."""
    evil_dir = tmp_path / "layers"
    shutil.copytree(built, evil_dir)
    fc = json.loads((built / "parks.geojson").read_text(encoding="utf-8"))
    park = next(f for f in fc["features"] if f["properties"]["id"] == "park-bingu-ai-building")
    park["properties"]["name_zh"] = EVIL
    park["properties"]["name_en"] = EVIL
    park["properties"]["basis"] = EVIL
    (evil_dir / "parks.geojson").write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    client = create_app({"LAYERS_DIR": str(evil_dir)}).test_client()
    html = client.get("/plan/003").get_data(as_text=True)
    assert EVIL not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # aria-label and coverage list
    cards = json.loads(re.search(r'id="pm-plan-cards">(.*?)</script>', html, re.DOTALL).group(1))
    assert cards["park-bingu-ai-building"]["name_zh"] == EVIL  # as data, for textContent
    assert "\\u003cimg" in html  # escaped inside the JSON block
    found = client.get("/api/plans/search", query_string={"q": "onerror", "lang": "en"}).get_json()
    assert found["total"] >= 1 and found["matched_features"][0]["name_en"] == EVIL
    page = client.get("/plan/search", query_string={"q": "onerror", "lang": "en"}).get_data(as_text=True)
    assert EVIL not in page and "&lt;img" in page

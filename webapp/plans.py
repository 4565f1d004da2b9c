"""The five plan documents beside the map (issue 13): structure, mentions, coverage, search.

Pure functions over the seed texts (data/sources/seeds) and the built layers; ``plan_index()``
makes them once per build (app_cache keyed by the store's version).

- **Structure.** A document is read line by line into blocks: chapters (一、), sections ((一))
  and items (1、 / 1.) open a reference "<doc> 一(一)3"; its anchor is
  ``webapp.passages.passage_anchor`` of that reference, as the map popups link it.
- **Mentions.** Every name a map feature goes by (its ``name_zh``; the ``aliases`` column of
  places.csv; FEATURE_ALIASES below for the layers' own features) is looked for in the text:
  leftmost match first, the longest name at a position, never overlapping. Strings in BLOCKED
  (organisations whose name starts with a place's, e.g. 市北高新集团) are consumed and not
  linked. UNMAPPED lists a few places the texts name that have no map feature.
- **Coverage.** "Named in this plan" = a feature with at least one mention in its text.
- **Search.** Chinese text, or English names of mapped features leading to their mentions.
"""
from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import cache

import pandas as pd

from geo.errors import ParkmapError
from layers.check import PLACE_COLUMNS, confidence_class, place_features
from layers.sources import SOURCES_DIR
from webapp.maps import get_map
from webapp.passages import passage_anchor


@dataclass(frozen=True)
class Plan:
    doc: str
    file: str
    title_zh: str
    title_en: str
    year: int
    map_id: str  # the named map the plan is read beside
    district: str | None  # whose features count as "on this plan's map" (None: all)
    summary_en: str


# Summaries written for this project from the documents (data/sources/SOURCES.md says so).
PLANS: tuple[Plan, ...] = (
    Plan("000", "seeds/000_ad1da9f858ca9f7a.txt", "长宁区在线新经济发展“十四五”规划",
         "Changning District online-new-economy plan for the 14th Five-Year Plan period", 2021,
         "changning", "changning",
         "Changning District's plan for the online new economy, 2021–2025. It takes stock of the "
         "district's base (over 5,000 internet firms, e-commerce platforms with the largest "
         "turnover in the city, 15 featured parks in three functional areas: Zhongshan Park in "
         "the east, Hongqiao in the centre, the Linkong airport area in the west), sets targets "
         "and thirteen priority fields from e-commerce to online health care. Chapter 三(三) lays "
         "out the space: a Metro Line 2 innovation axis linking an east for research and "
         "incubation, a centre for applications and a west for industry, naming parks and "
         "platforms in each. The last chapter covers organisation, funding and office space."),
    Plan("001", "seeds/001_5c8107f7adb55706.txt",
         "静安区推进新型基础设施建设全力打造在线新经济卓越城区发展行动计划(2020-2022年)",
         "Jing'an District action plan for new infrastructure and the online new economy "
         "(2020–2022)", 2020, "jingan", "jingan",
         "Jing'an District's action plan for 2020–2022 (静府发〔2020〕8号), here as reprinted "
         "on the 静安职教集团 website, header included. Its spatial frame is \"one park, three "
         "belts\": the Shibei online-new-economy demonstration park and the Middle Ring, Suzhou "
         "Creek and West Nanjing Road belts, within the district's \"one axis, three belts\" "
         "layout; with ten platforms, a hundred firms, a thousand products and ten thousand "
         "terminals as targets. 26 tasks follow under six headings: new industries, "
         "applications, actions, carriers (the Shibei park, a digital-economy practice base, a "
         "health park), new infrastructure (5G, IoT, data centres, the Shibei blockchain valley) "
         "and the policy environment."),
    Plan("002", "seeds/002_ed63150d03c1dbf0.txt", "上海市促进在线新经济发展行动方案(2020-2022年)",
         "Shanghai action plan for promoting the online new economy (2020–2022)", 2020,
         "overview", None,
         "The municipal action plan (沪府办发〔2020〕1号) written in the spring of 2020, when "
         "the pandemic pushed work, shopping and schooling online. It sets four \"100+\" targets "
         "(innovative firms, application scenarios, brand products, key technologies), twelve "
         "priority fields from unmanned factories and the industrial internet to online "
         "education and health care, six special actions and five support measures, among them "
         "building online-new-economy ecological parks. It is city-wide and names almost no "
         "place, so little of it can be shown on the map: it is the frame the district plans "
         "answer."),
    Plan("003", "seeds/003_49581f62cfd03bd6.txt", "上海张江高新技术产业开发区长宁园“十四五”规划",
         "Zhangjiang Hi-Tech Zone, Changning Park: plan for the 14th Five-Year Plan period", 2021,
         "changning", "changning",
         "The 2021–2025 plan for Changning Park, the district's part of the Zhangjiang national "
         "hi-tech zone, issued on 16 September 2021. The park (about 10.2 km²) lies along Metro "
         "Line 2 in three areas: Zhongshan Park in the east, Hongqiao in the centre, Linkong in "
         "the west. The plan reviews 2016–2020 (9,762 firms, 248 high-tech enterprises, two CAS "
         "institutes, two university science parks), sets goals, then turns to research "
         "capacity, industries, the spatial layout (chapter 五, one section per area, naming "
         "its parks and projects), the start-up ecosystem and implementation."),
    Plan("004", "seeds/004_1374ff59fa2fbedd.txt", "对区政协十五届三次会议第050号提案的答复",
         "Reply to proposal No. 050 of the district CPPCC (Changning DRC, 2024)", 2024,
         "changning", "changning",
         "Not a plan but the Changning Development and Reform Commission's reply of 25 April "
         "2024 (长发改〔2024〕19号) to a proposal on the district's industrial development: a "
         "later state of the plans. It reports the digital economy in 2023 (about 6,100 firms), "
         "urban renewal where it meets industry (East Hongqiao, the Hongqiao Development Zone, "
         "the Zhongshan Park area, and the \"Shanghai Silicon Alley\" science quarter approved in "
         "2022 around the CAS institutes, Wuyi Road 333 and New Quadrant Wuyi), and the "
         "policies, talent and housing measures behind them."),
)


class UnknownPlan(ParkmapError):
    status = 404

    def __init__(self, doc: str):
        super().__init__(f"unknown plan {doc[:40]!r}; known plans: "
                         + ", ".join(p.doc for p in PLANS))


class BadSearch(ParkmapError):
    status = 400


def get_plan(doc: str) -> Plan:
    for p in PLANS:
        if p.doc == doc:
            return p
    raise UnknownPlan(doc)


# --- structure ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    """One line of a document. ``kind``: chapter, section, item (they carry ``anchor``) or
    para. ``ref``: the innermost reference it belongs to ("000 一(一)3", or "000" before the
    first chapter); ``at``: that reference's anchor; ``sec``: its chapter(section) anchor,
    what scrolling highlights on the map. ``number``: "一、", "(一)", "3、" as written."""
    kind: str
    text: str
    ref: str
    at: str
    sec: str
    anchor: str | None = None
    number: str = ""

    @property
    def heading_like(self) -> bool:
        """A short item with no sentence of its own (003's "1. 园区经济实力稳步提升")."""
        return self.kind == "item" and len(self.text) <= 40 and "。" not in self.text[:-1]


_CN = "一二三四五六七八九十"
_CHAPTER = re.compile(rf"([{_CN}]+)、\s*(.*)")
_SECTION = re.compile(rf"([(（][{_CN}]+[)）])\s*(.*)")
_ITEM = re.compile(r"([0-9]{1,2})\s*([、.．])(?![0-9])\s*(.*)")


def _clean(line: str) -> str:
    """A line as shown: spaces trimmed, 004's Markdown marks (#, **) dropped."""
    return line.strip().lstrip("#").replace("**", "").strip()


def parse(doc: str, text: str) -> tuple[Block, ...]:
    blocks, chapter, section, item = [], "", "", ""

    def ref() -> str:
        inner = chapter + (f"({section})" if section else "") + item
        return f"{doc} {inner}" if inner else doc

    def anchors() -> tuple[str, str]:
        sec = chapter + (f"({section})" if section else "")
        return passage_anchor(ref())[1], passage_anchor(f"{doc} {sec}" if sec else doc)[1]

    for raw in text.splitlines():
        line = _clean(raw)
        if not line:
            continue
        kind, number = "para", ""
        if m := _CHAPTER.fullmatch(line):
            chapter, section, item, kind = m.group(1), "", "", "chapter"
        elif chapter and (m := _SECTION.fullmatch(line)):
            section, item, kind = m.group(1)[1:-1], "", "section"
        elif chapter and (m := _ITEM.fullmatch(line)):
            item, kind = m.group(1), "item"
        if kind != "para":
            number, line = line[:len(line) - len(m.group(m.lastindex))], m.group(m.lastindex)
        at, sec = anchors()
        blocks.append(Block(kind, line, ref(), at, sec, at if kind != "para" else None, number))
    return tuple(blocks)


@cache
def document_text(doc: str) -> str:
    return (SOURCES_DIR / get_plan(doc).file).read_text(encoding="utf-8")


@cache
def blocks(doc: str) -> tuple[Block, ...]:
    return parse(doc, document_text(doc))


# --- the names mentions are found by -----------------------------------------------------------

# Names the layers' own features (not places.csv rows) go by in the texts, checked by a test to
# occur there. The three Changning areas, Jing'an's axis and areas, the Line 2 axis.
FEATURE_ALIASES: dict[str, tuple[str, ...]] = {
    "zone-changning-east": ("中山公园数字金融城", "东部中山公园地区", "中山公园地区", "中山公园片区",
                            "东部地区"),
    "zone-changning-central": ("虹桥国际时尚圈", "中部虹桥地区", "虹桥地区", "虹桥片区"),
    "zone-changning-west": ("临空总部新高地", "西部临空地区", "临空地区", "临空片区",
                            "虹桥临空经济示范区"),
    "layout-jingan-axis": ("一轴",),
    "layout-jingan-area-daning": ("大宁地区", "大宁"),
    "layout-jingan-area-suhewan": ("苏河湾",),
    "layout-jingan-area-nanjingxilu": ("南京西路",),
    "line2-innovation-axis": ("地铁2号线",),
}
# Organisations named after a place: matched (so the place inside is not) but not linked.
BLOCKED = ("市北高新集团", "大宁集团", "苏河湾公司")
# Places the texts name that no layer draws (hand-picked, not exhaustive): zh -> en.
UNMAPPED: dict[str, str] = {
    "虹桥智谷": "Hongqiao Zhigu (Changning's innovation brand, no boundary)",
    "虹桥商务区": "Hongqiao Business District (mostly outside Changning, not drawn)",
    "愚园路": "Yuyuan Road (a street named as a fashion landmark, not drawn)",
}
# Layers whose features may be mentioned, in the order that wins when two share a name.
MENTION_LAYERS = ("parks", "jingan_layout", "changning_zones", "line2", "subdistricts")
KIND_LABELS = {  # (zh, en) per layer, or per (layer, kind)
    "parks": ("园区", "Park"), "changning_zones": ("功能区", "Functional area"),
    ("jingan_layout", "axis"): ("发展轴", "Axis"), ("jingan_layout", "belt"): ("带", "Belt"),
    ("jingan_layout", "park"): ("园区", "Park"),
    ("jingan_layout", "functional_area"): ("功能区", "Functional area"),
    ("line2", "station"): ("车站", "Station"), ("line2", "axis_station"): ("车站", "Station"),
    "line2": ("地铁2号线", "Metro Line 2"), "subdistricts": ("街道/镇", "Subdistrict"),
}
CONFIDENCE_LABELS = {"building": ("楼宇级", "building"), "street": ("街道级", "street"),
                     "area": ("片区级", "area"), "boundary": ("行政边界", "boundary"),
                     "unlocated": ("未定位", "unlocated")}


@dataclass(frozen=True)
class Target:
    """A map feature as the plan reader shows it. ``place_class``: its column in `parkmap check
    --places` (named places only, else None)."""
    id: str
    layer: str
    kind: str
    name_zh: str
    name_en: str
    district: str | None
    confidence: str
    basis: str
    located: bool
    place_class: str | None = None

    @property
    def labels(self) -> tuple[str, str]:
        return KIND_LABELS.get((self.layer, self.kind)) or KIND_LABELS[self.layer]

    def aria_label(self) -> str:
        (kz, ke), (cz, ce) = self.labels, CONFIDENCE_LABELS[self.confidence]
        return f"{kz}：{self.name_zh}（位置：{cz}）/ {ke}: {self.name_en} (location: {ce})"

    def card(self) -> dict:
        (kz, ke), (cz, ce) = self.labels, CONFIDENCE_LABELS[self.confidence]
        return {"id": self.id, "layer": self.layer, "kind_zh": kz, "kind_en": ke,
                "name_zh": self.name_zh, "name_en": self.name_en, "confidence": self.confidence,
                "confidence_zh": cz, "confidence_en": ce, "basis": self.basis,
                "located": self.located}


def _text(value) -> str:
    return "" if value is None or pd.isna(value) else str(value)


def targets(store) -> dict[str, Target]:
    """Every feature of MENTION_LAYERS, by id (first layer wins on a shared id)."""
    classes = {r["id"]: confidence_class(r) for _, r in place_features(store).iterrows()}
    out: dict[str, Target] = {}
    for layer in MENTION_LAYERS:
        for _, r in store.frame(layer).iterrows():
            g = r.geometry
            fid = str(r["id"])
            out.setdefault(fid, Target(
                fid, layer, _text(r.get("kind")), _text(r.get("name_zh")), _text(r.get("name_en")),
                _text(r.get("district")) or None, _text(r.get("confidence")) or "boundary",
                _text(r.get("basis")), g is not None and not g.is_empty, classes.get(fid)))
    return out


@cache
def place_aliases() -> dict[str, tuple[str, ...]]:
    """The ``aliases`` column of data/sources/places.csv, by place id."""
    with (SOURCES_DIR / "places.csv").open(encoding="utf-8", newline="") as fh:
        return {r["id"]: tuple(a.strip() for a in (r.get("aliases") or "").split(";") if a.strip())
                for r in csv.DictReader(fh)}


def name_table(found: dict[str, Target]) -> dict[str, str | None]:
    """Surface string -> feature id (None: blocked; "unmapped:<name>": no map feature). A
    string two features share goes to the earlier layer of MENTION_LAYERS, within a layer to
    an own name before an alias (e.g. 南京西路: the Jing'an area's alias, not the station)."""
    aliases = place_aliases()
    table: dict[str, str | None] = {}
    for layer in MENTION_LAYERS:
        ts = [t for t in found.values() if t.layer == layer]
        for names in ([(t, (t.name_zh,)) for t in ts],
                      [(t, aliases.get(t.id, ()) + FEATURE_ALIASES.get(t.id, ())) for t in ts]):
            for t, ns in names:
                for n in ns:
                    if len(n) >= 2:
                        table.setdefault(n, t.id)
    for n in UNMAPPED:
        table.setdefault(n, "unmapped:" + n)
    for n in BLOCKED:
        table[n] = None
    return table


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    text: str
    target: str | None  # a feature id, or "unmapped:<name>"


def find_mentions(text: str, pattern: re.Pattern, table: dict[str, str | None]) -> list[Mention]:
    """Leftmost, then longest (the pattern lists longer names first), never overlapping."""
    return [Mention(m.start(), m.end(), m.group(), table[m.group()])
            for m in pattern.finditer(text) if table[m.group()] is not None]


def segments(text: str, mentions: list[Mention]) -> list[tuple[str, Mention | None]]:
    """``text`` cut at its mentions: [(plain, None), (name, mention), ...]."""
    out, pos = [], 0
    for m in mentions:
        if m.start > pos:
            out.append((text[pos:m.start], None))
        out.append((m.text, m))
        pos = m.end
    if pos < len(text):
        out.append((text[pos:], None))
    return out


def map_for(plan: Plan, t: Target) -> str:
    """The named map a mention opens: the plan's own if it draws the feature's layer, else
    the map of the feature's district, else the overview."""
    m = get_map(plan.map_id)
    if t.layer in m.layers or t.layer in m.optional:
        return m.id
    return t.district if t.district in ("changning", "jingan") else "overview"


# --- everything for one build --------------------------------------------------------------

@dataclass
class PlanIndex:
    targets: dict[str, Target]
    mentions: dict[str, list[list[Mention]]] = field(default_factory=dict)  # doc -> per block

    @classmethod
    def build(cls, store) -> PlanIndex:
        found = targets(store)
        table = name_table(found)
        pattern = re.compile("|".join(re.escape(n) for n in sorted(table, key=len, reverse=True)))
        idx = cls(found)
        for p in PLANS:
            idx.mentions[p.doc] = [find_mentions(b.text, pattern, table) for b in blocks(p.doc)]
        return idx

    def doc_mentions(self, doc: str):
        """(block, mention) pairs of a document, in reading order."""
        for b, ms in zip(blocks(doc), self.mentions[doc]):
            for m in ms:
                yield b, m

    def named(self, doc: str) -> dict[str, list[tuple[Block, Mention]]]:
        """Feature id (or "unmapped:<name>") -> its mentions in ``doc``, in first-mention order."""
        out: dict[str, list] = {}
        for b, m in self.doc_mentions(doc):
            out.setdefault(m.target, []).append((b, m))
        return out

    def coverage(self, doc: str) -> dict:
        plan = get_plan(doc)
        named = self.named(doc)
        feats = [(self.targets[k], v) for k, v in named.items() if not k.startswith("unmapped:")]

        def row(t: Target, ms=()) -> dict:
            return {"id": t.id, "layer": t.layer, "name_zh": t.name_zh, "name_en": t.name_en,
                    "confidence": t.confidence, "place_class": t.place_class,
                    "located": t.located, "mentions": len(ms),
                    "first": f"/plan/{doc}#{ms[0][0].at}" if ms else None,
                    "map": f"/map/{map_for(plan, t)}?focus={t.id}" if t.located else None}

        places = [t for t, _ in feats if t.place_class]
        universe = _map_features(plan, self.targets)
        others = {d: self.named(d) for d in (p.doc for p in PLANS) if d != doc}
        return {
            "doc": doc, "title_zh": plan.title_zh, "title_en": plan.title_en, "map": plan.map_id,
            "definitions": DEFINITIONS,
            "named": {"count": len(feats),
                      "by_confidence": dict(Counter(t.confidence for t, _ in feats)),
                      "features": [row(t, ms) for t, ms in feats]},
            "places": {"count": len(places),
                       "by_class": {c: sum(t.place_class == c for t in places)
                                    for c in PLACE_COLUMNS}},
            "not_on_map": {
                "unlocated": [row(t, ms) for t, ms in feats if not t.located],
                "no_feature": [{"name_zh": k.split(":", 1)[1], "name_en": UNMAPPED[k.split(":", 1)[1]],
                                "mentions": len(v), "first": f"/plan/{doc}#{v[0][0].at}"}
                               for k, v in named.items() if k.startswith("unmapped:")]},
            "not_named": [dict(row(t), named_in=[d for d, n in others.items() if t.id in n])
                          for t in universe if t.id not in named],
        }


DEFINITIONS = {
    "named": "map features with at least one mention in this plan's text (found by their "
             "Chinese name or an alias that occurs in the text)",
    "places": "the named places among them (parks layer and the 一园 of jingan_layout), counted "
              "per location class as parkmap check --places counts them",
    "not_on_map": "named in the text but unlocated (the feature has no geometry), or a place "
                  "with no map feature at all (a short hand-picked list)",
    "not_named": "features of this plan's map in its district (parks, areas, belts, axes; not "
                 "plain stations, tracks or subdistricts) that no passage of this plan names",
}


def _map_features(plan: Plan, found: dict[str, Target]) -> list[Target]:
    m = get_map(plan.map_id)
    return [t for t in found.values()
            if t.layer in m.layers and t.layer != "subdistricts"
            and t.kind not in ("station", "line2_route", "axis_station")
            and (plan.district is None or t.district == plan.district)]


def plan_index() -> PlanIndex:
    """The index of the current app's layers, made once per build."""
    from webapp import stores
    from webapp.render.cache import app_cache

    store = stores.layers()
    return app_cache("plans", 4).get((str(store.dir), store.version),
                                     lambda: PlanIndex.build(store))


# --- search ------------------------------------------------------------------------------

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
SNIPPET = 36  # characters of context either side


def check_query(q: str | None, lang: str | None, limit: str | None, config) -> tuple[str, str, int]:
    """(query, lang, limit) or BadSearch with a message meant for the user."""
    q = unicodedata.normalize("NFC", " ".join((q or "").split()))
    most = int(config["PLAN_SEARCH_MAX_QUERY"])
    if not q:
        raise BadSearch("q: give a word or name to search for, e.g. q=虹桥 or q=Hongqiao")
    if len(q) > most:
        raise BadSearch(f"q: at most {most} characters, got {len(q)}")
    if any(unicodedata.category(c)[0] == "C" for c in q):
        raise BadSearch("q: control characters are not allowed")
    if lang in (None, ""):
        lang = "zh" if _CJK.search(q) else "en"
    if lang not in ("zh", "en"):
        raise BadSearch(f"lang={lang[:20]!r} is not allowed; use one of: zh, en")
    cap = int(config["PLAN_SEARCH_MAX_RESULTS"])
    try:
        n = int(limit) if limit not in (None, "") else min(20, cap)
    except ValueError:
        raise BadSearch(f"limit must be an integer from 1 to {cap}") from None
    if not 1 <= n <= cap:
        raise BadSearch(f"limit must be an integer from 1 to {cap}")
    return q, lang, n


def search(idx: PlanIndex, q: str, lang: str, limit: int) -> dict:
    """Passages matching ``q``: its text (any lang), and for lang=en the mentions of features
    whose English name contains it. One hit per passage (block), in document order."""
    text_re = re.compile(re.escape(q), re.IGNORECASE)
    by_name = set()
    if lang == "en":
        needle = q.casefold()
        by_name = {t.id for t in idx.targets.values() if needle in t.name_en.casefold()}
    hits = []
    for p in PLANS:
        for b, ms in zip(blocks(p.doc), idx.mentions[p.doc]):
            m = text_re.search(b.text)
            span, how = ((m.start(), m.end()), "text") if m else (None, None)
            linked = [x for x in ms if x.target in by_name]
            if span is None and linked:
                span, how = (linked[0].start, linked[0].end), "name"
            if span is None:
                continue
            hits.append(_hit(idx, p, b, ms, span, how))
    return {"q": q, "lang": lang, "limit": limit, "total": len(hits), "results": hits[:limit],
            "matched_features": [_brief(idx.targets[i]) for i in sorted(by_name)][:limit]}


def _hit(idx: PlanIndex, p: Plan, b: Block, ms: list[Mention], span, how) -> dict:
    s, e = span
    before, after = b.text[max(0, s - SNIPPET):s], b.text[e:e + SNIPPET]
    seen, feats = set(), []
    for m in ms:  # the features named in the snippet
        if m.end <= s - SNIPPET or m.start >= e + SNIPPET:
            continue
        if m.target in idx.targets and m.target not in seen:
            seen.add(m.target)
            t = idx.targets[m.target]
            feats.append(dict(_brief(t), map=f"/map/{map_for(p, t)}?focus={t.id}"
                              if t.located else None))
    return {"doc": p.doc, "title_zh": p.title_zh, "ref": b.ref, "anchor": b.at,
            "url": f"/plan/{p.doc}" + (f"#{b.at}" if b.at else ""), "matched": how,
            "snippet": {"before": ("…" if s > SNIPPET else "") + before, "match": b.text[s:e],
                        "after": after + ("…" if e + SNIPPET < len(b.text) else "")},
            "features": feats}


def _brief(t: Target) -> dict:
    return {"id": t.id, "layer": t.layer, "name_zh": t.name_zh, "name_en": t.name_en,
            "confidence": t.confidence, "located": t.located}


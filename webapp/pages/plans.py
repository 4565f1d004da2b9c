"""The plan reader: /plan (the five documents), /plan/<doc> (text, mentions, coverage, split
view beside /embed/<map>), /plan/search. Everything is rendered here; static/plan.js adds the
cards, the split view and the links between text and map (config in data- attributes)."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request, url_for

from webapp.maps import get_map
from webapp.plans import (PLANS, UNMAPPED, BadSearch, Plan, PlanIndex, blocks, check_query,
                          get_plan, map_for, plan_index, search, segments)

bp = Blueprint("plan_pages", __name__)


@bp.get("/plan")
def index():
    idx = plan_index()
    counts = {p.doc: idx.coverage(p.doc)["named"]["count"] for p in PLANS}
    return render_template("plan_index.html", plans=PLANS, counts=counts)


@bp.get("/plan/search")
def plan_search():
    args = request.args
    results, error, status = None, None, 200
    if "q" in args:
        try:
            q, lang, limit = check_query(args.get("q"), args.get("lang"), args.get("limit"),
                                         current_app.config)
            results = search(plan_index(), q, lang, limit)
        except BadSearch as exc:
            error, status = str(exc), exc.status
    return render_template("plan_search.html", q=args.get("q", "")[:200], results=results,
                           error=error, search_lang=args.get("lang", "")), status


@bp.get("/plan/<doc>")
def plan(doc: str):
    p = get_plan(doc)
    idx = plan_index()
    shown = _blocks(p, idx)
    return render_template(
        "plan.html", plan=p, blocks=shown, toc=_toc(p), coverage=idx.coverage(doc),
        cards={t: idx.targets[t].card() for t in idx.named(doc) if t in idx.targets},
        embed=url_for("pages.embed", map_id=p.map_id), map_title=get_map(p.map_id).title_zh,
        full_map=url_for("pages.full_map", map_id=p.map_id))


def _blocks(p: Plan, idx: PlanIndex) -> list[dict]:
    """Blocks with their text cut into plain runs and mentions, as the template writes them."""
    out = []
    items = list(zip(blocks(p.doc), idx.mentions[p.doc]))
    if items and items[0][0].kind == "para" and items[0][0].text == p.title_zh:
        items = items[1:]  # the title line, shown as the page's h1
    for b, ms in items:
        runs = []
        for text, m in segments(b.text, ms):
            if m is None:
                runs.append({"text": text})
            elif m.target.startswith("unmapped:"):
                runs.append({"text": text, "kind": "unmapped", "name_en": UNMAPPED.get(text, "")})
            else:
                t = idx.targets[m.target]
                runs.append({"text": text, "kind": "linked" if t.located else "unlocated",
                             "id": t.id, "layer": t.layer, "label": t.aria_label(),
                             "href": url_for("pages.full_map", map_id=map_for(p, t), focus=t.id)})
        out.append({"block": b, "runs": runs})
    return out


def _toc(p: Plan) -> list[dict]:
    """Chapters, each with its sections."""
    toc = []
    for b in blocks(p.doc):
        if b.kind == "chapter":
            toc.append({"block": b, "sections": []})
        elif b.kind == "section" and toc:
            toc[-1]["sections"].append(b)
    return toc

"""JSON about the plan documents: /api/plans, /api/plans/<doc>/coverage, /api/plans/search."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request, url_for

from webapp.plans import PLANS, check_query, get_plan, plan_index, search

bp = Blueprint("plans_api", __name__, url_prefix="/api")


@bp.get("/plans")
def plans():
    return jsonify(plans=[{
        "doc": p.doc, "title_zh": p.title_zh, "title_en": p.title_en, "year": p.year,
        "summary_en": p.summary_en, "map": p.map_id,
        "url": url_for("plan_pages.plan", doc=p.doc),
        "coverage": url_for("plans_api.coverage", doc=p.doc)} for p in PLANS])


@bp.get("/plans/<doc>/coverage")
def coverage(doc: str):
    get_plan(doc)  # 404 for an unknown document
    return jsonify(plan_index().coverage(doc))


@bp.get("/plans/search")
def plan_search():
    q, lang, limit = check_query(request.args.get("q"), request.args.get("lang"),
                                 request.args.get("limit"), current_app.config)
    return jsonify(search(plan_index(), q, lang, limit))

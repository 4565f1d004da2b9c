"""The compare page: /compare and /embed/compare (two layouts, synced maps, their figures)."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

from webapp import stores
from webapp.http import inline_script_hashes
from webapp.layouts import DEFAULT_LEFT, DEFAULT_RIGHT
from webapp.render import compose as c
from webapp.render.compare import CompareRequest, render_compare

bp = Blueprint("compare", __name__)


def sides() -> tuple[str, str]:
    """The layouts a compare request names (the defaults when it names none)."""
    return request.args.get("left", DEFAULT_LEFT), request.args.get("right", DEFAULT_RIGHT)


def _page(embed: bool):
    key = current_app.config["TIANDITU_KEY"]
    args = {k: v for k, v in request.args.items() if k not in ("left", "right", "layers")}
    shown = c.MapRequest.from_query(args, default_layers=(), default_view=(0, 0, 0),
                                    embed=embed, tianditu_key=key)
    g.img_origins = c.BASEMAPS[shown.basemap].origins(key)
    left, right = sides()
    req = CompareRequest(left, right, lang=shown.lang, basemap=shown.basemap,
                         view=shown.view if "view" in args else None, controls=shown.controls,
                         embed=embed)
    html = render_compare(req, c.Delivery(store=stores.layers(), tianditu_key=key),
                          drafts=stores.drafts())
    g.script_hashes = inline_script_hashes(html)
    resp = Response(html, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-cache"  # drafts come and go: revalidate (ETag) each time
    return resp


@bp.get("/compare")
def page():
    return _page(embed=False)


@bp.get("/embed/compare")
def embed():
    return _page(embed=True)

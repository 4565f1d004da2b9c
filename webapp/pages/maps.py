"""HTML pages: / (the named maps), /map/<id> (full page with parks panel), /embed/<id>."""
from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

from flask import Blueprint, current_app, g, render_template, request, url_for

from webapp import stores
from webapp.http import Prepared, inline_script_hashes
from webapp.maps import MAPS, get_map
from webapp.render import compose as c
from webapp.render.cache import app_cache
from webapp.render.describe import describe, district_names, embed_fallback, embed_snippet
from webapp.render.figure import items_for

bp = Blueprint("pages", __name__)


def _cache():
    """Composed HTML per (page, map, request, host, layers): compose + render once, serve many."""
    return app_cache("pages", current_app.config["PAGE_CACHE_SIZE"])


def _lang() -> str:
    return c.check_choice("lang", request.args.get("lang", "zh"), c.LANGS)


@bp.get("/favicon.ico")
def favicon():
    """No icon, said without an error: browsers ask for one on every first visit, and a 404
    there is a console error on every page."""
    return "", 204


@bp.get("/")
def index():
    lang = _lang()
    return render_template("index.html", maps=MAPS, lang=lang, layer_titles=_layer_titles(lang))


def _layer_titles(lang: str) -> dict[str, str]:
    i = c.LANGS.index(lang)
    return {s.id: (s.title_zh, s.title_en)[i] for s in c.all_layers()}


def _page(map_id: str, embed: bool):
    named = get_map(map_id)
    key_cfg = current_app.config["TIANDITU_KEY"]
    req = c.MapRequest.from_query(request.args, default_layers=named.layers,
                                  default_view=(*named.center, named.zoom), embed=embed,
                                  tianditu_key=key_cfg, url_state=True)
    title = named.title_zh if req.lang == "zh" else named.title_en
    # the map's other layers (and its optional ones) are offered in the layer control, unticked
    req = replace(req, title=title, hidden=(*named.layers, *named.optional))
    if req.focus:  # a feature of the page's layers, with a place: else 404 / 400, said plainly
        c.focus_layer(stores.layers(), req.offered(), req.focus)
    g.img_origins = c.BASEMAPS[req.basemap].origins(key_cfg)
    key = ("embed" if embed else "map", named.id, request.host_url,
           current_app.config["LAYERS_DIR"], stores.layers().version, req)
    page, g.script_hashes = _cache().get(key, lambda: _made(_render(named, req, embed)))
    return page.response("text/html")


def _made(html: str) -> tuple[Prepared, tuple[str, ...]]:
    """A page, its bytes, gzip and ETag made once, with the hashes of its inline scripts (its
    CSP allows those, and no other)."""
    return Prepared.of(html), inline_script_hashes(html)


def _render(named, req: c.MapRequest, embed: bool) -> str:
    lang = req.lang
    suggest = None if embed else {
        "url": url_for("places.suggest", place_id="ID").replace("ID", "{id}"),
        "geocode": url_for("places.geocode")}
    store = stores.layers()
    m = c.compose(req, c.Delivery(store=store, suggest=suggest, **c.map_data_urls(store.version),
                                  clustered=c.clustered(store, current_app.config["CLUSTER_POINTS"]),
                                  tianditu_key=current_app.config["TIANDITU_KEY"]))
    context = {"named": named, "lang": lang, "title": req.title, "parts": c.render_parts(m),
               "basemap": req.basemap,
               "basemaps": [(b, c.BASEMAPS[b]) for b in c.basemaps_available(
                   current_app.config["TIANDITU_KEY"])],
               "text": c.UI_TEXT[lang], "switch_url": lambda **change: url_for(
                   "pages.full_map", map_id=named.id, **{
                       "layers": ",".join(req.layers), "basemap": req.basemap, "lang": lang,
                       "view": "{:.5f},{:.5f},{}".format(*req.view), **change})}
    if embed:
        query = _state_query(req)
        target = (named.id if req.layers == named.layers
                  else "layers:" + ",".join(req.layers))
        context["fallback"] = embed_fallback(
            full_url=url_for("pages.full_map", map_id=named.id) + query, title=req.title,
            lang=lang,
            image_url=url_for("figures.image", target=target, fmt="png", lang=lang,
                              width=180, height=120, dpi=110),  # screen-sized, not A4 300 dpi
            description=_description(req.title, req.layers, lang))
        return render_template("embed.html", **context)
    titles = _layer_titles(lang)
    context.update(embed_base=url_for("pages.embed", map_id=named.id, _external=True),
                   full_base=url_for("pages.full_map", map_id=named.id, _external=True),
                   snippet=_snippet(named, req),
                   downloads=[(layer_id, titles[layer_id]) for layer_id in req.layers
                              if layer_id in titles])
    return render_template("map.html", **context)


def _state_query(req: c.MapRequest) -> str:
    lat, lon, zoom = req.view
    return "?" + urlencode({"layers": ",".join(req.layers), "view": f"{lat:.5f},{lon:.5f},{zoom}",
                            "basemap": req.basemap, "lang": req.lang})


def _description(title: str, layer_ids, lang: str) -> str:
    """The map's content in words (webapp.render.describe), for screen readers and no-script
    readers."""
    store = stores.layers()
    return describe(title, items_for(layer_ids, store), lang, district_names(store, lang))


def _snippet(named, req: c.MapRequest) -> str:
    """The paste-ready embed for the page's initial view and layers (iframe with title and
    description, link to the full map); parkmap.js keeps its URLs in step with the view."""
    query = _state_query(req)
    return embed_snippet(
        src=url_for("pages.embed", map_id=named.id, _external=True) + query, title=req.title,
        description=_description(req.title, req.layers, req.lang), lang=req.lang, slug=named.id,
        full_url=url_for("pages.full_map", map_id=named.id, _external=True) + query,
        resize_script_url=url_for("static", filename="embed-resize.js", _external=True))


@bp.get("/map/<map_id>")
def full_map(map_id: str):
    return _page(map_id, embed=False)


@bp.get("/embed/<map_id>")
def embed(map_id: str):
    return _page(map_id, embed=True)

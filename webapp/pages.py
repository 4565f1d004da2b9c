"""HTML pages: / (the named maps), /map/<id> (full page with parks panel), /embed/<id>."""
from __future__ import annotations

from collections import OrderedDict
from threading import Lock
from urllib.parse import urlencode

from flask import Blueprint, current_app, g, render_template, request, url_for

from layers.store import store_for
from layers.themes import theme_labels
from webapp import api
from webapp import compose as c
from webapp.describe import describe, district_names, embed_fallback, embed_snippet
from webapp.figure import items_for
from webapp.maps import MAPS, get_map

bp = Blueprint("pages", __name__)


class PageCache:
    """Composed HTML per (page, map, parameters, host): compose + render once, serve many."""

    def __init__(self, size: int):
        self.size = size
        self._pages: OrderedDict[tuple, str] = OrderedDict()
        self._lock = Lock()

    def get(self, key: tuple, make) -> str:
        with self._lock:
            if key in self._pages:
                self._pages.move_to_end(key)
                return self._pages[key]
        html = make()
        with self._lock:
            self._pages[key] = html
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)
        return html


def _cache() -> PageCache:
    ext = current_app.extensions
    if "parkmap.pages" not in ext:
        ext["parkmap.pages"] = PageCache(current_app.config["PAGE_CACHE_SIZE"])
    return ext["parkmap.pages"]


def _store():
    return store_for(current_app.config["LAYERS_DIR"])


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
    opts = c.options_from_query(request.args, default_layers=named.layers,
                                default_view=(*named.center, named.zoom), embed=embed,
                                tianditu_key=key_cfg)
    g.img_origins = c.BASEMAPS[opts["basemap"]].origins(key_cfg)
    key = ("embed" if embed else "map", named.id, request.host_url,
           current_app.config["LAYERS_DIR"], *(
               tuple(v) if isinstance(v, (list, tuple)) else v for v in opts.values()))
    return _cache().get(key, lambda: _render(named, opts, embed))


def _render(named, opts: dict, embed: bool) -> str:
    opts = dict(opts)
    layer_ids = opts.pop("layer_ids")
    lang = opts["lang"]
    title = named.title_zh if lang == "zh" else named.title_en
    hidden = [i for i in named.layers if i not in layer_ids]  # offered in the control, unticked
    m = c.compose(layer_ids, **opts, hidden=hidden, store=_store(), url_state=True, compact=embed,
                  title=title, tianditu_key=current_app.config["TIANDITU_KEY"])
    context = {"named": named, "lang": lang, "title": title, "parts": c.render_parts(m),
               "basemap": opts["basemap"],
               "basemaps": [(b, c.BASEMAPS[b]) for b in c.basemaps_available(
                   current_app.config["TIANDITU_KEY"])],
               "text": c.UI_TEXT[lang], "switch_url": lambda **change: url_for(
                   "pages.full_map", map_id=named.id, **{
                       "layers": ",".join(layer_ids), "basemap": opts["basemap"], "lang": lang,
                       "view": "{:.5f},{:.5f},{}".format(*opts["view"]), **change})}
    if embed:
        query = _state_query(layer_ids, opts)
        target = named.id if tuple(layer_ids) == named.layers else "layers:" + ",".join(layer_ids)
        context["fallback"] = embed_fallback(
            full_url=url_for("pages.full_map", map_id=named.id) + query, title=title, lang=lang,
            image_url=url_for("figures.image", target=target, fmt="png", lang=lang,
                              width=180, height=120, dpi=110),  # screen-sized, not A4 300 dpi
            description=_description(title, layer_ids, lang))
        return render_template("embed.html", **context)
    parks = _parks(lang)
    context.update(parks=parks, embed_base=url_for("pages.embed", map_id=named.id, _external=True),
                   full_base=url_for("pages.full_map", map_id=named.id, _external=True),
                   filters=_filters(parks, lang), snippet=_snippet(named, layer_ids, opts, title))
    return render_template("map.html", **context)


def _state_query(layer_ids: list[str], opts: dict) -> str:
    lat, lon, zoom = opts["view"]
    return "?" + urlencode({"layers": ",".join(layer_ids), "view": f"{lat:.5f},{lon:.5f},{zoom}",
                            "basemap": opts["basemap"], "lang": opts["lang"]})


def _description(title: str, layer_ids: list[str], lang: str) -> str:
    """The map's content in words (webapp.describe), for screen readers and no-script readers."""
    store = _store()
    return describe(title, items_for(layer_ids, store), lang, district_names(store, lang))


def _snippet(named, layer_ids: list[str], opts: dict, title: str) -> str:
    """The paste-ready embed for the page's initial view and layers (iframe with title and
    description, link to the full map); parkmap.js keeps its URLs in step with the view."""
    query = _state_query(layer_ids, opts)
    description = _description(title, layer_ids, opts["lang"])
    return embed_snippet(
        src=url_for("pages.embed", map_id=named.id, _external=True) + query, title=title,
        description=description, lang=opts["lang"], slug=named.id,
        full_url=url_for("pages.full_map", map_id=named.id, _external=True) + query,
        resize_script_url=url_for("static", filename="embed-resize.js", _external=True))


def _parks(lang: str) -> list[dict]:
    """Every park (located or not) as panel rows, sorted by name in the page language."""
    rows = []
    for props, geom in api.parks(_store()):
        zh, en = props.get("name_zh") or "", props.get("name_en") or ""
        themes = props.get("themes")
        rows.append({
            "id": props["id"], "name": (zh or en) if lang == "zh" else (en or zh),
            "alt": en if lang == "zh" else zh,
            "district": props.get("district") or "", "zone": props.get("zone") or "",
            "themes": [str(t) for t in themes] if isinstance(themes, (list, tuple)) else [],
            "confidence": props.get("confidence") or "",
            "located": geom is not None and not geom.is_empty,
        })
    return sorted(rows, key=lambda r: r["name"])


def _filters(parks: list[dict], lang: str) -> dict[str, list[tuple[str, str]]]:
    districts = c.names_in(c.DISTRICT_NAMES, lang)
    zones = c.names_in(c.ZONE_NAMES, lang)
    themes = theme_labels(lang)
    return {
        "district": [(d, districts.get(d, d)) for d in sorted({p["district"] for p in parks} - {""})],
        "zone": [(z, zones.get(z, z)) for z in sorted({p["zone"] for p in parks} - {""})],
        "theme": [(t, themes.get(t, t)) for t in sorted({t for p in parks for t in p["themes"]})],
    }


@bp.get("/map/<map_id>")
def full_map(map_id: str):
    return _page(map_id, embed=False)


@bp.get("/embed/<map_id>")
def embed(map_id: str):
    return _page(map_id, embed=True)

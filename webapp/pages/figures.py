"""Static figure routes: /figure/<target>.png|svg, where target is a named map, ``layers:<ids>``,
``compare`` or ``compare:<layout>,<layout>``, or ``draft:<id>`` (see figure.content_for).

Query: ``lang`` (zh|en), ``width`` and ``height`` (mm), ``dpi``; anything else is a 400 so a
typo is not silently ignored. Renders are kept in a small per-app cache (drafts excepted:
they can be deleted).
"""
from __future__ import annotations

import math

from flask import Blueprint, Response, current_app, request

from webapp import stores
from webapp.render import figure
from webapp.render.cache import app_cache

bp = Blueprint("figures", __name__)

MIMETYPES = {"png": "image/png", "svg": "image/svg+xml"}
QUERY_KEYS = ("lang", "width", "height", "dpi")
CACHE_SIZE = 24  # a default A4 PNG is a few hundred KiB


def options_from_query(args, fmt: str) -> figure.FigureOptions:
    unknown = sorted(set(args) - set(QUERY_KEYS))
    if unknown:
        raise figure.FigureParamError(f"unknown parameter(s) {', '.join(unknown)}; "
                                      f"allowed: {', '.join(QUERY_KEYS)}")

    def number(key: str, default, cast):
        raw = args.get(key)
        if raw is None or raw == "":
            return default
        try:
            value = cast(raw)
        except ValueError:  # also a number too long to parse (int's 4300-digit limit)
            kind = "a whole number" if cast is int else "a number"
            raise figure.FigureParamError(f"{key} must be {kind}, got {raw[:20]!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise figure.FigureParamError(f"{key} must be a finite number")
        return value

    return figure.FigureOptions(width_mm=number("width", figure.DEFAULT_WIDTH_MM, float),
                                height_mm=number("height", figure.DEFAULT_HEIGHT_MM, float),
                                dpi=number("dpi", figure.DEFAULT_DPI, int),
                                lang=args.get("lang", "zh"), fmt=fmt)


def render_target(target: str, options: figure.FigureOptions) -> bytes:
    store = stores.layers()

    def make() -> bytes:
        return figure.render(figure.content_for(target, store, drafts=stores.drafts()), options)

    if figure.DRAFT_PREFIX in target:  # drafts come and go: never serve a stale one
        return make()
    return app_cache("figures", CACHE_SIZE).get(
        (target, options, current_app.config["LAYERS_DIR"], store.version), make)


@bp.get("/figure/<target>.<any(png, svg):fmt>")
def image(target: str, fmt: str):
    data = render_target(target, options_from_query(request.args, fmt))
    name = f"parkmap-{target.replace(':', '-').replace(',', '-')}.{fmt}"
    return Response(data, mimetype=MIMETYPES[fmt],
                    headers={"Content-Disposition": f'inline; filename="{name}"'})

"""Static figure routes: /figure/<target>.png|svg, where target is a named map, ``layers:<ids>``,
``compare`` or ``compare:<layout>,<layout>``, or ``draft:<id>`` (see figure.content_for).

Query: ``lang`` (zh|en), ``width`` and ``height`` (mm), ``dpi``; anything else is a 400 so a
typo is not silently ignored.

Renders cost CPU, so they are bounded: each is kept in a small per-app cache (a draft's too:
a stored draft never changes, and one deleted since is a 404 before the cache is looked at);
a render past RENDER_TIMEOUT_S stops (503); at most RENDER_MAX_QUEUE renders run or wait in a
process, more are a 503 with Retry-After; one client may cause RENDER_RATE_PER_HOUR renders
an hour (429). A figure served from the cache costs none of these.
"""
from __future__ import annotations

import math
import time
from threading import Lock

from flask import Blueprint, Response, current_app, request

from geo.errors import ParkmapError
from webapp import stores
from webapp.http import content_disposition
from webapp.render import figure
from webapp.render.cache import app_cache
from webapp.security import rate_limit
from webapp.stores.drafts import UnknownDraft

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


class RendersBusy(ParkmapError):
    status = 503
    retry_after = 10


class _Gate:
    """Counts the renders running or waiting in this process; refuses past ``limit``."""

    def __init__(self):
        self.n, self.lock = 0, Lock()

    def enter(self, limit: int) -> None:
        with self.lock:
            if self.n >= limit:
                raise RendersBusy(f"{self.n} figures are being drawn already; try again in a "
                                  "few seconds")
            self.n += 1

    def leave(self) -> None:
        with self.lock:
            self.n -= 1


_GATE = _Gate()


def render_target(target: str, options: figure.FigureOptions) -> bytes:
    store, drafts = stores.layers(), stores.drafts()
    for draft_id in figure.draft_ids(target):  # deleted since it was cached: gone
        if not drafts.exists(draft_id):
            raise UnknownDraft(f"no draft {draft_id!r} (deleted, or never stored)")
    config = current_app.config

    def make() -> bytes:
        rate_limit("renders", "RENDER_RATE_PER_HOUR")
        _GATE.enter(int(config["RENDER_MAX_QUEUE"]))
        try:
            deadline = time.monotonic() + float(config["RENDER_TIMEOUT_S"])
            return figure.render(figure.content_for(target, store, drafts=drafts), options,
                                 deadline)
        finally:
            _GATE.leave()

    return app_cache("figures", CACHE_SIZE).get(
        (target, options, config["LAYERS_DIR"], store.version), make)


@bp.get("/figure/<target>.<any(png, svg):fmt>")
def image(target: str, fmt: str):
    data = render_target(target, options_from_query(request.args, fmt))
    name = f"parkmap-{target.replace(':', '-').replace(',', '-')}.{fmt}"
    resp = Response(data, mimetype=MIMETYPES[fmt],
                    headers={"Content-Disposition": content_disposition(name)})
    if figure.draft_ids(target):  # drafts can be deleted: caches must ask each time
        resp.headers["Cache-Control"] = "no-cache"
    return resp

"""parkmap web app (Flask): ``create_app(config=None)``.

Settings come from webapp.config (defaults, then PARKMAP_* environment, then ``config``).
Blueprints are listed once in BLUEPRINTS; each module exposes ``bp``.
"""
from __future__ import annotations

import gzip
from functools import lru_cache
from importlib import import_module

from flask import Flask, g, request

from webapp import config as settings
from webapp import errors
from webapp.security import check_origin

BLUEPRINTS = ("webapp.pages.assets", "webapp.pages.maps", "webapp.pages.compare",
              "webapp.pages.figures", "webapp.api.layers", "webapp.api.layouts",
              "webapp.api.places")


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, static_folder="static", static_url_path="/static")
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 3600  # static assets; ETag revalidates after
    app.config.update(settings.load(config))
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    errors.register(app)
    app.before_request(check_origin)
    for name in BLUEPRINTS:
        app.register_blueprint(import_module(name).bp)
    app.after_request(_headers)
    return app


def content_security_policy(frame_ancestors: str, img_origins=()) -> str:
    """Scripts, styles, data only from this app; images also from the basemap's tile hosts."""
    img = " ".join(["'self'", "data:", *img_origins])
    return ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline'; "
            f"img-src {img}; connect-src 'self'; base-uri 'self'; form-action 'self'; "
            f"frame-ancestors {frame_ancestors}")


def _headers(resp):
    """Security and caching headers on every response; for GETs an ETag, gzip when the client
    takes it, and a 304 when the client's copy is current."""
    resp.headers["X-Content-Type-Options"] = "nosniff"
    if resp.mimetype == "text/html":
        resp.headers.setdefault("Content-Security-Policy", content_security_policy(
            _app_config("FRAME_ANCESTORS"), g.get("img_origins", ())))
    if request.method not in ("GET", "HEAD") or resp.status_code != 200:
        return resp
    if resp.direct_passthrough and resp.mimetype in _COMPRESSIBLE:
        resp.direct_passthrough = False  # a static text file: read it, so it can be gzipped
        resp.make_sequence()
    if resp.direct_passthrough or resp.is_streamed:
        return resp
    if "ETag" not in resp.headers:
        resp.add_etag()
    resp.headers.setdefault("Cache-Control", f"public, max-age={_app_config('CACHE_MAX_AGE')}")
    _gzip(resp)
    resp.make_conditional(request)
    return resp


_COMPRESSIBLE = ("text/html", "text/csv", "text/css", "text/javascript", "application/json",
                 "application/geo+json")


def _gzip(resp) -> None:
    resp.vary.add("Accept-Encoding")
    if (resp.mimetype not in _COMPRESSIBLE or "Content-Encoding" in resp.headers
            or "gzip" not in request.accept_encodings or resp.content_length < 1024):
        return
    etag, weak = resp.get_etag()
    resp.set_data(_gzipped(resp.get_data()))
    resp.headers["Content-Encoding"] = "gzip"
    resp.headers.pop("Accept-Ranges", None)  # byte ranges of the identity body no longer apply
    resp.set_etag(etag + "-gz", weak)  # a different representation needs a different tag


@lru_cache(maxsize=32)
def _gzipped(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=6, mtime=0)


def _app_config(key: str):
    from flask import current_app

    return current_app.config[key]

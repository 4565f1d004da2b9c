"""parkmap web app (Flask): ``create_app(config=None)``.

Settings come from webapp.config (defaults, then PARKMAP_* environment, then ``config``).
Blueprints are listed once in BLUEPRINTS; each module exposes ``bp``.
"""
from __future__ import annotations

from importlib import import_module

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from layers.store import store_for
from webapp import config as settings
from webapp import errors, http
from webapp.pages.assets import hashed_url
from webapp.security import check_origin

BLUEPRINTS = ("webapp.pages.assets", "webapp.pages.maps", "webapp.pages.compare",
              "webapp.pages.figures", "webapp.api.layers", "webapp.api.layouts",
              "webapp.api.places", "webapp.api.health", "webapp.ogc", "webapp.api.downloads",
              "webapp.pages.plans", "webapp.api.plans")


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, static_folder="static", static_url_path="/static")
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 3600  # static assets; ETag revalidates after
    app.config.update(settings.load(config))
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    errors.register(app)
    app.jinja_env.globals["asset"] = hashed_url  # templates link assets by content hash
    app.before_request(check_origin)
    for name in BLUEPRINTS:
        app.register_blueprint(import_module(name).bp)
    app.after_request(http.finish)
    app.wsgi_app = http.CloseAfter413(app.wsgi_app)
    if app.config["RESPONSE_CACHE_SIZE"]:
        layers_dir = app.config["LAYERS_DIR"]
        app.wsgi_app = http.ResponseCache(app.wsgi_app, lambda: store_for(layers_dir).version,
                                          int(app.config["RESPONSE_CACHE_SIZE"]))
    hops = int(app.config["TRUSTED_PROXIES"])
    if hops:  # behind nginx: the client's address, scheme and host come from X-Forwarded-*
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    return app

"""GET /healthz: what this app server needs, checked now; 200 if all is well, else 503
naming what is not (for load balancers and for people)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from geo.errors import ParkmapError
from webapp import stores

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    checks = {}
    try:
        store = stores.layers()
        store.index()  # the checked build this process serves (raises if there never was one)
        checks["layers"] = {"ok": True, "build": store.version, "dir": current_app.config["LAYERS_DIR"]}
    except ParkmapError as exc:
        checks["layers"] = {"ok": False, "error": str(exc)}
    for name, get in (("drafts", stores.drafts), ("suggestions", stores.suggestions)):
        try:
            get().check()
            checks[name] = {"ok": True, "backend": stores.backend()}
        except ParkmapError as exc:
            checks[name] = {"ok": False, "error": str(exc)}
    ok = all(c["ok"] for c in checks.values())
    resp = jsonify(ok=ok, checks=checks)
    resp.status_code = 200 if ok else 503
    resp.headers["Cache-Control"] = "no-store"
    return resp

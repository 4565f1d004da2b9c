"""Every JS/CSS/image a page loads, served by the app itself (offline first, nothing from a CDN).

- ``/assets/<hash>/<path>``: the whole bundle under one content hash (of every file in it):
  what pages link, cached ``immutable`` for a year, since a change of any file changes the URL.
  ``parkmap deploy assets DIR`` writes the same tree (and .gz copies) for nginx to serve.
- ``/vendor/leaflet/<path>``: Leaflet from the installed xstatic-leaflet package.
- ``/static/<path>``: our own files in webapp/static (Flask's static folder); what pages of
  other sites link (embed-resize.js), so the URL stays put: revalidated, not immutable.

``bundle()`` lists them all as {url path without leading slash: file}, so the static export
can copy the same files next to its HTML and point ``compose(asset_url=...)`` at them.
"""
from __future__ import annotations

from pathlib import Path

import hashlib
import mimetypes
from functools import lru_cache

import rjsmin
import xstatic.pkg.leaflet as xleaflet
from flask import Blueprint, abort, send_from_directory

LEAFLET_DIR = Path(xleaflet.BASE_DIR)
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
LEAFLET_VERSION = xleaflet.VERSION

bp = Blueprint("assets", __name__)

# Only what a page needs; source maps and the ESM build stay out of the bundle.
_LEAFLET_FILES = ("leaflet.js", "leaflet.css", "images/layers.png", "images/layers-2x.png",
                  "images/marker-icon.png", "images/marker-icon-2x.png", "images/marker-shadow.png")


@bp.get("/vendor/leaflet/<path:filename>")
def leaflet(filename: str):
    if filename not in _LEAFLET_FILES:
        abort(404, description=f"no such Leaflet asset: {filename}")
    return send_from_directory(LEAFLET_DIR, filename)


def bundle() -> dict[str, Path]:
    files = {f"vendor/leaflet/{name}": LEAFLET_DIR / name for name in _LEAFLET_FILES}
    for p in sorted(STATIC_DIR.rglob("*")):
        if p.is_file():
            files["static/" + p.relative_to(STATIC_DIR).as_posix()] = p
    return files


IMMUTABLE = "public, max-age=31536000, immutable"


@lru_cache(maxsize=None)
def asset_bytes(name: str) -> bytes:
    """A bundle file as pages get it: our own JS minified (rjsmin: comments and spaces gone,
    about a quarter less over the wire), everything else as it is."""
    data = bundle()[name].read_bytes()
    if name.startswith("static/") and name.endswith(".js"):
        data = rjsmin.jsmin(data)
    return data


@lru_cache(maxsize=1)
def bundle_hash() -> str:
    """12 hex digits of sha256 over every bundled file's name and bytes (as served)."""
    h = hashlib.sha256()
    for name in sorted(bundle()):
        h.update(name.encode() + b"\0" + asset_bytes(name) + b"\0")
    return h.hexdigest()[:12]


def hashed_url(path: str) -> str:
    """The immutable URL of bundle file ``path`` (e.g. "static/parkmap.js")."""
    return f"/assets/{bundle_hash()}/{path}"


@bp.get("/assets/<tag>/<path:name>")
def hashed(tag: str, name: str):
    if name not in bundle():
        abort(404, description=f"no such asset: {name[:60]}")
    resp = _prepared(name).response(mimetypes.guess_type(name)[0] or "application/octet-stream")
    if tag == bundle_hash():  # an old page's URL still gets the file, but not for a year
        resp.headers["Cache-Control"] = IMMUTABLE
    return resp


@lru_cache(maxsize=None)
def _prepared(name: str):
    from webapp.http import Prepared

    return Prepared.of(asset_bytes(name))

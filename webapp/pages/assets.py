"""Every JS/CSS/image a page loads, served by the app itself (offline first, nothing from a CDN).

- ``/vendor/leaflet/<path>``: Leaflet from the installed xstatic-leaflet package.
- ``/static/<path>``: our own files in webapp/static (Flask's static folder).

``bundle()`` lists them all as {url path without leading slash: file}, so the static export
can copy the same files next to its HTML and point ``compose(asset_url=...)`` at them.
"""
from __future__ import annotations

from pathlib import Path

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

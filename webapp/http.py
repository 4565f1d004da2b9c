"""HTTP details every response shares: security headers (a strict Content-Security-Policy),
caching (ETag, Cache-Control, 304), gzip, and file names in Content-Disposition (RFC 6266).

The CSP allows no inline script but those the page itself carries, by hash: a page's inline
scripts (the composed map's, and those of the compare panes' ``srcdoc`` documents, which
inherit the policy) are hashed when the page is made (``inline_script_hashes``) and cached
with it; the view puts them in ``g.script_hashes``. Pages meant for iframes (``/embed/``) may be
framed per FRAME_ANCESTORS (default anyone), the others per FRAME_ANCESTORS_PAGES (default
this site). Data and images (JSON, GeoJSON, CSV, SVG) get ``default-src 'none'``.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import html as html_lib
import re
import unicodedata
from functools import lru_cache
from urllib.parse import quote

from flask import current_app, g, request

MAX_NAME = 120


def content_disposition(name: str, disposition: str = "inline") -> str:
    """``inline; filename="ascii"; filename*=UTF-8''percent-encoded`` for any text ``name``
    (an id from a URL included): control and separator characters (CR, LF, U+2028 ...) are
    dropped first, so nothing a client sends reaches a header as anything but a file name."""
    clean = "".join(c for c in unicodedata.normalize("NFC", str(name))
                    if unicodedata.category(c)[0] not in "CZ" or c == " ")
    clean = re.sub(r"[\\\\/\"]+", "-", clean).strip(" .")[:MAX_NAME] or "download"
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "-", clean).strip("-")
    if not ascii_name or ascii_name.startswith("."):  # nothing ASCII was left of the stem
        ascii_name = "download" + ascii_name
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(clean, safe='')}"


# --- Content-Security-Policy ------------------------------------------------------------------

_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
_SRCDOC = re.compile(r"\bsrcdoc=\"([^\"]*)\"", re.S)


def inline_script_hashes(page: str) -> tuple[str, ...]:
    """CSP source expressions ('sha256-...') of every inline script of ``page``, those in its
    iframes' srcdoc documents included."""
    found = set()

    def scan(doc: str) -> None:
        for attrs, body in _SCRIPT.findall(doc):
            if re.search(r"\bsrc\s*=", attrs):
                continue
            digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
            found.add(f"'sha256-{digest}'")
        for doc_attr in _SRCDOC.findall(doc):
            scan(html_lib.unescape(doc_attr))

    scan(page)
    return tuple(sorted(found))


def page_policy(frame_ancestors: str, img_origins=(), script_hashes=()) -> str:
    """Scripts, styles and data only from this app (inline scripts only by hash); images also
    from the basemap's tile hosts."""
    img = " ".join(["'self'", "data:", *img_origins])
    scripts = " ".join(["'self'", *script_hashes])
    return ("default-src 'self'; "
            f"script-src {scripts}; style-src 'self' 'unsafe-inline'; "
            f"img-src {img}; connect-src 'self'; base-uri 'self'; form-action 'self'; "
            f"object-src 'none'; frame-ancestors {frame_ancestors}")


DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
_DATA_TYPES = ("application/json", "application/geo+json", "text/csv")


def _policy(resp) -> str | None:
    if resp.mimetype == "text/html":
        embed = request.path.startswith("/embed/")
        ancestors = current_app.config["FRAME_ANCESTORS" if embed else "FRAME_ANCESTORS_PAGES"]
        return page_policy(ancestors, g.get("img_origins", ()), g.get("script_hashes", ()))
    if resp.mimetype == "image/svg+xml":
        return SVG_POLICY
    if resp.mimetype in _DATA_TYPES:
        return DATA_POLICY
    return None


# --- every response ----------------------------------------------------------------------------

_COMPRESSIBLE = ("text/html", "text/csv", "text/css", "text/javascript", "application/json",
                 "application/geo+json", "image/svg+xml")


def finish(resp):
    """after_request: security and caching headers on every response; for GETs an ETag, gzip
    when the client takes it, and a 304 when the client's copy is current."""
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    policy = _policy(resp)
    if policy:
        resp.headers.setdefault("Content-Security-Policy", policy)
    if request.method not in ("GET", "HEAD") or resp.status_code != 200:
        return resp
    if resp.direct_passthrough and resp.mimetype in _COMPRESSIBLE:
        resp.direct_passthrough = False  # a static text file: read it, so it can be gzipped
        resp.make_sequence()
    if resp.direct_passthrough or resp.is_streamed:
        return resp
    if "ETag" not in resp.headers:
        resp.add_etag()
    resp.headers.setdefault("Cache-Control",
                            f"public, max-age={current_app.config['CACHE_MAX_AGE']}")
    _gzip(resp)
    resp.make_conditional(request)
    return resp


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

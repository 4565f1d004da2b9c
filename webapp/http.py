"""HTTP details every response shares: security headers (a strict Content-Security-Policy),
caching (ETag, Cache-Control, 304), gzip or brotli, and file names in Content-Disposition (RFC 6266).

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
import socket
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from threading import Lock
from urllib.parse import quote

import brotli
from flask import Response, current_app, g, request

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


# --- responses made once, served many times ----------------------------------------------------

# Compressing a large body (a 40 MB layer) at the top levels costs seconds for a few percent:
# past this size, the levels that take a fraction of a second.
LARGE_BODY = 1024 * 1024


@dataclass(frozen=True)
class Prepared:
    """A body whose bytes, gzip, brotli and ETag are computed once, so serving it again costs
    no encoding, hashing or compressing (cached pages and layers are served this way)."""
    body: bytes
    gzipped: bytes
    brotli: bytes
    etag: str

    @classmethod
    def of(cls, content: str | bytes) -> "Prepared":
        body = content.encode("utf-8") if isinstance(content, str) else content
        large = len(body) > LARGE_BODY
        return cls(body, gzip.compress(body, compresslevel=6 if large else 9, mtime=0),
                   brotli.compress(body, quality=5 if large else 11),
                   hashlib.sha1(body).hexdigest())

    def response(self, mimetype: str) -> Response:
        resp = Response(self.body, mimetype=mimetype)
        resp.set_etag(self.etag)
        resp.parkmap_encoded = {"br": self.brotli, "gzip": self.gzipped}  # see _compress()
        return resp


# --- every response ----------------------------------------------------------------------------

_COMPRESSIBLE = ("text/html", "text/csv", "text/css", "text/javascript", "application/json",
                 "application/geo+json", "image/svg+xml", "application/vnd.google-earth.kml+xml",
                 "application/geopackage+sqlite3", "application/flatgeobuf")


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
    _compress(resp)
    resp.make_conditional(request)
    return resp


def chosen_encoding(accept_encoding: str, prepared: bool = True) -> str:
    """The encoding a response gets for this Accept-Encoding: brotli for prepared bodies
    (compressed once, ahead), else gzip, else none. (Browsers ask for br over HTTPS only.)"""
    offered = {e.split(";")[0].strip().lower() for e in accept_encoding.split(",")}
    return "br" if prepared and "br" in offered else "gzip" if "gzip" in offered else ""


def _compress(resp) -> None:
    resp.vary.add("Accept-Encoding")
    if (resp.mimetype not in _COMPRESSIBLE or "Content-Encoding" in resp.headers
            or resp.content_length < 1024):
        return
    ready = getattr(resp, "parkmap_encoded", None)
    encoding = chosen_encoding(request.headers.get("Accept-Encoding", ""), ready is not None)
    if not encoding:
        return
    etag, weak = resp.get_etag()
    resp.set_data(ready[encoding] if ready else _gzipped(resp.get_data()))
    resp.headers["Content-Encoding"] = encoding
    resp.headers.pop("Accept-Ranges", None)  # byte ranges of the identity body no longer apply
    # a different representation needs a different tag
    resp.set_etag(etag + ("-br" if encoding == "br" else "-gz"), weak)


@lru_cache(maxsize=32)
def _gzipped(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=6, mtime=0)


# --- connection handling ------------------------------------------------------------------------

class CloseAfter413:
    """WSGI middleware: after a 413 (the body was refused unread), close the connection for
    reading, so gunicorn does not drain a body the client may go on sending, nor read the next
    request from the middle of it. Other responses pass through untouched (file responses keep
    their sendfile path)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        status = []

        def recording(code, headers, exc_info=None):
            status.append(code)
            return start_response(code, headers, exc_info)

        result = self.app(environ, recording)
        sock = environ.get("gunicorn.socket")
        if sock is None or not status or not status[-1].startswith("413"):
            return result
        return self._then_close(result, sock)

    @staticmethod
    def _then_close(result, sock):
        try:
            yield from result
        finally:
            if hasattr(result, "close"):
                result.close()
            try:
                sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass


class ResponseCache:
    """WSGI middleware: public GET responses kept whole (status, headers, body) and answered
    again without entering Flask, until the built layers change (a stat per request sees a
    rebuild). Only what the app itself marks ``Cache-Control: public`` with a 200, no cookie,
    and at most MAX_BODY bytes; one copy per URL, host, scheme and encoding. Pages showing
    drafts, uploads, errors and anything private are never kept. ``If-None-Match`` gets a 304.
    """

    MAX_BODY = 4 * 1024 * 1024

    def __init__(self, app, version, size: int = 256):
        self.app, self.version, self.size = app, version, size
        self._items: OrderedDict = OrderedDict()
        self._lock = Lock()

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD") or environ.get("HTTP_COOKIE"):
            return self.app(environ, start_response)
        try:
            version = self.version()
        except Exception:  # no good build to serve: the app says why
            return self.app(environ, start_response)
        # the app's choice depends on these two only (chosen_encoding)
        encodings = (chosen_encoding(environ.get("HTTP_ACCEPT_ENCODING", "")),
                     chosen_encoding(environ.get("HTTP_ACCEPT_ENCODING", ""), prepared=False))
        key = (environ.get("wsgi.url_scheme"), environ.get("HTTP_HOST"),
               environ.get("PATH_INFO"), environ.get("QUERY_STRING"), encodings, version)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
        if hit is not None:
            status, headers, body, etag = hit
            if etag and etag in environ.get("HTTP_IF_NONE_MATCH", ""):
                start_response("304 NOT MODIFIED", [(k, v) for k, v in headers
                                                     if k.lower() not in ("content-length",
                                                                          "content-type")])
                return [b""]
            start_response(status, headers)
            return [b""] if environ["REQUEST_METHOD"] == "HEAD" else [body]
        seen = {}

        def recording(status, headers, exc_info=None):
            seen["status"], seen["headers"] = status, headers
            return start_response(status, headers, exc_info)

        result = self.app(environ, recording)
        headers = dict((k.lower(), v) for k, v in seen.get("headers", ()))
        length = int(headers.get("content-length") or self.MAX_BODY + 1)
        if not (environ["REQUEST_METHOD"] == "GET" and seen.get("status", "").startswith("200")
                and headers.get("cache-control", "").startswith("public")
                and "set-cookie" not in headers and length <= self.MAX_BODY):
            return result
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        with self._lock:
            self._items[key] = (seen["status"], seen["headers"], body, headers.get("etag"))
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return [body]

"""Guards for the routes that change state: same-origin requests only, and per-client rates.

Origin: a browser names the page a state-changing request comes from (``Origin``, or at least
``Sec-Fetch-Site``). A request from another site is refused (403) unless that site is listed in
ALLOWED_ORIGINS (space-separated, e.g. a report site that embeds the upload). A client that
sends neither header is not a browser acting for someone else (curl, a script): allowed.

Rates: a sliding one-hour window per (route, client address), in this process's memory; past
the setting's limit, 429 with ``Retry-After``.
"""
from __future__ import annotations

import math
import time
from collections import defaultdict, deque
from threading import Lock
from urllib.parse import urlsplit

from flask import current_app, request

from geo.errors import ParkmapError

UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
WINDOW_S = 3600.0


class CrossSiteRefused(ParkmapError):
    status = 403


class TooManyRequests(ParkmapError):
    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_origin() -> None:
    """before_request: refuse a state-changing request a browser sends from another site."""
    if request.method not in UNSAFE_METHODS:
        return
    allowed = {_origin(request.host_url), *(o.rstrip("/").lower() for o in
                                            str(current_app.config["ALLOWED_ORIGINS"]).split())}
    origin = request.headers.get("Origin")
    if origin is not None:
        if origin.rstrip("/").lower() not in allowed:
            raise CrossSiteRefused(f"cross-site request refused: {request.method} from origin "
                                   f"{origin[:60]!r}; only this site (or ALLOWED_ORIGINS) may "
                                   "change data")
        return
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        raise CrossSiteRefused(f"cross-site request refused: {request.method} from a "
                               f"{site[:20]} page; only this site may change data")


class RateLimiter:
    """Requests per client per hour, per bucket (route), remembered in memory."""

    def __init__(self, clock=time.monotonic):
        self._hits: dict[tuple[str, str], deque] = defaultdict(deque)
        self._lock = Lock()
        self._clock = clock

    def hit(self, bucket: str, client: str, per_hour: int) -> None:
        """Count one request; TooManyRequests if it is over ``per_hour`` (0: no limit)."""
        if per_hour <= 0:
            return
        now = self._clock()
        with self._lock:
            hits = self._hits[(bucket, client)]
            while hits and hits[0] <= now - WINDOW_S:
                hits.popleft()
            if len(hits) >= per_hour:
                wait = max(1, math.ceil(hits[0] + WINDOW_S - now))
                raise TooManyRequests(f"too many requests: at most {per_hour} an hour from one "
                                      f"client here; try again in {wait} s", wait)
            hits.append(now)


def rate_limit(bucket: str, setting: str) -> None:
    """Count this request against the current app's limiter (limit: the setting ``setting``)."""
    ext = current_app.extensions
    limiter = ext.setdefault("parkmap.rates", RateLimiter())
    limiter.hit(bucket, request.remote_addr or "?", int(current_app.config[setting]))

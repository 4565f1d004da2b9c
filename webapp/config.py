"""App settings: defaults, then ``PARKMAP_*`` environment variables, then a config dict (tests)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from layers.sources import LAYERS_DIR
from webapp.intake import LIMIT_DEFAULTS
from webapp.places import LIMIT_DEFAULTS as SUGGESTION_LIMITS
from webapp.stores.drafts import QUOTA_DEFAULTS

DEFAULTS: dict[str, object] = {
    "LAYERS_DIR": str(LAYERS_DIR),  # built layers the app serves (`parkmap build` writes them)
    "INSTANCE_DIR": "instance",  # uploaded drafts live here, never in data/
    "DATABASE_URL": "",  # postgresql://...: drafts and suggestions in PostgreSQL/PostGIS instead
    "DATABASE_POOL_SIZE": 4,  # connections per app process
    "DATABASE_TIMEOUT_S": 5,  # connecting, and waiting for a pooled connection
    "TRUSTED_PROXIES": 0,  # reverse proxies in front (nginx: 1): client address from X-Forwarded-*
    "FRAME_ANCESTORS": "*",  # CSP frame-ancestors: who may embed /embed pages in an iframe
    "FRAME_ANCESTORS_PAGES": "'self'",  # ... and the other pages (they carry upload buttons)
    "ALLOWED_ORIGINS": "",  # other sites whose pages may send uploads and suggestions (space-separated)
    "TIANDITU_KEY": "",  # enables basemap=tianditu when set
    "CACHE_MAX_AGE": 300,  # seconds, for pages and GeoJSON (ETag revalidates after)
    "PAGE_CACHE_SIZE": 256,  # composed pages kept in memory per app
    "RESPONSE_CACHE_SIZE": 256,  # whole public responses answered without Flask (0: off)
    "CLUSTER_POINTS": 2000,  # a point layer with more features is drawn grouped by grid cell
    "RENDER_TIMEOUT_S": 20,  # a static figure still drawing after this is given up (503)
    "RENDER_MAX_QUEUE": 4,  # figures drawing or waiting in one process; more: 503 + Retry-After
    "RENDER_RATE_PER_HOUR": 200,  # figures one client may have drawn an hour (cached ones free)
    "OGC_DEFAULT_LIMIT": 100,  # /ogc items per page when the request names no limit
    "OGC_MAX_LIMIT": 10000,  # /ogc items per page at most (a larger limit is a 400)
    "PLAN_SEARCH_MAX_QUERY": 40,  # /plan/search and /api/plans/search: characters of q at most
    "PLAN_SEARCH_MAX_RESULTS": 50,  # ... passages one answer lists at most (limit=; default 20)
    **LIMIT_DEFAULTS,  # DRAFT_MAX_BYTES / _FEATURES / _VERTICES: upload limits
    **QUOTA_DEFAULTS,  # DRAFT_MAX_COUNT / _MAX_TOTAL_BYTES / _TTL_DAYS: the draft store
    "UPLOAD_RATE_PER_HOUR": 60,  # draft uploads one client may send an hour (0: no limit)
    **SUGGESTION_LIMITS,  # SUGGESTION_MAX_BYTES / _MAX_PENDING / _RATE_PER_HOUR
}


def load(overrides: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """Settings in precedence order; environment values are cast to the default's type."""
    environ = os.environ if environ is None else environ
    settings = dict(DEFAULTS)
    for key, default in DEFAULTS.items():
        raw = environ.get("PARKMAP_" + key)
        if raw is None:
            continue
        if isinstance(default, int):
            try:
                settings[key] = int(raw)
            except ValueError:
                raise ValueError(f"PARKMAP_{key} must be an integer, got {raw!r}") from None
        else:
            settings[key] = raw
    settings.update(overrides or {})
    for key in ("FRAME_ANCESTORS", "FRAME_ANCESTORS_PAGES", "ALLOWED_ORIGINS"):
        if any(c in str(settings[key]) for c in ";,\r\n"):
            raise ValueError(f"{key} is a space-separated list, e.g. \"'self' "
                             "https://example.org\" (no ';', ',' or newlines)")
    for key in ("LAYERS_DIR", "INSTANCE_DIR"):
        settings[key] = str(Path(settings[key]).resolve())
    return settings

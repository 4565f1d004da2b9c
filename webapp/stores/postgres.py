"""Drafts and place suggestions in PostgreSQL + PostGIS (setting DATABASE_URL), shared by every
app process: the same methods, answers and errors as the file stores (webapp/stores/drafts.py,
webapp/stores/suggestions.py).

- The schema is versioned (MIGRATIONS below; ``parkmap db init|upgrade``, and applied by the
  stores themselves on first use), each step under an advisory lock so processes starting
  together apply it once.
- Each process keeps one connection pool per database (psycopg_pool: up to DATABASE_POOL_SIZE
  connections, DATABASE_TIMEOUT_S to connect or to wait for a free one), made on first use.
  A database that cannot be reached is a StoreUnavailable (503) saying why ("database
  unreachable: ..."): the first call finds out (a connection refused is at once; a host that
  does not answer, at most DATABASE_TIMEOUT_S), then calls fail at once with that reason while
  one call a second tries again; when the database answers again the pool is made anew and
  the app goes on, no restart.
- A draft's save takes a transaction-scoped advisory lock, so the quota checked is the quota
  kept, across processes. Ids are random; suggestion ids are claimed with ON CONFLICT.
- jsonb keeps neither key order nor "1e+20" as a float: ``key_order`` columns keep both, so a
  draft read back equals the one the file store would give (columns in the same order).
- A row a person damaged by hand (metadata, feature count, geometry) is a 404 like a damaged
  file, marked ``damaged`` (with the reason) and left out of the listing, never a 500.
"""
from __future__ import annotations

import atexit
import hmac
import logging
import os
import re
import secrets
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from math import ceil

import geopandas as gpd
import psycopg
import shapely
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout
from shapely.geometry import mapping, shape

from geo.geojson_io import GeoJSONError, parse_features
from webapp.intake import feature_problems
from webapp.stores.drafts import _ID as _DRAFT_ID
from webapp.stores.drafts import (DraftForbidden, DraftQuota, DraftQuotaExceeded,
                                  StoreUnavailable, UnknownDraft, _hash, _meta,
                                  feature_collection, new_draft, public)
from webapp.stores.files import utc_now
from webapp.stores.suggestions import _ID as _SUGGESTION_ID
from webapp.stores.suggestions import STATUSES, SuggestionConflict, UnknownSuggestion

log = logging.getLogger("parkmap.postgres")

SCHEMA_LOCK = 0x70617231  # pg_advisory_xact_lock keys: migrations, draft saves
DRAFTS_LOCK = 0x70617232
PROBE_INTERVAL_S = 1.0  # while the database is down, one call a second tries it again
RETRY_AFTER_S = 2  # Retry-After of a 503 for a database that cannot be reached

# --- the schema ---------------------------------------------------------------------------------

MIGRATIONS: list[tuple[int, str, tuple[str, ...]]] = [
    (1, "drafts, their features and place suggestions", (
        "CREATE EXTENSION IF NOT EXISTS postgis",
        """CREATE TABLE drafts (
            id text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{8}$'),
            seq bigint GENERATED ALWAYS AS IDENTITY,  -- orders drafts made in the same second
            name text NOT NULL,
            filename text,
            created timestamptz NOT NULL,
            datum text NOT NULL,
            format text,
            features int NOT NULL,
            vertices int,
            geometry_types jsonb,
            district text,
            bytes bigint NOT NULL DEFAULT 0,
            token_sha256 text,
            meta jsonb NOT NULL,  -- all public metadata (what index() and load() answer)
            key_order jsonb,  -- the metadata's key order (token_sha256 included)
            original bytea,  -- the file as uploaded
            damaged text  -- why it could not be read back: left out of the listing
        )""",
        "CREATE INDEX drafts_created ON drafts (created DESC, seq DESC)",
        """CREATE TABLE draft_features (
            draft_id text NOT NULL REFERENCES drafts (id) ON DELETE CASCADE,
            idx int NOT NULL,
            properties jsonb NOT NULL,
            key_order jsonb,
            geom geometry(Geometry, 4326),
            PRIMARY KEY (draft_id, idx)
        )""",
        "CREATE INDEX draft_features_geom ON draft_features USING gist (geom)",
        """CREATE TABLE suggestions (
            id text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{10}$'),
            seq bigint GENERATED ALWAYS AS IDENTITY,
            place_id text,
            status text NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected')),
            created timestamptz NOT NULL,
            reviewed_at timestamptz,
            reviewed_by text,
            reason text,
            "precision" text,
            datum text,
            record jsonb NOT NULL,  -- every field, as the file store keeps them
            key_order jsonb,
            geom geometry(Geometry, 4326)
        )""",
        "CREATE INDEX suggestions_status_created ON suggestions (status, created DESC, seq DESC)",
        "CREATE INDEX suggestions_place ON suggestions (place_id)",
        "CREATE INDEX suggestions_geom ON suggestions USING gist (geom)",
    )),
]
LATEST = MIGRATIONS[-1][0]


def schema_version(conn: psycopg.Connection) -> int:
    """The schema version of the database (0: none yet)."""
    exists = conn.execute("SELECT to_regclass('parkmap_schema') IS NOT NULL").fetchone()[0]
    if not exists:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM parkmap_schema").fetchone()[0]


def migrate(conn: psycopg.Connection) -> tuple[int, list[int]]:
    """Apply every pending migration in one transaction (under an advisory lock: processes
    doing it at once wait for each other); returns the version and the versions applied."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS parkmap_schema ("
                     "version int NOT NULL, applied timestamptz NOT NULL DEFAULT now())")
        current = schema_version(conn)
        applied = []
        for version, what, statements in MIGRATIONS:
            if version <= current:
                continue
            for sql in statements:
                conn.execute(sql)
            conn.execute("INSERT INTO parkmap_schema (version) VALUES (%s)", (version,))
            log.info("database schema: applied %d (%s)", version, what)
            applied.append(version)
        return max(current, LATEST), applied


# --- connections: one pool per database and process ----------------------------------------------

def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return re.sub(r"^connection failed: ", "", text)[:300]


def unavailable(reason: str) -> StoreUnavailable:
    exc = StoreUnavailable(reason)
    exc.retry_after = RETRY_AFTER_S
    return exc


def _connection_lost(conn: psycopg.Connection) -> bool:
    return conn.closed or conn.broken


class Database:
    """A database as this process reaches it: a pool made on first use, a quick StoreUnavailable
    while the database cannot be reached, and a new pool once it can again."""

    def __init__(self, url: str, size: int = 4, timeout: float = 5.0):
        self.url, self.size, self.timeout = url, max(1, int(size)), max(0.5, float(timeout))
        self._probe_lock = threading.Lock()
        self._pool: ConnectionPool | None = None
        self._down: str | None = "database not connected yet"  # None: reachable
        self._probed = float("-inf")  # when it was last tried while down
        self._schema_ok = False

    # the state: up (a pool), or down (a reason, and when it was last tried)

    def _new_pool(self) -> ConnectionPool:
        pool = ConnectionPool(
            self.url, min_size=1, max_size=self.size, timeout=self.timeout, open=False,
            name="parkmap", reconnect_timeout=max(30.0, 6 * self.timeout),
            kwargs={"autocommit": True, "connect_timeout": max(1, ceil(self.timeout)),
                    "application_name": "parkmap"})
        pool.open(wait=False)
        return pool

    def _unreachable(self) -> str | None:
        """Connect once, outside the pool: None if that works, else why not (one line)."""
        try:
            psycopg.connect(self.url, connect_timeout=max(1, ceil(self.timeout)),
                            autocommit=True, application_name="parkmap").close()
        except psycopg.Error as exc:
            return "database unreachable: " + _one_line(exc)
        return None

    def _probe(self) -> None:
        """(Under the probe lock, while down.) Try the database: StoreUnavailable if it cannot
        be reached; else up, with a new pool (the old one's connections are as dead as the
        database was, and its reconnection attempts may be far apart by now)."""
        reason = self._unreachable()
        if reason:
            self._down, self._probed = reason, time.monotonic()
            raise unavailable(reason)
        old, self._pool = self._pool, self._new_pool()
        self._down, self._schema_ok = None, False
        if old is not None:
            threading.Thread(target=old.close, kwargs={"timeout": 1.0}, daemon=True,
                             name="parkmap-pool-close").start()
        log.info("database reachable: %s", _safe_url(self.url))

    def _usable_pool(self) -> ConnectionPool:
        pool = self._pool
        if self._down is None and pool is not None:
            return pool
        with self._probe_lock:  # one caller tries the database; the others wait for its verdict
            if self._down is not None:
                if time.monotonic() - self._probed < PROBE_INTERVAL_S:
                    raise unavailable(self._down)
                self._probe()
            return self._pool

    def _mark_down(self, pool: ConnectionPool, reason: str, *, probe_now: bool) -> None:
        with self._probe_lock:
            if pool is self._pool and self._down is None:
                self._down = reason
                self._probed = float("-inf") if probe_now else time.monotonic()
                log.warning("%s", reason)

    def _getconn(self) -> tuple[ConnectionPool, psycopg.Connection]:
        for _ in range(3):
            pool = self._usable_pool()
            try:
                conn = pool.getconn(timeout=self.timeout)
            except PoolClosed:
                continue  # made anew meanwhile: take the new one
            except PoolTimeout:
                reason = self._unreachable()
                if reason:
                    self._mark_down(pool, reason, probe_now=False)
                    raise unavailable(reason) from None
                raise unavailable(f"database busy: no connection free within "
                                  f"{self.timeout:g} s (all {self.size} of this process's "
                                  "in use)") from None
            try:
                ConnectionPool.check_connection(conn)
                return pool, conn
            except psycopg.Error as exc:  # a connection from before the database went away
                pool.putconn(conn)  # discarded
                self._mark_down(pool, "database unreachable: " + _one_line(exc), probe_now=True)
        raise unavailable("database unreachable: connections keep breaking")

    @contextmanager
    def connection(self):
        """A pooled connection (autocommit: use ``conn.transaction()``); every psycopg error
        in the block becomes a StoreUnavailable (503) with the reason in one line."""
        pool, conn = self._getconn()
        try:
            if not self._schema_ok:
                self._ensure_schema(conn)
            yield conn
        except psycopg.OperationalError as exc:
            if _connection_lost(conn):
                reason = "database unreachable: " + _one_line(exc)
                self._mark_down(pool, reason, probe_now=True)
                raise unavailable(reason) from None
            raise unavailable("database error: " + _one_line(exc)) from None
        except psycopg.Error as exc:
            log.warning("database error", exc_info=True)
            raise unavailable("database error: " + _one_line(exc)) from None
        finally:
            pool.putconn(conn)

    @contextmanager
    def transaction(self):
        """A cursor in a transaction (committed when the block ends, rolled back on error)."""
        with self.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    def _ensure_schema(self, conn: psycopg.Connection) -> None:
        if schema_version(conn) < LATEST:
            try:
                migrate(conn)
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                raise unavailable(f"database schema cannot be made: {_one_line(exc)} (run "
                                  "`parkmap db upgrade` as the database's owner)") from None
        self._schema_ok = True

    def close(self) -> None:
        with self._probe_lock:
            pool, self._pool = self._pool, None
            self._down, self._probed = "database not connected yet", float("-inf")
        if pool is not None:
            pool.close(timeout=2.0)


_databases: dict[tuple, Database] = {}
_databases_lock = threading.Lock()


def database(url: str, size: int = 4, timeout: float = 5.0) -> Database:
    """This process's Database for ``url`` (made once; a forked child makes its own)."""
    key = (url, int(size), float(timeout), os.getpid())
    db = _databases.get(key)
    if db is None:
        with _databases_lock:
            db = _databases.get(key)
            if db is None:
                db = _databases[key] = Database(url, size, timeout)
    return db


def close_databases(url: str | None = None) -> None:
    """Close this process's pools (of ``url``, or all): tests, and exit."""
    with _databases_lock:
        keys = [k for k in _databases if (url is None or k[0] == url) and k[3] == os.getpid()]
        dbs = [_databases.pop(k) for k in keys]
    for db in dbs:
        db.close()


atexit.register(close_databases)


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def connect(url: str, timeout: float = 5.0) -> psycopg.Connection:
    """One connection outside any pool (the `parkmap db` commands); StoreUnavailable if the
    database cannot be reached."""
    try:
        return psycopg.connect(url, connect_timeout=max(1, ceil(timeout)), autocommit=True,
                               application_name="parkmap")
    except psycopg.Error as exc:
        raise unavailable("database unreachable: " + _one_line(exc)) from None


# --- JSON as it was: key order, and floats that jsonb would turn into integers ------------------

def key_order(value):
    """What jsonb forgets about ``value``: each object's key order, and which numbers were
    floats written with an exponent (jsonb gives 1e+20 back as an integer)."""
    if isinstance(value, dict):
        return [[k, key_order(v)] for k, v in value.items()]
    if isinstance(value, list):
        inner = [key_order(v) for v in value]
        return {"items": inner} if any(x is not None for x in inner) else None
    if isinstance(value, float) and "e" in repr(value):
        return "float"
    return None


def reordered(value, order):
    """``value`` (from jsonb) as it was stored, given its ``key_order``."""
    if isinstance(value, dict) and isinstance(order, list):
        out = {}
        for entry in order:
            if isinstance(entry, list) and len(entry) == 2 and entry[0] in value:
                out[entry[0]] = reordered(value[entry[0]], entry[1])
        out.update((k, v) for k, v in value.items() if k not in out)
        return out
    if (isinstance(value, list) and isinstance(order, dict)
            and isinstance(order.get("items"), list) and len(order["items"]) == len(value)):
        return [reordered(v, o) for v, o in zip(value, order["items"])]
    if order == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _time(text) -> datetime:
    """A stored ISO time (``2026-01-01T00:00:00Z``) as a datetime; ValueError if it is not one."""
    t = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def ewkb(geometry) -> str | None:
    """A GeoJSON geometry (dict or None) as hex EWKB in EPSG:4326 (PostGIS reads it as a
    geometry: exactly the coordinates given, no text round trip)."""
    if not geometry:
        return None
    geom = shape(geometry)
    if geom.is_empty:
        return None
    return shapely.to_wkb(shapely.set_srid(geom, 4326), hex=True, include_srid=True)


# --- drafts -----------------------------------------------------------------------------------------

def _draft_id_checked(draft_id) -> str:
    if not isinstance(draft_id, str) or not _DRAFT_ID.fullmatch(draft_id):
        raise UnknownDraft(f"no draft {str(draft_id)[:40]!r}: draft ids are 8 hexadecimal "
                           "characters")
    return draft_id


def insert_draft(cur: psycopg.Cursor, meta: dict, features: list[dict],
                 original: bytes | None) -> None:
    """Store one draft: ``meta`` whole (token hash included), ``features`` as GeoJSON features
    (the stored file's), ``original`` the upload (None or b"": not kept)."""
    created = _time(meta["created"])
    cur.execute(
        "INSERT INTO drafts (id, name, filename, created, datum, format, features, vertices, "
        "geometry_types, district, bytes, token_sha256, meta, key_order, original) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (meta["id"], meta["name"], meta.get("filename"), created, meta["datum"],
         meta.get("format"), meta["features"], _int(meta.get("vertices")),
         _jsonb(meta.get("geometry_types")), meta.get("district"), int(meta.get("bytes") or 0),
         meta.get("token_sha256"), Jsonb(public(meta)), _jsonb(key_order(meta)),
         original or None))
    with cur.copy("COPY draft_features (draft_id, idx, properties, key_order, geom) "
                  "FROM STDIN") as copy:
        for i, f in enumerate(features):
            props = f.get("properties") or {}
            copy.write_row((meta["id"], i, Jsonb(props), _jsonb(key_order(props)),
                            ewkb(f.get("geometry"))))


def _jsonb(value):
    return None if value is None else Jsonb(value)


def _int(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_draft_rows(cur: psycopg.Cursor, draft_id: str):
    """(full metadata, features as GeoJSON dicts, original) of a stored draft, or None."""
    row = cur.execute("SELECT meta, key_order, token_sha256, original FROM drafts "
                      "WHERE id = %s", (draft_id,)).fetchone()
    if row is None:
        return None
    meta, order, token_hash, original = row
    if isinstance(meta, dict):
        meta = reordered({**meta, "token_sha256": token_hash} if token_hash else dict(meta),
                         order)
    feats = [{"type": "Feature", "properties": reordered(props, order_),
              "geometry": None if wkb is None else mapping(shapely.from_wkb(wkb))}
             for props, order_, wkb in cur.execute(
                 "SELECT properties, key_order, ST_AsBinary(geom) FROM draft_features "
                 "WHERE draft_id = %s ORDER BY idx", (draft_id,))]
    return meta, feats, (bytes(original) if original is not None else None)


class PgDraftStore:
    """Planners' drafts in PostgreSQL: DraftStore's methods, answers and errors."""

    def __init__(self, url: str, quota: DraftQuota = DraftQuota(), pool_size: int = 4,
                 timeout: float = 5.0):
        self.url = url
        self.quota = quota
        self.db = database(url, pool_size, timeout)

    def _cutoff(self) -> datetime | None:
        """Drafts created before this have expired (to the second, as the file store)."""
        if self.quota.ttl_days <= 0:
            return None
        return (datetime.now(timezone.utc) - timedelta(days=self.quota.ttl_days)).replace(
            microsecond=0)

    def index(self) -> list[dict]:
        """Metadata of every stored draft, newest first, leaving out expired and damaged ones."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT id, meta, key_order FROM drafts WHERE damaged IS NULL "
                "AND (%(cutoff)s::timestamptz IS NULL OR created >= %(cutoff)s) "
                "ORDER BY created DESC, seq DESC", {"cutoff": self._cutoff()}).fetchall()
        return [public(reordered(meta, order)) for draft_id, meta, order in rows
                if isinstance(meta, dict) and meta.get("id") == draft_id]

    def check(self) -> None:
        """For /healthz: StoreUnavailable unless the database answers."""
        with self.db.connection() as conn:
            conn.execute("SELECT 1")

    def usage(self) -> dict:
        with self.db.connection() as conn:
            count, used = conn.execute(
                "SELECT count(*), coalesce(sum(bytes), 0) FROM drafts WHERE damaged IS NULL "
                "AND (%(cutoff)s::timestamptz IS NULL OR created >= %(cutoff)s)",
                {"cutoff": self._cutoff()}).fetchone()
        return {"count": int(count), "bytes": int(used)}

    # --- writing ------------------------------------------------------------------------------

    def _prepared(self, gdf, facts, name, filename, original, token):
        """The draft under a new random id, as the file store makes it: (meta, features)."""
        gdf, meta = new_draft(secrets.token_hex(4), gdf, facts, name, filename, original, token)
        return meta, feature_collection(gdf, meta)["features"]

    def save(self, gdf: gpd.GeoDataFrame, facts: dict, name: str | None = None,
             filename: str | None = None, original: bytes = b"") -> tuple[dict, str]:
        """Store an accepted draft under a new id; returns its metadata and its edit token
        (shown once: only its hash is kept). DraftQuotaExceeded (507) past a quota."""
        token = secrets.token_urlsafe(18)
        meta, features = self._prepared(gdf, facts, name, filename, original, token)
        with self.db.transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (DRAFTS_LOCK,))
            self._sweep_expired(cur)
            while cur.execute("SELECT 1 FROM drafts WHERE id = %s", (meta["id"],)).fetchone():
                meta, features = self._prepared(gdf, facts, name, filename, original, token)
            count, used = cur.execute("SELECT count(*), coalesce(sum(bytes), 0) FROM drafts "
                                      "WHERE damaged IS NULL").fetchone()
            self._check_quota(int(count), int(used), meta["bytes"])
            insert_draft(cur, meta, features, original)
        return public(meta), token

    def _check_quota(self, count: int, used: int, new_bytes: int) -> None:
        q = self.quota
        if count + 1 > q.max_count:
            raise DraftQuotaExceeded(f"the draft store is full: {count} drafts, the limit "
                                     f"is {q.max_count}; delete some first")
        if used + new_bytes > q.max_total_bytes:
            raise DraftQuotaExceeded(f"the draft store is full: {used:,} of {q.max_total_bytes:,} "
                                     "bytes used; delete some first")

    def _sweep_expired(self, cur) -> None:
        cutoff = self._cutoff()
        if cutoff is None:
            return
        gone = cur.execute("DELETE FROM drafts WHERE created < %s RETURNING id",
                           (cutoff,)).fetchall()
        if gone:
            log.info("expired %d draft(s) older than %d days", len(gone), self.quota.ttl_days)

    def delete(self, draft_id: str, token: str | None = None, *, operator: bool = False) -> None:
        """Delete a draft: with its edit token, or as the operator (``operator=True``)."""
        _draft_id_checked(draft_id)
        with self.db.transaction() as cur:
            row = cur.execute("SELECT token_sha256 FROM drafts WHERE id = %s FOR UPDATE",
                              (draft_id,)).fetchone()
            if row is None:
                raise UnknownDraft(f"no draft {draft_id!r} (deleted, or never stored)")
            if not operator:
                expected = row[0]
                if not expected:
                    raise DraftForbidden("this draft has no edit token (stored before drafts had "
                                         "owners): only the server's operator can delete it")
                if not token:
                    raise DraftForbidden("only whoever uploaded this draft may delete it: send "
                                         "its edit token (X-Draft-Token)")
                if not hmac.compare_digest(_hash(token), expected):
                    raise DraftForbidden("wrong edit token for this draft")
            cur.execute("DELETE FROM drafts WHERE id = %s", (draft_id,))

    # --- reading ------------------------------------------------------------------------------

    def load(self, draft_id: str) -> tuple[gpd.GeoDataFrame, dict]:
        """A stored draft, checked as an upload is; UnknownDraft (404) if missing or damaged
        (a damaged one is marked so, left out of the listing, and logged)."""
        _draft_id_checked(draft_id)
        with self.db.transaction() as cur:
            found = read_draft_rows(cur, draft_id)
        if found is None:
            raise UnknownDraft(f"no draft {draft_id!r} (deleted, or never stored)")
        meta, feats, _ = found
        try:
            meta = _meta({"draft": meta}, draft_id)
            if len(feats) != meta["features"]:
                raise ValueError(f"{len(feats)} feature(s) stored, {meta['features']} listed")
            doc = {"type": "FeatureCollection", "features": feats}
            gdf = parse_features(doc, where=f"draft {draft_id}")
            problems, _ = feature_problems(list(gdf.geometry), [f["properties"] for f in feats],
                                           "geojson", "WGS84")
            if problems:
                raise ValueError(problems[0])
        except (ValueError, GeoJSONError, AttributeError, TypeError, KeyError) as exc:
            log.warning("draft %s cannot be read: %s", draft_id, exc)
            self._forget(draft_id, str(exc))
            raise UnknownDraft(f"no draft {draft_id!r}: its stored data cannot be read") from None
        return gdf, public(meta)

    def exists(self, draft_id: str) -> bool:
        """Whether the draft is stored (a malformed id is a 404)."""
        _draft_id_checked(draft_id)
        with self.db.connection() as conn:
            return conn.execute("SELECT 1 FROM drafts WHERE id = %s",
                                (draft_id,)).fetchone() is not None

    def original(self, draft_id: str) -> bytes | None:
        """The file as it was uploaded, when kept."""
        _draft_id_checked(draft_id)
        with self.db.connection() as conn:
            row = conn.execute("SELECT original FROM drafts WHERE id = %s",
                               (draft_id,)).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def _forget(self, draft_id: str, reason: str) -> None:
        try:
            with self.db.connection() as conn:
                conn.execute("UPDATE drafts SET damaged = %s WHERE id = %s",
                             (reason[:500] or "unreadable", draft_id))
        except StoreUnavailable:
            pass  # loading it stays a 404


# --- suggestions ------------------------------------------------------------------------------------

def _suggestion_id_checked(suggestion_id) -> str:
    if not isinstance(suggestion_id, str) or not _SUGGESTION_ID.fullmatch(suggestion_id):
        raise UnknownSuggestion(f"no suggestion {str(suggestion_id)[:40]!r}: suggestion ids "
                                "are 10 hexadecimal characters")
    return suggestion_id


def _suggestion_columns(record: dict) -> tuple:
    """The queryable columns of a suggestion record."""
    reviewed = record.get("reviewed_at")
    try:
        geom = ewkb(record.get("geometry"))
    except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException):
        geom = None
    return (record.get("place_id"), record["status"], _time(record["created"]),
            _time(reviewed) if reviewed else None, record.get("reviewed_by"),
            record.get("reason"), record.get("precision"), record.get("datum"),
            Jsonb(record), _jsonb(key_order(record)), geom)


class PgSuggestionStore:
    """Suggested place locations in PostgreSQL: SuggestionStore's methods, answers and errors."""

    def __init__(self, url: str, pool_size: int = 4, timeout: float = 5.0):
        self.url = url
        self.db = database(url, pool_size, timeout)

    def check(self) -> None:
        """For /healthz: StoreUnavailable unless the database answers."""
        with self.db.connection() as conn:
            conn.execute("SELECT 1")

    def add(self, record: dict) -> dict:
        """Store a new pending suggestion (``record``: its validated fields); returns it whole."""
        with self.db.connection() as conn:
            while True:
                sid = secrets.token_hex(5)
                stored = {"id": sid, **record, "status": "pending", "created": utc_now(),
                          "reviewed_at": None, "reviewed_by": None, "reason": None}
                claimed = conn.execute(
                    "INSERT INTO suggestions (id, place_id, status, created, reviewed_at, "
                    "reviewed_by, reason, \"precision\", datum, record, key_order, geom) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::geometry) "
                    "ON CONFLICT (id) DO NOTHING RETURNING id",
                    (sid, *_suggestion_columns(stored))).fetchone()
                if claimed:
                    return stored

    @staticmethod
    def _record(suggestion_id: str, record, order) -> dict:
        if not isinstance(record, dict) or record.get("id") != suggestion_id:
            raise UnknownSuggestion(f"no suggestion {suggestion_id!r}: its stored record is not "
                                    "one this store wrote")
        return reordered(record, order)

    def get(self, suggestion_id: str) -> dict:
        _suggestion_id_checked(suggestion_id)
        with self.db.connection() as conn:
            row = conn.execute("SELECT record, key_order FROM suggestions WHERE id = %s",
                               (suggestion_id,)).fetchone()
        if row is None:
            raise UnknownSuggestion(f"no suggestion {suggestion_id!r}")
        return self._record(suggestion_id, *row)

    def list(self, status: str | None = None) -> list[dict]:
        """Every readable suggestion (of ``status``), newest first."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT id, record, key_order FROM suggestions "
                "WHERE %(status)s::text IS NULL OR status = %(status)s "
                "ORDER BY created DESC, seq DESC", {"status": status}).fetchall()
        out = []
        for sid, record, order in rows:
            try:
                record = self._record(sid, record, order)
            except UnknownSuggestion:
                continue  # damaged: not listed
            if status is None or record.get("status") == status:
                out.append(record)
        return out

    def count(self, status: str) -> int:
        with self.db.connection() as conn:
            return int(conn.execute(
                "SELECT count(*) FROM suggestions WHERE status = %s "
                "AND jsonb_typeof(record) = 'object' AND record->>'id' = id "
                "AND record->>'status' = status", (status,)).fetchone()[0])

    def review(self, suggestion_id: str, status: str, by: str, reason: str | None = None) -> dict:
        """Mark a pending suggestion accepted or rejected (with who, when and why)."""
        if status not in STATUSES[1:]:
            raise ValueError(f"status must be one of {STATUSES[1:]}")
        _suggestion_id_checked(suggestion_id)
        with self.db.transaction() as cur:
            row = cur.execute("SELECT record, key_order FROM suggestions WHERE id = %s "
                              "FOR UPDATE", (suggestion_id,)).fetchone()
            if row is None:
                raise UnknownSuggestion(f"no suggestion {suggestion_id!r}")
            record = self._record(suggestion_id, *row)
            if record["status"] != "pending":
                raise SuggestionConflict(
                    f"suggestion {suggestion_id} is already {record['status']} "
                    f"({record.get('reviewed_at')} by {record.get('reviewed_by')})")
            record.update(status=status, reviewed_at=utc_now(), reviewed_by=by, reason=reason)
            cur.execute(
                "UPDATE suggestions SET (place_id, status, created, reviewed_at, reviewed_by, "
                "reason, \"precision\", datum, record, key_order, geom) = (%s, %s, %s, %s, %s, "
                "%s, %s, %s, %s, %s, %s::geometry) WHERE id = %s",
                (*_suggestion_columns(record), suggestion_id))
        return record



"""Drafts kept as files (INSTANCE_DIR/drafts): ``<id>.geojson`` (the WGS84 features plus a
top-level ``draft`` member), ``<id>.upload`` (the file as uploaded) and ``index.json``.

- Listing reads the index only (one file), so it stays fast with a thousand drafts and never
  fails because one draft vanished or was damaged; the index is rebuilt from the files if it is
  lost. Every change to it happens under an exclusive lock (``.lock``, flock), so threads and
  processes sharing the folder do not lose each other's updates.
- Each draft has an owner: the upload answers with an edit token, of which only a hash is kept;
  deleting needs it (as uMap's anonymous edit links). An operator may delete without it.
- Quotas: at most ``max_count`` drafts and ``max_total_bytes`` (uploads and stored files),
  drafts older than ``ttl_days`` expire (swept at the next upload).
- A draft read back is checked as an upload is; a damaged or foreign file is a 404, dropped
  from the index, never a 500. A folder that cannot be written is a 503 saying so.
"""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import re
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import geopandas as gpd

from geo.datum import DATUMS
from geo.errors import ParkmapError
from geo.geojson_io import GeoJSONError, dumps, parse_features, to_feature_collection
from webapp.intake import NAME_MAX, feature_problems
from webapp.stores.files import sweep_temp, utc_now, write_atomic

_ID = re.compile(r"^[0-9a-f]{8}$")
INDEX, LOCK = "index.json", ".lock"
QUOTA_DEFAULTS = {"DRAFT_MAX_COUNT": 500, "DRAFT_MAX_TOTAL_BYTES": 200_000_000,
                  "DRAFT_TTL_DAYS": 90}  # 0 days: drafts never expire
PRIVATE = ("token_sha256",)  # kept in the index and the file, never shown
log = logging.getLogger("parkmap.drafts")


class UnknownDraft(ParkmapError):
    status = 404


class DraftForbidden(ParkmapError):
    status = 403


class DraftQuotaExceeded(ParkmapError):
    status = 507


class StoreUnavailable(ParkmapError):
    """The instance folder cannot be written or read (read-only, full, not a folder)."""

    status = 503


@dataclass(frozen=True)
class DraftQuota:
    max_count: int = QUOTA_DEFAULTS["DRAFT_MAX_COUNT"]
    max_total_bytes: int = QUOTA_DEFAULTS["DRAFT_MAX_TOTAL_BYTES"]
    ttl_days: int = QUOTA_DEFAULTS["DRAFT_TTL_DAYS"]

    @classmethod
    def from_config(cls, config) -> "DraftQuota":
        return cls(*(int(config.get(k, v)) for k, v in QUOTA_DEFAULTS.items()))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def public(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if k not in PRIVATE}


class DraftStore:
    def __init__(self, root: str | Path, quota: DraftQuota = DraftQuota()):
        self.root = Path(root)
        self.quota = quota

    # --- paths and the lock ---------------------------------------------------------------

    def _path(self, draft_id: str, suffix: str = ".geojson") -> Path:
        if not isinstance(draft_id, str) or not _ID.fullmatch(draft_id):
            raise UnknownDraft(f"no draft {str(draft_id)[:40]!r}: draft ids are 8 hexadecimal "
                               "characters")
        return self.root / f"{draft_id}{suffix}"

    @contextmanager
    def _locked(self):
        """The folder, exclusively (threads and processes alike); StoreUnavailable if it
        cannot be made or written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fh = open(self.root / LOCK, "a+b")
        except OSError as exc:
            raise StoreUnavailable(f"drafts cannot be stored: {self.root}: "
                                   f"{exc.strerror or exc}") from None
        try:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield
        except OSError as exc:
            raise StoreUnavailable(f"drafts cannot be stored: {exc.strerror or exc}") from None
        finally:
            fh.close()  # releases the lock

    # --- the index ------------------------------------------------------------------------

    def _read_index(self) -> dict[str, dict] | None:
        try:
            doc = json.loads((self.root / INDEX).read_text(encoding="utf-8"))
            drafts = doc["drafts"]
            if not isinstance(drafts, dict):
                raise ValueError("drafts is not an object")
            return {k: v for k, v in drafts.items() if _ID.fullmatch(k) and isinstance(v, dict)}
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s/%s unreadable (%s): rebuilding it from the drafts", self.root, INDEX,
                        exc)
            return None

    def _write_index(self, entries: dict[str, dict]) -> None:
        write_atomic(self.root / INDEX, json.dumps({"drafts": entries}, ensure_ascii=False) + "\n")

    def _entries(self) -> dict[str, dict]:
        """The index (under the lock): read, or rebuilt from the files when missing."""
        entries = self._read_index()
        if entries is None:
            entries = {}
            for p in sorted(self.root.glob("*.geojson")):
                if not _ID.fullmatch(p.stem):
                    continue
                try:
                    entries[p.stem] = _meta(json.loads(p.read_text(encoding="utf-8")), p.stem)
                except (OSError, ValueError) as exc:
                    log.warning("draft %s left out of the index: %s", p.name, exc)
            self._write_index(entries)
        return entries

    def _cutoff(self) -> str | None:
        """Drafts created before this (an ISO time, as ``created`` is written) have expired."""
        if self.quota.ttl_days <= 0:
            return None
        return (datetime.now(timezone.utc) - timedelta(days=self.quota.ttl_days)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")

    @staticmethod
    def _expired(meta: dict, cutoff: str | None) -> bool:
        return cutoff is not None and str(meta.get("created", "")) < cutoff

    def index(self) -> list[dict]:
        """Metadata of every stored draft, newest first: from the index (one read; rebuilt if
        lost), leaving out drafts whose file is gone or whose time has run out."""
        if not self.root.is_dir():
            return []
        entries = self._read_index()
        if entries is None:
            try:
                with self._locked():
                    entries = self._entries()
            except StoreUnavailable as exc:
                log.warning("%s", exc)
                return []
        cutoff = self._cutoff()
        out = [public(m) for k, m in entries.items()
               if not self._expired(m, cutoff) and (self.root / f"{k}.geojson").is_file()]
        return sorted(out, key=lambda m: str(m.get("created")), reverse=True)

    def check(self) -> None:
        """For /healthz: StoreUnavailable unless the folder can be written."""
        with self._locked():
            pass

    def usage(self) -> dict:
        drafts = self.index()
        return {"count": len(drafts), "bytes": sum(int(m.get("bytes") or 0) for m in drafts)}

    # --- writing --------------------------------------------------------------------------

    def save(self, gdf: gpd.GeoDataFrame, facts: dict, name: str | None = None,
             filename: str | None = None, original: bytes = b"") -> tuple[dict, str]:
        """Store an accepted draft under a new id; returns its metadata and its edit token
        (shown once: only its hash is kept). DraftQuotaExceeded (507) past a quota."""
        token = secrets.token_urlsafe(18)
        with self._locked():
            sweep_temp(self.root)
            entries = self._entries()
            self._sweep_expired(entries)
            while True:
                draft_id = secrets.token_hex(4)
                if draft_id not in entries and not self._path(draft_id).exists():
                    break
            gdf, meta = new_draft(draft_id, gdf, facts, name, filename, original, token)
            text = feature_collection_text(gdf, meta) + "\n"
            self._check_quota(entries, meta["bytes"])
            try:
                if original:
                    write_atomic_bytes(self._path(draft_id, ".upload"), original)
                write_atomic(self._path(draft_id), text)
                entries[draft_id] = meta
                self._write_index(entries)
            except OSError as exc:
                for suffix in (".upload", ".geojson"):
                    self._path(draft_id, suffix).unlink(missing_ok=True)
                raise StoreUnavailable(f"the draft could not be stored: {exc.strerror or exc}") from None
        return public(meta), token

    def _check_quota(self, entries: dict, new_bytes: int) -> None:
        q = self.quota
        if len(entries) + 1 > q.max_count:
            raise DraftQuotaExceeded(f"the draft store is full: {len(entries)} drafts, the limit "
                                     f"is {q.max_count}; delete some first")
        used = sum(int(m.get("bytes") or 0) for m in entries.values())
        if used + new_bytes > q.max_total_bytes:
            raise DraftQuotaExceeded(f"the draft store is full: {used:,} of {q.max_total_bytes:,} "
                                     "bytes used; delete some first")

    def _sweep_expired(self, entries: dict) -> None:
        cutoff = self._cutoff()
        gone = [k for k, m in entries.items() if self._expired(m, cutoff)]
        for k in gone:
            self._remove_files(k)
            del entries[k]
        if gone:
            log.info("expired %d draft(s) older than %d days", len(gone), self.quota.ttl_days)
            self._write_index(entries)

    def _remove_files(self, draft_id: str) -> None:
        for suffix in (".geojson", ".upload"):
            self._path(draft_id, suffix).unlink(missing_ok=True)

    def delete(self, draft_id: str, token: str | None = None, *, operator: bool = False) -> None:
        """Delete a draft: with its edit token, or as the operator (``operator=True``)."""
        self._path(draft_id)  # a malformed id is a 404 before anything else
        with self._locked():
            entries = self._entries()
            meta = entries.get(draft_id)
            if meta is None or not self._path(draft_id).is_file():
                if entries.pop(draft_id, None) is not None:
                    self._write_index(entries)
                raise UnknownDraft(f"no draft {draft_id!r} (deleted, or never stored)")
            if not operator:
                expected = meta.get("token_sha256")
                if not expected:
                    raise DraftForbidden("this draft has no edit token (stored before drafts had "
                                         "owners): only the server's operator can delete it")
                if not token:
                    raise DraftForbidden("only whoever uploaded this draft may delete it: send "
                                         "its edit token (X-Draft-Token)")
                if not hmac.compare_digest(_hash(token), expected):
                    raise DraftForbidden("wrong edit token for this draft")
            self._remove_files(draft_id)
            del entries[draft_id]
            self._write_index(entries)

    # --- reading --------------------------------------------------------------------------

    def load(self, draft_id: str) -> tuple[gpd.GeoDataFrame, dict]:
        """A stored draft, checked as an upload is; UnknownDraft (404) if missing or damaged
        (a damaged one is dropped from the index and logged)."""
        path = self._path(draft_id)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            meta = _meta(doc, draft_id)
            gdf = parse_features(doc, where=path.name)
            problems, _ = feature_problems(list(gdf.geometry), _props(doc), "geojson", "WGS84")
            if problems:
                raise ValueError(problems[0])
        except FileNotFoundError:
            raise UnknownDraft(f"no draft {draft_id!r} (deleted, or never stored)") from None
        except (OSError, ValueError, GeoJSONError, AttributeError, TypeError) as exc:
            log.warning("draft %s cannot be read: %s", path.name, exc)
            self._forget(draft_id)
            raise UnknownDraft(f"no draft {draft_id!r}: its file cannot be read") from None
        return gdf, public(meta)

    def exists(self, draft_id: str) -> bool:
        """Whether the draft is stored (a malformed id is a 404)."""
        return self._path(draft_id).is_file()

    def original(self, draft_id: str) -> bytes | None:
        """The file as it was uploaded, when kept."""
        try:
            return self._path(draft_id, ".upload").read_bytes()
        except FileNotFoundError:
            return None

    def _forget(self, draft_id: str) -> None:
        try:
            with self._locked():
                entries = self._entries()
                if entries.pop(draft_id, None) is not None:
                    self._write_index(entries)
        except StoreUnavailable:
            pass  # a read-only folder: the listing leaves it in; loading it stays a 404


def write_atomic_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _props(doc: dict) -> list[dict]:
    return [f.get("properties") or {} for f in doc.get("features") or []]


def _meta(doc, draft_id: str) -> dict:
    """The ``draft`` member of a stored draft; ValueError unless it is one this store wrote
    (an id matching the file, a name, a creation time, a datum and a feature count)."""
    meta = doc.get("draft") if isinstance(doc, dict) else None
    if not isinstance(meta, dict) or meta.get("id") != draft_id:
        raise ValueError(f"{draft_id}: not a stored draft")
    if not isinstance(meta.get("name"), str) or not isinstance(meta.get("created"), str):
        raise ValueError(f"{draft_id}: draft metadata lacks its name or creation time")
    if meta.get("datum") not in DATUMS or not isinstance(meta.get("features"), int):
        raise ValueError(f"{draft_id}: draft metadata lacks its datum or feature count")
    return meta


def new_draft(draft_id: str, gdf: gpd.GeoDataFrame, facts: dict, name: str | None,
              filename: str | None, original: bytes, token: str) -> tuple[gpd.GeoDataFrame, dict]:
    """An accepted upload as either store keeps it under ``draft_id``: its features with ids
    and provenance, and its metadata (the edit token only as a hash; ``bytes`` counted as the
    quota counts them)."""
    gdf = gdf.copy()
    gdf.insert(0, "id", [f"draft-{draft_id}-{i}" for i in gdf["index"]])
    gdf = gdf.drop(columns="index")
    gdf["source"] = f"draft:{draft_id}"
    gdf["basis"] = f"uploaded by a planner in {facts['datum']}, converted to WGS84"
    gdf["confidence"] = None
    label = (name or "").strip() or (Path(filename).stem if filename else "") or f"draft {draft_id}"
    meta = {"id": draft_id, "name": label[:NAME_MAX],
            "filename": Path(filename).name[:NAME_MAX] if filename else None,
            "created": utc_now(), **facts, "token_sha256": _hash(token)}
    meta["bytes"] = len(original) + len(feature_collection_text(gdf, meta).encode())
    return gdf, meta


def feature_collection(gdf: gpd.GeoDataFrame, meta: dict) -> dict:
    return to_feature_collection(gdf, name=f"draft:{meta['id']}", draft=meta)


def feature_collection_text(gdf: gpd.GeoDataFrame, meta: dict) -> str:
    return dumps(feature_collection(gdf, meta))

"""Place-location suggestions kept as files: one ``<root>/<id>.json`` each (INSTANCE_DIR/suggestions).

A suggestion is pending until the server's operator accepts or rejects it (``parkmap
suggestions``); it never changes the map by itself. Written whole or not at all.
"""
from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

from geo.errors import ParkmapError
from webapp.stores.files import sweep_temp, utc_now, write_atomic

STATUSES = ("pending", "accepted", "rejected")
_ID = re.compile(r"^[0-9a-f]{10}$")


class UnknownSuggestion(ParkmapError):
    status = 404


class SuggestionStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, suggestion_id: str) -> Path:
        if not isinstance(suggestion_id, str) or not _ID.fullmatch(suggestion_id):
            raise UnknownSuggestion(f"no suggestion {str(suggestion_id)[:40]!r}: suggestion ids "
                                    "are 10 hexadecimal characters")
        return self.root / f"{suggestion_id}.json"

    def check(self) -> None:
        """For /healthz: StoreUnavailable unless the folder can be written."""
        from webapp.stores.drafts import StoreUnavailable

        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".probe"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise StoreUnavailable(f"suggestions cannot be stored: {self.root}: "
                                   f"{exc.strerror or exc}") from None

    def add(self, record: dict) -> dict:
        """Store a new pending suggestion (``record``: its validated fields); returns it whole."""
        self.check()
        sweep_temp(self.root)
        while True:
            sid = secrets.token_hex(5)
            if not self._path(sid).exists():
                break
        stored = {"id": sid, **record, "status": "pending", "created": utc_now(),
                  "reviewed_at": None, "reviewed_by": None, "reason": None}
        self._write(stored)
        return stored

    def _write(self, record: dict) -> None:
        write_atomic(self._path(record["id"]),
                     json.dumps(record, ensure_ascii=False, indent=1) + "\n")

    def get(self, suggestion_id: str) -> dict:
        path = self._path(suggestion_id)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UnknownSuggestion(f"no suggestion {suggestion_id!r}") from None
        except (OSError, ValueError):
            raise UnknownSuggestion(f"no suggestion {suggestion_id!r}: its file cannot be read") from None
        if not isinstance(record, dict) or record.get("id") != suggestion_id:
            raise UnknownSuggestion(f"no suggestion {suggestion_id!r}: its file is not one this "
                                    "store wrote")
        return record

    def list(self, status: str | None = None) -> list[dict]:
        """Every readable suggestion (of ``status``), newest first."""
        out = []
        for p in sorted(self.root.glob("*.json")) if self.root.is_dir() else []:
            if not _ID.fullmatch(p.stem):
                continue
            try:
                record = self.get(p.stem)
            except UnknownSuggestion:
                continue  # vanished or damaged: not listed
            if status is None or record.get("status") == status:
                out.append(record)
        return sorted(out, key=lambda r: str(r.get("created")), reverse=True)

    def count(self, status: str) -> int:
        return len(self.list(status))

    def review(self, suggestion_id: str, status: str, by: str, reason: str | None = None) -> dict:
        """Mark a pending suggestion accepted or rejected (with who, when and why)."""
        if status not in STATUSES[1:]:
            raise ValueError(f"status must be one of {STATUSES[1:]}")
        record = self.get(suggestion_id)
        if record["status"] != "pending":
            raise SuggestionConflict(f"suggestion {suggestion_id} is already {record['status']} "
                                     f"({record.get('reviewed_at')} by {record.get('reviewed_by')})")
        record.update(status=status, reviewed_at=utc_now(), reviewed_by=by, reason=reason)
        self._write(record)
        return record


class SuggestionConflict(ParkmapError):
    status = 409

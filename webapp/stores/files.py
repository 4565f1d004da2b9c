"""What the file stores share: whole-or-nothing writes in one folder, and their leftovers."""
from __future__ import annotations

import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

STALE_TMP_S = 3600  # a temp file this old belongs to a save that died


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a hidden temp file beside ``path``, flush it to disk, then rename it
    over ``path``: a crash at any point leaves the old file or the new one, never half of one
    (a stray temp file at most, never read, and swept later)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sweep_temp(root: Path) -> None:
    """Remove temp files left by writes that died (older than STALE_TMP_S)."""
    cutoff = time.time() - STALE_TMP_S
    for p in root.glob(".*.tmp"):
        try:
            if p.stat().st_mtime < cutoff:
                p.unlink()
        except OSError:
            pass  # another process swept it first


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

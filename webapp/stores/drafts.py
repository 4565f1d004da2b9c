"""Drafts kept as files: one ``<root>/<id>.geojson`` per accepted draft (INSTANCE_DIR/drafts)."""
from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import geopandas as gpd

from geo.errors import ParkmapError
from geo.geojson_io import GeoJSONError, dumps, parse_features, to_feature_collection
from webapp.intake import NAME_MAX
from webapp.stores.files import sweep_temp, utc_now, write_atomic

_ID = re.compile(r"^[0-9a-f]{8}$")


class UnknownDraft(ParkmapError):
    status = 404


class DraftStore:
    """Drafts as ``<root>/<id>.geojson``: the WGS84 features plus a top-level ``draft`` member.

    A draft is written whole or not at all (stores.files.write_atomic), so a crash at any
    point leaves either the whole draft or no draft.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, draft_id: str) -> Path:
        if not isinstance(draft_id, str) or not _ID.fullmatch(draft_id):
            raise UnknownDraft(f"no draft {str(draft_id)[:40]!r}: draft ids are 8 hexadecimal "
                               "characters")
        return self.root / f"{draft_id}.geojson"

    def save(self, gdf: gpd.GeoDataFrame, facts: dict, name: str | None = None,
             filename: str | None = None) -> dict:
        """Store an accepted draft under a new id; returns its metadata."""
        self.root.mkdir(parents=True, exist_ok=True)
        sweep_temp(self.root)
        while True:
            draft_id = secrets.token_hex(4)
            if not self._path(draft_id).exists():
                break
        gdf = gdf.copy()
        gdf.insert(0, "id", [f"draft-{draft_id}-{i}" for i in gdf["index"]])
        gdf = gdf.drop(columns="index")
        gdf["source"] = f"draft:{draft_id}"
        gdf["basis"] = f"uploaded by a planner in {facts['datum']}, converted to WGS84"
        gdf["confidence"] = None
        label = (name or "").strip() or (Path(filename).stem if filename else "") or f"draft {draft_id}"
        meta = {"id": draft_id, "name": label[:NAME_MAX],
                "filename": Path(filename).name[:NAME_MAX] if filename else None,
                "created": utc_now(), **facts}
        write_atomic(self._path(draft_id), feature_collection_text(gdf, meta) + "\n")
        return meta

    def load(self, draft_id: str) -> tuple[gpd.GeoDataFrame, dict]:
        path = self._path(draft_id)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            return parse_features(doc, where=path.name), _meta(doc, draft_id)
        except FileNotFoundError:
            raise UnknownDraft(f"no draft {draft_id!r} (deleted, or never stored)") from None
        except (OSError, ValueError, GeoJSONError):
            # Not a file this store wrote whole; index() leaves it out too.
            raise UnknownDraft(f"no draft {draft_id!r}: its file cannot be read") from None

    def index(self) -> list[dict]:
        """Metadata of every stored draft, newest first."""
        out = []
        for p in sorted(self.root.glob("*.geojson")) if self.root.is_dir() else []:
            if _ID.fullmatch(p.stem):
                try:
                    out.append(_meta(json.loads(p.read_text(encoding="utf-8")), p.stem))
                except (OSError, ValueError):
                    continue  # a file we did not write; not a draft
        return sorted(out, key=lambda m: m["created"], reverse=True)

    def delete(self, draft_id: str) -> None:
        path = self._path(draft_id)
        try:
            path.unlink()
        except FileNotFoundError:
            raise UnknownDraft(f"no draft {draft_id!r} (deleted, or never stored)") from None


def _meta(doc, draft_id: str) -> dict:
    """The ``draft`` member of a stored draft; ValueError unless it is one this store wrote."""
    meta = doc.get("draft") if isinstance(doc, dict) else None
    if not isinstance(meta, dict) or meta.get("id") != draft_id or not isinstance(
            meta.get("created"), str):
        raise ValueError(f"{draft_id}: not a stored draft")
    return meta


def feature_collection(gdf: gpd.GeoDataFrame, meta: dict) -> dict:
    return to_feature_collection(gdf, name=f"draft:{meta['id']}", draft=meta)


def feature_collection_text(gdf: gpd.GeoDataFrame, meta: dict) -> str:
    return dumps(feature_collection(gdf, meta))

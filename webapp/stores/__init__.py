"""Where the app keeps things: built layers (read-only), drafts and place suggestions.

Routes reach them through these accessors, so which store serves the current app is decided
in one place (its settings): with DATABASE_URL set, drafts and suggestions live in PostgreSQL
(webapp/stores/postgres.py, shared by every app process), else in files under INSTANCE_DIR.
Both kinds have the same methods, answers and errors.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from flask import current_app

from layers.store import LayerStore, store_for
from webapp.stores.drafts import DraftQuota, DraftStore
from webapp.stores.suggestions import SuggestionStore

if TYPE_CHECKING:
    from webapp.stores.postgres import PgDraftStore, PgSuggestionStore


def backend() -> str:
    """Where drafts and suggestions are kept: "files" or "postgresql"."""
    return "postgresql" if current_app.config.get("DATABASE_URL") else "files"


def layers() -> LayerStore:
    """The built layers the current app serves (LAYERS_DIR)."""
    return store_for(current_app.config["LAYERS_DIR"])


def _database() -> dict:
    config = current_app.config
    return {"url": config["DATABASE_URL"], "pool_size": int(config["DATABASE_POOL_SIZE"]),
            "timeout": float(config["DATABASE_TIMEOUT_S"])}


def drafts() -> DraftStore | PgDraftStore:
    """Planners' uploaded drafts (the database, or INSTANCE_DIR/drafts)."""
    quota = DraftQuota.from_config(current_app.config)
    if backend() == "postgresql":
        from webapp.stores.postgres import PgDraftStore

        return PgDraftStore(quota=quota, **_database())
    return DraftStore(Path(current_app.config["INSTANCE_DIR"]) / "drafts", quota)


def suggestions() -> SuggestionStore | PgSuggestionStore:
    """Suggested place locations awaiting review (the database, or INSTANCE_DIR/suggestions)."""
    if backend() == "postgresql":
        from webapp.stores.postgres import PgSuggestionStore

        return PgSuggestionStore(**_database())
    return SuggestionStore(Path(current_app.config["INSTANCE_DIR"]) / "suggestions")

"""Where the app keeps things: built layers (read-only), drafts and place suggestions.

Routes reach them through these accessors, so which store serves the current app is decided
in one place (its settings).
"""
from __future__ import annotations

from pathlib import Path

from flask import current_app

from layers.store import LayerStore, store_for
from webapp.stores.drafts import DraftQuota, DraftStore
from webapp.stores.suggestions import SuggestionStore


def backend() -> str:
    """Where drafts and suggestions are kept: "files" or "postgresql"."""
    return "postgresql" if current_app.config.get("DATABASE_URL") else "files"


def layers() -> LayerStore:
    """The built layers the current app serves (LAYERS_DIR)."""
    return store_for(current_app.config["LAYERS_DIR"])


def drafts() -> DraftStore:
    """Planners' uploaded drafts (INSTANCE_DIR/drafts)."""
    return DraftStore(Path(current_app.config["INSTANCE_DIR"]) / "drafts",
                      DraftQuota.from_config(current_app.config))


def suggestions() -> SuggestionStore:
    """Suggested place locations awaiting review (INSTANCE_DIR/suggestions)."""
    return SuggestionStore(Path(current_app.config["INSTANCE_DIR"]) / "suggestions")

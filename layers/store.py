"""Read the built layers (data/layers) once: what the web app and renderers use at run time."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import geopandas as gpd

from geo.geojson_io import GeoJSONError, read_geojson
from layers.build import INDEX_NAME
from layers.registry import UnknownLayer, get_layer, layer_ids
from layers.sources import LAYERS_DIR, SourceError


class LayerStore:
    """Built layers in one directory: raw GeoJSON text (served as is) and GeoDataFrames."""

    def __init__(self, layers_dir: str | Path = LAYERS_DIR):
        self.dir = Path(layers_dir)
        self._text: dict[str, str] = {}
        self._frames: dict[str, gpd.GeoDataFrame] = {}

    def _path(self, layer_id: str) -> Path:
        get_layer(layer_id)  # raises UnknownLayer
        p = self.dir / f"{layer_id}.geojson"
        if not p.is_file():
            raise SourceError(f"layer {layer_id!r} is not built: {p} missing (run `parkmap build`)")
        return p

    def geojson_text(self, layer_id: str) -> str:
        if layer_id not in self._text:
            self._text[layer_id] = self._path(layer_id).read_text(encoding="utf-8")
        return self._text[layer_id]

    def frame(self, layer_id: str) -> gpd.GeoDataFrame:
        if layer_id not in self._frames:
            try:
                self._frames[layer_id] = read_geojson(self._path(layer_id))
            except GeoJSONError as exc:
                raise SourceError(str(exc)) from None
        return self._frames[layer_id].copy()

    def index(self) -> dict:
        p = self.dir / INDEX_NAME
        if not p.is_file():
            raise SourceError(f"{p} missing (run `parkmap build`)")
        return json.loads(p.read_text(encoding="utf-8"))

    def ids(self) -> list[str]:
        return layer_ids()


@lru_cache(maxsize=8)
def store_for(layers_dir: str) -> LayerStore:
    return LayerStore(layers_dir)


__all__ = ["LayerStore", "store_for", "UnknownLayer", "SourceError"]

"""Read the built layers (data/layers) once: what the web app and renderers use at run time."""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import geopandas as gpd

from geo.geojson_io import GeoJSONError, read_geojson
from layers.addresses import INDEX_NAME as ADDRESSES_NAME
from layers.addresses import AddressIndex
from layers.build import INDEX_NAME
from layers.registry import UnknownLayer, get_layer, layer_ids
from layers.sources import LAYERS_DIR, SourceError


class LayerStore:
    """Built layers in one directory: raw GeoJSON text (served as is) and GeoDataFrames.

    What it read is kept until ``parkmap build`` writes the folder again: the build replaces
    layers.json last, and every read first looks (one stat) whether it changed.
    """

    def __init__(self, layers_dir: str | Path = LAYERS_DIR):
        self.dir = Path(layers_dir)
        self._text: dict[str, str] = {}
        self._frames: dict[str, gpd.GeoDataFrame] = {}
        self._addresses = None
        self._version = self._stat()

    def _stat(self):
        try:
            st = (self.dir / INDEX_NAME).stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    @property
    def version(self) -> str:
        """A short tag that changes whenever the folder is rebuilt (caches of pages made from
        it key on it; layer URLs carry it)."""
        self._fresh()
        return hashlib.sha1(repr(self._version).encode()).hexdigest()[:12]

    def _fresh(self) -> None:
        now = self._stat()
        if now != self._version:
            self._text, self._frames, self._addresses = {}, {}, None
            self._version = now

    def _path(self, layer_id: str) -> Path:
        get_layer(layer_id)  # raises UnknownLayer
        p = self.dir / f"{layer_id}.geojson"
        if not p.is_file():
            raise SourceError(f"layer {layer_id!r} is not built: {p} missing (run `parkmap build`)")
        return p

    def geojson_text(self, layer_id: str) -> str:
        self._fresh()
        if layer_id not in self._text:
            self._text[layer_id] = self._path(layer_id).read_text(encoding="utf-8")
        return self._text[layer_id]

    def frame(self, layer_id: str) -> gpd.GeoDataFrame:
        self._fresh()
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

    def addresses(self) -> AddressIndex:
        """The address index the build wrote (addresses.geojson), for the address search."""
        self._fresh()
        if self._addresses is None:
            p = self.dir / ADDRESSES_NAME
            if not p.is_file():
                raise SourceError(f"{p} missing (run `parkmap build`)")
            try:
                self._addresses = AddressIndex.from_frame(read_geojson(p))
            except GeoJSONError as exc:
                raise SourceError(str(exc)) from None
        return self._addresses


@lru_cache(maxsize=8)
def store_for(layers_dir: str) -> LayerStore:
    return LayerStore(layers_dir)


__all__ = ["LayerStore", "store_for", "UnknownLayer", "SourceError"]

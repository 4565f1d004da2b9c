"""Read the built layers (data/layers): what the web app and renderers use at run time.

The app's store (``store_for``) reads the whole folder at once and checks it: layers.json and
every layer file in it must parse as a non-empty FeatureCollection whose features carry the
required properties. Only then does it serve that set. When ``parkmap build`` writes the folder
again (it replaces layers.json last; one stat per read notices), the new set is read and
checked the same way; a broken or half-written one is logged and the last good set is kept,
so a bad rebuild never takes the site down. A folder that was never good answers 503.

``LayerStore(dir)`` without ``snapshot`` reads each file when asked (``parkmap check`` wants
every broken file reported on its own).
"""
from __future__ import annotations

import hashlib
import json
import logging
from functools import lru_cache
from pathlib import Path

import geopandas as gpd

from geo.geojson_io import GeoJSONError, parse_features, paused_gc
from layers.addresses import INDEX_NAME as ADDRESSES_NAME
from layers.addresses import AddressIndex
from layers.build import INDEX_NAME
from layers.registry import UnknownLayer, get_layer, layer_ids
from layers.sources import LAYERS_DIR, SourceError
from layers.spec import REQUIRED_PROPERTIES

log = logging.getLogger("parkmap.layers")
_NEVER = ("never read",)


class LayersUnavailable(SourceError):
    """The built layers cannot be served (missing, damaged, half-written)."""

    status = 503


class LayerStore:
    def __init__(self, layers_dir: str | Path = LAYERS_DIR, snapshot: bool = False):
        self.dir = Path(layers_dir)
        self.snapshot = snapshot
        self._text: dict[str, str] = {}
        self._frames: dict[str, gpd.GeoDataFrame] = {}
        self._index: dict | None = None
        self._addresses = None
        self._version = _NEVER  # the layers.json stat of the set held
        self._refused = None  # (layers.json stat, error) of a set found broken: not read again

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
        if now == self._version:
            return
        if self._refused and self._refused[0] == now:
            if self._version is _NEVER:
                raise self._refused[1]
            return
        if not self.snapshot:
            self._text, self._frames, self._index, self._addresses = {}, {}, None, None
            self._version = now
            return
        try:
            index, texts = self._read_all()
        except LayersUnavailable as exc:
            self._refused = (now, exc)
            if self._version is _NEVER:
                raise
            log.error("rebuilt layers refused, still serving the previous build: %s", exc)
            return
        self._index, self._text, self._frames, self._addresses = index, texts, {}, None
        self._version = now

    def _read_all(self) -> tuple[dict, dict[str, str]]:
        """The index and every layer's text, each checked; LayersUnavailable naming the file."""
        index = self._read_index()
        texts = {}
        with paused_gc():
            for layer_id in layer_ids():
                texts[layer_id] = self._read_checked(layer_id)
        return index, texts

    def _read_checked(self, layer_id: str) -> str:
        path = self.dir / f"{layer_id}.geojson"
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise LayersUnavailable(f"{path}: cannot be read ({exc.__class__.__name__}: "
                                    f"{getattr(exc, 'strerror', None) or exc}); run "
                                    "`parkmap build`") from None
        check_layer_text(text, path)
        return text

    def _read_index(self) -> dict:
        p = self.dir / INDEX_NAME
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LayersUnavailable(f"{p} missing (run `parkmap build`)") from None
        except (OSError, ValueError) as exc:
            raise LayersUnavailable(f"{p}: not readable JSON ({exc}); run `parkmap build`") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("layers"), list):
            raise LayersUnavailable(f"{p}: not a layers index (run `parkmap build`)")
        return doc

    def validate(self) -> None:
        """Read and check the whole folder now; LayersUnavailable (naming the file) if broken."""
        self._read_all()

    def _path(self, layer_id: str) -> Path:
        get_layer(layer_id)  # raises UnknownLayer
        p = self.dir / f"{layer_id}.geojson"
        if not p.is_file():
            raise LayersUnavailable(f"layer {layer_id!r} is not built: {p} missing "
                                    "(run `parkmap build`)")
        return p

    def geojson_text(self, layer_id: str) -> str:
        self._fresh()
        if layer_id not in self._text:
            if self.snapshot:
                get_layer(layer_id)  # raises UnknownLayer: every registry layer is held
            self._text[layer_id] = self._path(layer_id).read_text(encoding="utf-8")
        return self._text[layer_id]

    def frame(self, layer_id: str) -> gpd.GeoDataFrame:
        text = self.geojson_text(layer_id)
        if layer_id not in self._frames:
            where = self.dir / f"{layer_id}.geojson"
            with paused_gc():
                try:
                    doc = json.loads(text)
                except ValueError as exc:
                    raise LayersUnavailable(f"{where}: not valid JSON ({exc})") from None
                try:
                    self._frames[layer_id] = parse_features(doc, where=str(where))
                except GeoJSONError as exc:
                    raise LayersUnavailable(str(exc)) from None
        return self._frames[layer_id].copy()

    def index(self) -> dict:
        self._fresh()
        if self._index is None:
            self._index = self._read_index()
        return self._index

    def ids(self) -> list[str]:
        return layer_ids()

    def addresses(self) -> AddressIndex:
        """The address index the build wrote (addresses.geojson), for the address search."""
        self._fresh()
        if self._addresses is None:
            p = self.dir / ADDRESSES_NAME
            try:
                self._addresses = AddressIndex.from_frame(parse_features(
                    json.loads(p.read_text(encoding="utf-8")), where=p.name))
            except FileNotFoundError:
                raise LayersUnavailable(f"{p} missing (run `parkmap build`)") from None
            except (OSError, ValueError, GeoJSONError, KeyError) as exc:
                raise LayersUnavailable(f"{p}: cannot be read ({exc})") from None
        return self._addresses


def check_layer_text(text: str, path: Path) -> None:
    """A built layer as served: a non-empty FeatureCollection whose features carry the
    required properties; LayersUnavailable naming the file and the problem."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise LayersUnavailable(f"{path}: not valid JSON ({exc}); run `parkmap build`") from None
    feats = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(
            feats, list):
        raise LayersUnavailable(f"{path}: not a GeoJSON FeatureCollection")
    if not feats:
        raise LayersUnavailable(f"{path}: no features (a built layer is never empty)")
    for i, f in enumerate(feats):
        props = f.get("properties") if isinstance(f, dict) else None
        missing = [k for k in REQUIRED_PROPERTIES if not isinstance(props, dict) or k not in props]
        if missing:
            raise LayersUnavailable(f"{path}: feature {i} lacks {', '.join(missing)}")


@lru_cache(maxsize=8)
def store_for(layers_dir: str) -> LayerStore:
    """The app's store for a folder: one per process, a checked snapshot."""
    return LayerStore(layers_dir, snapshot=True)


__all__ = ["LayerStore", "LayersUnavailable", "store_for", "UnknownLayer", "SourceError"]

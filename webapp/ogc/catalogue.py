"""What /ogc serves: every registry layer, every built-in layout's units and every stored draft
as an OGC API - Features collection, with their features indexed for paging and filtering.

Collection ids (URL-safe, no ':'):

- ``<layer id>``: a registry layer as built (``parks``, ``changning_zones`` ...), the very
  features of ``/api/layers/<id>.geojson``;
- ``layout-<layout id>``: a built-in layout's units (zones, belts, the Line 2 axis) as the
  compare page measures and draws them (``layout-changning_zones``);
- ``draft-<draft id>``: an uploaded draft (``draft:<id>`` elsewhere in the app), its features
  as stored (``/api/layouts/draft:<id>/layers/draft.geojson``).

A feature's OGC id is its ``id`` property, which it keeps among its properties.

Features are serialised once per build of the layers (a draft once: it never changes), so an
items page is a join of ready JSON texts; filters run over arrays of the filterable values.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np
import shapely
from flask import current_app

from geo.errors import ParkmapError
from geo.geojson_io import dumps, paused_gc, to_feature_collection
from layers.registry import all_layers, get_layer
from layers.store import LayerStore
from webapp import stores
from webapp.layouts import LAYOUTS, draft_summary, get_def, resolve
from webapp.render.cache import app_cache

LAYOUT_PREFIX, DRAFT_PREFIX = "layout-", "draft-"
# Properties a collection may be filtered by (``?zone=east``), where its features have them.
FILTERABLE = ("kind", "zone", "district", "confidence")
# Properties a layout adds to its layer's features (webapp.layouts._tag_years).
LAYOUT_TAGS = ("named_in", "year")
ENUM_MAX = 50  # queryables list the values of a property that has at most this many
FEATURE_CACHE_SIZE = 64  # collections' indexed features kept per app (layers x builds, drafts)
_DRAFT_ID = re.compile(r"^[0-9a-f]{8}$")


class OGCError(ParkmapError):
    """An error answered in the OGC API exception format ({"code", "description"})."""

    code = "InvalidParameterValue"

    def __init__(self, description: str, status: int | None = None, code: str | None = None):
        super().__init__(description)
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class NotFound(OGCError):
    status, code = 404, "NotFound"


@dataclass(frozen=True)
class Collection:
    """One collection's metadata (no features read)."""
    id: str
    kind: str  # "layer" | "layout" | "draft"
    ref: str  # the layer id, layout id or draft id
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    attribution: str | None = None
    license: str | None = None
    bbox: tuple[float, float, float, float] | None = None  # lon/lat extent, when known cheaply

    @property
    def public(self) -> bool:
        """Whether its answers depend on the build of the layers only (cacheable as such);
        a draft's may vanish at any time."""
        return self.kind != "draft"

    def title(self, lang: str) -> str:
        return self.title_en if lang == "en" else self.title_zh

    def description(self, lang: str) -> str:
        return self.description_en if lang == "en" else self.description_zh


@dataclass
class Features:
    """A collection's features, ready to page and filter."""
    texts: list[str]  # each feature as GeoJSON text (with its top-level "id")
    ids: list[str]
    geometries: np.ndarray  # shapely geometries (None: unlocated)
    values: dict[str, np.ndarray] = field(default_factory=dict)  # FILTERABLE present -> str|None
    columns: tuple[str, ...] = ()
    position: dict[str, int] = field(default_factory=dict)  # feature id -> index

    def __post_init__(self):
        for i, fid in enumerate(self.ids):
            self.position.setdefault(fid, i)

    @property
    def bbox(self) -> tuple[float, float, float, float] | None:
        located = [g for g in self.geometries if g is not None and not g.is_empty]
        if not located:
            return None
        return tuple(round(float(v), 6) for v in shapely.total_bounds(np.array(located)))

    def queryables(self) -> dict[str, list[str] | None]:
        """Filterable properties with their values (None: too many to list)."""
        out = {}
        for name, vals in self.values.items():
            distinct = sorted({v for v in vals if v is not None})
            out[name] = distinct if len(distinct) <= ENUM_MAX else None
        return out


# --- the catalogue ---------------------------------------------------------------------------

def _layer_collection(spec, bounds) -> Collection:
    return Collection(spec.id, "layer", spec.id, spec.title_zh, spec.title_en, spec.description_zh,
                      spec.description_en, spec.attribution, spec.license,
                      tuple(bounds) if bounds else None)


def _layout_collection(d, bbox=None) -> Collection:
    unit = get_layer(d.unit_layer)
    return Collection(LAYOUT_PREFIX + d.id, "layout", d.id, d.title_zh, d.title_en,
                      d.description_zh, d.description_en, unit.attribution, unit.license, bbox)


def _draft_collection(meta: dict) -> Collection:
    s = draft_summary(meta)
    return Collection(DRAFT_PREFIX + meta["id"], "draft", meta["id"], s["title_zh"], s["title_en"],
                      s["description_zh"], s["description_en"], "uploaded draft", "as uploaded")


def _layer_bounds(store: LayerStore) -> dict:
    try:
        return {e["id"]: e.get("bounds") for e in store.index().get("layers", [])
                if isinstance(e, dict) and "id" in e}
    except (ParkmapError, ValueError, AttributeError):
        return {}


def static_collections() -> list[Collection]:
    """The layers and the built-in layouts (they change with the build only)."""
    store = stores.layers()

    def make() -> list[Collection]:
        bounds = _layer_bounds(store)
        out = [_layer_collection(spec, bounds.get(spec.id)) for spec in all_layers()]
        out += [_layout_collection(d, features(_layout_collection(d)).bbox) for d in LAYOUTS]
        return out

    return app_cache("ogc-collections", 4).get((str(store.dir), store.version), make)


def all_collections() -> list[Collection]:
    """Every collection: the layers, the layouts, then the stored drafts (newest first)."""
    return static_collections() + [_draft_collection(m) for m in stores.drafts().index()]


def get_collection(collection_id: str) -> Collection:
    """The collection ``collection_id``; NotFound (404) naming the known ones if there is none."""
    if collection_id.startswith(DRAFT_PREFIX):
        draft_id = collection_id[len(DRAFT_PREFIX):]
        drafts = stores.drafts()
        if _DRAFT_ID.fullmatch(draft_id):
            for meta in drafts.index():
                if meta.get("id") == draft_id:
                    return _draft_collection(meta)
        raise NotFound(f"no collection {collection_id[:60]!r}: no such draft (deleted, expired "
                       "or never stored); drafts are draft-<8 hexadecimal characters>")
    for c in static_collections():
        if c.id == collection_id:
            return c
    raise NotFound(f"no collection {collection_id[:60]!r}; the collections are the layers ("
                   + ", ".join(s.id for s in all_layers()) + "), the layouts ("
                   + ", ".join(LAYOUT_PREFIX + d.id for d in LAYOUTS)
                   + ") and the drafts (draft-<id>): see /ogc/collections")


# --- features --------------------------------------------------------------------------------

def features(c: Collection) -> Features:
    """The collection's indexed features, made once per build (a draft: once)."""
    store = stores.layers()
    if c.kind == "draft":
        where = current_app.config.get("DATABASE_URL") or current_app.config["INSTANCE_DIR"]
        key = ("draft", where, c.ref)
    else:
        key = (c.kind, str(store.dir), store.version, c.ref)
    return app_cache("ogc-features", FEATURE_CACHE_SIZE).get(key, lambda: _make_features(c, store))


def _make_features(c: Collection, store: LayerStore) -> Features:
    if c.kind == "layer":
        with paused_gc():
            feats = json.loads(store.geojson_text(c.ref))["features"]
        return _index(feats, store.frame(c.ref).geometry.to_numpy())
    if c.kind == "layout":
        layout = resolve(c.ref, store, None)
        units = layout.units
        feats = to_feature_collection(units)["features"]
        _as_in_their_layers(feats, get_def(c.ref), store)
        return _index(feats, units.geometry.to_numpy())
    gdf, _ = stores.drafts().load(c.ref)
    return _index(to_feature_collection(gdf)["features"], gdf.geometry.to_numpy())


def _as_in_their_layers(feats: list[dict], d, store: LayerStore) -> None:
    """A layout's units come from more than one layer (zones and the Line 2 axis): each keeps
    the properties its own layer gives it (not the other layer's, as nulls), plus the layout's
    tags."""
    keys = {}
    for layer_id in dict.fromkeys((d.unit_layer, "line2")):
        for f in json.loads(store.geojson_text(layer_id))["features"]:
            keys.setdefault(f["properties"].get("id"), set(f["properties"]))
    for f in feats:
        own = keys.get(f["properties"].get("id"))
        if own is not None:
            f["properties"] = {k: v for k, v in f["properties"].items()
                               if k in own or k in LAYOUT_TAGS}


def _index(feats: list[dict], geometries: np.ndarray) -> Features:
    ids, texts = [], []
    columns: dict[str, None] = {}
    with paused_gc():
        for i, f in enumerate(feats):
            props = f.get("properties") or {}
            columns.update(dict.fromkeys(props))
            fid = props.get("id")
            fid = str(fid) if fid not in (None, "") else str(i)
            ids.append(fid)
            texts.append(dumps({"type": "Feature", "id": fid, "properties": props,
                                "geometry": f.get("geometry")}))
        values = {}
        for name in FILTERABLE:
            if name in columns:
                vals = [(f.get("properties") or {}).get(name) for f in feats]
                values[name] = np.array([None if v is None else str(v) for v in vals], dtype=object)
    geoms = np.array([g if g is not None and not getattr(g, "is_empty", True) else None
                      for g in geometries], dtype=object)
    return Features(texts, ids, geoms, values, tuple(columns))

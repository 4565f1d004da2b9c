"""The one list of layers. Pages, API, legend, static figures and docs are generated from it."""
from __future__ import annotations

from functools import lru_cache
from importlib import import_module

from geo.errors import ParkmapError
from layers.spec import LayerSpec

# Order = drawing order bottom-up and the order in layer controls.
_MODULES = ("context", "districts", "subdistricts", "changning_zones", "jingan_layout", "line2",
            "parks")


class UnknownLayer(ParkmapError):
    status = 404

    def __init__(self, layer_id: str):
        super().__init__(f"unknown layer {layer_id[:40]!r}; known layers: {', '.join(layer_ids())}")
        self.layer_id = layer_id


@lru_cache(maxsize=1)
def _specs() -> tuple[LayerSpec, ...]:
    return tuple(import_module(f"layers.{m}").LAYER for m in _MODULES)


def all_layers() -> list[LayerSpec]:
    return list(_specs())


def layer_ids() -> list[str]:
    return [spec.id for spec in all_layers()]


def get_layer(layer_id: str) -> LayerSpec:
    for spec in _specs():
        if spec.id == layer_id:
            return spec
    raise UnknownLayer(layer_id)

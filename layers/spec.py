"""What a layer is: its metadata (shown in pages, legend, API, docs) and how it is built."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

# Properties every feature of every layer carries (values may be null where the issue allows:
# zone outside Changning, basis/confidence on context features that are sourced, not drawn).
REQUIRED_PROPERTIES = ("id", "name_zh", "name_en", "kind", "district", "zone", "role", "source")
# Properties every *drawn* (interpreted) feature carries in addition.
DRAWN_PROPERTIES = ("basis", "confidence")
CONFIDENCES = ("building", "street", "area", "unlocated")
OVERVIEW_MAX_ZOOM = 14  # up to here a layer's overview outline is drawn (LayerSpec)


@dataclass(frozen=True)
class Style:
    """Leaflet path options for one feature kind, plus its legend labels.

    ``shape`` is how the legend and the static renderer draw it: fill, line or point.
    """
    label_zh: str
    label_en: str
    shape: str  # "fill" | "line" | "point"
    color: str
    weight: float = 2.0
    opacity: float = 1.0
    fill_color: str | None = None
    fill_opacity: float = 0.0
    dash_array: str | None = None
    radius: float = 6.0

    def leaflet(self) -> dict:
        """Options as Leaflet's path options expect them."""
        opts = {"color": self.color, "weight": self.weight, "opacity": self.opacity,
                "fillColor": self.fill_color or self.color, "fillOpacity": self.fill_opacity,
                "radius": self.radius}
        if self.dash_array:
            opts["dashArray"] = self.dash_array
        return opts


@dataclass(frozen=True)
class LayerSpec:
    id: str
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    sources: tuple[str, ...]  # file names in data/sources
    attribution: str
    license: str
    styles: dict[str, Style]  # by feature ``kind``
    build: Callable = field(compare=False, repr=False)
    group: str = "plan"  # "plan" or "context"
    # Administrative boundaries from their own source (not drawn inside the districts): the
    # layer's check compares them with the districts by overlap, not by containment.
    admin_boundaries: bool = False
    # How much its lines and outlines may be simplified on the interactive map (metres): the
    # built file keeps every vertex (webapp/render/mapdata.py).
    simplify_m: float = 0.0
    # Below zoom OVERVIEW_MAX_ZOOM + 1 a coarser outline will do (None: the same detail at
    # every zoom); the page fetches the finer one when the reader zooms in.
    overview_simplify_m: float | None = None
    # On the interactive map, only what lies within this many metres of the two planned
    # districts (None: all of it): the offline base need not carry the whole city.
    map_clip_m: float | None = None

    def style_for(self, kind: str) -> Style:
        return self.styles.get(kind) or next(iter(self.styles.values()))

    def metadata(self) -> dict:
        """JSON-ready metadata (layers.json, /api/layers)."""
        meta = {k: v for k, v in asdict(self).items()
                if k not in ("build", "styles", "admin_boundaries", "simplify_m",
                             "overview_simplify_m", "map_clip_m")}
        meta["sources"] = list(self.sources)
        meta["styles"] = {k: {**asdict(s), "leaflet": s.leaflet()} for k, s in self.styles.items()}
        return meta

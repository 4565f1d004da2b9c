"""Named maps: data, not code. Adding a map is one entry in MAPS.

Pages (/map/<id>, /embed/<id>), the API (/api/maps), static figures and the export all
read this registry.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from geo.errors import ParkmapError


@dataclass(frozen=True)
class NamedMap:
    id: str
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    layers: tuple[str, ...]  # layer ids, drawn bottom-up; "context" is the offline base
    center: tuple[float, float]  # lat, lon (Leaflet order)
    zoom: int
    optional: tuple[str, ...] = ()  # offered in the layer control, off until ticked

    def metadata(self) -> dict:
        d = asdict(self)
        d["layers"] = list(self.layers)
        d["optional"] = list(self.optional)
        d["center"] = list(self.center)
        return d


MAPS: tuple[NamedMap, ...] = (
    NamedMap(
        id="changning",
        title_zh="长宁区：三大功能区与地铁2号线创新轴",
        title_en="Changning: three functional areas on the Metro Line 2 innovation axis",
        description_zh="东部中山公园、中部虹桥、西部临空三大功能区，地铁2号线创新轴及规划点名的产业园区。",
        description_en="East (Zhongshan Park), central (Hongqiao) and west (Linkong) functional areas, "
                       "the Line 2 innovation axis, and the parks the plans name.",
        layers=("context", "districts", "changning_zones", "line2", "parks"),
        center=(31.212, 121.385),
        zoom=13,
        optional=("subdistricts",),  # the zones already divide the district: off, not cluttering
    ),
    NamedMap(
        id="jingan",
        title_zh="静安区：一轴三带与市北在线新经济生态示范园",
        title_en="Jing'an: one axis, three belts and the Shibei online-new-economy park",
        description_zh="南北发展轴、中环两翼/苏河两岸/南京西路三带、市北园区、四个功能区与平台。",
        description_en="The north-south axis, the Middle Ring, Suzhou Creek and Nanjing West Road belts, "
                       "the Shibei park, four functional areas and the named platforms.",
        layers=("context", "districts", "subdistricts", "jingan_layout", "line2", "parks"),
        center=(31.262, 121.455),
        zoom=13,
    ),
    NamedMap(
        id="overview",
        title_zh="长宁与静安：地铁2号线串联的两区布局",
        title_en="Changning and Jing'an: two layouts linked by Metro Line 2",
        description_zh="两区边界、长宁三大功能区、静安一轴三带，以及连接两区的地铁2号线。",
        description_en="Both districts, Changning's three areas, Jing'an's axis and belts, and the "
                       "Line 2 that links them.",
        layers=("context", "districts", "changning_zones", "jingan_layout", "line2", "parks"),
        center=(31.235, 121.42),
        zoom=12,
        optional=("subdistricts",),
    ),
)


class UnknownMap(ParkmapError):
    status = 404

    def __init__(self, map_id: str):
        super().__init__(f"unknown map {map_id[:40]!r}; known maps: {', '.join(m.id for m in MAPS)}")


def get_map(map_id: str) -> NamedMap:
    for m in MAPS:
        if m.id == map_id:
            return m
    raise UnknownMap(map_id)

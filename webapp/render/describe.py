"""A map's content in words (zh, en): the text alternative screen readers get for an embed.

Everything is counted and measured from the built layers (areas and lengths in EPSG:32651),
so the text changes when the data does. Group nouns are the legend labels of the registry
styles, so the description and the legend use the same words.
"""
from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd

from geo.crs import METRIC_CRS
from webapp.render.figure import Item, located

LIST_AT_MOST = 4  # name the features of a group up to this many; beyond, only count them
_POLY = ("Polygon", "MultiPolygon")
_LINE = ("LineString", "MultiLineString", "LinearRing")


@dataclass(frozen=True)
class Group:
    """Facts about one (layer, kind): what the legend shows as one entry."""
    layer_id: str
    kind: str
    label_zh: str
    label_en: str
    count: int  # all features, located or not
    unlocated: int
    names_zh: tuple[str, ...]
    names_en: tuple[str, ...]
    area_km2: float  # of the located polygons
    length_km: float  # of the located lines
    by_district: tuple[tuple[str, int], ...]  # located features per district slug, most first
    areas: tuple[tuple[str, str, float], ...] = ()  # (name_zh, name_en, km²) per located polygon


def groups(items: list[Item]) -> list[Group]:
    out = []
    for it in items:
        f = it.frame
        if "kind" not in f.columns or not len(f):
            continue
        for kind in dict.fromkeys(f["kind"]):
            g = f[f["kind"] == kind]
            style = it.spec.style_for(kind)
            loc = located(g)
            metric = loc.geometry.to_crs(METRIC_CRS) if len(loc) else gpd.GeoSeries([])
            types = metric.geom_type if len(metric) else []
            districts = loc["district"].value_counts() if "district" in loc.columns else {}
            out.append(Group(
                it.spec.id, kind, style.label_zh, style.label_en, len(g), len(g) - len(loc),
                tuple(_names(g, "zh")), tuple(_names(g, "en")),
                float(metric[types.isin(_POLY)].area.sum() / 1e6) if len(metric) else 0.0,
                float(metric[types.isin(_LINE)].length.sum() / 1e3) if len(metric) else 0.0,
                tuple((str(d), int(n)) for d, n in districts.items() if isinstance(d, str)),
                _areas(loc, metric)))
    return out


def _areas(loc, metric) -> tuple:
    """(name_zh, name_en, km²) of each located polygon, in order (vectorised: a layer may
    hold a hundred thousand features)."""
    if not len(metric):
        return ()
    poly = metric.geom_type.isin(_POLY).to_numpy()
    if not poly.any():
        return ()
    km2 = (metric[poly].area / 1e6).to_numpy()
    names = [[str(n) if isinstance(n, str) and n else "" for n in
              (loc[col].to_numpy()[poly] if col in loc.columns else [""] * int(poly.sum()))]
             for col in ("name_zh", "name_en")]
    return tuple(zip(names[0], names[1], (float(a) for a in km2)))


def _names(frame, lang: str) -> list[str]:
    col = f"name_{lang}"
    return [n for n in frame[col] if isinstance(n, str) and n] if col in frame.columns else []


def district_names(store, lang: str) -> dict[str, str]:
    """District slug -> its name, from the districts layer (empty if it is not built)."""
    from geo.errors import ParkmapError

    try:
        f = store.frame("districts")
    except ParkmapError:
        return {}
    col = f"name_{lang}"
    return {d: n for d, n in zip(f.get("district", []), f.get(col, []))
            if isinstance(d, str) and isinstance(n, str)}


def _group_text(g: Group, lang: str, district_name: dict[str, str]) -> str:
    """Areas: each named with its size (or just counted); lines: length; points: count,
    per district, and how many have no known location."""
    zh = lang == "zh"
    label = g.label_zh if zh else g.label_en
    names = g.names_zh if zh else g.names_en
    sep, colon = ("、", "：") if zh else (", ", ": ")
    located_n = g.count - g.unlocated
    if g.area_km2:
        if 0 < located_n <= LIST_AT_MOST and len(g.areas) == located_n:
            detail = sep.join(f"{n_zh}（{a:.1f} 平方公里）" if zh else f"{n_en} ({a:.1f} km²)"
                              for n_zh, n_en, a in g.areas)
        else:
            detail = (f"{g.count} 处，共 {g.area_km2:.1f} 平方公里" if zh
                      else f"{g.count}, {g.area_km2:.1f} km² in all")
    elif g.length_km:
        detail = f"{g.length_km:.1f} 公里" if zh else f"{g.length_km:.1f} km"
    else:
        detail = f"{g.count} 处" if zh else str(g.count)
        if len(g.by_district) > 1 and sum(n for _, n in g.by_district) == located_n:
            per = sep.join(f"{district_name.get(d, d)} {n}" for d, n in g.by_district)
            detail += f"（{per}）" if zh else f" ({per})"
        if 0 < g.count <= LIST_AT_MOST:
            detail += colon + sep.join(names)
    if g.unlocated:
        detail += (f"，其中 {g.unlocated} 处位置未知" if zh
                   else f", {g.unlocated} without a known location")
    return label + colon + detail


def describe(title: str, items: list[Item], lang: str, district_name: dict[str, str]) -> str:
    """One paragraph: the title, then each plan layer's groups; the base map in one clause."""
    zh = lang == "zh"
    plan = [it for it in items if it.spec.group != "context"]
    base = [it for it in items if it.spec.group == "context"]
    layer_texts = []
    for it in plan:
        texts = [_group_text(g, lang, district_name) for g in groups([it])]
        if texts:
            name = it.spec.title_zh if zh else it.spec.title_en
            layer_texts.append(f"{name}：" + "；".join(texts) if zh else f"{name}: " + "; ".join(texts))
    if zh:
        text = f"地图：{title}。图中包括" + "。".join(layer_texts) + "。"
        if base:
            text += _base_clause([it.spec.title_zh for it in base], "底图", "、") + "。"
        return text
    text = f"Map: {title}. It shows " + ". ".join(layer_texts) + "."
    if base:
        text += " " + _base_clause([it.spec.title_en for it in base], "Base map", ", ") + "."
    return text


def _base_clause(titles: list[str], word: str, sep: str) -> str:
    """"Base map: <titles>", unless the titles already say it ("Base map (rivers, ...)")."""
    joined = sep.join(titles)
    if all(t.lower().startswith(word.lower()) for t in titles):
        return joined
    return f"{word}：{joined}" if sep == "、" else f"{word}: {joined}"


def describe_map(map_id: str, store, lang: str = "en") -> str:
    """The description of a named map from the built layers in ``store``."""
    from webapp.render.figure import items_for
    from webapp.maps import get_map

    m = get_map(map_id)
    title = m.title_zh if lang == "zh" else m.title_en
    return describe(title, items_for(m.layers, store), lang, district_names(store, lang))


def embed_snippet(*, src: str, title: str, description: str, full_url: str, lang: str,
                  slug: str, resize_script_url: str | None = None) -> str:
    """HTML a report pastes: iframe with a title, its description for screen readers (linked
    by aria-describedby), a link to the full map, and optionally the resize script."""
    from markupsafe import escape

    desc_id = f"parkmap-desc-{slug}"
    link = "打开完整地图" if lang == "zh" else "Open the full map"
    html = (f'<figure class="parkmap-embed" style="margin:0">\n'
            f'<iframe src="{escape(src)}" title="{escape(title)}" aria-describedby="{desc_id}" '
            f'width="100%" height="480" style="border:0;width:100%" loading="lazy" '
            f'allowfullscreen></iframe>\n'
            f'<figcaption><span id="{desc_id}">{escape(description)}</span> '
            f'<a href="{escape(full_url)}">{link}</a></figcaption>\n</figure>')
    if resize_script_url:
        html += f'\n<script src="{escape(resize_script_url)}" async></script>'
    return html


def embed_fallback(*, full_url: str, image_url: str, title: str, description: str,
                   lang: str) -> str:
    """What an embed page shows with scripts blocked (inside <noscript>): the static figure,
    described, linking to the full map (``target=_top`` leaves the iframe)."""
    from markupsafe import escape

    link = "打开完整地图" if lang == "zh" else "Open the full map"
    # the map's container would stay an empty box above the figure: hide it
    return ('<style>.folium-map{display:none}</style>\n'
            f'<a href="{escape(full_url)}" target="_top"><img src="{escape(image_url)}" '
            f'alt="{escape(description)}" style="display:block;width:100%;height:auto"></a>\n'
            f'<p><a href="{escape(full_url)}" target="_top">{escape(title)}</a> · {link}</p>')

"""`parkmap export OUT/`: a static site that works from disk (file://) with no network.

    OUT/index.html                 every map (zh and en), its description and figure, downloads
    OUT/maps/<map>.<lang>.html     interactive maps, GeoJSON inline (compose(data="inline")),
                                   and compare.<lang>.html, the default layout comparison
    OUT/assets/...                 Leaflet and our JS/CSS (webapp.pages.assets.bundle()), linked relatively
    OUT/data/                      each layer's GeoJSON, layers.json, parks.csv
    OUT/figures/<map>.<lang>.png   static figures (webapp.render.figure)

The site is assembled in a sibling folder and moved into place at the end, so a failure never
leaves half a site, and OUT is replaced only if it is empty or an earlier export.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

from markupsafe import Markup, escape

from geo.errors import ParkmapError
from layers.build import INDEX_NAME
from layers.registry import all_layers
from layers.sources import LAYERS_DIR
from layers.store import LayerStore
from webapp.render import figure
from webapp.render.describe import describe_map
from webapp.maps import MAPS

MARKER = ".parkmap-export"  # tells a later export this folder is ours to replace
LANGS = ("zh", "en")
LANG_NAMES = {"zh": "中文", "en": "English"}
COMPARE = "compare"  # file stem of the default layout comparison


class ExportError(ParkmapError):
    """The export cannot go where asked (not empty and not ours, not writable, ...)."""


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ExportError(f"{out} is not empty and not an earlier parkmap export; "
                          "choose a new or empty folder")


def map_page_name(map_id: str, lang: str) -> str:
    return f"maps/{map_id}.{lang}.html"


def figure_name(map_id: str, lang: str) -> str:
    return f"figures/{map_id}.{lang}.png"


def export_site(out: str | Path, *, layers_dir: str | Path = LAYERS_DIR,
                options: figure.FigureOptions = figure.FigureOptions(),
                log: Callable[[str], None] = print) -> Path:
    """Write the site to ``out``; ``log`` gets one progress line per file group."""
    out = Path(out).resolve()
    _check_target(out)
    store = LayerStore(layers_dir)
    store.index()  # fails early, with the hint to run `parkmap build`, if nothing is built
    # a fresh hidden sibling (same file system, so the final move is a rename): never a
    # folder someone else made, which a fixed name could be
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    except OSError as exc:
        raise ExportError(f"cannot write beside {out}: {exc.strerror or exc}") from None
    from webapp import create_app

    app = create_app({"LAYERS_DIR": str(store.dir)})  # for its CSV download and templates
    steps = [("assets", lambda: _assets(stage)), ("data", lambda: _data(stage, store, app))]
    for m in MAPS:
        for lang in LANGS:
            steps.append((map_page_name(m.id, lang), lambda m=m, lang=lang: _map_page(stage, m, lang, store)))
            steps.append((figure_name(m.id, lang), lambda m=m, lang=lang: _figure(
                stage, m.id, lang, figure.map_content(m.id, store), options)))
    for lang in LANGS:
        steps.append((map_page_name(COMPARE, lang), lambda lang=lang: _compare_page(stage, lang, store, app)))
        steps.append((figure_name(COMPARE, lang), lambda lang=lang: _figure(
            stage, COMPARE, lang, figure.content_for(COMPARE, store), options)))
    steps.append(("index.html", lambda: _index(stage, store)))
    try:
        for i, (what, step) in enumerate(steps, 1):
            started = time.perf_counter()
            step()
            log(f"[{i}/{len(steps)}] {what} ({time.perf_counter() - started:.1f} s)")
        (stage / MARKER).write_text("written by `parkmap export`; replaced by the next one\n",
                                    encoding="utf-8")
        _check_target(out)  # still empty or ours after the minutes the steps took
        old = None
        if out.exists():  # set the earlier export aside first: out is never missing
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            out.replace(old / "site")
        stage.replace(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return out


def _assets(stage: Path) -> None:
    from webapp.pages.assets import asset_bytes, bundle

    for rel in bundle():
        dst = stage / "assets" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(asset_bytes(rel))  # as the live site serves it


def _data(stage: Path, store: LayerStore, app) -> None:
    data = stage / "data"
    data.mkdir()
    for spec in all_layers():
        (data / f"{spec.id}.geojson").write_text(store.geojson_text(spec.id), encoding="utf-8")
    shutil.copyfile(store.dir / INDEX_NAME, data / INDEX_NAME)
    # the same bytes the server's download gives
    resp = app.test_client().get("/api/parks.csv")
    if resp.status_code != 200:
        raise ExportError(f"parks.csv could not be made (HTTP {resp.status_code})")
    (data / "parks.csv").write_bytes(resp.data)


def _inline(store: LayerStore):
    """Pages of the export: GeoJSON inline, assets linked relatively from maps/."""
    from webapp.render.compose import Delivery

    return Delivery(data="inline", store=store, asset_url=lambda p: f"../assets/{p}")


def _title(m, lang: str) -> str:
    return m.title_zh if lang == "zh" else m.title_en


def _map_page(stage: Path, m, lang: str, store: LayerStore) -> None:
    from webapp.render.compose import MapRequest, compose, render_parts

    title = _title(m, lang)
    folium_map = compose(MapRequest(m.layers, lang=lang, view=(*m.center, m.zoom), title=title),
                         _inline(store))
    parts = render_parts(folium_map)
    other = "en" if lang == "zh" else "zh"
    home = "地图列表" if lang == "zh" else "All maps"
    png = "静态图（PNG）" if lang == "zh" else "Static figure (PNG)"
    html = f"""<!doctype html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · parkmap</title>
{parts['header']}
</head>
<body class="pm-page">
<header class="pm-bar">
  <a class="pm-home" href="../index.html">parkmap</a>
  <h1>{escape(title)}</h1>
  <nav><a href="../index.html">{home}</a>
  <a href="{m.id}.{other}.html" lang="{other}">{LANG_NAMES[other]}</a>
  <a href="../{figure_name(m.id, lang)}">{png}</a></nav>
</header>
<div class="pm-main"><div class="pm-mapbox">{parts['html']}</div></div>
<p class="pm-export-desc" style="margin:.3rem .8rem;font-size:.8rem">{escape(describe_map(m.id, store, lang))}</p>
<script>
{parts['script']}
</script>
</body>
</html>
"""
    _write(stage / map_page_name(m.id, lang), html)


def _compare_page(stage: Path, lang: str, store: LayerStore, app) -> None:
    """The compare page's default pair (webapp.render.compare), data inline, without live-site links."""
    from webapp.layouts import DEFAULT_LEFT, DEFAULT_RIGHT
    from webapp.render.compare import CompareRequest, render_compare

    with app.app_context():
        html = render_compare(CompareRequest(DEFAULT_LEFT, DEFAULT_RIGHT, lang=lang, links=False),
                              _inline(store))
    _write(stage / map_page_name(COMPARE, lang), html)


def _figure(stage: Path, name: str, lang: str, content: figure.Content,
            options: figure.FigureOptions) -> None:
    opts = figure.FigureOptions(options.width_mm, options.height_mm, options.dpi, lang, "png")
    path = stage / figure_name(name, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(figure.render(content, opts))


def _index(stage: Path, store: LayerStore) -> None:
    built = store.index().get("generated", "")
    cards = []
    for m in MAPS:
        desc = {lang: escape(describe_map(m.id, store, lang)) for lang in ("zh", "en")}
        links = " · ".join(
            f'<a href="{map_page_name(m.id, lang)}" lang="{lang}">{LANG_NAMES[lang]}</a>'
            f' (<a href="{figure_name(m.id, lang)}">PNG</a>)' for lang in LANGS)
        cards.append(f"""<li class="pm-map-card" id="map-{m.id}">
  <h2><a href="{map_page_name(m.id, 'zh')}">{escape(m.title_zh)}</a></h2>
  <p lang="en"><a href="{map_page_name(m.id, 'en')}">{escape(m.title_en)}</a></p>
  <a href="{map_page_name(m.id, 'zh')}"><img src="{figure_name(m.id, 'zh')}" width="420"
     alt="{desc['zh']}" style="max-width:100%;height:auto"></a>
  <p>{desc['zh']}</p>
  <p lang="en">{desc['en']}</p>
  <p>{links}</p>
</li>""")
    compare = figure.content_for(COMPARE, store)
    links = " · ".join(f'<a href="{map_page_name(COMPARE, lang)}" lang="{lang}">{LANG_NAMES[lang]}</a>'
                       f' (<a href="{figure_name(COMPARE, lang)}">PNG</a>)' for lang in LANGS)
    cards.append(f"""<li class="pm-map-card" id="map-{COMPARE}">
  <h2><a href="{map_page_name(COMPARE, 'zh')}">{escape(compare.title_zh)}</a></h2>
  <p lang="en"><a href="{map_page_name(COMPARE, 'en')}">{escape(compare.title_en)}</a></p>
  <a href="{map_page_name(COMPARE, 'zh')}"><img src="{figure_name(COMPARE, 'zh')}" width="420"
     alt="{escape(compare.title_zh)}" style="max-width:100%;height:auto"></a>
  <p>{links}</p>
</li>""")
    rows = [f'<li><a href="data/{s.id}.geojson">{s.id}.geojson</a> — {escape(s.title_zh)} / '
            f'{escape(s.title_en)}; {escape(s.license)}; {escape(s.attribution)}</li>'
            for s in all_layers()]
    rows.append('<li><a href="data/parks.csv">parks.csv</a> — 园区表 / parks table (CSV, UTF-8)</li>')
    rows.append(f'<li><a href="data/{INDEX_NAME}">{INDEX_NAME}</a> — 图层元数据 / layer metadata</li>')
    html = f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>上海在线新经济空间规划地图 · parkmap</title>
<link rel="stylesheet" href="assets/static/parkmap.css">
</head>
<body class="pm-doc">
<header class="pm-bar"><a class="pm-home" href="index.html">parkmap</a></header>
<main class="pm-content">
<h1>上海在线新经济空间规划地图</h1>
<p lang="en">Shanghai's online-new-economy spatial plans on a map — offline copy.</p>
<ul class="pm-maps">
{chr(10).join(cards)}
</ul>
<h2>数据下载 / Downloads</h2>
<ul>
{chr(10).join(rows)}
</ul>
<p><small>{escape(f'图层构建于 / layers built {built}') if built else ''}</small></p>
</main>
</body>
</html>
"""
    _write(stage / "index.html", html)


def _write(path: Path, text: str | Markup) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(text), encoding="utf-8")

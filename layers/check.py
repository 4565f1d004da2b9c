"""`parkmap check`: validate the sources and the built layers; returns a list of problems.

Generic checks live here; a layer module may add its own by defining
``check(gdf, layers) -> list[str]`` where ``layers`` maps layer id -> built GeoDataFrame.
"""
from __future__ import annotations

from importlib import import_module
from pathlib import Path

import geopandas as gpd
import pandas as pd

from geo.crs import METRIC_CRS
from geo.geojson_io import dumps, to_feature_collection
from layers.registry import all_layers
from layers.sources import LAYERS_DIR, SOURCES_DIR, BuildContext, SourceError
from layers.spec import CONFIDENCES, DRAWN_PROPERTIES, REQUIRED_PROPERTIES
from layers.store import LayerStore

INSIDE_TOLERANCE_M = 30.0  # boundary sources and OSM disagree by a few metres


def _listed_sources(sources_dir: Path) -> list[str]:
    problems = []
    manifest = sources_dir / "SOURCES.md"
    if not manifest.is_file():
        return [f"{manifest} missing: every source file must be documented"]
    text = manifest.read_text(encoding="utf-8")
    for p in sorted(sources_dir.rglob("*")):
        if p.is_file() and p.name != "SOURCES.md" and p.name not in text:
            problems.append(f"{p.relative_to(sources_dir)}: not listed in SOURCES.md")
    return problems


def _feature_problems(spec, gdf: gpd.GeoDataFrame) -> list[str]:
    problems = []
    missing = [c for c in REQUIRED_PROPERTIES if c not in gdf.columns]
    if missing:
        return [f"{spec.id}: missing properties {', '.join(missing)}"]
    for _, row in gdf.iterrows():
        where = f"{spec.id}/{row['id']}"
        for col in ("id", "name_zh", "name_en", "kind", "source"):
            if row[col] is None or (isinstance(row[col], float) and pd.isna(row[col])) or row[col] == "":
                problems.append(f"{where}: empty {col}")
        geom = row.geometry
        if "confidence" in gdf.columns and pd.notna(row.get("confidence")):
            conf = row["confidence"]
            if conf not in CONFIDENCES:
                problems.append(f"{where}: confidence {conf!r} not one of {CONFIDENCES}")
            if conf != "unlocated":
                for col in DRAWN_PROPERTIES:
                    if col not in gdf.columns or not row.get(col):
                        problems.append(f"{where}: drawn feature without {col}")
            if (conf == "unlocated") != (geom is None or geom.is_empty):
                problems.append(f"{where}: confidence {conf} but geometry is "
                                f"{'missing' if geom is None or geom.is_empty else 'present'}")
        if geom is not None and not geom.is_empty:
            if not geom.is_valid:
                problems.append(f"{where}: invalid geometry")
            minx, miny, maxx, maxy = geom.bounds
            if not (120.8 <= minx and maxx <= 122.2 and 30.6 <= miny and maxy <= 31.9):
                problems.append(f"{where}: outside Shanghai (bounds {geom.bounds}); lon/lat swapped?")
    dup = gdf["id"][gdf["id"].duplicated()].tolist()
    if dup:
        problems.append(f"{spec.id}: duplicate ids {dup}")
    return problems


def _inside_district(spec, gdf, districts) -> list[str]:
    if spec.id == "districts" or "district" not in gdf.columns:
        return []
    problems = []
    dm = districts.to_crs(METRIC_CRS).set_index("district")
    for _, row in gdf.to_crs(METRIC_CRS).iterrows():
        d, geom = row["district"], row.geometry
        if geom is None or geom.is_empty or d not in ("changning", "jingan") or d not in dm.index:
            continue
        if not geom.within(dm.loc[d].geometry.buffer(INSIDE_TOLERANCE_M)):
            problems.append(f"{spec.id}/{row['id']}: not inside its district {d}")
    return problems


def _fresh_build_problems(ctx: BuildContext, store: LayerStore) -> list[str]:
    """Build every layer from the sources (catches a missing or malformed source) and compare
    it with the built file (catches data/layers left stale after a source changed)."""
    problems = []
    for spec in all_layers():
        try:
            fresh = ctx.layer(spec.id)
        except SourceError as exc:
            problems.append(f"{spec.id}: cannot be built from its sources: {exc}")
            continue
        try:
            on_disk = store.geojson_text(spec.id)
        except SourceError:
            continue  # reported when the built layers are read
        if dumps(to_feature_collection(fresh, name=spec.id)) != on_disk.strip():
            problems.append(f"{spec.id}: built file differs from a fresh build of the sources "
                            f"(run `parkmap build`)")
    return problems


def check(layers_dir: str | Path = LAYERS_DIR, sources_dir: str | Path = SOURCES_DIR) -> list[str]:
    sources_dir, layers_dir = Path(sources_dir), Path(layers_dir)
    problems = _listed_sources(sources_dir)
    store = LayerStore(layers_dir)
    problems += _fresh_build_problems(BuildContext(sources_dir), store)
    built = {}
    for spec in all_layers():
        try:
            built[spec.id] = store.frame(spec.id)
        except SourceError as exc:
            problems.append(str(exc))
    ids_seen: dict[str, str] = {}
    for spec in all_layers():
        if spec.id not in built:
            continue
        gdf = built[spec.id]
        problems += _feature_problems(spec, gdf)
        if "id" in gdf.columns:
            for fid in gdf["id"]:
                if fid in ids_seen and ids_seen[fid] != spec.id:
                    problems.append(f"{spec.id}/{fid}: id also used in layer {ids_seen[fid]}")
                ids_seen[fid] = spec.id
        if "districts" in built and "district" in built["districts"].columns:
            problems += _inside_district(spec, gdf, built["districts"])
        extra = getattr(import_module(spec.build.__module__), "check", None)
        if extra is not None:
            try:
                problems += extra(gdf, built)
            except (KeyError, ValueError, AttributeError) as exc:
                problems.append(f"{spec.id}: layer check could not run ({exc!r})")
    return problems

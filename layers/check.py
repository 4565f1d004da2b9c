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
from layers.addresses import INDEX_NAME as ADDRESSES_NAME
from layers.places import address_index
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
    if spec.id == "districts" or spec.admin_boundaries or "district" not in gdf.columns:
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
    try:
        fresh = dumps(to_feature_collection(address_index(ctx).to_frame(), name="addresses"))
        on_disk = (store.dir / ADDRESSES_NAME).read_text(encoding="utf-8").strip()
        if fresh != on_disk:
            problems.append(f"{ADDRESSES_NAME}: differs from a fresh build of the sources "
                            "(run `parkmap build`)")
    except SourceError as exc:
        problems.append(f"{ADDRESSES_NAME}: cannot be built from its sources: {exc}")
    except OSError:
        problems.append(f"{ADDRESSES_NAME}: missing in {store.dir} (run `parkmap build`)")
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


# --- `parkmap check --places`: how precisely the named places are located ----------------------

GRAINS = ("zone", "subdistrict", "layout", "place", "district")  # area:<grain>=... in places.csv
PLACE_COLUMNS = ("building", "street", *(f"area:{g}" for g in GRAINS), "unlocated")
DISTRICT_LABELS = {"changning": "长宁 Changning", "jingan": "静安 Jing'an"}


def place_features(store: LayerStore) -> gpd.GeoDataFrame:
    """Every named place as built: the parks, and the 一园 drawn in jingan_layout."""
    parks = store.frame("parks")
    layout = store.frame("jingan_layout")
    park = layout[layout["kind"] == "park"]
    return gpd.GeoDataFrame(pd.concat([parks, park], ignore_index=True), crs=parks.crs)


def confidence_class(props) -> str:
    """One of PLACE_COLUMNS for a place's properties."""
    if props["confidence"] == "area":
        return "area:" + str(props.get("area_ref") or "?").split("=", 1)[0]
    return props["confidence"]


def place_table(store: LayerStore) -> dict[str, dict[str, int]]:
    """Counts per district (as the plans name it) and confidence class."""
    table = {d: dict.fromkeys(PLACE_COLUMNS, 0) for d in DISTRICT_LABELS}
    for _, r in place_features(store).iterrows():
        row = table.setdefault(r["district"], dict.fromkeys(PLACE_COLUMNS, 0))
        cls = confidence_class(r)
        row[cls] = row.get(cls, 0) + 1
    return table


def four_sided(store: LayerStore) -> list[dict]:
    """Places with a 四至 placement: drawn area vs official, or why it is not drawn."""
    out = []
    for _, r in place_features(store).iterrows():
        official = r.get("area_km2_official")
        g = r.geometry
        drawn = (g is not None and not g.is_empty and g.geom_type in ("Polygon", "MultiPolygon"))
        if not drawn and "四至 street(s)" not in str(r["basis"]):
            continue
        item = {"id": r["id"], "name_zh": r["name_zh"], "official_km2": official,
                "drawn_km2": round(r["area_km2"], 3) if drawn else None}
        item["ratio"] = (round(item["drawn_km2"] / official, 3)
                         if drawn and official and official == official else None)
        if not drawn:
            item["missing"] = str(r["basis"]).split(". Instead:")[0]
        out.append(item)
    return out


def places_report(store: LayerStore) -> str:
    """The confidence table and the 四至 comparison, as text (`parkmap check --places`)."""
    table = place_table(store)
    head = ["district", *PLACE_COLUMNS, "total"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    totals = dict.fromkeys(PLACE_COLUMNS, 0)
    for d, row in table.items():
        lines.append("| " + " | ".join([DISTRICT_LABELS.get(d, d), *(str(row[c]) for c in PLACE_COLUMNS),
                                        str(sum(row.values()))]) + " |")
        for c in PLACE_COLUMNS:
            totals[c] += row[c]
    lines.append("| " + " | ".join(["all", *(str(totals[c]) for c in PLACE_COLUMNS),
                                    str(sum(totals.values()))]) + " |")
    from layers.subdistricts import overlaps

    iou = overlaps(store.frame("subdistricts"), store.frame("districts"))
    lines += ["", "Subdistricts vs district boundary (intersection over union of their union): "
              + ", ".join(f"{DISTRICT_LABELS.get(d, d)} {v:.3f}" for d, v in iou.items())]
    lines += ["", "四至 (boundary streets):"]
    for item in four_sided(store):
        if item["drawn_km2"] is not None:
            ratio = f", ratio {item['ratio']:.3f}" if item["ratio"] is not None else ""
            lines.append(f"- {item['name_zh']} ({item['id']}): drawn {item['drawn_km2']:.3f} km², "
                         f"official {item['official_km2']} km²{ratio}")
        else:
            lines.append(f"- {item['name_zh']} ({item['id']}): not drawn: {item['missing']}")
    return "\n".join(lines)

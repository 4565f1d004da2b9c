"""`parkmap build`: every layer to <out>/<id>.geojson, the address index (addresses.geojson,
for the app's address search), and a layers.json index (written last: its change tells a
running app that the layers were rebuilt)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from geo.geojson_io import write_geojson
from layers.addresses import INDEX_NAME as ADDRESSES_NAME
from layers.places import address_index
from layers.registry import all_layers
from layers.sources import LAYERS_DIR, SOURCES_DIR, BuildContext

INDEX_NAME = "layers.json"


def build_all(out_dir: str | Path = LAYERS_DIR, sources_dir: str | Path = SOURCES_DIR,
              log=print) -> list[Path]:
    """Build every layer in registry order; nothing is written unless all layers build."""
    ctx = BuildContext(sources_dir)
    built = []
    for spec in all_layers():
        gdf = ctx.layer(spec.id)
        built.append((spec, gdf))
        log(f"built {spec.id}: {len(gdf)} features")
    addresses = address_index(ctx).to_frame()
    out_dir = Path(out_dir)
    written = [write_geojson(addresses, out_dir / ADDRESSES_NAME, name="addresses")]
    index = {"generated": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "layers": []}
    for spec, gdf in built:
        path = write_geojson(gdf, out_dir / f"{spec.id}.geojson", name=spec.id)
        written.append(path)
        meta = spec.metadata()
        meta.update(file=path.name, feature_count=len(gdf),
                    bounds=[round(v, 6) for v in gdf.total_bounds] if len(gdf.geometry.dropna()) else None)
        index["layers"].append(meta)
    idx = out_dir / INDEX_NAME
    tmp = idx.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(index, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    tmp.replace(idx)
    written.append(idx)
    return written

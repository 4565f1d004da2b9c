"""`parkmap suggestions list|show|accept|reject`: the operator reviews suggested locations.

Accepting appends the location, its precision and its source to
data/sources/place_corrections.csv; the next `parkmap build` places the place with it.
Rejecting keeps the reason. Neither changes a suggestion that was reviewed already.
"""
from __future__ import annotations

import getpass
import sys
from pathlib import Path

from shapely import wkt
from shapely.geometry import shape

from geo.crs import distance_m
from geo.errors import ParkmapError
from layers.places import append_correction
from layers.sources import LAYERS_DIR, SOURCES_DIR
from layers.store import LayerStore
from webapp.commands.report import write_output
from webapp.places import named_places
from webapp.render import figure
from webapp.stores.files import utc_now
from webapp.stores.suggestions import SuggestionConflict, SuggestionStore


def register(sub) -> None:
    s = sub.add_parser("suggestions", help="review suggested place locations")
    ss = s.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(p, *, layers=False, sources=False):
        p.add_argument("--instance", type=Path, default=Path("instance"),
                       help="folder holding uploaded drafts and suggestions (default instance)")
        if layers:
            p.add_argument("--layers", type=Path, default=LAYERS_DIR, help="built layers folder")
        if sources:
            p.add_argument("--sources", type=Path, default=SOURCES_DIR,
                           help=f"source folder with place_corrections.csv (default {SOURCES_DIR})")

    ls = ss.add_parser("list", help="suggestions, newest first")
    ls.add_argument("--status", choices=("pending", "accepted", "rejected", "all"),
                    default="pending")
    common(ls)
    ls.set_defaults(func=_list)

    sh = ss.add_parser("show", help="one suggestion in full, with a figure of it beside the "
                                    "place's current placement")
    sh.add_argument("id")
    sh.add_argument("--figure", type=Path,
                    help="write the figure here (.png or .svg; default "
                         "<instance>/suggestions/<id>.png)")
    common(sh, layers=True)
    sh.set_defaults(func=_show)

    ac = ss.add_parser("accept", help="append it to place_corrections.csv (then: parkmap build)")
    ac.add_argument("id")
    ac.add_argument("--by", default=None, help="who accepts (default: your user name)")
    common(ac, sources=True)
    ac.set_defaults(func=_accept)

    rj = ss.add_parser("reject", help="keep it out, with the reason")
    rj.add_argument("id")
    rj.add_argument("--why", required=True, help="the reason, kept with the suggestion")
    rj.add_argument("--by", default=None, help="who rejects (default: your user name)")
    common(rj)
    rj.set_defaults(func=_reject)


def _store(args) -> SuggestionStore:
    return SuggestionStore(args.instance / "suggestions")


def _where(record: dict) -> str:
    g = shape(record["geometry"])
    c = g if g.geom_type == "Point" else g.representative_point()
    what = "" if g.geom_type == "Point" else f"{g.geom_type} around "
    return f"{what}{c.x:.6f}, {c.y:.6f} (WGS84; given in {record['datum']})"


def _list(args) -> int:
    records = _store(args).list(None if args.status == "all" else args.status)
    for r in records:
        print(f"{r['id']}  {r['created']}  {r['status']:<8}  {r['place_id']}  "
              f"({r.get('place_name_zh') or ''})  {r['precision']}  {_where(r)}  "
              f"{(r.get('source_url') or r.get('quote') or '')[:60]}")
    print(f"{len(records)} suggestion(s)" + ("" if args.status == "all" else f" {args.status}"),
          file=sys.stderr)
    return 0


def _show(args) -> int:
    record = _store(args).get(args.id)
    store = LayerStore(args.layers)
    props, current = named_places(store).get(record["place_id"], ({}, None))
    lines = [f"suggestion {record['id']} ({record['status']}), {record['created']}",
             f"place:      {record['place_id']}  {record.get('place_name_zh') or ''} / "
             f"{record.get('place_name_en') or ''}",
             f"now:        {props.get('confidence', '?')}: {props.get('basis', '')}",
             f"suggested:  {record['precision']} at {_where(record)}"]
    if current is not None:
        lines.append(f"distance:   {distance_m(current, shape(record['geometry'])):,.0f} m from "
                     "the current placement")
    for key in ("address", "source_url", "quote", "note", "contact"):
        if record.get(key):
            lines.append(f"{key + ':':<11} {record[key]}")
    if record["status"] != "pending":
        lines.append(f"reviewed:   {record['status']} {record.get('reviewed_at')} by "
                     f"{record.get('reviewed_by')}" + (f": {record['reason']}"
                                                       if record.get("reason") else ""))
    out = args.figure or args.instance / "suggestions" / f"{record['id']}.png"
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in ("png", "svg"):
        raise ParkmapError(f"--figure {out}: give a .png or .svg file name")
    options = figure.FigureOptions(width_mm=240, height_mm=130, dpi=150, lang="zh", fmt=fmt)
    data = figure.render(figure.suggestion_content(record, store), options)
    write_output(out, data)
    lines.append(f"figure:     {out}")
    print("\n".join(lines))
    return 0


def _by(args) -> str:
    if args.by:
        return args.by.strip()[:100]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


def _accept(args) -> int:
    store = _store(args)
    record = store.get(args.id)
    if record["status"] != "pending":
        raise SuggestionConflict(f"suggestion {args.id} is already {record['status']}")
    by = _by(args)
    note = "; ".join(x for x in (record.get("note"), record.get("address") and
                                 f"address given: {record['address']}") if x)
    added = append_correction(args.sources, {
        "place_id": record["place_id"],
        "wkt": wkt.dumps(shape(record["geometry"]), rounding_precision=6),
        "precision": record["precision"], "source_url": record.get("source_url"),
        "quote": record.get("quote"), "note": note, "suggestion_id": record["id"],
        "accepted_by": by, "accepted_at": utc_now()})
    store.review(args.id, "accepted", by)
    where = args.sources / "place_corrections.csv"
    print(f"accepted {args.id}: {'appended to' if added else 'already in'} {where}; run "
          "`parkmap build` to place it")
    return 0


def _reject(args) -> int:
    why = args.why.strip()
    if not why:
        raise ParkmapError("--why: say why the suggestion is rejected")
    _store(args).review(args.id, "rejected", _by(args), why[:500])
    print(f"rejected {args.id}: {why[:500]}")
    return 0

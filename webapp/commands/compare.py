"""`parkmap compare LEFT RIGHT [--csv]`: the compare page's figures in the terminal."""
from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

from webapp import config as settings


def register(sub) -> None:
    defaults = settings.load()
    p = sub.add_parser("compare", help="figures of two layouts side by side (EPSG:32651)",
                       description="Layouts: changning_zones, jingan_layout, changning_2021, "
                                   "changning_2024, or draft:<id> for an uploaded draft.")
    p.add_argument("left", help="layout id, e.g. changning_zones")
    p.add_argument("right", help="layout id, e.g. jingan_layout or draft:<id>")
    p.add_argument("--csv", action="store_true", help="print CSV rows (as /api/compare.csv)")
    p.add_argument("--lang", choices=("zh", "en"), default="en", help="labels and definitions")
    p.add_argument("--layers", type=Path, default=Path(defaults["LAYERS_DIR"]),
                   help="built layers folder (default: the app's LAYERS_DIR)")
    p.add_argument("--instance", type=Path, default=Path(defaults["INSTANCE_DIR"]),
                   help="instance folder holding drafts/ (default: the app's INSTANCE_DIR)")
    p.set_defaults(func=_compare)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    fill = " " * max(0, width - _width(text))
    return fill + text if right else text + fill


def table(header: list[str], rows: list[list[str]], numeric_from: int = 1) -> str:
    """Rows as aligned text columns (CJK counted double width); numbers right-aligned."""
    widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for r in [header, *rows]:
        lines.append("  ".join(_pad(v, w, right=i >= numeric_from) for i, (v, w) in enumerate(zip(r, widths)))
                     .rstrip())
        if r is header:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _compare(args) -> int:
    from layers.store import LayerStore
    from webapp.render.compare import TEXT, compare_figures, compare_rows, csv_text, figure_table
    from webapp.stores.drafts import DraftStore
    from webapp.layouts import resolve

    store = LayerStore(args.layers)
    drafts = DraftStore(args.instance / "drafts")
    left, right = resolve(args.left, store, drafts), resolve(args.right, store, drafts)
    result = compare_figures(left, right, store, args.lang)
    if args.csv:
        sys.stdout.write(csv_text(compare_rows(result, args.lang)))
        return 0
    t, text = figure_table(result, args.lang), TEXT[args.lang]
    out = [f"{left.id}: {left.title(args.lang)}", f"{right.id}: {right.title(args.lang)}",
           f"CRS: {result['crs']}", ""]
    out.append(table([text["figure"], left.id, right.id],
                     [[r["label"], r["left"], r["right"]] for r in t["summary"]]
                     + [[r["label"], r["value"], ""] for r in t["overlap"]]))
    for side, layout in (("left", left), ("right", right)):
        out += ["", layout.title(args.lang)]
        out.append(table([text["unit"], text["area"], text["share"], text["parks"], text["per_km2"],
                          text["length"]],
                         [[u["name"], u["area"], u["share"], u["parks"], u["per_km2"], u["length"]]
                          for u in t["units"][side]]))
    out += ["", "Definitions:" if args.lang == "en" else "定义："]
    out += [f"- {d['label']}: {d['definition']}" for d in result["definitions"].values()]
    print("\n".join(out))
    return 0

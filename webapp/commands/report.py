"""`parkmap png`, `parkmap svg` (static figures) and `parkmap export` (static site)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from geo.errors import ParkmapError
from layers.sources import LAYERS_DIR
from webapp import config as settings
from webapp.render import figure


def register(sub) -> None:
    for fmt in figure.FORMATS:
        p = sub.add_parser(fmt, help=f"render a named map, comparison or draft as a static "
                                     f"{fmt.upper()}")
        p.add_argument("target", metavar="MAP",
                       help="named map id (changning, jingan, overview), layers:<id>,<id>, "
                            "compare, compare:<layout>,<layout>, or draft:<id>")
        p.add_argument("out", type=Path, metavar=f"OUT.{fmt}")
        _figure_options(p)
        p.set_defaults(func=_figure, fmt=fmt)

    e = sub.add_parser("export", help="write a static site (maps, figures, downloads) that "
                                      "works from disk with no network")
    e.add_argument("out", type=Path, metavar="OUT/", help="new or empty folder, or an earlier export")
    e.add_argument("--width", type=float, default=figure.DEFAULT_WIDTH_MM, metavar="MM",
                   help="figure width in mm")
    e.add_argument("--height", type=float, default=figure.DEFAULT_HEIGHT_MM, metavar="MM",
                   help="figure height in mm")
    e.add_argument("--dpi", type=int, default=figure.DEFAULT_DPI, help="figure resolution")
    e.add_argument("--layers", type=Path, default=LAYERS_DIR, metavar="DIR",
                   help=f"built layers to export (default {LAYERS_DIR})")
    e.set_defaults(func=_export)


def _figure_options(p) -> None:
    p.add_argument("--lang", choices=figure.LANGS, default="zh", help="label language (default zh)")
    p.add_argument("--width", type=float, default=figure.DEFAULT_WIDTH_MM, metavar="MM",
                   help=f"width in mm (default {figure.DEFAULT_WIDTH_MM:g}, A4 landscape)")
    p.add_argument("--height", type=float, default=figure.DEFAULT_HEIGHT_MM, metavar="MM",
                   help=f"height in mm (default {figure.DEFAULT_HEIGHT_MM:g})")
    p.add_argument("--dpi", type=int, default=figure.DEFAULT_DPI,
                   help=f"resolution (default {figure.DEFAULT_DPI})")
    p.add_argument("--layers", type=Path, default=LAYERS_DIR, metavar="DIR",
                   help=f"built layers to draw (default {LAYERS_DIR})")
    p.add_argument("--instance", type=Path, default=Path(settings.DEFAULTS["INSTANCE_DIR"]),
                   metavar="DIR", help="where the web app keeps uploaded drafts (for draft:<id>)")


class OutputError(ParkmapError):
    """The figure cannot be written where asked (a folder, no permission, ...)."""


def _check_out(path: Path) -> None:
    """Before the render: a folder given as OUT would fail only after it."""
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give a file name, e.g. {path / 'map.png'}")


def write_output(path: Path, data: bytes) -> None:
    """Atomic: a failed or interrupted run never leaves half an image (nor its temp file)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # its folder is not there (or not a folder) either
            pass
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _figure(args) -> int:
    from layers.store import LayerStore
    from webapp.stores.drafts import DraftStore

    options = figure.FigureOptions(width_mm=args.width, height_mm=args.height, dpi=args.dpi,
                                   lang=args.lang, fmt=args.fmt)
    _check_out(args.out)
    started = time.perf_counter()
    drafts = DraftStore(args.instance / "drafts")
    content = figure.content_for(args.target, LayerStore(args.layers), drafts=drafts)
    data = figure.render(content, options)
    write_output(args.out, data)
    w, h = options.pixels
    print(f"{args.out}: {args.fmt.upper()} {args.width:g}x{args.height:g} mm"
          + (f", {w}x{h} px at {args.dpi} dpi" if args.fmt == "png" else "")
          + f", {len(data) / 1024:.0f} KiB in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)
    print(args.out)
    return 0


def _export(args) -> int:
    from webapp.render.export import export_site

    options = figure.FigureOptions(width_mm=args.width, height_mm=args.height, dpi=args.dpi)
    started = time.perf_counter()
    out = export_site(args.out, layers_dir=args.layers, options=options,
                      log=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"exported in {time.perf_counter() - started:.0f} s; open {out / 'index.html'}",
          file=sys.stderr)
    print(out)
    return 0

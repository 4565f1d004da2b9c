"""`parkmap serve`: run the web app on the built layers (data/layers), no database, no network."""
from __future__ import annotations

import sys


def register(sub) -> None:
    s = sub.add_parser("serve", help="serve the interactive maps (Flask, offline)")
    s.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    s.add_argument("--layers", help="built layers folder (default: PARKMAP_LAYERS_DIR or data/layers)")
    s.add_argument("--debug", action="store_true", help="Flask debug mode (reloader, debugger): local only")
    s.set_defaults(func=_serve)


def _serve(args) -> int:
    from layers.store import store_for
    from webapp import create_app

    app = create_app({"LAYERS_DIR": args.layers} if args.layers else None)
    # Unbuilt or damaged layers would fail every map: say so now, naming the file (exit 2).
    store_for(app.config["LAYERS_DIR"]).validate()
    print(f"parkmap: serving {app.config['LAYERS_DIR']} on http://{args.host}:{args.port}/",
          file=sys.stderr)
    app.run(host=args.host, port=args.port, debug=args.debug, use_reloader=args.debug)
    return 0

"""`parkmap serve`: the web app on the built layers, in a production WSGI server (gunicorn);
`--dev` runs Flask's development server with its reloader instead.

gunicorn runs ``--workers`` processes (default: one per core) of ``--threads`` threads each
(gthread: keep-alive connections), loads the app once before forking (its layers are read and
checked once), stops gracefully on SIGTERM (requests in flight finish, within
``--graceful-timeout``), restarts a worker stuck past ``--timeout``, and writes an access log to
stderr. Without a database (PARKMAP_DATABASE_URL) drafts and suggestions stay in INSTANCE_DIR.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from gunicorn.app.base import BaseApplication


def register(sub) -> None:
    s = sub.add_parser("serve", help="serve the interactive maps (gunicorn; --dev: Flask's "
                                     "development server)")
    s.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    s.add_argument("--layers", help="built layers folder (default: PARKMAP_LAYERS_DIR or data/layers)")
    s.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="worker processes (default: one per core, here %(default)s)")
    s.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
    s.add_argument("--timeout", type=int, default=60,
                   help="seconds before a silent worker is restarted (default 60)")
    s.add_argument("--graceful-timeout", type=int, default=30,
                   help="seconds requests in flight get to finish on SIGTERM (default 30)")
    s.add_argument("--access-log", default="-",
                   help="access log file ('-': stderr, the default; '' for none)")
    s.add_argument("--dev", action="store_true",
                   help="Flask's development server with reloader and debugger: local use only")
    s.set_defaults(func=_serve)
    register_deploy(sub)


def _serve(args) -> int:
    from geo.errors import ParkmapError
    from layers.store import store_for
    from webapp import create_app

    for name in ("workers", "threads", "timeout", "graceful_timeout"):
        if getattr(args, name) < 1:
            raise ParkmapError(f"--{name.replace('_', '-')} must be at least 1")
    app = create_app({"LAYERS_DIR": args.layers} if args.layers else None)
    # Unbuilt or damaged layers would fail every map: say so now, naming the file (exit 2).
    store_for(app.config["LAYERS_DIR"]).validate()
    where = f"http://{args.host}:{args.port}/"
    if args.dev:
        print(f"parkmap: serving {app.config['LAYERS_DIR']} on {where} (development server)",
              file=sys.stderr)
        app.run(host=args.host, port=args.port, debug=True, use_reloader=True)
        return 0
    print(f"parkmap: serving {app.config['LAYERS_DIR']} on {where} with gunicorn "
          f"({args.workers} worker(s) x {args.threads} thread(s))", file=sys.stderr)
    _Gunicorn(app, {
        "bind": f"{args.host}:{args.port}", "workers": args.workers, "threads": args.threads,
        "worker_class": "gthread", "timeout": args.timeout,
        "graceful_timeout": args.graceful_timeout, "keepalive": 5,
        # gunicorn's "-" is stdout; ours is stderr, with its own messages
        "accesslog": ("/dev/stderr" if args.access_log == "-" else args.access_log) or None,
        "errorlog": "-", "preload_app": True,
        "proc_name": "parkmap", "forwarded_allow_ips": "127.0.0.1,::1",
    }).run()
    return 0


class _Gunicorn(BaseApplication):
    """gunicorn around an app object made here (its settings from this command, not argv)."""

    def __init__(self, app, options: dict):
        self.application, self.options = app, options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.application


# --- `parkmap deploy`: what a deployment behind nginx needs on disk ---------------------------

NGINX_TEMPLATE = Path(__file__).resolve().parent.parent.parent / "deploy" / "nginx" / "parkmap.conf"
NGINX_FIELDS = ("LISTEN", "SERVER_NAME", "UPSTREAMS", "CACHE_DIR", "CACHE_MAX_SIZE", "ASSETS_DIR",
                "MAX_BODY", "UPLOAD_RATE", "UPLOAD_BURST")


def register_deploy(sub) -> None:
    d = sub.add_parser("deploy", help="files for a deployment behind nginx")
    dd = d.add_subparsers(dest="what", required=True, metavar="WHAT")
    n = dd.add_parser("nginx", help="render deploy/nginx/parkmap.conf for this deployment")
    n.add_argument("--out", type=Path, required=True, help="the .conf file to write")
    n.add_argument("--listen", default="80", help="nginx's listen address (default 80)")
    n.add_argument("--server-name", default="_", help="server_name (default _: any)")
    n.add_argument("--upstream", action="append", required=True, metavar="HOST:PORT",
                   help="a `parkmap serve` to send requests to (repeat for several)")
    n.add_argument("--cache-dir", type=Path, required=True, help="nginx's proxy cache folder")
    n.add_argument("--cache-max-size", default="1g")
    n.add_argument("--assets-dir", type=Path, required=True,
                   help="the folder `parkmap deploy assets` wrote")
    n.add_argument("--max-body", default="3m", help="largest request body (default 3m: a 2 MB "
                                                     "draft with its form)")
    n.add_argument("--upload-rate", default="30r/m",
                   help="uploads and suggestions per client (nginx rate, default 30r/m)")
    n.add_argument("--upload-burst", type=int, default=10)
    n.set_defaults(func=_deploy_nginx)
    a = dd.add_parser("assets", help="write the content-hashed asset bundle (and .gz copies) "
                                     "for nginx to serve from disk")
    a.add_argument("out", type=Path, metavar="DIR")
    a.set_defaults(func=_deploy_assets)


def render_nginx(fields: dict[str, str]) -> str:
    text = NGINX_TEMPLATE.read_text(encoding="utf-8")
    for key in NGINX_FIELDS:
        text = text.replace("{{" + key + "}}", fields[key])
    return text


def _deploy_nginx(args) -> int:
    from geo.errors import ParkmapError

    if not re.fullmatch(r"\d+r/[sm]", args.upload_rate):
        raise ParkmapError(f"--upload-rate {args.upload_rate!r}: give an nginx rate like 30r/m")
    for up in args.upstream:
        if not re.fullmatch(r"[\w.\-\[\]:]+:\d+", up):
            raise ParkmapError(f"--upstream {up!r}: give HOST:PORT")
    text = render_nginx({
        "LISTEN": args.listen, "SERVER_NAME": args.server_name,
        "UPSTREAMS": "\n".join(f"    server {u};" for u in args.upstream),
        "CACHE_DIR": str(args.cache_dir.resolve()), "CACHE_MAX_SIZE": args.cache_max_size,
        "ASSETS_DIR": str(args.assets_dir.resolve()), "MAX_BODY": args.max_body,
        "UPLOAD_RATE": args.upload_rate, "UPLOAD_BURST": str(args.upload_burst)})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(args.out)
    return 0


def _deploy_assets(args) -> int:
    """<DIR>/<hash>/<path> for every bundled file (the URLs pages link), each with a .gz copy
    where it compresses (nginx's gzip_static)."""
    import gzip

    from webapp.pages.assets import asset_bytes, bundle, bundle_hash

    root = args.out / bundle_hash()
    for name in bundle():
        dst = root / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        data = asset_bytes(name)  # the bytes the app serves under this hash
        dst.write_bytes(data)
        if dst.suffix in (".js", ".css", ".svg"):
            dst.with_name(dst.name + ".gz").write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    print(root)
    return 0

"""Helpers shared by tests (imported as ``support``; pytest puts tests/ on the path): a live
server for the browser tests, and a tiny OSM extract writer for the OSM refresh tests."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from werkzeug.serving import make_server


class LiveServer:
    """A WSGI app on 127.0.0.1:<free port>, served from a thread (werkzeug's make_server).

    ``with LiveServer(app) as s: page.goto(s.base + "/")`` -- or call ``close()`` yourself.
    """

    def __init__(self, app):
        self.httpd = make_server("127.0.0.1", 0, app, threaded=True)
        self.base = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> "LiveServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


OLD_TS = "2026-08-01T00:00:00Z"  # object timestamps in a synthetic extract, unless given


class Extract:
    """A tiny OSM XML document: nodes, ways and relations with tags, written sorted by id."""

    def __init__(self, osm_base: str | None = None):
        self.nodes, self.ways, self.rels = {}, {}, {}
        self._next = 1
        self.osm_base = osm_base  # Overpass writes <meta osm_base="..."/>

    def node(self, lon, lat, ts=OLD_TS, **tags):
        nid = self._next
        self._next += 1
        self.nodes[nid] = (lon, lat, ts, tags)
        return nid

    def way(self, wid, refs, ts=OLD_TS, **tags):
        self.ways[wid] = (refs, ts, tags)
        return wid

    def square(self, wid, x0, y0, x1, y1, **tags):
        ns = [self.node(x0, y0), self.node(x1, y0), self.node(x1, y1), self.node(x0, y1)]
        return self.way(wid, ns + ns[:1], **tags)

    def rel(self, rid, members, **tags):
        self.rels[rid] = (members, tags)

    def xml(self) -> str:
        def tag_xml(tags):
            return "".join(f'<tag k="{k.replace("__", ":")}" v="{v}"/>' for k, v in tags.items())

        out = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
        if self.osm_base:
            out.append(f'<meta osm_base="{self.osm_base}"/>')
        for nid, (lon, lat, ts, tags) in sorted(self.nodes.items()):
            out.append(f'<node id="{nid}" version="1" timestamp="{ts}" lat="{lat}" lon="{lon}">'
                       f"{tag_xml(tags)}</node>")
        for wid, (refs, ts, tags) in sorted(self.ways.items()):
            nds = "".join(f'<nd ref="{r}"/>' for r in refs)
            out.append(f'<way id="{wid}" version="1" timestamp="{ts}">{nds}{tag_xml(tags)}</way>')
        for rid, (members, tags) in sorted(self.rels.items()):
            ms = "".join(f'<member type="{t}" ref="{r}" role="{role}"/>' for t, r, role in members)
            out.append(f'<relation id="{rid}" version="1" timestamp="{OLD_TS}">{ms}'
                       f"{tag_xml(tags)}</relation>")
        out.append("</osm>")
        return "\n".join(out) + "\n"



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer in {seconds} s")
        time.sleep(0.1)


class ParkmapServer:
    """`parkmap serve` (gunicorn) in a subprocess on a free port; its log in ``self.log``."""

    def __init__(self, layers, instance, *extra: str, env: dict | None = None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = Path(instance).parent / f"serve-{self.port}.log"
        Path(instance).mkdir(parents=True, exist_ok=True)
        environment = {**os.environ, "PARKMAP_INSTANCE_DIR": str(instance), **(env or {})}
        self._log_file = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "webapp.cli", "serve", "--port", str(self.port),
             "--layers", str(layers), *extra], env=environment,
            stdout=subprocess.DEVNULL, stderr=self._log_file)
        try:
            wait_http(self.base + "/healthz")
        except TimeoutError:
            self.stop()
            raise

    def stop(self, sig=signal.SIGTERM, timeout: float = 35.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()
        return self.proc.returncode


NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class Nginx:
    """Debian's nginx with a rendered parkmap.conf, in a temp folder (no root paths)."""

    def __init__(self, root: Path, site_conf: Path):
        self.root, self.port = Path(root), None
        for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        user = "user root;" if os.geteuid() == 0 else ""  # workers read this temp folder
        self.conf = self.root / "nginx.conf"
        self.conf.write_text(f"""{user}
worker_processes 1;
pid {self.root}/nginx.pid;
error_log {self.root}/logs/error.log warn;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {self.root}/logs/access.log;
    client_body_temp_path {self.root}/client_body;
    proxy_temp_path {self.root}/proxy;
    fastcgi_temp_path {self.root}/fastcgi;
    uwsgi_temp_path {self.root}/uwsgi;
    scgi_temp_path {self.root}/scgi;
    include {site_conf};
}}
""")
        if not Path(NGINX).is_file():
            raise RuntimeError(f"{NGINX} not found: install Debian's nginx (scripts/test does)")
        subprocess.run([NGINX, "-p", str(self.root), "-c", str(self.conf), "-t"], check=True,
                       capture_output=True)
        subprocess.run([NGINX, "-p", str(self.root), "-c", str(self.conf)], check=True)

    def stop(self) -> None:
        pid = self.root / "nginx.pid"
        if pid.is_file():
            try:
                os.kill(int(pid.read_text()), signal.SIGQUIT)
            except (OSError, ValueError):
                pass
            for _ in range(50):
                if not pid.exists():
                    break
                time.sleep(0.1)


def until(page, expression: str, arg=None, timeout_ms: int = 10_000) -> None:
    """Poll ``expression`` (a JS expression, or a function of ``arg``) in a page or frame until
    it is truthy: Playwright's wait_for_function evaluates a string with eval() whenever it has
    to poll, which our CSP forbids (and it then fails at random, when the first try is false)."""
    import time

    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        if page.evaluate(expression, arg) if arg is not None else page.evaluate(expression):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"never true within {timeout_ms} ms: {expression}")
        time.sleep(0.05)

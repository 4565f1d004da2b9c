"""Helpers shared by the browser tests (imported as ``support``; pytest puts tests/ on the path)."""
from __future__ import annotations

import threading

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

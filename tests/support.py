"""Helpers shared by tests (imported as ``support``; pytest puts tests/ on the path): a live
server for the browser tests, and a tiny OSM extract writer for the OSM refresh tests."""
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

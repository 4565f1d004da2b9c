"""One error convention for every route: status + user-safe message, as JSON or a small page.

JSON when the client asked for it (an ``/api/`` path, a ``.json``/``.geojson``/``.csv`` path, or
an Accept header preferring JSON); otherwise HTML. Unexpected exceptions become a plain 500
without a traceback (logged server-side).
"""
from __future__ import annotations

from flask import Flask, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from geo.errors import ParkmapError

_DATA_SUFFIXES = (".json", ".geojson", ".csv")


def wants_json() -> bool:
    path = request.path
    if path.startswith("/api/") or path.endswith(_DATA_SUFFIXES):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, message: str):
    if wants_json():
        resp = jsonify(error=message, status=status)
    else:
        resp = make_response(render_template("error.html", status=status, message=message))
    resp.status_code = status
    resp.headers["Cache-Control"] = "no-store"
    resp.vary.add("Accept")  # the same error is JSON or a page, as the client asked
    return resp


def register(app: Flask) -> None:
    @app.errorhandler(ParkmapError)
    def _parkmap_error(exc: ParkmapError):
        if exc.status >= 500:
            app.logger.error("server-side data problem: %s", exc)
        resp = error_response(exc.status, str(exc))
        if getattr(exc, "retry_after", None):
            resp.headers["Retry-After"] = str(exc.retry_after)
        return resp

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        resp = error_response(exc.code or 500, exc.description or exc.name)
        if exc.code == 405 and exc.valid_methods:
            resp.headers["Allow"] = ", ".join(exc.valid_methods)
        return resp

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s", request.path)
        return error_response(500, "internal error; the server log has the details")

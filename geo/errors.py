"""The one base for errors whose message is meant for the user (CLI line or HTTP 4xx body)."""


class ParkmapError(Exception):
    """An error with a user-safe message. ``status`` is the HTTP status it maps to."""

    status = 400

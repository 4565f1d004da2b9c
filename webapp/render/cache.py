"""A small thread-safe LRU for composed pages and rendered figures: make once, serve many."""
from __future__ import annotations

from collections import OrderedDict
from threading import Lock

from flask import current_app


class PageCache:
    """Values (HTML text or image bytes) by key; the least recently used go past ``size``."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[tuple, object] = OrderedDict()
        self._lock = Lock()

    def get(self, key: tuple, make):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


def app_cache(name: str, size: int) -> PageCache:
    """The current app's cache called ``name`` (made on first use)."""
    ext = current_app.extensions
    key = "parkmap." + name
    if key not in ext:
        ext[key] = PageCache(size)
    return ext[key]

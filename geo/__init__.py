"""Geometry helpers: datums (WGS84/GCJ-02/BD-09), metric CRS, GeoJSON I/O."""

"""`parkmap db init|upgrade|load|dump-drafts|load-drafts`: the PostgreSQL + PostGIS side.

- ``init`` / ``upgrade``: make the schema the drafts and suggestions stores use, or bring it up
  to date (both idempotent; versioned migrations in webapp/stores/postgres.py).
- ``load``: every built layer as a table ``parkmap_layers.layer_<id>`` (one row per feature,
  each property a column, ``geom geometry(Geometry, 4326)`` with a GiST index) for QGIS or
  ArcGIS; all tables replaced in one transaction, so readers see the old set or the new.
- ``dump-drafts DIR`` / ``load-drafts DIR``: drafts from the database into a file store folder
  (the layout webapp/stores/drafts.py writes) and back, nothing lost: ids, names, token
  hashes, geometry, creation times, original uploads, every metadata field. Drafts already
  there are skipped, and said so.

Every command takes ``--database-url`` (default: PARKMAP_DATABASE_URL).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from geo.errors import ParkmapError
from layers.sources import LAYERS_DIR

LAYERS_SCHEMA = "parkmap_layers"
LOAD_LOCK = 0x70617233  # pg_advisory_xact_lock key: one `db load` at a time


class NoDatabase(ParkmapError):
    """No database named (or one that cannot be used): one line, exit 2."""


def register(sub) -> None:
    d = sub.add_parser("db", help="PostgreSQL + PostGIS: schema, layers as tables, moving drafts")
    dd = d.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(p):
        p.add_argument("--database-url", metavar="URL", default=None,
                       help="postgresql://user@host:port/dbname (default: PARKMAP_DATABASE_URL)")

    p = dd.add_parser("init", help="create the schema for drafts and suggestions (idempotent)")
    common(p)
    p.set_defaults(func=_init)
    p = dd.add_parser("upgrade", help="apply pending schema migrations (idempotent); prints "
                                      "the version")
    common(p)
    p.set_defaults(func=_upgrade)
    p = dd.add_parser("load", help=f"every built layer as a PostGIS table {LAYERS_SCHEMA}.layer_<id> "
                                   "(replaced in one transaction)")
    p.add_argument("--layers", type=Path, default=LAYERS_DIR,
                   help=f"built layers folder (default {LAYERS_DIR})")
    common(p)
    p.set_defaults(func=_load_layers)
    p = dd.add_parser("dump-drafts", help="write every draft in the database into a file store "
                                          "folder (as INSTANCE_DIR/drafts)")
    p.add_argument("dir", type=Path, metavar="DIR")
    common(p)
    p.set_defaults(func=_dump_drafts)
    p = dd.add_parser("load-drafts", help="load the drafts of a file store folder into the "
                                          "database (ids already there are skipped)")
    p.add_argument("dir", type=Path, metavar="DIR")
    common(p)
    p.set_defaults(func=_load_drafts)


def _db_errors(func):
    """A database error from a command is one line (exit 2), never a traceback."""
    import functools

    @functools.wraps(func)
    def run(args) -> int:
        import psycopg

        try:
            return func(args)
        except psycopg.OperationalError as exc:
            raise NoDatabase(f"database unreachable: {_one_line(exc)}") from None
        except psycopg.Error as exc:
            raise NoDatabase(f"database error: {_one_line(exc)}") from None
    return run


def _url(args) -> str:
    url = args.database_url or os.environ.get("PARKMAP_DATABASE_URL", "")
    if not url:
        raise NoDatabase("no database: give --database-url postgresql://... or set "
                         "PARKMAP_DATABASE_URL")
    return url


def _connect(args):
    from webapp.stores.postgres import connect

    return connect(_url(args))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or exc.__class__.__name__


def _migrated(conn) -> tuple[int, list[int]]:
    import psycopg

    from webapp.stores.postgres import migrate

    try:
        return migrate(conn)
    except psycopg.Error as exc:
        raise NoDatabase(f"the schema cannot be made: {_one_line(exc)}") from None


# --- init / upgrade -------------------------------------------------------------------------

@_db_errors
def _init(args) -> int:
    from webapp.stores.postgres import _safe_url

    with _connect(args) as conn:
        version, applied = _migrated(conn)
    print(f"{_safe_url(_url(args))}: schema version {version} "
          + ("(created)" if applied else "(already there)"))
    return 0


@_db_errors
def _upgrade(args) -> int:
    from webapp.stores.postgres import schema_version

    with _connect(args) as conn:
        before = schema_version(conn)
        version, applied = _migrated(conn)
    if applied:
        print(f"schema version {version} (was {before}; applied {', '.join(map(str, applied))})")
    else:
        print(f"schema version {version} (up to date)")
    return 0


# --- layers as tables -----------------------------------------------------------------------

def column_type(values: list) -> str:
    """The PostgreSQL type for one property's values (None left out): boolean, bigint,
    double precision, text, or jsonb (lists, objects, and mixed kinds, kept as they are)."""
    seen = [v for v in values if v is not None]
    if not seen:
        return "text"
    if all(isinstance(v, bool) for v in seen):
        return "boolean"
    if any(isinstance(v, bool) for v in seen):
        return "jsonb"
    if all(isinstance(v, int) for v in seen):
        return "bigint" if all(-2**63 <= v < 2**63 for v in seen) else "jsonb"
    if all(isinstance(v, (int, float)) for v in seen):
        return "double precision"
    if all(isinstance(v, str) for v in seen):
        return "text"
    return "jsonb"


def _layer_features(path: Path) -> list[dict]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return [f for f in doc.get("features") or [] if isinstance(f, dict)]


def layer_table(layer_id: str) -> str:
    return f"layer_{layer_id}"


@_db_errors
def _load_layers(args) -> int:
    from psycopg import sql
    from psycopg.types.json import Jsonb

    from layers.store import LayerStore
    from webapp.stores.postgres import ewkb

    _url(args)
    layers_dir = args.layers
    LayerStore(layers_dir).validate()  # LayersUnavailable (one line) unless the build is whole
    index = json.loads((layers_dir / "layers.json").read_text(encoding="utf-8"))
    entries = [e for e in index.get("layers", []) if isinstance(e, dict) and e.get("id")]
    schema = sql.Identifier(LAYERS_SCHEMA)
    done = []
    with _connect(args) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOAD_LOCK,))
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
        wanted = {layer_table(e["id"]) for e in entries}
        for (old,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE "
                "'layer\\_%%' ORDER BY 1", (LAYERS_SCHEMA,)).fetchall():
            if old not in wanted:
                conn.execute(sql.SQL("DROP TABLE {}.{}").format(schema, sql.Identifier(old)))
                print(f"{LAYERS_SCHEMA}.{old}: dropped (no longer built)", file=sys.stderr)
        for entry in entries:
            layer_id = entry["id"]
            feats = _layer_features(layers_dir / f"{layer_id}.geojson")
            props = [f.get("properties") or {} for f in feats]
            names: list[str] = []
            for p in props:
                names.extend(k for k in p if k not in names)
            ids = [p.get("id") for p in props]
            if "id" not in names or any(not isinstance(i, str) or not i for i in ids):
                raise NoDatabase(f"{layer_id}: every feature needs an id (run `parkmap check`)")
            if len(set(ids)) != len(ids):
                raise NoDatabase(f"{layer_id}: feature ids repeat (run `parkmap check`)")
            if "geom" in names:
                raise NoDatabase(f"{layer_id}: a property is called geom, the geometry column")
            names.remove("id")
            names.insert(0, "id")
            types = {n: column_type([p.get(n) for p in props]) for n in names}
            table = sql.Identifier(layer_table(layer_id))
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(schema, table))
            conn.execute(sql.SQL("CREATE TABLE {}.{} ({}, geom geometry(Geometry, 4326), "
                                 "PRIMARY KEY (id))").format(
                schema, table, sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(types[n])) for n in names)))
            copy_sql = sql.SQL("COPY {}.{} ({}, geom) FROM STDIN").format(
                schema, table, sql.SQL(", ").join(map(sql.Identifier, names)))
            with conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for p, f in zip(props, feats):
                    row = [p.get(n) for n in names]
                    row = [Jsonb(v) if types[n] == "jsonb" and v is not None else v
                           for n, v in zip(names, row)]
                    copy.write_row((*row, ewkb(f.get("geometry"))))
            conn.execute(sql.SQL("CREATE INDEX {} ON {}.{} USING gist (geom)").format(
                sql.Identifier(f"{layer_table(layer_id)}_geom"), schema, table))
            comment = " — ".join(str(x) for x in (
                entry.get("title_en"), entry.get("title_zh"), entry.get("attribution"),
                entry.get("license"), f"parkmap build {index.get('generated', '')}".strip())
                if x)
            conn.execute(sql.SQL("COMMENT ON TABLE {}.{} IS {}").format(
                schema, table, sql.Literal(comment)))
            conn.execute(sql.SQL("ANALYZE {}.{}").format(schema, table))
            done.append((layer_id, len(feats), len(names) + 1))
    for layer_id, rows, cols in done:
        print(f"{LAYERS_SCHEMA}.{layer_table(layer_id)}: {rows} row(s), {cols} column(s)")
    return 0


# --- drafts between a folder and the database -----------------------------------------------

def draft_text(meta: dict, features: list[dict]) -> str:
    """A stored draft's file, as webapp/stores/drafts.py writes it."""
    from geo.geojson_io import dumps

    return dumps({"type": "FeatureCollection", "name": f"draft:{meta['id']}", "draft": meta,
                  "features": features}) + "\n"


def _exact(geometry):
    """A geometry as GeoJSON with its coordinates as stored (no rounding: nothing lost)."""
    if geometry is None:
        return None
    return json.loads(json.dumps(geometry))  # tuples -> lists


@_db_errors
def _dump_drafts(args) -> int:
    from webapp.stores.drafts import DraftStore, _meta, write_atomic_bytes
    from webapp.stores.files import write_atomic
    from webapp.stores.postgres import read_draft_rows

    _url(args)
    folder = DraftStore(args.dir)
    written = skipped = bad = 0
    with _connect(args) as conn:
        _migrated(conn)
        ids = [r[0] for r in conn.execute("SELECT id FROM drafts ORDER BY created, seq")]
        with folder._locked():
            entries = folder._entries()
            for draft_id in ids:
                if draft_id in entries or (args.dir / f"{draft_id}.geojson").exists():
                    print(f"skipped {draft_id}: already in {args.dir}", file=sys.stderr)
                    skipped += 1
                    continue
                with conn.transaction(), conn.cursor() as cur:
                    found = read_draft_rows(cur, draft_id)
                if found is None:
                    continue  # deleted meanwhile
                meta, feats, original = found
                try:
                    meta = _meta({"draft": meta}, draft_id)
                except ValueError as exc:
                    print(f"not dumped {draft_id}: {exc}", file=sys.stderr)
                    bad += 1
                    continue
                feats = [{**f, "geometry": _exact(f["geometry"])} for f in feats]
                if original:
                    write_atomic_bytes(args.dir / f"{draft_id}.upload", original)
                write_atomic(args.dir / f"{draft_id}.geojson", draft_text(meta, feats))
                entries[draft_id] = meta
                written += 1
            folder._write_index(entries)
    print(f"{written} draft(s) written to {args.dir}"
          + (f", {skipped} already there" if skipped else "")
          + (f", {bad} unreadable left out" if bad else ""))
    return 1 if bad else 0


@_db_errors
def _load_drafts(args) -> int:
    import psycopg

    from webapp.stores.drafts import _ID, _meta
    from webapp.stores.postgres import insert_draft

    _url(args)
    if not args.dir.is_dir():
        raise NoDatabase(f"{args.dir}: not a folder")
    loaded = skipped = bad = 0
    with _connect(args) as conn:
        _migrated(conn)
        for path in sorted(args.dir.glob("*.geojson")):
            draft_id = path.stem
            if not _ID.fullmatch(draft_id):
                continue
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
                meta = _meta(doc, draft_id)
                feats = doc.get("features")
                if not isinstance(feats, list) or not all(isinstance(f, dict) for f in feats):
                    raise ValueError("its features are not a list of GeoJSON features")
            except (OSError, ValueError) as exc:
                print(f"not loaded {draft_id}: {path.name} cannot be read ({_one_line(exc)})",
                      file=sys.stderr)
                bad += 1
                continue
            upload = args.dir / f"{draft_id}.upload"
            original = upload.read_bytes() if upload.is_file() else None
            try:
                with conn.transaction(), conn.cursor() as cur:
                    if cur.execute("SELECT 1 FROM drafts WHERE id = %s", (draft_id,)).fetchone():
                        print(f"skipped {draft_id}: already in the database", file=sys.stderr)
                        skipped += 1
                        continue
                    insert_draft(cur, meta, feats, original)
            except psycopg.OperationalError as exc:
                raise NoDatabase(f"database unreachable: {_one_line(exc)} ({loaded} loaded "
                                 "before; run again to load the rest)") from None
            except Exception as exc:  # noqa: BLE001 - this draft's data: said, and the rest go on
                print(f"not loaded {draft_id}: {_one_line(exc)}", file=sys.stderr)
                bad += 1
                continue
            loaded += 1
    print(f"{loaded} draft(s) loaded from {args.dir}"
          + (f", {skipped} already in the database" if skipped else "")
          + (f", {bad} unreadable left out" if bad else ""))
    return 1 if bad else 0

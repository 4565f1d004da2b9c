"""The draft and suggestion stores: one suite run against both backends (files | postgres),
then what only PostgreSQL has: `parkmap db` (init, upgrade, load, dump-drafts, load-drafts)
and the database going away mid-run and coming back (503 with the reason, then recovery
without a restart)."""
from __future__ import annotations

import io
import json
import threading
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from shapely.geometry import shape

from webapp import create_app
from webapp.cli import main
from webapp.intake import read_draft
from webapp.stores.drafts import (DraftForbidden, DraftQuota, DraftQuotaExceeded, DraftStore,
                                  StoreUnavailable, UnknownDraft)
from webapp.stores.postgres import LATEST, PgDraftStore, PgSuggestionStore
from webapp.stores.suggestions import SuggestionConflict, SuggestionStore, UnknownSuggestion

LON, LAT = 121.4200, 31.2100  # Changning (WGS84)


def draft_upload(name="东区", d=0.01, datum="WGS84"):
    """An accepted upload: (gdf, facts, the bytes uploaded)."""
    ring = [[LON, LAT], [LON + d, LAT], [LON + d, LAT + d], [LON, LAT + d], [LON, LAT]]
    data = json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": name, "zone": "east", "role": "试点"},
         "geometry": {"type": "Polygon", "coordinates": [ring]}},
        {"type": "Feature", "properties": {"name": "轴"},
         "geometry": {"type": "LineString", "coordinates": [[LON, LAT], [LON + 0.0123456789, LAT]]}},
        {"type": "Feature", "properties": {},
         "geometry": {"type": "Point", "coordinates": [LON + 0.005, LAT + 0.005]}},
    ]}, ensure_ascii=False).encode()
    gdf, facts = read_draft(data, filename="plan.geojson", datum=datum)
    return gdf, facts, data


def suggestion_record(quote="位于某路100号"):
    return {"place_id": "park-bonc-hq-park", "place_name_zh": "东方国信", "place_name_en": "BONC",
            "geometry": {"type": "Point", "coordinates": [121.36, 31.21]}, "datum": "GCJ-02",
            "precision": "building", "source_url": "https://example.org/a", "quote": quote,
            "note": None, "contact": None, "address": None}


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the two backends, and how a test reaches under each one ------------------------------------

class Files:
    name = "files"

    def __init__(self, root):
        self.root = root

    def drafts(self, **quota) -> DraftStore:
        return DraftStore(self.root / "drafts", DraftQuota(**quota))

    def suggestions(self) -> SuggestionStore:
        return SuggestionStore(self.root / "suggestions")

    def _edit_draft(self, draft_id, change):
        index = self.root / "drafts" / "index.json"
        doc = json.loads(index.read_text())
        change(doc["drafts"][draft_id])
        index.write_text(json.dumps(doc))
        path = self.root / "drafts" / f"{draft_id}.geojson"
        doc = json.loads(path.read_text())
        change(doc["draft"])
        path.write_text(json.dumps(doc))

    def set_created(self, draft_id, created):
        self._edit_draft(draft_id, lambda m: m.update(created=created))

    def drop_token(self, draft_id):
        self._edit_draft(draft_id, lambda m: m.pop("token_sha256"))

    def damage_draft(self, draft_id, how):
        path = self.root / "drafts" / f"{draft_id}.geojson"
        text = path.read_text()
        doc = json.loads(text)
        if how == "metadata":
            doc["draft"] = {"id": draft_id, "created": doc["draft"]["created"]}
        elif how == "geometry":
            doc["features"][0]["geometry"] = {"type": "Point", "coordinates": [0, 0]}
        else:  # partial: cut short
            path.write_text(text[: len(text) // 2])
            return
        path.write_text(json.dumps(doc))

    def set_suggestion_created(self, sid, created):
        path = self.root / "suggestions" / f"{sid}.json"
        doc = json.loads(path.read_text())
        doc["created"] = created
        path.write_text(json.dumps(doc))

    def damage_suggestion(self, sid):
        (self.root / "suggestions" / f"{sid}.json").write_text('{"id": ')

    def check_consistent(self, ids):
        folder = self.root / "drafts"
        index = json.loads((folder / "index.json").read_text())["drafts"]
        assert set(index) == set(ids)
        assert {p.stem for p in folder.glob("*.geojson")} == set(ids)
        assert {p.stem for p in folder.glob("*.upload")} <= set(ids)
        assert not list(folder.glob(".*.tmp"))


class Postgres:
    name = "postgres"

    def __init__(self, url):
        self.url = url

    def drafts(self, **quota) -> PgDraftStore:
        return PgDraftStore(self.url, DraftQuota(**quota))

    def suggestions(self) -> PgSuggestionStore:
        return PgSuggestionStore(self.url)

    def sql(self, query, params=()):
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else None

    def set_created(self, draft_id, created):
        self.sql("UPDATE drafts SET created = %s::timestamptz, "
                 "meta = jsonb_set(meta, '{created}', to_jsonb(%s::text)) WHERE id = %s",
                 (created, created, draft_id))

    def drop_token(self, draft_id):
        self.sql("UPDATE drafts SET token_sha256 = NULL WHERE id = %s", (draft_id,))

    def damage_draft(self, draft_id, how):
        if how == "metadata":
            self.sql("UPDATE drafts SET meta = jsonb_build_object('id', id) WHERE id = %s",
                     (draft_id,))
        elif how == "geometry":
            self.sql("UPDATE draft_features SET geom = ST_SetSRID(ST_MakePoint(0, 0), 4326) "
                     "WHERE draft_id = %s AND idx = 0", (draft_id,))
        else:  # partial: features lost
            self.sql("DELETE FROM draft_features WHERE draft_id = %s AND idx > 0", (draft_id,))

    def set_suggestion_created(self, sid, created):
        self.sql("UPDATE suggestions SET created = %s::timestamptz, "
                 "record = jsonb_set(record, '{created}', to_jsonb(%s::text)) WHERE id = %s",
                 (created, created, sid))

    def damage_suggestion(self, sid):
        self.sql("UPDATE suggestions SET record = '\"garbage\"'::jsonb WHERE id = %s", (sid,))

    def check_consistent(self, ids):
        assert {r[0] for r in self.sql("SELECT id FROM drafts")} == set(ids)
        orphans = self.sql("SELECT count(*) FROM draft_features f LEFT JOIN drafts d "
                           "ON d.id = f.draft_id WHERE d.id IS NULL")[0][0]
        assert orphans == 0
        short = self.sql("SELECT d.id FROM drafts d LEFT JOIN draft_features f ON f.draft_id = d.id "
                         "GROUP BY d.id, d.features HAVING count(f.idx) <> d.features")
        assert short == []


@pytest.fixture(params=["files", "postgres"])
def backend(request, tmp_path):
    if request.param == "files":
        return Files(tmp_path / "instance")
    return Postgres(request.getfixturevalue("pg_db"))


# --- drafts ---------------------------------------------------------------------------------

def test_draft_round_trip(backend):
    store = backend.drafts()
    assert store.index() == [] and store.usage() == {"count": 0, "bytes": 0}
    store.check()
    gdf, facts, data = draft_upload()
    meta, token = store.save(gdf, facts, name="my draft", filename="up/plan.geojson",
                             original=data)
    draft_id = meta["id"]
    assert len(draft_id) == 8 and meta["name"] == "my draft" and meta["filename"] == "plan.geojson"
    assert "token_sha256" not in meta and len(token) >= 20
    assert meta["features"] == 3 and meta["geometry_types"] == {"Polygon": 1, "LineString": 1,
                                                                "Point": 1}
    again, meta2 = backend.drafts().load(draft_id)  # a new store object: from storage
    assert meta2 == meta and list(meta2) == list(meta)
    assert list(again["id"]) == [f"draft-{draft_id}-{i}" for i in range(3)]
    assert set(again["source"]) == {f"draft:{draft_id}"}
    assert list(again["name_zh"])[:2] == ["东区", "轴"] and again["zone"].iloc[0] == "east"
    assert list(again.columns)[0] == "id" and list(again.columns)[-4:] == [
        "source", "basis", "confidence", "geometry"]
    for a, b in zip(again.geometry, gdf.geometry):
        assert a.equals_exact(b, 1e-6)  # stored to 6 decimals, as the file store writes
    assert store.index() == [meta] and store.usage() == {"count": 1, "bytes": meta["bytes"]}
    assert store.original(draft_id) == data and store.exists(draft_id)
    assert not store.exists("0123abcd") and store.original("0123abcd") is None
    with pytest.raises(DraftForbidden, match="wrong edit token"):
        store.delete(draft_id, "guess")
    store.delete(draft_id, token)
    assert store.index() == [] and not store.exists(draft_id) and store.original(draft_id) is None
    with pytest.raises(UnknownDraft, match="deleted, or never stored") as info:
        store.load(draft_id)
    assert info.value.status == 404
    with pytest.raises(UnknownDraft):
        store.delete(draft_id, token)
    no_original, _ = store.save(gdf, facts)
    assert store.original(no_original["id"]) is None and no_original["name"] == f"draft {no_original['id']}"
    for bad in ("../../etc/passwd", "ABCDEF12", "abc", "", "1234567g", "0123abcd\n", None):
        for call in (store.load, store.exists, store.original, store.delete):
            with pytest.raises(UnknownDraft, match="8 hexadecimal"):
                call(bad)


def test_index_newest_first(backend):
    store = backend.drafts()
    now = datetime.now(timezone.utc)
    gdf, facts, _ = draft_upload()
    ids = [store.save(gdf, facts, name=f"d{i}")[0]["id"] for i in range(3)]
    for minutes, draft_id in zip((30, 10, 20), ids):
        backend.set_created(draft_id, iso(now - timedelta(minutes=minutes)))
    assert [m["id"] for m in store.index()] == [ids[1], ids[2], ids[0]]
    assert [m["name"] for m in store.index()] == ["d1", "d2", "d0"]


def test_only_the_owner_deletes(backend):
    store = backend.drafts()
    gdf, facts, _ = draft_upload()
    meta, token = store.save(gdf, facts)
    for bad_token, message in ((None, "send its edit token"), ("", "send its edit token"),
                               ("guess", "wrong edit token")):
        with pytest.raises(DraftForbidden, match=message) as info:
            store.delete(meta["id"], bad_token)
        assert info.value.status == 403
    legacy, _ = store.save(gdf, facts)
    backend.drop_token(legacy["id"])
    with pytest.raises(DraftForbidden, match="only the server's operator"):
        store.delete(legacy["id"], token)
    store.delete(legacy["id"], operator=True)
    store.delete(meta["id"], operator=True)
    assert store.index() == []


def test_quotas(backend):
    gdf, facts, data = draft_upload()
    store = backend.drafts(max_count=2)
    first, token = store.save(gdf, facts, original=data)
    store.save(gdf, facts, original=data)
    with pytest.raises(DraftQuotaExceeded, match="the draft store is full: 2 drafts, the limit is 2") as info:
        store.save(gdf, facts, original=data)
    assert info.value.status == 507
    store.delete(first["id"], token)
    store.save(gdf, facts, original=data)  # room again
    assert len(store.index()) == 2
    small = backend.drafts(max_total_bytes=int(first["bytes"] * 2.5))
    with pytest.raises(DraftQuotaExceeded, match="bytes used; delete some first"):
        small.save(gdf, facts, original=data)
    assert len(store.index()) == 2


def test_old_drafts_expire(backend):
    store = backend.drafts(ttl_days=30)
    gdf, facts, _ = draft_upload()
    old, _ = store.save(gdf, facts)
    kept, _ = store.save(gdf, facts)
    backend.set_created(old["id"], "2020-01-01T00:00:00Z")
    assert [m["id"] for m in store.index()] == [kept["id"]]
    assert store.usage()["count"] == 1
    assert store.exists(old["id"])  # left until the next upload sweeps it
    store.save(gdf, facts)
    assert not store.exists(old["id"]) and len(store.index()) == 2
    with pytest.raises(UnknownDraft):
        store.load(old["id"])
    forever = backend.drafts(ttl_days=0)
    backend.set_created(kept["id"], "2000-01-01T00:00:00Z")
    assert kept["id"] in [m["id"] for m in forever.index()]


@pytest.mark.parametrize("how", ["metadata", "geometry", "partial"])
def test_damaged_drafts_are_404_and_left_out(backend, how):
    store = backend.drafts()
    gdf, facts, _ = draft_upload()
    damaged, _ = store.save(gdf, facts)
    whole, _ = store.save(gdf, facts)
    backend.damage_draft(damaged["id"], how)
    with pytest.raises(UnknownDraft, match="cannot be read") as info:
        store.load(damaged["id"])
    assert info.value.status == 404
    assert [m["id"] for m in store.index()] == [whole["id"]]
    assert store.usage()["count"] == 1
    store.load(whole["id"])


def test_concurrent_saves_and_deletes_stay_consistent(backend):
    """8 threads saving, reading, deleting (a store object per call, as requests do)."""
    gdf, facts, data = draft_upload()
    kept, errors = [], []

    def work(n):
        try:
            for i in range(4):
                meta, token = backend.drafts().save(gdf, facts, name=f"t{n}-{i}", original=data)
                assert backend.drafts().load(meta["id"])[1] == meta
                if i % 2:
                    kept.append(meta["id"])
                else:
                    backend.drafts().delete(meta["id"], token)
                backend.drafts().index()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(m["id"] for m in backend.drafts().index()) == sorted(kept)
    assert len(kept) == 16
    backend.check_consistent(kept)


def test_the_count_quota_holds_under_concurrent_saves(backend):
    gdf, facts, _ = draft_upload()
    outcomes = []

    def save():
        try:
            backend.drafts(max_count=5).save(gdf, facts)
            outcomes.append("saved")
        except DraftQuotaExceeded:
            outcomes.append("full")

    threads = [threading.Thread(target=save) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["full"] * 3 + ["saved"] * 5
    backend.check_consistent([m["id"] for m in backend.drafts().index()])


# --- suggestions ----------------------------------------------------------------------------

def test_suggestions(backend):
    store = backend.suggestions()
    store.check()
    assert store.list() == [] and store.count("pending") == 0
    a = store.add(suggestion_record("一"))
    b = store.add(suggestion_record("二"))
    assert len(a["id"]) == 10 and a["status"] == "pending" and a["reviewed_at"] is None
    assert list(a)[:3] == ["id", "place_id", "place_name_zh"]
    got = backend.suggestions().get(a["id"])
    assert got == a and list(got) == list(a)
    now = datetime.now(timezone.utc)
    backend.set_suggestion_created(a["id"], iso(now - timedelta(minutes=5)))
    assert [r["id"] for r in store.list()] == [b["id"], a["id"]]
    assert store.count("pending") == 2
    done = store.review(a["id"], "accepted", "reviewer")
    assert done["status"] == "accepted" and done["reviewed_by"] == "reviewer" and done["reviewed_at"]
    assert store.get(a["id"]) == done
    with pytest.raises(SuggestionConflict, match="is already accepted") as info:
        store.review(a["id"], "rejected", "someone")
    assert info.value.status == 409
    with pytest.raises(ValueError, match="status must be one of"):
        store.review(b["id"], "pending", "x")
    store.review(b["id"], "rejected", "reviewer", reason="duplicate")
    assert store.get(b["id"])["reason"] == "duplicate"
    assert [r["id"] for r in store.list("accepted")] == [a["id"]]
    assert [r["id"] for r in store.list("rejected")] == [b["id"]]
    assert store.list("pending") == [] and store.count("pending") == 0
    assert store.count("accepted") == 1
    with pytest.raises(UnknownSuggestion, match="no suggestion '0123456789'") as info:
        store.get("0123456789")
    assert info.value.status == 404
    with pytest.raises(UnknownSuggestion):
        store.review("0123456789", "accepted", "x")
    for bad in ("../etc", "0123456789\n", "ABCDEF0123", None):
        with pytest.raises(UnknownSuggestion, match="10 hexadecimal"):
            store.get(bad)
    c = store.add(suggestion_record("三"))
    backend.damage_suggestion(c["id"])
    with pytest.raises(UnknownSuggestion):
        store.get(c["id"])
    assert c["id"] not in [r["id"] for r in store.list()] and store.count("pending") == 0


# --- PostgreSQL only: drafts equal the file store's; the `parkmap db` commands ------------------

def _cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_db_commands_need_a_database(capsys, monkeypatch):
    monkeypatch.delenv("PARKMAP_DATABASE_URL", raising=False)
    for argv in (("init",), ("upgrade",), ("load",), ("dump-drafts", "x"), ("load-drafts", "x")):
        code, out, err = _cli(capsys, "db", *argv)
        assert code == 2 and err.count("\n") == 1 and "PARKMAP_DATABASE_URL" in err, err
    code, _, err = _cli(capsys, "db", "upgrade", "--database-url", "postgresql://u@127.0.0.1:1/x")
    assert code == 2 and err.startswith("parkmap db: error: database unreachable:")
    assert err.count("\n") == 1


def test_db_init_and_upgrade_are_idempotent(pg_db, capsys):
    code, out, _ = _cli(capsys, "db", "init", "--database-url", pg_db)
    assert code == 0 and f"schema version {LATEST} (created)" in out
    code, out, _ = _cli(capsys, "db", "init", "--database-url", pg_db)
    assert code == 0 and "(already there)" in out
    code, out, _ = _cli(capsys, "db", "upgrade", "--database-url", pg_db)
    assert code == 0 and out.strip() == f"schema version {LATEST} (up to date)"
    with psycopg.connect(pg_db) as conn:
        assert conn.execute("SELECT version FROM parkmap_schema").fetchall() == [(LATEST,)]
        gist = {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_indexes WHERE indexdef ILIKE '%USING gist (geom)%' "
            "AND schemaname = current_schema()")}
        assert gist == {"draft_features", "suggestions"}
        columns = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'drafts' "
            "AND table_schema = current_schema()")}
        assert {"id", "name", "filename", "created", "datum", "format", "features", "vertices",
                "geometry_types", "district", "bytes", "token_sha256", "meta",
                "original"} <= columns
        types = dict(conn.execute(
            "SELECT f_table_name, type FROM geometry_columns WHERE srid = 4326 "
            "AND f_table_schema = current_schema()").fetchall())
        assert types == {"draft_features": "GEOMETRY", "suggestions": "GEOMETRY"}


def test_db_load_makes_a_table_per_layer(pg_db, built, capsys):
    code, out, _ = _cli(capsys, "db", "load", "--layers", str(built), "--database-url", pg_db)
    assert code == 0
    layers = [e["id"] for e in json.loads((built / "layers.json").read_text())["layers"]]
    code, out2, _ = _cli(capsys, "db", "load", "--layers", str(built), "--database-url", pg_db)
    assert code == 0 and out2 == out  # replaced, not added to
    with psycopg.connect(pg_db) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'parkmap_layers'")}
        assert tables == {f"layer_{i}" for i in layers}
        for layer_id in layers:
            doc = json.loads((built / f"{layer_id}.geojson").read_text())
            table = f"parkmap_layers.layer_{layer_id}"
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == len(doc["features"])
            names = {k for f in doc["features"] for k in f["properties"]}
            columns = dict(conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'parkmap_layers' AND table_name = %s",
                (f"layer_{layer_id}",)).fetchall())
            assert set(columns) == names | {"geom"}, layer_id
            indexes = " ".join(r[0] for r in conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = 'parkmap_layers' "
                "AND tablename = %s", (f"layer_{layer_id}",)))
            assert "USING gist (geom)" in indexes and "(id)" in indexes
            located = sum(1 for f in doc["features"] if f["geometry"])
            assert conn.execute(f"SELECT count(geom) FROM {table}").fetchone()[0] == located
        parks = dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'parkmap_layers' AND table_name = 'layer_parks'").fetchall())
        assert parks["id"] == "text" and parks["geom"] == "USER-DEFINED"
        assert parks["themes"] == "jsonb" and parks["year"] == "bigint"
        assert parks["approximate"] == "boolean"
        src = {f["properties"]["id"]: f for f in json.loads((built / "parks.geojson").read_text())["features"]}
        for pid, geojson in conn.execute("SELECT id, ST_AsGeoJSON(geom, 9) FROM "
                                         "parkmap_layers.layer_parks WHERE geom IS NOT NULL"):
            assert shape(json.loads(geojson)).equals_exact(shape(src[pid]["geometry"]), 1e-9)


def test_drafts_move_between_folder_and_database(pg_databases, tmp_path, capsys):
    """dump-drafts then load-drafts into an empty database: everything survives, and a draft
    read back is the one the file store reads from the dumped folder."""
    first, second = pg_databases(), pg_databases()
    store = PgDraftStore(first)
    gdf, facts, data = draft_upload(datum="GCJ-02")
    a, token_a = store.save(gdf, facts, name="甲", filename="a.geojson", original=data)
    b, token_b = store.save(gdf, facts, name="乙")
    old = "2020-02-02T02:02:02Z"  # expired: moved all the same
    Postgres(first).set_created(b["id"], old)
    b["created"] = old
    folder = tmp_path / "drafts"
    code, out, _ = _cli(capsys, "db", "dump-drafts", str(folder), "--database-url", first)
    assert code == 0 and "2 draft(s) written" in out
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [".lock", "index.json", f"{a['id']}.geojson", f"{a['id']}.upload", f"{b['id']}.geojson"])
    files = DraftStore(folder, DraftQuota(ttl_days=0))
    for meta in (a, b):  # what the file store reads equals what PostgreSQL gives
        fgdf, fmeta = files.load(meta["id"])
        pgdf, pmeta = store.load(meta["id"])
        assert fmeta == pmeta == meta and list(fmeta) == list(pmeta)
        assert list(fgdf.columns) == list(pgdf.columns)
        assert fgdf.drop(columns="geometry").equals(pgdf.drop(columns="geometry"))
        for x, y in zip(fgdf.geometry, pgdf.geometry):
            assert x.equals_exact(y, 1e-9)
    assert files.original(a["id"]) == data
    code, out, _ = _cli(capsys, "db", "load-drafts", str(folder), "--database-url", second)
    assert code == 0 and "2 draft(s) loaded" in out
    moved = PgDraftStore(second, DraftQuota(ttl_days=0))
    assert moved.index() == PgDraftStore(first, DraftQuota(ttl_days=0)).index()
    for meta in (a, b):
        g1, m1 = store.load(meta["id"])
        g2, m2 = moved.load(meta["id"])
        assert m1 == m2 and g1.drop(columns="geometry").equals(g2.drop(columns="geometry"))
        assert all(x.equals_exact(y, 1e-9) for x, y in zip(g1.geometry, g2.geometry))
    assert moved.original(a["id"]) == data and moved.original(b["id"]) is None
    rows = Postgres(second).sql("SELECT id, created, token_sha256 FROM drafts ORDER BY id")
    assert rows == Postgres(first).sql("SELECT id, created, token_sha256 FROM drafts ORDER BY id")
    code, out, err = _cli(capsys, "db", "load-drafts", str(folder), "--database-url", second)
    assert code == 0 and f"skipped {a['id']}: already in the database" in err
    assert "0 draft(s) loaded" in out and "2 already in the database" in out
    # the other way: a draft the file store saved, loaded into the database, reads the same
    fmeta, ftoken = files.save(gdf, facts, name="丙", original=b"raw")
    code, out, _ = _cli(capsys, "db", "load-drafts", str(folder), "--database-url", second)
    assert code == 0 and "1 draft(s) loaded" in out and "2 already in the database" in out
    fg, fm = files.load(fmeta["id"])
    pg, pm = moved.load(fmeta["id"])
    assert fm == pm and fg.drop(columns="geometry").equals(pg.drop(columns="geometry"))
    assert all(x.equals_exact(y, 1e-9) for x, y in zip(fg.geometry, pg.geometry))
    assert moved.original(fmeta["id"]) == b"raw"
    with pytest.raises(DraftForbidden):
        moved.delete(a["id"], token_b)
    for draft_id, token in ((a["id"], token_a), (b["id"], token_b), (fmeta["id"], ftoken)):
        moved.delete(draft_id, token)  # the tokens still work
    assert moved.index() == []


def test_a_busy_pool_is_a_503_but_not_an_outage(pg_db):
    """Every pooled connection in use past DATABASE_TIMEOUT_S: a 503 saying so; the database
    is not taken for gone (the next call, with a connection free, just works)."""
    store = PgDraftStore(pg_db, pool_size=1, timeout=0.5)
    store.index()
    held, release = threading.Event(), threading.Event()

    def hold():
        with store.db.connection():
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(10)
    with pytest.raises(StoreUnavailable, match="database busy: no connection free within 0.5 s"):
        store.index()
    release.set()
    t.join()
    assert store.index() == []


# --- PostgreSQL only: the database going away mid-run ------------------------------------------

def _upload(client, name="zone"):
    _, _, data = draft_upload(name=name)
    return client.post("/api/layouts", data={"file": (io.BytesIO(data), "d.geojson")},
                       content_type="multipart/form-data")


def _quick(call):
    """call() raises StoreUnavailable, quickly; returns the message."""
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        call()
    assert time.monotonic() - started < 1.5, "waited for the timeout"
    assert info.value.status == 503
    return str(info.value)


def test_the_database_going_away_is_a_503_and_it_recovers(pg_outage, built, tmp_path):
    url = pg_outage.url
    app = create_app({"LAYERS_DIR": str(built), "INSTANCE_DIR": str(tmp_path / "instance"),
                      "DATABASE_URL": url, "DATABASE_TIMEOUT_S": 3})
    client = app.test_client()
    r = _upload(client)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json()["checks"]["drafts"]["backend"] == "postgresql"
    sid = client.post("/api/places/park-bonc-hq-park/suggestions", json={
        "lon": 121.36, "lat": 31.21, "precision": "street", "quote": "在某路上"}).get_json()["id"]
    assert PgSuggestionStore(url).get(sid)["status"] == "pending"
    assert not (tmp_path / "instance").exists()  # nothing in files

    pg_outage.down()
    drafts, suggestions = PgDraftStore(url, timeout=3), PgSuggestionStore(url, timeout=3)
    message = _quick(drafts.index)
    assert message.startswith("database unreachable: ") and "\n" not in message
    for call in (lambda: drafts.load(body["id"][6:]), drafts.check, suggestions.list,
                 lambda: drafts.save(*draft_upload()[:2]), lambda: suggestions.count("pending")):
        _quick(call)
    started = time.monotonic()
    for method, path in (("get", "/api/layouts"), ("post", "/api/layouts"),
                         ("get", f"/api/layouts/{body['id']}"), ("get", "/healthz")):
        r = _upload(client) if method == "post" else client.get(path)
        assert r.status_code == 503, (path, r.status_code)
        error = r.get_json().get("error") or r.get_json()["checks"]["drafts"]["error"]
        assert error.startswith("database unreachable: "), error
        if path != "/healthz":
            assert int(r.headers["Retry-After"]) > 0
    assert client.get("/map/changning").status_code == 200
    assert client.get("/api/layers/parks.geojson").status_code == 200
    assert time.monotonic() - started < 5

    pg_outage.up()
    deadline = time.monotonic() + 10
    while client.get("/api/layouts").status_code != 200:  # no restart, no new app
        assert time.monotonic() < deadline, "did not recover"
        time.sleep(0.2)
    listed = [x["id"] for x in client.get("/api/layouts").get_json()["layouts"]]
    assert body["id"] in listed
    assert _upload(client, "after").status_code == 201
    assert client.get("/healthz").status_code == 200
    d = client.delete(f"/api/layouts/{body['id']}", headers={"X-Draft-Token": body["token"]})
    assert d.status_code == 200
    assert drafts.usage()["count"] == 1 and suggestions.count("pending") == 1

"""Stateless app servers: two `parkmap serve` (gunicorn) processes on different ports against one
PostgreSQL + PostGIS database. What one stores the other sees at once; under load across both,
nothing fails and nothing is left behind."""
from __future__ import annotations

import json
import random
import threading
import time

import psycopg
import pytest

from support import ParkmapServer
from test_deploy import SQUARE, request

LOAD_SECONDS = 20


@pytest.fixture()
def two(built, pg_db, tmp_path):
    env = {"PARKMAP_DATABASE_URL": pg_db, "PARKMAP_UPLOAD_RATE_PER_HOUR": "0",
           "PARKMAP_DRAFT_MAX_COUNT": "5000", "PARKMAP_RENDER_RATE_PER_HOUR": "0"}
    a = ParkmapServer(built, tmp_path / "a", "--workers", "2", "--access-log", "", env=env)
    b = ParkmapServer(built, tmp_path / "b", "--workers", "2", "--access-log", "", env=env)
    yield a, b
    assert a.stop() == 0 and b.stop() == 0


def upload(server, name="z"):
    status, _, body = request(server.base, "POST", f"/api/layouts?name={name}",
                              body=json.dumps(SQUARE).encode(),
                              headers={"Content-Type": "application/geo+json"})
    return status, json.loads(body)


def test_what_one_server_stores_the_other_serves(two):
    a, b = two
    status, draft = upload(a, "shared")
    assert status == 201
    lid, token = draft["id"], draft["token"]
    listed = json.loads(request(b.base, "GET", "/api/layouts")[2])["layouts"]
    assert lid in [x["id"] for x in listed]
    assert request(b.base, "GET", f"/compare?left=changning_zones&right={lid}")[0] == 200
    drawn = json.loads(request(b.base, "GET", f"/api/layouts/{lid}/layers/draft.geojson")[2])
    assert len(drawn["features"]) == 1
    compared = json.loads(request(b.base, "GET", f"/api/compare?left=changning_zones&right={lid}")[2])
    assert compared["right"]["layout"]["id"] == lid
    assert request(b.base, "GET", f"/figure/{lid}.png?width=120&height=90&dpi=60")[0] == 200
    assert request(b.base, "DELETE", f"/api/layouts/{lid}",
                   headers={"X-Draft-Token": token})[0] == 200
    assert request(a.base, "GET", f"/api/layouts/{lid}")[0] == 404  # gone on the other, at once
    assert request(a.base, "GET", f"/figure/{lid}.png?width=120&height=90&dpi=60")[0] == 404
    health = json.loads(request(a.base, "GET", "/healthz")[2])
    assert health["ok"] and health["checks"]["drafts"]["backend"] == "postgresql"


def test_twenty_threads_across_both_for_twenty_seconds(two, pg_db):
    a, b = two
    stop = time.monotonic() + LOAD_SECONDS
    errors, counts = [], {"upload": 0, "list": 0, "compare": 0, "delete": 0}
    lock = threading.Lock()

    def worker(seed: int):
        rng = random.Random(seed)
        mine = []
        while time.monotonic() < stop:
            here, there = rng.sample([a, b], 2)
            op = rng.choice(["upload", "upload", "list", "compare", "delete"])
            try:
                if op == "upload":
                    status, body = upload(here, f"t{seed}")
                    ok = status == 201
                    if ok:
                        mine.append((body["id"], body["token"]))
                elif op == "list":
                    ok = request(there.base, "GET", "/api/layouts")[0] == 200
                elif op == "compare" and mine:
                    lid = rng.choice(mine)[0]
                    ok = request(there.base, "GET",
                                 f"/api/compare?left=changning_zones&right={lid}")[0] == 200
                elif op == "delete" and mine:
                    lid, token = mine.pop(rng.randrange(len(mine)))
                    ok = request(there.base, "DELETE", f"/api/layouts/{lid}",
                                 headers={"X-Draft-Token": token})[0] == 200
                else:
                    continue
            except OSError as exc:
                ok, op = False, f"{op}: {exc}"
            with lock:
                counts[op.split(":")[0]] = counts.get(op.split(":")[0], 0) + 1
                if not ok:
                    errors.append(op)
        for lid, token in mine:  # clean up what is left: every delete must work
            if request(rng.choice([a, b]).base, "DELETE", f"/api/layouts/{lid}",
                       headers={"X-Draft-Token": token})[0] != 200:
                with lock:
                    errors.append(f"cleanup {lid}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [], errors[:10]
    assert counts["upload"] > 50 and counts["delete"] > 10, counts
    with psycopg.connect(pg_db) as conn:
        drafts = conn.execute("SELECT count(*) FROM drafts").fetchone()[0]
        orphans = conn.execute("SELECT count(*) FROM draft_features f "
                               "LEFT JOIN drafts d ON d.id = f.draft_id WHERE d.id IS NULL").fetchone()[0]
    assert drafts == 0 and orphans == 0

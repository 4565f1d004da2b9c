"""pytest plugin: PostgreSQL + PostGIS for the tests (loaded by tests/conftest.py).

- ``pg_url`` (session): a database with PostGIS. PARKMAP_TEST_DATABASE_URL when set (its role
  needs CREATEDB, or else each test gets a schema of its own); otherwise a throwaway cluster
  started with scripts/pg-cluster in a temporary folder and stopped (and removed) when the
  session ends. PostgreSQL not installed is a failure saying what to install, never a skip.
- ``pg_db`` (function): the URL of a fresh, empty database (PostGIS installed, no parkmap
  schema) dropped after the test; ``pg_databases()`` makes more of them in one test.
- ``pg_outage`` (function): ``url`` (the test's fresh database), ``down()`` and ``up()``: the
  database goes away and comes back at the same address (the session's own cluster is really
  stopped and started; an outside server is reached through a local TCP relay that is cut).
"""
from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "pg-cluster"


def with_database(url: str, dbname: str) -> str:
    """``url`` naming another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def with_options(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


def with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


class Cluster:
    """The session's PostgreSQL: one it started (``dir``), or one outside (``dir`` None)."""

    def __init__(self, url: str, dir: Path | None):
        self.url, self.dir = url, dir
        self.per_test = "database"  # or "schema", when the role may not create databases

    def _script(self, action: str) -> str:
        done = subprocess.run([str(SCRIPT), action, str(self.dir)], capture_output=True,
                              text=True, timeout=120)
        if done.returncode:
            pytest.fail(f"scripts/pg-cluster {action} failed:\n{done.stderr}", pytrace=False)
        return done.stdout.strip()

    def start(self) -> None:
        self.url = self._script("start")

    def stop(self) -> None:
        self._script("stop")


@pytest.fixture(scope="session")
def pg_cluster():
    url = os.environ.get("PARKMAP_TEST_DATABASE_URL")
    if url:
        yield Cluster(url, None)
        return
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        pytest.fail("PostgreSQL is not installed: apt-get install postgresql "
                    "postgresql-15-postgis-3 (or set PARKMAP_TEST_DATABASE_URL to a server with "
                    "PostGIS)", pytrace=False)
    folder = Path(tempfile.mkdtemp(prefix="parkmap-pg-"))  # /tmp: the postgres user reaches it
    cluster = Cluster("", folder)
    try:
        cluster.start()
        yield cluster
    finally:
        if (folder / "data" / "postmaster.pid").exists():
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_url(pg_cluster) -> str:
    """A PostgreSQL database with PostGIS, for the whole session."""
    return pg_cluster.url


def _admin(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=10)


@pytest.fixture(scope="session")
def _pg_template(pg_cluster):
    """A database with PostGIS that fresh test databases are copied from."""
    import psycopg

    template = "parkmap_template_" + secrets.token_hex(4)  # this session's own
    with _admin(pg_cluster.url) as conn:
        try:
            conn.execute(f"CREATE DATABASE {template}")
        except psycopg.errors.InsufficientPrivilege:
            pg_cluster.per_test = "schema"
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            yield None
            return
    with _admin(with_database(pg_cluster.url, template)) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    yield template
    with _admin(pg_cluster.url) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {template} WITH (FORCE)")


@pytest.fixture()
def pg_databases(pg_cluster, _pg_template):
    """Make fresh empty databases (PostGIS, no parkmap schema): ``pg_databases()`` -> URL.
    Each is dropped after the test, this process's pools to it closed first."""
    from webapp.stores.postgres import close_databases

    made: list[tuple[str, str]] = []

    def make() -> str:
        name = "parkmap_t_" + secrets.token_hex(4)
        with _admin(pg_cluster.url) as conn:
            if pg_cluster.per_test == "database":
                conn.execute(f"CREATE DATABASE {name} TEMPLATE {_pg_template}")
                url = with_database(pg_cluster.url, name)
            else:
                conn.execute(f"CREATE SCHEMA {name}")
                url = with_options(pg_cluster.url, options=f"-csearch_path={name},public")
        made.append((name, url))
        return url

    yield make
    for name, url in made:
        close_databases(url)
    with _admin(pg_cluster.url) as conn:
        for name, url in made:
            if pg_cluster.per_test == "database":
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@pytest.fixture()
def pg_db(pg_databases) -> str:
    """The URL of a fresh, empty database for this test."""
    return pg_databases()


# --- the database going away and coming back -------------------------------------------------------

class TcpRelay:
    """127.0.0.1:<port> relayed to a server; ``cut()`` closes the port and every relayed
    connection (as a server that went away), ``restore()`` opens the same port again."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._socks: set[socket.socket] = set()
        self._lock = threading.Lock()

    def restore(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self.port = self._listener.getsockname()[1]
        self._listener.settimeout(0.1)
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # stops listening now (close alone may wait)
            except OSError:
                pass
            listener.close()
        with self._lock:
            socks, self._socks = self._socks, set()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if self._listener is not listener:
                client.close()
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._socks.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class Outage:
    def __init__(self, url: str, down, up):
        self.url, self._down, self._up = url, down, up
        self.is_down = False

    def down(self) -> None:
        self._down()
        self.is_down = True

    def up(self) -> None:
        self._up()
        self.is_down = False


@pytest.fixture()
def pg_outage(pg_cluster, pg_databases):
    """A fresh database that can be made to go away (``down()``) and come back (``up()``)
    at the same URL; it is back when the test ends."""
    url = pg_databases()
    if pg_cluster.dir is not None:
        outage = Outage(url, pg_cluster.stop, pg_cluster.start)
    else:
        parts = urlsplit(url)
        relay = TcpRelay(parts.hostname or "127.0.0.1", parts.port or 5432)
        relay.restore()
        outage = Outage(with_port(url, relay.port), relay.cut, relay.restore)
    yield outage
    if outage.is_down:
        outage.up()
    if pg_cluster.dir is None:
        from webapp.stores.postgres import close_databases

        close_databases(outage.url)
        relay.cut()

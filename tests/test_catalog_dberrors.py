"""A catalog database that cannot be used is one line naming the URL (password masked) and what to do, exit status 2.

The server's answers are played by a few lines of the PostgreSQL wire protocol on loopback (refuse the password,
no such database), so these tests need no PostgreSQL installation; `test_catalog_postgres.py` repeats the missing
database and missing catalog against a real server.
"""
from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from catalog import papers, stats
from catalog.coverage import coverage
from catalog.errors import CatalogDatabaseError, CatalogError

SECRET = "s3cret-Pa55"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakePostgres:
    """Accepts connections and answers every startup with one ErrorResponse (SQLSTATE `code`, message `text`)."""

    def __init__(self, code: str, text: str) -> None:
        self.code, self.text = code, text
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    self._answer(conn)
                except OSError:
                    pass

    def _answer(self, conn: socket.socket) -> None:
        while True:
            head = conn.recv(8)
            if len(head) < 8:
                return
            length, code = struct.unpack("!ii", head)
            if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest: not offered
                conn.sendall(b"N")
                continue
            if length > 8:
                conn.recv(length - 8)  # the rest of the StartupMessage (user, database)
            fields = b"".join(t + v.encode() + b"\0" for t, v in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", self.code),
                                                                   (b"M", self.text))) + b"\0"
            conn.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)
            return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def auth_refused():
    srv = FakePostgres("28P01", 'password authentication failed for user "reader"')
    yield f"postgresql://reader:{SECRET}@127.0.0.1:{srv.port}/medzoo"
    srv.close()


@pytest.fixture()
def no_database():
    srv = FakePostgres("3D000", 'database "medzoo" does not exist')
    yield f"postgresql://reader:{SECRET}@127.0.0.1:{srv.port}/medzoo"
    srv.close()


def _check(err: CatalogDatabaseError, *words: str) -> str:
    msg = str(err)
    assert "\n" not in msg and SECRET not in msg and "reader:***@127.0.0.1" in msg, msg
    for w in words:
        assert w in msg, msg
    return msg


def test_server_down_is_one_line():
    url = f"postgresql://reader:{SECRET}@127.0.0.1:{_free_port()}/medzoo"  # nothing listens there
    with pytest.raises(CatalogDatabaseError) as e:
        papers(organ="lung", db=url)
    _check(e.value, "cannot connect to the server", "start PostgreSQL")
    assert isinstance(e.value, CatalogError)  # the CLI's user errors


def test_authentication_refused_is_one_line(auth_refused):
    with pytest.raises(CatalogDatabaseError) as e:
        stats("organ", db=auth_refused)
    _check(e.value, "authentication refused for user 'reader'", "check the user name and password")


def test_missing_database_is_one_line(no_database):
    with pytest.raises(CatalogDatabaseError) as e:
        papers(organ="lung", db=no_database)
    _check(e.value, "database 'medzoo' does not exist", "createdb medzoo", "medzoo catalog build --db")


def test_build_and_coverage_map_the_same_errors(auth_refused, tmp_path):
    from catalog.builder import build

    from .conftest import write_fixture_catalog

    with pytest.raises(CatalogDatabaseError) as e:
        build(auth_refused, write_fixture_catalog(tmp_path / "data"))
    _check(e.value, "authentication refused")
    with pytest.raises(CatalogDatabaseError):
        coverage(db=auth_refused, models=[])


def test_sqlite_file_that_is_no_catalog(tmp_path):
    import sqlite3

    db = tmp_path / "empty.db"
    sqlite3.connect(db).execute("CREATE TABLE other (x)").connection.commit()
    with pytest.raises(CatalogDatabaseError, match="holds no catalog.*medzoo catalog build --db"):
        papers(db=str(db))
    (tmp_path / "junk.db").write_bytes(b"this is not a database file at all" * 100)
    with pytest.raises(CatalogDatabaseError, match="not a readable SQLite catalog"):
        papers(db=str(tmp_path / "junk.db"))


def test_a_bug_keeps_its_traceback(fixture_db, monkeypatch):
    """Only the database's refusals become one line: an SQL error in the catalog's own query stays an exception."""
    import sqlite3

    monkeypatch.setattr("catalog.query._PAPER_BASE", ("id", "key", "no_such_column"))
    with pytest.raises(sqlite3.OperationalError, match="no such column"):
        papers(organ="liver", db=fixture_db)


def _medzoo() -> list[str]:
    exe = Path(sys.executable).with_name("medzoo")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "medzoo"]


@pytest.mark.parametrize("server", ["down", "auth", "nodb"])
def test_cli_prints_one_line_and_exits_2(server, auth_refused, no_database):
    url = {"down": f"postgresql://reader:{SECRET}@127.0.0.1:{_free_port()}/medzoo", "auth": auth_refused,
           "nodb": no_database}[server]
    env = {**os.environ, "MEDZOO_DB": url}
    res = subprocess.run([*_medzoo(), "papers", "--organ", "lung"], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "reader:***@127.0.0.1" in lines[0] and SECRET not in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""

# The reading store under trouble: many first opens at once, a disk that fills while the schema
# is created or a batch is written, another process holding the database, an old schema to
# upgrade, a record that changed under the same number, and hostile values (issue 14: 2-4, 6).
import multiprocessing
import sqlite3

import pytest
from irprobe import db as dbmod
from irprobe.db import SCHEMA_VERSION, BadRecord, Store, StoreError


def reading(meter="12345678", kwh="001234.567"):
    return {
        "meter": {"id": meter},
        "protocol": "iec62056-21",
        "mode": "C",
        "baud": 9600,
        "values": [{"obis": "1-0:1.8.0*255", "value": kwh, "unit": "kWh"}],
    }


def _first_open(path, barrier, results):
    try:
        barrier.wait(10)
        with Store(path) as s:
            results.put(("ok", s.schema_version()))
    except Exception as e:  # reported to the parent, which asserts on it
        results.put(("error", "%s: %s" % (type(e).__name__, e)))


def test_concurrent_first_opens_all_succeed(tmp_path):
    ctx = multiprocessing.get_context("fork")
    n = 16
    for attempt in range(3):
        path = str(tmp_path / ("new%d.sqlite" % attempt))
        barrier = ctx.Barrier(n)
        results = ctx.Queue()
        procs = [ctx.Process(target=_first_open, args=(path, barrier, results)) for _ in range(n)]
        for p in procs:
            p.start()
        got = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(30)
        assert got == [("ok", SCHEMA_VERSION)] * n, [g for g in got if g[0] != "ok"]
        c = sqlite3.connect(path)
        assert c.execute("SELECT version FROM migrations ORDER BY version").fetchall() == [
            (v,) for v in range(1, SCHEMA_VERSION + 1)
        ]
        c.close()


def _connect_with_pages(pages):
    real = sqlite3.connect

    def connect(*a, **kw):
        c = real(*a, **kw)
        c.execute("PRAGMA max_page_count = %d" % pages)  # SQLITE_FULL past this: a full disk
        return c

    return connect


def test_disk_full_while_creating_leaves_a_usable_file(tmp_path, monkeypatch):
    path = str(tmp_path / "r.sqlite")
    monkeypatch.setattr(dbmod.sqlite3, "connect", _connect_with_pages(3))
    with pytest.raises(StoreError, match="disk holding the readings database .* is full"):
        Store(path)
    monkeypatch.undo()  # space came back
    with Store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert s.add_records("dev", [(1, 0, reading())]) == (1, 0, 0)


def test_disk_full_during_a_batch_stores_nothing_and_says_so(tmp_path):
    path = str(tmp_path / "r.sqlite")
    with Store(path) as s:
        s.add_records("dev", [(1, 0, reading())])
        pages = s.conn.execute("PRAGMA page_count").fetchone()[0]
        s.conn.execute("PRAGMA max_page_count = %d" % pages)
        big = [(n, 0, reading(meter="m%d" % n, kwh="%0200d" % n)) for n in range(2, 200)]
        with pytest.raises(StoreError, match="full: free some space"):
            s.add_records("dev", big)
        assert s.known_seqs("dev") == [1]  # the whole batch rolled back
        s.conn.execute("PRAGMA max_page_count = 1000000")
        assert s.add_records("dev", big) == (len(big), 0, 0)


def test_busy_database_is_a_plain_message_and_stores_nothing(tmp_path, monkeypatch):
    path = str(tmp_path / "r.sqlite")
    Store(path).close()
    monkeypatch.setattr(dbmod, "BUSY_S", 0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process is writing
    try:
        with Store(path) as s:
            with pytest.raises(StoreError, match="busy .*try again"):
                s.add_records("dev", [(1, 0, reading())])
    finally:
        other.execute("ROLLBACK")
        other.close()
    with Store(path) as s:
        assert s.counts()["sessions"] == 0


def test_a_long_reader_does_not_block_sync(tmp_path, monkeypatch):
    path = str(tmp_path / "r.sqlite")
    Store(path).close()
    monkeypatch.setattr(dbmod, "BUSY_S", 0.2)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM sessions").fetchone()  # holds a read transaction
    try:
        with Store(path) as s:
            assert s.add_records("dev", [(1, 0, reading())]) == (1, 0, 0)
    finally:
        reader.execute("COMMIT")
        reader.close()


def test_old_schema_upgraded_in_one_step_keeping_data(tmp_path):
    path = str(tmp_path / "v1.sqlite")
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, applied INTEGER)")
    for stmt in dbmod._MIGRATIONS[1]:
        c.execute(stmt)
    c.execute("INSERT INTO migrations VALUES (1, 0)")
    c.execute("INSERT INTO devices (device_id) VALUES ('dev')")
    c.close()
    with Store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert s.conflicts() == []
        assert s.add_records("dev", [(1, 0, reading())]) == (1, 0, 0)


def test_changed_record_under_same_number_is_kept_as_a_conflict():
    s = Store(":memory:")
    d = b"\x01" * 8
    assert s.add_records("dev", [(1, 100, reading(kwh="1.0"), d)]) == (1, 0, 0)
    assert s.add_records("dev", [(1, 100, reading(kwh="1.0"), d)]) == (0, 1, 0)
    assert s.add_records("dev", [(1, 100, reading(kwh="9.9"), d)]) == (0, 0, 1)
    (dev, seq, t, r), = s.conflicts()
    assert (dev, seq, t) == ("dev", 1, 100) and r["values"][0]["value"] == "9.9"
    assert s.latest()[0][2][0]["value"] == "1.0"  # the first copy stays the reading


def _nest(depth):
    v = "x"
    for _ in range(depth):
        v = [v]
    return v


@pytest.mark.parametrize(
    "patch,msg",
    [
        ({"objects": _nest(2000)}, "nested more than"),
        ({"baud": 10**30}, "too large|baud"),
        ({"baud": -5}, "baud is not a number"),
        ({"mode": "\ud800"}, "lone UTF-16 surrogate"),
        ({"values": [{"obis": "1.8.0", "value": "1\udfff"}]}, "lone UTF-16 surrogate"),
        ({"objects": [float("nan")]}, "not finite"),
        ({"objects": [2**64]}, "too large"),
    ],
)
def test_hostile_values_refused_plainly(patch, msg):
    s = Store(":memory:")
    r = dict(reading(), **patch)
    with pytest.raises(BadRecord, match=msg):
        s.add_records("dev", [(1, 0, reading()), (2, 0, r)])
    assert s.counts()["sessions"] == 0

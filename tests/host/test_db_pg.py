# The readings database on a real PostgreSQL server (pgserver, started by tests/host/conftest.py):
# the same Store, schema and migrations as SQLite; idempotent; many writers at once, none doubled.
import json
import multiprocessing

import pytest
from irprobe import cli
from irprobe.db import SCHEMA_VERSION, SeqConflict, Store, StoreError
from irprobe.db_pg import translate


def _reading(meter, kwh, n_values=3):
    return {
        "meter": {"id": meter, "manufacturer": "ISK", "ident": "/ISK5MT174-0001"},
        "protocol": "iec62056-21",
        "mode": "C",
        "baud": 9600,
        "values": [{"obis": "1.8.%d" % i, "value": kwh, "unit": "kWh"} for i in range(n_values)],
        "profiles": [{"obis": "1.0.99.1.0.255", "columns": [{"obis": "1.8.0", "unit": "kWh"}],
                      "rows": [{"time": "2026-11-25T17:00:00Z", "values": [kwh]}]}],
    }


def test_translation_rules():
    assert translate("BEGIN IMMEDIATE")[0] == "BEGIN"
    assert "pg_advisory_xact_lock" in translate("BEGIN IMMEDIATE")[1]
    assert translate("PRAGMA foreign_keys = ON") == []
    assert translate("INSERT OR IGNORE INTO meters (meter_id) VALUES (?)") == [
        "INSERT INTO meters (meter_id) VALUES (%s) ON CONFLICT DO NOTHING"]
    assert translate("UPDATE devices SET acked_seq = MAX(acked_seq, ?)")[0].startswith(
        "UPDATE devices SET acked_seq = GREATEST(acked_seq, %s)")
    ddl = translate("CREATE TABLE t (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL)")[0]
    assert ddl == "CREATE TABLE t (id BIGSERIAL PRIMARY KEY, seq BIGINT NOT NULL)"
    assert translate("INSERT INTO sessions (a) VALUES (?)")[0].endswith("RETURNING id")


def test_same_store_on_postgresql(pg_db):
    with Store(pg_db) as s:
        assert s.schema_version() == SCHEMA_VERSION
        recs = [(seq, 1764003811 + seq, _reading("M1", "%010.3f" % seq), b"\x01\x02")
                for seq in range(1, 6)]
        assert s.add_records("P1", recs) == (5, 0, 0)
        assert s.add_records("P1", recs) == (0, 5, 0)  # again: nothing new
        assert s.counts() == {"meters": 1, "sessions": 5, "values": 15, "profile_rows": 5}
        (mid, taken, vals), = s.latest()
        assert mid == "M1" and taken == 1764003816 and vals[0]["value"] == "000005.000"
        assert [r["value"] for r in s.rows() if r["obis"] == "1.8.0"][:2] == [
            "000001.000", "000002.000"]
        hist, kind = s.history("M1", "1.8.0")
        assert kind == "profile" and len(hist) == 5
        with pytest.raises(SeqConflict):
            s.add_records("P1", [(3, 1, _reading("M1", "x"), None)])
        key = s.new_epoch("P1")
        assert key == "P1~2" and s.current_key("P1") == "P1~2"
        s.note_sync("P1", 5, "0.1.0")
        s.note_sync("P1", 3)
        assert s.conn.execute(
            "SELECT acked_seq, firmware FROM devices WHERE device_id = ?", ("P1",)
        ).fetchone() == (5, "0.1.0")
        # A big reading (more than a btree entry holds) is stored whole, and a changed one
        # under a held number is kept as a conflict.
        big = _reading("M2", "1", 400)
        assert s.add_records("P3", [(1, 10, big, b"\x09")]) == (1, 0, 0)
        big2 = _reading("M2", "2", 400)
        assert s.add_records("P3", [(1, 10, big2, b"\x09")]) == (0, 0, 1)
        assert len(s.conflicts("P3")) == 1
    with Store(pg_db) as s:  # opened again: schema current, nothing migrated twice
        assert s.conn.execute("SELECT COUNT(*) FROM migrations").fetchone()[0] == SCHEMA_VERSION


def _host(args):
    url, host, probes, seqs = args
    stored = []
    with Store(url) as s:
        for probe in probes:
            for lo in range(1, seqs + 1, 5):  # batches of 5, as a sync pulls them
                batch = [(q, 1764003811 + q, _reading("M-" + probe, "%010.3f" % q), b"\x07")
                         for q in range(lo, min(lo + 5, seqs + 1))]
                stored.append(s.add_records(probe, batch))
    return stored


def test_many_hosts_sync_the_same_probes_at_once(pg_db):
    Store(pg_db).close()  # (the first open of each host races on the schema too: see below)
    ctx = multiprocessing.get_context("fork")
    jobs = [(pg_db, "host%d" % h, ["P%d" % ((h + i) % 3) for i in range(3)], 20)
            for h in range(4)]
    with ctx.Pool(4) as pool:
        results = pool.map(_host, jobs)
    added = sum(a for host in results for a, _, _ in host)
    dups = sum(d for host in results for _, d, _ in host)
    conflicts = sum(c for host in results for _, _, c in host)
    with Store(pg_db) as s:
        counts = s.counts()
        for p in ("P0", "P1", "P2"):
            assert s.known_seqs(p) == list(range(1, 21))
    assert counts["sessions"] == 60 and counts["meters"] == 3  # each record exactly once
    assert counts["values"] == 180
    assert added == 60 and dups == 4 * 60 - 60 and conflicts == 0


def test_first_opens_race_on_the_schema(pg_db):
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(4) as pool:
        got = pool.map(_open_version, [pg_db] * 4)
    assert got == [SCHEMA_VERSION] * 4
    with Store(pg_db) as s:
        assert [r[0] for r in s.conn.execute("SELECT version FROM migrations ORDER BY 1")] == (
            list(range(1, SCHEMA_VERSION + 1)))


def _open_version(url):
    with Store(url) as s:
        return s.schema_version()


def test_cli_sync_show_export_publish_with_postgresql(pg_db, mqtt_broker, tmp_path, capsys):
    from irprobe.sim.probe_sim import ProbeSim

    with ProbeSim("iskra-mt174", root=str(tmp_path / "probe")) as sim:
        sim.prefill(3)
        assert cli.main(["sync", "--port", sim.port, "--db", pg_db]) == 0
        assert "3 records pulled, 3 new" in capsys.readouterr().out
        assert cli.main(["sync", "--port", sim.port, "--db", pg_db]) == 0
        assert "0 records pulled" in capsys.readouterr().out
    assert cli.main(["show", "--db", pg_db]) == 0
    assert "meter" in capsys.readouterr().out
    out = str(tmp_path / "x.json")
    assert cli.main(["export", "--db", pg_db, "--format", "json", "--out", out]) == 0
    assert len(json.load(open(out))) > 0
    capsys.readouterr()
    assert cli.main(["publish", "--db", pg_db, "--broker", mqtt_broker.url,
                     "--discovery-prefix", "pg"]) == 0
    assert "published 3 readings" in capsys.readouterr().out
    assert cli.main(["publish", "--db", pg_db, "--broker", mqtt_broker.url,
                     "--discovery-prefix", "pg"]) == 0
    assert "published 0 readings" in capsys.readouterr().out


def test_unreachable_database_is_one_clear_line(capsys):
    url = "postgresql://fleet:pw-not-shown@127.0.0.1:1/readings?connect_timeout=2"
    with pytest.raises(StoreError) as e:
        Store(url)
    assert "pw-not-shown" not in str(e.value)
    assert cli.main(["show", "--db", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("irprobe show: the PostgreSQL database postgresql://fleet@127.0.0.1:1")
    assert "pw-not-shown" not in err and "Traceback" not in err


def _publish_job(args):
    db, url = args
    from irprobe.mqtt import Connection, broker_key
    from irprobe.publisher import publish

    with Store(db) as s:
        conn = Connection(url)
        try:
            return publish(s, conn, broker_key(url), "pgc")["readings"]
        finally:
            conn.close()


def test_two_hosts_publish_one_fleet_database_at_once(pg_db, mqtt_broker):
    from servers import Listener

    with Store(pg_db) as s:
        s.add_records("P9", [(q, 1764003811 + q, _reading("M9", "%010.3f" % q), None)
                             for q in range(1, 31)])
    lis = Listener(mqtt_broker, "irprobe/m9/state")
    try:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(2) as pool:
            sent = pool.map(_publish_job, [(pg_db, mqtt_broker.url)] * 2)
        assert sorted(sent) == [0, 30]  # the second waited, then found everything published
        assert lis.wait_for(lambda: len(lis.messages()) == 30)
        seqs = [json.loads(p)["seq"] for _, p, _ in lis.messages()]
        assert seqs == list(range(1, 31))  # each reading once, in order
    finally:
        lis.close()

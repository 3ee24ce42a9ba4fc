# export (CSV/JSON round trip, exact decimal text and units) and show (rich table).
import csv
import json

from irprobe import cli
from irprobe.db import Store

VALUES = [
    ("1-0:1.8.0*255", "001234.567", "kWh"),
    ("1-0:2.8.0*255", "0.000", "kWh"),
    ("1-0:32.7.0*255", "230.1", "V"),
    ("0-0:96.1.0*255", "12345678", None),
    ("1-0:1.8.1*255", "1e3,5", "kWh"),
]  # odd text survives as text


def fill(path):
    with Store(path) as s:
        for seq in (1, 2, 3):
            r = {
                "meter": {"id": "M%d" % (seq % 2), "manufacturer": "EMH", "ident": "/EMH5"},
                "protocol": "iec62056-21",
                "mode": "C",
                "baud": 9600,
                "values": [{"obis": o, "value": v, "unit": u} for o, v, u in VALUES],
            }
            s.add_records("dev", [(seq, 1795536000 + seq * 86400, r)])


def test_csv_round_trip(tmp_path, capsys):
    db = str(tmp_path / "r.sqlite")
    fill(db)
    out = str(tmp_path / "x.csv")
    assert cli.main(["export", "--db", db, "--format", "csv", "--out", out]) == 0
    rows = list(csv.DictReader(open(out, newline="")))
    assert len(rows) == 3 * len(VALUES)
    got = [(r["obis"], r["value"], r["unit"] or None) for r in rows[: len(VALUES)]]
    assert got == VALUES
    assert rows[0]["taken_at"] == "2026-11-25T16:00:00Z"
    assert {r["seq"] for r in rows} == {"1", "2", "3"}


def test_json_filters(tmp_path, capsys):
    db = str(tmp_path / "r.sqlite")
    fill(db)
    assert (
        cli.main(
            ["export", "--db", db, "--format", "json", "--meter", "M1", "--since", "2026-11-26"]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert {r["seq"] for r in rows} == {3}
    assert [(r["obis"], r["value"], r["unit"]) for r in rows] == VALUES


def test_bad_since_and_bad_out(tmp_path, capsys):
    db = str(tmp_path / "r.sqlite")
    fill(db)
    assert cli.main(["export", "--db", db, "--since", "last tuesday"]) == 2
    assert "cannot read the time" in capsys.readouterr().err
    assert cli.main(["export", "--db", db, "--out", str(tmp_path / "no" / "dir" / "x.csv")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_show_latest(tmp_path, capsys):
    db = str(tmp_path / "r.sqlite")
    fill(db)
    assert cli.main(["show", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "meter M0" in out and "meter M1" in out
    assert "001234.567" in out and "230.1" in out
    assert "2026-11-27T16:00:00Z" in out  # M1's newest session (seq 3)


def test_show_empty(tmp_path, capsys):
    from irprobe.db import Store

    empty = tmp_path / "e.sqlite"
    Store(str(empty)).close()
    assert cli.main(["show", "--db", str(empty)]) == 2
    assert "no readings stored yet" in capsys.readouterr().err


def test_reading_commands_refuse_a_missing_database_and_create_none(tmp_path, capsys):
    typo = tmp_path / "readigns.sqlite"
    for argv in (["show"], ["export"], ["export", "--format", "json"]):
        assert cli.main(argv + ["--db", str(typo)]) == 2
        err = capsys.readouterr().err
        assert "no database at %s" % typo in err and err.count("\n") == 1
    assert not typo.exists()


def test_export_empty_selection_is_an_error(tmp_path, capsys):
    db = str(tmp_path / "r.sqlite")
    fill(db)
    assert cli.main(["export", "--db", db, "--meter", "nosuch"]) == 2
    cap = capsys.readouterr()
    assert cap.out == "" and "no meter 'nosuch' in the database (known: M0, M1)" in cap.err
    assert cli.main(["export", "--db", db, "--since", "2099-01-01"]) == 2
    assert "no readings since 2099-01-01" in capsys.readouterr().err


def test_sync_on_a_dead_port_creates_no_database(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    db = tmp_path / "new.sqlite"
    assert cli.main(["sync", "--port", str(tmp_path / "no-probe"), "--db", str(db)]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert cli.main(["sync", "--port", str(tmp_path / "no-probe")]) == 2
    assert not db.exists() and not (tmp_path / "data").exists()

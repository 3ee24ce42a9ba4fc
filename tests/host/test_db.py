# The reading store: schema migrations, idempotence by (device, seq), hostile device text.
import sqlite3

import pytest
from irprobe.db import SCHEMA_VERSION, BadRecord, Store, StoreError, default_path


def reading(meter="12345678", kwh="001234.567", extra=None):
    vals = [
        {"obis": "1-0:1.8.0*255", "value": kwh, "unit": "kWh"},
        {"obis": "1-0:2.8.0*255", "value": "000000.000", "unit": "kWh"},
    ]
    if extra:
        vals.extend(extra)
    return {
        "meter": {"id": meter, "manufacturer": "EMH", "ident": "/EMH5\\@01LZQJC"},
        "protocol": "iec62056-21",
        "mode": "C",
        "baud": 9600,
        "values": vals,
    }


def test_schema_and_migrations(tmp_path):
    p = str(tmp_path / "r.sqlite")
    with Store(p) as s:
        assert s.schema_version() == SCHEMA_VERSION
    with Store(p) as s:  # reopening does not re-run migrations
        assert s.conn.execute("SELECT COUNT(*) FROM migrations").fetchone()[0] == SCHEMA_VERSION
    c = sqlite3.connect(p)
    c.execute("INSERT INTO migrations VALUES (99, 0)")
    c.commit()
    c.close()
    with pytest.raises(StoreError, match="newer"):
        Store(p)


def test_not_a_database(tmp_path):
    p = tmp_path / "junk.sqlite"
    p.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a readings database"):
        Store(str(p))


def test_default_path_honours_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_path() == str(tmp_path / "irprobe" / "readings.sqlite")
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_path().endswith("/.local/share/irprobe/readings.sqlite")


def test_idempotent_by_device_and_seq():
    s = Store(":memory:")
    recs = [(1, 1764090000, reading()), (2, 1764090900, reading(kwh="001235.000"))]
    assert s.add_records("dev-a", recs) == (2, 0, 0)
    assert s.add_records("dev-a", recs) == (0, 2, 0)
    # Same seq from another device is a different record.
    assert s.add_records("dev-b", recs[:1]) == (1, 0, 0)
    c = s.counts()
    assert c == {"meters": 1, "sessions": 3, "values": 6, "profile_rows": 0}
    assert s.known_seqs("dev-a") == [1, 2]


def test_bad_record_stores_nothing():
    s = Store(":memory:")
    good = (1, 1764090000, reading())
    bad = (2, 1764090000, reading(kwh="1\x1b[2J"))
    with pytest.raises(BadRecord, match="control characters"):
        s.add_records("dev", [good, bad])
    assert s.counts()["sessions"] == 0  # the whole batch rolled back


@pytest.mark.parametrize(
    "rec,msg",
    [
        ((-1, 0, reading()), "out of range"),
        ((1 << 40, 0, reading()), "out of range"),
        ((1, "yesterday", reading()), "impossible time"),
        ((1, 0, "not a dict"), "no reading"),
        ((1, 0, reading(meter="x" * 500)), "characters long"),
        ((1, 0, dict(reading(), values="nope")), "not a list"),
        ((1, 0, dict(reading(), values=[{"value": "1"}] * 5000)), "not a list"),
        (
            (
                1,
                0,
                dict(
                    reading(),
                    profiles=[
                        {
                            "obis": "1-0:99.1.0*255",
                            "columns": [{"obis": "a"}],
                            "rows": [{"time": "x", "values": ["1", "2"]}],
                        }
                    ],
                ),
            ),
            "does not match",
        ),
        (
            (
                1,
                0,
                dict(
                    reading(), profiles=[{"obis": "1-0:99.1.0*255", "columns": ["a"], "rows": []}]
                ),
            ),
            "malformed",
        ),
    ],
)
def test_bad_records_rejected(rec, msg):
    s = Store(":memory:")
    with pytest.raises(BadRecord, match=msg):
        s.add_records("dev", [rec])


def test_hostile_meter_id_is_stored_as_data():
    s = Store(":memory:")
    evil = "x'); DROP TABLE sessions; --"
    s.add_records("dev", [(1, 0, reading(meter=evil)), (2, 0, reading(meter="../../etc/passwd"))])
    assert sorted(s.meters()) == sorted([evil, "../../etc/passwd"])
    assert s.counts()["sessions"] == 2


def test_profiles_and_history():
    s = Store(":memory:")
    r = reading()
    r["profiles"] = [
        {
            "obis": "1-0:99.1.0*255",
            "period_min": 15,
            "columns": [{"address": "1.29", "obis": "1-0:1.29.0*255", "unit": "kWh"}],
            "rows": [
                {"time": "2026-11-25T00:15:00", "status": "00", "values": ["0.125"]},
                {"time": "2026-11-25T00:00:00", "status": "00", "values": ["0.250"]},
            ],
        }
    ]
    s.add_records("dev", [(1, 1764090000, r)])
    pts, kind = s.history("12345678", "1-0:1.29.0*255")
    assert kind == "profile"
    assert pts == [
        ("2026-11-25T00:00:00", "0.250", "kWh"),
        ("2026-11-25T00:15:00", "0.125", "kWh"),
    ]
    pts, kind = s.history("12345678", "1-0:1.8.0*255")
    assert kind == "register" and pts == [(1764090000, "001234.567", "kWh")]
    latest = s.latest()
    assert latest[0][0] == "12345678" and latest[0][2][0]["value"] == "001234.567"


def test_dlms_profile_shape():
    s = Store(":memory:")
    r = reading()
    r["profiles"] = [
        {
            "obis": "1-0:99.1.0*255",
            "capture_objects": [
                {"class_id": 8, "obis": "0-0:1.0.0*255", "attr": 2},
                {"class_id": 3, "obis": "1-0:1.8.0*255", "attr": 2},
            ],
            "rows": [["2026-11-25 00:15:00", "12.5"], ["2026-11-25 00:30:00", "13.0"]],
        }
    ]
    s.add_records("dev", [(1, 1764090000, r)])
    pts, kind = s.history("12345678", "1-0:1.8.0*255")
    assert kind == "profile"
    # the profile has no unit; the register of the same OBIS lends its own
    assert pts == [("2026-11-25 00:15:00", "12.5", "kWh"), ("2026-11-25 00:30:00", "13.0", "kWh")]

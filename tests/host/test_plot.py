# plot: register history and load profile to PNG (Agg), clear errors when there is nothing.
from irprobe import cli
from irprobe.db import Store


def fill(path):
    r = {
        "meter": {"id": "M1"},
        "protocol": "dlms",
        "values": [],
        "profiles": [
            {
                "obis": "1-0:99.1.0*255",
                "columns": [{"obis": "1-0:1.29.0*255", "unit": "kWh"}],
                "rows": [
                    {
                        "time": "2026-11-25T%02d:%02d:00" % (i // 4, 15 * (i % 4)),
                        "values": ["%d.%03d" % (i % 3, i)],
                    }
                    for i in range(96)
                ],
            }
        ],
    }
    with Store(path) as s:
        s.add_records("dev", [(1, 1764000000, r)])
        for seq in range(2, 6):
            s.add_records(
                "dev",
                [
                    (
                        seq,
                        1764000000 + seq * 3600,
                        {
                            "meter": {"id": "M1"},
                            "values": [
                                {
                                    "obis": "1-0:1.8.0*255",
                                    "value": "0012%02d.5" % seq,
                                    "unit": "kWh",
                                },
                                {"obis": "0-0:96.1.0*255", "value": "(ERROR)", "unit": None},
                            ],
                        },
                    )
                ],
            )


def test_plot_profile_and_register(tmp_path, capsys):
    db = str(tmp_path / "r.sqlite")
    fill(db)
    for obis in ("1-0:1.29.0*255", "1-0:1.8.0*255"):
        out = tmp_path / ("%s.png" % obis.replace(":", "_").replace("*", "_"))
        assert (
            cli.main(["plot", "--db", db, "--meter", "M1", "--obis", obis, "--out", str(out)]) == 0
        )
        data = out.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    out = capsys.readouterr().out
    assert "96 points" in out and "4 points" in out


def test_plot_errors(tmp_path, capsys):
    db = str(tmp_path / "r.sqlite")
    fill(db)
    assert (
        cli.main(
            [
                "plot",
                "--db",
                db,
                "--meter",
                "M9",
                "--obis",
                "1.8.0",
                "--out",
                str(tmp_path / "a.png"),
            ]
        )
        == 2
    )
    assert "no values" in capsys.readouterr().err
    assert (
        cli.main(
            [
                "plot",
                "--db",
                db,
                "--meter",
                "M1",
                "--obis",
                "0-0:96.1.0*255",
                "--out",
                str(tmp_path / "b.png"),
            ]
        )
        == 2
    )
    assert "not numbers" in capsys.readouterr().err


def _profile_reading(meter, start_wh, uses):
    rows, wh = [], start_wh
    for i, use in enumerate(uses):
        wh += use
        rows.append({"time": "2026-11-25T%02d:%02d:00" % (i // 4, 15 * (i % 4)),
                     "values": [str(wh), "230.%d" % (i % 10)]})
    return {"meter": {"id": meter}, "protocol": "dlms", "values": [],
            "profiles": [{"obis": "1-0:99.1.0*255",
                          "columns": [{"obis": "1-0:1.8.0*255", "unit": "Wh"},
                                      {"obis": "1-0:32.7.0*255", "unit": "V"}],
                          "rows": rows}]}


def test_cumulative_profile_becomes_consumption_per_interval(tmp_path, capsys):
    import datetime

    from irprobe import cmd_plot

    uses = [100 + 7 * i for i in range(96)]
    db = str(tmp_path / "r.sqlite")
    with Store(db) as s:
        # the same profile read five times: its 96 rows count once
        for seq in range(1, 6):
            s.add_records("dev", [(seq, 1764000000 + seq, _profile_reading("M1", 12300000, uses))])
        points, kind = s.history("M1", "1-0:1.8.0*255")
    sh = cmd_plot.shape("M1", "1-0:1.8.0*255", points, datetime.timezone.utc)
    assert sh["style"] == "bars" and sh["unit"] == "kWh" and sh["count"] == 96
    assert sh["per"] == "used per 15 min" and set(sh["width_s"]) == {900}
    assert [round(y * 1000) for y in sh["y"]] == uses[1:]  # Wh per interval, shown in kWh
    assert sh["name"] == "Active energy import (1.8.0)"
    out = tmp_path / "lp.svg"
    assert cli.main(["plot", "--db", db, "--meter", "M1", "--obis", "1.8.0", "--obis",
                     "32.7.0", "--out", str(out), "--tz", "Europe/Vienna"]) == 0
    svg = out.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    # matplotlib writes text as glyph paths with the string in a comment
    assert "Active energy import (1.8.0)" in svg and "Voltage L1 (32.7.0)" in svg
    assert "kWh used per 15 min" in svg and "time (Europe/Vienna)" in svg
    assert "192 points plotted" in capsys.readouterr().out


def test_one_reading_and_wrong_extension_and_missing_db(tmp_path, capsys):
    db = str(tmp_path / "r.sqlite")
    with Store(db) as s:
        s.add_records("dev", [(1, 1764000000, {"meter": {"id": "M2"}, "values": [
            {"obis": "1-0:1.8.0*255", "value": "001234.5", "unit": "kWh"}]})])
    png = tmp_path / "one.png"
    assert cli.main(["plot", "--db", db, "--meter", "M2", "--obis", "1.8.0", "--out",
                     str(png)]) == 0
    assert "1 point plotted" in capsys.readouterr().out
    assert png.read_bytes()[:4] == b"\x89PNG"
    jpg = tmp_path / "x.jpg"
    assert cli.main(["plot", "--db", db, "--meter", "M2", "--obis", "1.8.0", "--out",
                     str(jpg)]) == 2
    assert "--out must end in .png, .svg or .pdf" in capsys.readouterr().err
    assert not jpg.exists()
    nodb = tmp_path / "typo.sqlite"
    assert cli.main(["plot", "--db", str(nodb), "--meter", "M2", "--obis", "1.8.0", "--out",
                     str(png)]) == 2
    assert "no database at" in capsys.readouterr().err and not nodb.exists()


def test_times_are_shown_in_the_chosen_zone():
    import datetime
    import zoneinfo

    from irprobe.cmd_plot import _when

    vienna = zoneinfo.ZoneInfo("Europe/Vienna")
    # a reading's unix time and a profile time with its offset land on the same instant
    a = _when(1764000000, vienna)
    b = _when("2025-11-24T16:00:00+00:00", vienna)
    assert a == b and a.utcoffset() == datetime.timedelta(hours=1) and a.hour == 17
    # a profile time without a zone is the meter's local clock, in that zone
    c = _when("2025-11-24 17:00:00", vienna)
    assert c == a and _when("not a time", vienna) is None

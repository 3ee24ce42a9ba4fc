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

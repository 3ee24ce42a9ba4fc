# take and config against the simulated probe on a pty (firmware app + command server).
import json

import pytest
from irprobe import cli
from irprobe.sim.probe_sim import ProbeSim
from irprobe.sim.profiles import get_profile


@pytest.fixture
def sim(tmp_path):
    with ProbeSim("iskra-mt174", root=str(tmp_path / "probe")) as s:
        yield s


def test_take_prints_the_reading_json_and_stores_it(sim, capsys):
    assert cli.main(["take", "--port", sim.port, "--json"]) == 0
    cap = capsys.readouterr()
    d = json.loads(cap.out)
    exp = get_profile("iskra-mt174")["expected"]
    assert [(v["obis"], v["value"], v["unit"]) for v in d["values"]] == [
        (e["obis"], e["value"], e["unit"]) for e in exp
    ]
    assert d["protocol"] == "iec62056-21" and d["meter"]["manufacturer"] == "ISk"
    assert "stored on the probe as record 1" in cap.err
    st = sim.store.status()
    assert st["count"] == 1
    # how full the probe is, in readings
    ps = d["probe_storage"]  # the simulated probe stores on the host's disk: it moves a bit
    assert ps["count"] == 1 and abs(ps["slots_left"] - st["slots_left"]) < st["slots_left"] // 100
    assert d["probe_storage"]["capacity"] == 1 + d["probe_storage"]["slots_left"] > 1000
    assert cli.main(["take", "--port", sim.port]) == 0
    cap = capsys.readouterr()
    assert "1-0:1.8.0*255" in cap.out  # the table
    assert "stored on the probe as record 2; 2 readings stored, room for" in cap.err


def test_take_failure_is_plain_words(tmp_path, capsys):
    from irprobe.sim.vline import Faults

    with ProbeSim("iskra-mt174", root=str(tmp_path / "p"), faults=Faults(unpowered=True)) as s:
        assert cli.main(["take", "--port", s.port]) == 2
    err = capsys.readouterr().err
    assert "the probe could not read its meter (no-answer)" in err


def test_config_roundtrip_secrets_write_only(sim, capsys):
    assert (
        cli.main(
            [
                "config",
                "--port",
                sim.port,
                "--meter",
                "cellar",
                "--mode",
                "auto",
                "--max-baud",
                "4800",
                "--password",
                "s3cret",
                "--key",
                "ek=000102030405060708090A0B0C0D0E0F",
                "--active",
                "cellar",
                "--option",
                "interval_s=900",
                "--json",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "s3cret" not in out and "000102" not in out
    cfg = json.loads(out)
    cellar = [m for m in cfg["meters"] if m["name"] == "cellar"][0]
    assert cellar["mode"] == "auto" and cellar["max_baud"] == 4800
    assert cellar["password"] == "***" and cellar["has_password"] is True
    assert cellar["keys"] == {"ek": "***"}
    assert cfg["active"] == "cellar" and cfg["options"]["interval_s"] == 900
    # The probe holds the secret for its reader.
    assert sim.config.profile("cellar")["password"] == "s3cret"
    # Showing the config never shows it either.
    assert cli.main(["config", "--port", sim.port]) == 0
    out = capsys.readouterr().out
    assert "cellar" in out and "s3cret" not in out and "set" in out
    # Clearing the password, removing the profile.
    assert (
        cli.main(["config", "--port", sim.port, "--meter", "cellar", "--password", "", "--json"])
        == 0
    )
    assert sim.config.profile("cellar")["password"] is None
    capsys.readouterr()
    assert cli.main(["config", "--port", sim.port, "--remove", "cellar", "--json"]) == 0
    assert "cellar" not in capsys.readouterr().out


def test_config_refusals(sim, capsys):
    # settings are checked before they go out; what only the probe knows, it refuses
    assert cli.main(["config", "--port", sim.port, "--meter", "x", "--address", "a$"]) == 2
    assert "meter address may hold digits, letters and spaces" in capsys.readouterr().err
    assert cli.main(["config", "--port", sim.port, "--remove", "nosuch"]) == 2
    assert "the probe refused the change: config_set: no meter profile named 'nosuch'" \
        in capsys.readouterr().err
    assert cli.main(["config", "--port", sim.port, "--mode", "iec"]) == 2
    assert "--meter NAME" in capsys.readouterr().err
    assert cli.main(["config", "--port", sim.port, "--active", "nope"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_no_probe_on_port(tmp_path, capsys):
    assert cli.main(["take", "--port", str(tmp_path / "nothing")]) == 2
    assert "cannot open" in capsys.readouterr().err


def test_simulate_probe_command_serves_a_pty(tmp_path):
    """`irprobe simulate --probe` in its own process: first line is {"port": ...}."""
    import subprocess
    import sys

    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "irprobe",
            "simulate",
            "--probe",
            "--profile",
            "lgz-zmd",
            "--pty",
            "--timeout",
            "20",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = json.loads(p.stdout.readline())
        from irprobe.probelink import ProbeLink

        with ProbeLink.open(first["port"]) as link:
            res = link.take()
            assert res["outcome"] == "success" and res["seq"] == 1
            assert res["reading"]["meter"]["id"]
    finally:
        p.terminate()
        p.wait(10)


def test_take_hostile_text_is_cleaned(capsys):
    """Reading text from the device cannot drive the terminal (escapes, rich markup)."""
    from meterproto.link import channel as H
    from test_sync import EvilProbe

    evil = {
        "outcome": "success",
        "seq": 3,
        "reading": {
            "meter": {"id": "\x1b]0;pwned\x07M1"},
            "protocol": "iec62056-21",
            "values": [
                {"obis": "1-0:1.8.0*255", "value": "[blink]12[/blink]\x1b[2J", "unit": "kWh"}
            ],
        },
    }
    ev = EvilProbe(lambda f: H.encode_frame(f.type | 0x80, f.seq, H.encode_json(evil)))
    try:
        assert cli.main(["take", "--port", ev.port]) == 0
    finally:
        ev.close()
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "[blink]12[/blink]" in out  # shown as text, not interpreted as markup


def test_config_wifi_and_mqtt_passwords_write_only(sim, capsys):
    assert cli.main(["config", "--port", sim.port, "--option", "wifi_ssid=home",
                     "--option", "wifi_password=12345678", "--option", "mqtt_host=ha.local",
                     "--option", "mqtt_password=p@ss", "--option", "interval_s=900",
                     "--json"]) == 0
    out = capsys.readouterr().out
    assert "12345678" not in out and "p@ss" not in out
    opts = json.loads(out)["options"]
    assert opts["wifi_password"] == "***" and opts["mqtt_password"] == "***"
    # an all-digit password stays text on the probe (what Wi-Fi needs)
    assert sim.config.data["options"]["wifi_password"] == "12345678"
    assert cli.main(["config", "--port", sim.port]) == 0
    assert "12345678" not in capsys.readouterr().out

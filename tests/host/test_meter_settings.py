# One vocabulary and one set of rules for meter settings: `irprobe config` checks every
# setting with the probe's own rules before anything is written (with or without a probe),
# keeps named settings on this computer for `irprobe read --meter NAME`, and read with keys
# alone does not stop at the first authentication a meter refuses.
import json
import os
import select
import stat
import subprocess
import sys

import pytest

from irprobe import cli
from irprobe.sim import profiles

GB_EK = "000102030405060708090A0B0C0D0E0F"
GB_AK = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    return tmp_path / "cfg" / "irprobe" / "meters.json"


@pytest.mark.parametrize("argv, words", [
    (["--address", "ab$c"], "meter address may hold digits, letters and spaces only"),
    (["--option", "interval_s=-5"], "interval_s must be a whole number from 0 to"),
    (["--option", "colour=red"], "unknown option 'colour'"),
    (["--key", "ek=0011"], "key ek must be 32 hex digits"),
    (["--key", "enc=00"], "unknown key 'enc'"),
    (["--server", "1/x"], "--server is UPPER or UPPER/LOWER"),
])
def test_config_refuses_bad_settings_before_touching_the_probe(home, capsys, argv, words):
    # a probe port that does not exist: the setting is refused first, in plain words
    assert cli.main(["config", "--port", "/dev/nonexistent-probe", "--meter", "m"] + argv) == 2
    err = capsys.readouterr().err
    assert words in err and "nonexistent" not in err and err.count("\n") == 1
    assert cli.main(["config", "--meter", "m"] + argv) == 2  # the host's own settings too
    assert not home.exists()


@pytest.mark.parametrize("argv", [["--mode", "bogus"], ["--max-baud", "12345"],
                                  ["--auth", "hls"]])
def test_config_choices_are_the_read_vocabulary(home, capsys, argv):
    with pytest.raises(SystemExit) as e:
        cli.main(["config", "--meter", "m"] + argv)
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["read", "--port", "x"] + argv)
    capsys.readouterr()


def test_named_settings_are_kept_privately_and_masked(home, capsys):
    assert cli.main(["config", "--meter", "home", "--mode", "e", "--server", "1/17",
                     "--client", "1", "--key", "ek=" + GB_EK, "--key", "ak=" + GB_AK,
                     "--password", "SECRET12", "--json"]) == 0
    out = capsys.readouterr().out
    assert "SECRET12" not in out and GB_EK not in out
    shown = json.loads(out)["meters"][0]
    assert shown["mode"] == "e" and shown["keys"] == {"ek": "***", "ak": "***"}
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home.parent).st_mode) == 0o700
    saved = json.loads(home.read_text())["meters"][0]
    assert saved["server"] == (1 << 16) | 17 and saved["password"] == "SECRET12"
    assert cli.main(["config", "--remove", "nosuch"]) == 2
    assert "no meter profile named 'nosuch' to remove (known: home)" in capsys.readouterr().err
    assert cli.main(["read", "--port", "x", "--meter", "away"]) == 2
    assert "no meter named 'away'" in capsys.readouterr().err


def test_take_and_sync_timeouts_must_be_positive(capsys):
    for argv in (["take", "--port", "x", "--timeout", "-1"],
                 ["sync", "--port", "x", "--timeout", "-5"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert "--timeout" in err and "must be above 0" in err


def _sim(name):
    sim = subprocess.Popen([sys.executable, "-m", "irprobe", "simulate", "--pty", "--profile",
                            name, "--time-scale", "4", "--timeout", "60"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    r, _, _ = select.select([sim.stdout], [], [], 15)
    assert r, "the simulator printed no port"
    return sim, json.loads(sim.stdout.readline())["port"]


def _read(port, *argv, env=None):
    return subprocess.run([sys.executable, "-m", "irprobe", "read", "--port", port,
                           "--time-scale", "4", "--json"] + list(argv),
                          capture_output=True, text=True, timeout=120, env=env)


def _values(d):
    return {v["obis"]: (v["value"], v["unit"]) for v in d["values"]}


def test_read_meter_uses_the_saved_settings(tmp_path):
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path))
    p = profiles.get_profile("dlms-password")
    subprocess.run([sys.executable, "-m", "irprobe", "config", "--meter", "home", "--mode",
                    "auto", "--client", str(p["client_sap"]), "--auth", "low", "--password",
                    p["password"]], check=True, env=env, capture_output=True)
    sim, port = _sim("dlms-password")
    try:
        r = _read(port, "--meter", "home", env=env)
    finally:
        sim.terminate()
        sim.wait(5)
    assert r.returncode == 0, r.stderr
    got = _values(json.loads(r.stdout))
    for e in p["expected"]["values"]:
        assert got.get(e["obis"]) == (e["value"], e["unit"])


def test_keys_alone_read_a_meter_that_wants_no_hls():
    p = profiles.get_profile("dlms-ciphered")
    sim, port = _sim("dlms-ciphered")
    try:
        r = _read(port, "--client", str(p["client_sap"]), "--ek", p["ek"], "--ak", p["ak"])
    finally:
        sim.terminate()
        sim.wait(5)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["notes"][0].startswith("the meter refused authentication hls-gmac; read with "
                                    "lowest instead")
    got = _values(d)
    for e in p["expected"]["values"]:
        assert got.get(e["obis"]) == (e["value"], e["unit"])


def test_simulate_list_shows_what_a_reader_needs_uncut(capsys):
    assert cli.main(["simulate", "--list"]) == 0
    out = capsys.readouterr().out
    for name in profiles.list_profiles():
        p = profiles.get_profile(name)
        assert "\n%s  " % name in out
        if p.get("protocol") == "dlms":
            assert p["ident"].lstrip("/") in out  # the whole ident, not cut at 80 columns
        for secret in (p.get("password"), p.get("ek"), p.get("ak"), p.get("address")):
            if secret:
                assert secret in out, (name, secret)
    assert "client 1, server 1, auth hls-gmac" in out and "server 1/17" in out


def test_demo_reads_every_simulated_meter(capsys):
    assert cli.main(["demo", "--meters", "all", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    names = profiles.list_profiles()
    assert len(got) == len(names)
    for name, d in zip(names, got):
        p = profiles.get_profile(name)
        exp = p["expected"]["values"] if p.get("protocol") == "dlms" else p["expected"]
        values = _values(d)
        for e in exp:
            assert values.get(e["obis"]) == (e["value"], e["unit"]), (name, e)


def test_new_named_settings_start_from_the_read_defaults(home, capsys):
    assert cli.main(["config", "--meter", "m", "--password", "pw", "--json"]) == 0
    m = json.loads(capsys.readouterr().out)["meters"][0]
    assert (m["mode"], m["max_baud"]) == ("auto", 19200)

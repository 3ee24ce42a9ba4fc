# Issue 2/6 "done when": `irprobe simulate --profile <each> --pty` + `irprobe read --port <pty>
# --json` gives the profile's values, for every simulated meter, over a real pty between two
# processes (the readers other tests cover in more detail are included again for completeness).
import json
import select
import subprocess
import sys

import pytest

from irprobe.sim import profiles

SCALE = "4"
# Push meters are listened to, not read; test_cli_iec covers mode D.
NAMES = [n for n in profiles.list_profiles() if profiles.get_profile(n).get("mode") != "D"]


def _read_args(p):
    # the very options `irprobe simulate --list` prints as the meter's "read:" line
    from irprobe.sim.reader_options import read_args

    return read_args(p)


@pytest.mark.parametrize("name", NAMES)
def test_every_profile_reads_over_a_pty(name):
    p = profiles.get_profile(name)
    # A 20 ms reaction cannot be kept by two busy processes in real time: give it 200 ms.
    relaxed = ["--reaction-ms", "200"] if p.get("protocol") != "dlms" else []
    sim = subprocess.Popen([sys.executable, "-m", "irprobe", "simulate", "--pty", "--profile",
                            name, "--time-scale", SCALE, "--timeout", "90"] + relaxed,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        r, _, _ = select.select([sim.stdout], [], [], 15)
        assert r, "the simulator printed no port"
        port = json.loads(sim.stdout.readline())["port"]
        out = subprocess.run([sys.executable, "-m", "irprobe", "read", "--port", port, "--json",
                              "--time-scale", SCALE] + _read_args(p),
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        d = json.loads(out.stdout)
        got = {v["obis"]: (v["value"], v["unit"]) for v in d["values"]}
        if p.get("protocol") == "dlms":
            exp = p["expected"]
            for e in exp["values"]:
                assert got.get(e["obis"]) == (e["value"], e["unit"]), (e, got.get(e["obis"]))
            assert d["objects"], "the association view is listed"
            rows = sum(len(pr["rows"]) for pr in d.get("profiles") or ())
            assert rows == exp["profile_rows"], rows
        else:
            assert d["protocol"] == "iec62056-21" and d["mode"] == p["mode"]
            for e in p["expected"]:
                assert got.get(e["obis"]) == (e["value"], e["unit"]), (e, got.get(e["obis"]))
    finally:
        sim.terminate()
        try:
            sim.wait(5)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait()
        sim.stdout.close()
        sim.stderr.close()

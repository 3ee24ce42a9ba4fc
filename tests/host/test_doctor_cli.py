# `irprobe doctor` over a real pty against `irprobe simulate`, in real time. Kept to two
# short runs (fast profile, --no-readout; the echo run skips the wake-up and SNRM steps);
# the whole fault table runs in simulated time in tests/core/test_doctor_faults.py.
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pty")


def _irprobe(*args, timeout=60):
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "irprobe", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


class _Sim:
    def __init__(self, *args):
        self.p = subprocess.Popen([sys.executable, "-m", "irprobe", "simulate", "--pty",
                                   "--timeout", "30", *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        assert line, self.p.stderr.read()
        self.port = json.loads(line)["port"]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.p.kill()
        self.p.wait()


def test_doctor_names_a_healthy_meter_over_a_pty():
    with _Sim("--profile", "iskra-mt174") as sim:
        r = _irprobe("doctor", "--port", sim.port, "--no-readout", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["verdict"] == "ok" and "ISk5MT174-0001" in d["text"]
    assert d["steps"][0]["step"] == "sign-on 300 7E1"


def test_doctor_names_crosstalk_over_a_pty_in_plain_words():
    with _Sim("--profile", "iskra-mt174", "--fault", "crosstalk") as sim:
        r = _irprobe("doctor", "--port", sim.port, "--no-readout", "--no-hdlc",
                     "--wakeup", "none")
    assert r.returncode == 1, r.stderr
    assert "echo-only" in r.stdout and "own echo" in r.stdout and "powered" in r.stdout
    assert "Traceback" not in r.stderr


def test_doctor_bad_port_and_bad_address_are_plain_errors():
    r = _irprobe("doctor", "--port", "/dev/no-such-head")
    assert r.returncode == 2 and r.stderr.startswith("irprobe doctor:"), r.stderr
    assert "no such device" in r.stderr and "Traceback" not in r.stderr
    r = _irprobe("doctor", "--port", "/dev/no-such-head", "--address", "bad!addr")
    assert r.returncode == 2 and "address" in r.stderr and "Traceback" not in r.stderr


def test_doctor_on_a_simulated_probe_over_its_usb_channel():
    # `irprobe simulate --probe`: the firmware's own app and USB server on a pty; the probe
    # runs the ladder itself (in simulated time) and answers the DOCTOR command.
    p = subprocess.Popen([sys.executable, "-m", "irprobe", "simulate", "--probe", "--profile",
                          "iskra-mt174", "--pty", "--timeout", "30"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        port = json.loads(p.stdout.readline())["port"]
        r = _irprobe("doctor", "--probe", port, "--no-hdlc", "--json")
    finally:
        p.kill()
        p.wait()
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["verdict"] == "ok" and "ISk5MT174-0001" in d["text"]
    assert [s["step"] for s in d["steps"]] == ["sign-on 300 7E1", "readout check"]

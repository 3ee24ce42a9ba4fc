# The CLI end to end over a real pty: `irprobe simulate --pty` in one process, `irprobe read`
# (and decode/demo) in another, compared with the simulated meter's expected values.
import json
import os
import select
import subprocess
import sys
import time

import pytest

from irprobe.sim import profiles

SCALE = "4"  # both sides run their clocks 4x faster: a 300-baud sign-on takes ~0.4 s
# The MT174 may answer 20 ms after our ACK; two busy processes on a shared CPU cannot
# promise 5 ms of real time, so over the pty it is given the usual 200 ms.
RELAXED = ("--reaction-ms", "200")


def _cli(*args, timeout=30, input=None):
    return subprocess.run([sys.executable, "-m", "irprobe"] + list(args), capture_output=True,
                          text=True, timeout=timeout, input=input)


class Sim:
    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, "-m", "irprobe", "simulate", "--pty",
                                      "--timeout", "60"] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        r, _, _ = select.select([self.proc.stdout], [], [], 15)
        assert r, "the simulator printed no port"
        first = self.proc.stdout.readline()
        self.port = json.loads(first)["port"]

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def sim():
    made = []

    def start(*args):
        s = Sim(*args)
        made.append(s)
        return s

    yield start
    for s in made:
        s.close()


def _triples(values):
    return [(v["obis"], v["value"], v["unit"]) for v in values]


@pytest.mark.parametrize("name", ["iskra-mt174", "mode-b", "battery"])
def test_read_json_over_a_pty_matches_the_profile(sim, name):
    s = sim("--profile", name, "--time-scale", SCALE, *RELAXED)
    p = profiles.get_profile(name)
    extra = ["--wakeup", p["wakeup"]] if p.get("wakeup") else []
    r = _cli("read", "--port", s.port, "--mode", "iec", "--json", "--time-scale", SCALE,
             *extra)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["protocol"] == "iec62056-21" and d["mode"] == p["mode"]
    assert d["baud"] == p["max_baud"]
    assert _triples(d["values"]) == _triples(p["expected"])
    assert d["meter"]["manufacturer"] == p["manufacturer"]


def test_read_listens_to_a_mode_d_pusher(sim):
    s = sim("--profile", "mode-d", "--time-scale", SCALE)
    r = _cli("read", "--port", s.port, "--push", "--json", "--time-scale", SCALE)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["mode"] == "D"
    assert _triples(d["values"]) == _triples(profiles.get_profile("mode-d")["expected"])


def test_pty_emulates_a_baud_mismatch(sim):
    from meterproto.line import FMT_7E1
    from irprobe.serialport import SerialPort

    s = sim("--profile", "iskra-mt174", "--time-scale", SCALE)
    port = SerialPort(s.port, time_scale=float(SCALE))
    try:
        port.set_line(9600, FMT_7E1)  # wrong: every sign-on is at 300 baud
        port.write(b"/?!\r\n")
        port.drain()
        got = b""
        end = port.now_ms() + 2000
        while port.now_ms() < end:
            got += port.read(end)
        assert b"/ISk" not in got  # the meter heard noise and stayed quiet
        port.set_line(300, FMT_7E1)
        port.write(b"/?!\r\n")
        port.drain()
        got = b""
        end = port.now_ms() + 2000
        while b"\n" not in got and port.now_ms() < end:
            got += port.read(end)
        assert got == b"/ISk5MT174-0001\r\n", got
    finally:
        port.close()


def test_read_auto_mode_reads_a_mode_c_meter_as_a_table(sim):
    s = sim("--profile", "elster-as1440", "--time-scale", SCALE)
    r = _cli("read", "--port", s.port, "--time-scale", SCALE)
    assert r.returncode == 0, r.stderr
    assert "1-0:1.8.0*255" in r.stdout and "098765.432" in r.stdout and "kWh" in r.stdout


def test_read_programming_mode_with_password_and_load_profile(sim):
    s = sim("--profile", "prog-lp", "--time-scale", SCALE)
    p = profiles.get_profile("prog-lp")
    r = _cli("read", "--port", s.port, "--mode", "iec", "--password", p["password"],
             "--load-profile", "--json", "--time-scale", SCALE)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["profiles"][0]["rows"]
    assert [{"time": x["time"], "values": x["values"]} for x in rows] == p["expected_profile"]
    r = _cli("read", "--port", s.port, "--mode", "iec", "--password", "wrong", "--json",
             "--load-profile", "--time-scale", SCALE)
    assert r.returncode == 2 and "password" in r.stderr and "Traceback" not in r.stderr


def test_wrong_port_and_silent_meter_give_plain_errors(sim):
    r = _cli("read", "--port", "/dev/ttyUSB9-missing")
    assert r.returncode == 2
    assert "cannot open /dev/ttyUSB9-missing: no such device" in r.stderr
    assert "Traceback" not in r.stderr
    s = sim("--profile", "iskra-mt174", "--fault", "unpowered", "--time-scale", SCALE)
    t = time.monotonic()
    r = _cli("read", "--port", s.port, "--mode", "iec", "--retries", "0", "--time-scale", SCALE)
    assert r.returncode == 2 and "no identification within 1.5 s" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert time.monotonic() - t < 10


def test_echo_fault_is_filtered_by_read(sim):
    s = sim("--profile", "iskra-mt174", "--fault", "echo", "--time-scale", SCALE, *RELAXED)
    r = _cli("read", "--port", s.port, "--mode", "iec", "--json", "--time-scale", SCALE)
    assert r.returncode == 0, r.stderr
    assert _triples(json.loads(r.stdout)["values"]) == \
        _triples(profiles.get_profile("iskra-mt174")["expected"])


def test_simulate_list_json_and_bad_options():
    r = _cli("simulate", "--list", "--json")
    assert r.returncode == 0, r.stderr
    items = dict((x["name"], x) for x in json.loads(r.stdout))
    assert items["lgz-zmd"]["protocol"] == "iec62056-21"
    assert items["lgz-zmd"]["ident"] == "LGZ5\\2ZMD3104407.B32"
    assert items["slow"]["expected"] == profiles.get_profile("slow")["expected"]
    r = _cli("simulate", "--profile", "nope", "--pty")
    assert r.returncode == 2 and "no simulated meter 'nope'" in r.stderr
    r = _cli("simulate", "--profile", "slow", "--fault", "lightning")
    assert r.returncode == 2 and "not emulated" in r.stderr
    r = _cli("simulate", "--pty")
    assert r.returncode == 2 and "--profile" in r.stderr


def test_simulate_over_tcp(sim):
    s = sim("--profile", "mode-a", "--tcp", "0", "--time-scale", "20")
    assert s.port.startswith("socket://127.0.0.1:")
    r = _cli("read", "--port", s.port, "--mode", "iec", "--json", "--time-scale", "20")
    assert r.returncode == 0, r.stderr
    assert _triples(json.loads(r.stdout)["values"]) == \
        _triples(profiles.get_profile("mode-a")["expected"])


def test_demo_is_fast_and_complete():
    t = time.monotonic()
    r = _cli("demo", "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert len(got) >= 2
    mt = profiles.get_profile("iskra-mt174")
    assert _triples(got[0]["values"]) == _triples(mt["expected"])
    assert time.monotonic() - t < 10
    r = _cli("demo")
    assert r.returncode == 0 and "iskra-mt174" in r.stdout and "005556.400" in r.stdout


def _capture_of(name, **opts):
    """A capture file of one real exchange: the client against the simulator."""
    from meterproto.driver import run
    from meterproto.iec.client import IecClient
    from irprobe.sim.vline import VirtualLine

    trace = []
    run(IecClient(**opts), VirtualLine(profiles.make_meter(name)), trace=trace)
    lines = []
    for _, kind, data in trace:
        if kind in "<>":
            lines.append("%s %s" % (kind, data.hex(" ")))
    return "\n".join(lines) + "\n"


def test_decode_capture_lists_values_and_checks_bcc(tmp_path):
    f = tmp_path / "mt174.txt"
    f.write_text(_capture_of("iskra-mt174"))
    r = _cli("decode", str(f), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["bcc_errors"] == 0
    kinds = [m["kind"] for m in d["frames"]]
    assert kinds[:4] == ["sign-on", "identification", "option", "data"], kinds
    assert _triples(d["values"]) == _triples(profiles.get_profile("iskra-mt174")["expected"])
    r = _cli("decode", str(f))
    assert "20 ms reaction allowed" in r.stdout and "BCC ok" in r.stdout
    f = tmp_path / "prog.txt"
    f.write_text(_capture_of("prog-lp", password="12345678", load_profile=("", "")))
    d = json.loads(_cli("decode", str(f), "--json").stdout)
    texts = [m["text"] for m in d["frames"]]
    assert "option select ACK 0 5 1: programming mode at 9600 baud" in texts, texts
    assert [t for t in texts if t.startswith("command P1 (12345678)")]
    assert len([t for t in texts if "(partial block, EOT)" in t]) == 6
    assert len([m for m in d["frames"] if m["kind"] == "ack" and m["dir"] == ">"]) == 6


def test_decode_bad_input_is_explained_not_a_traceback(tmp_path):
    from irprobe.sim.iec_text import frame, STX

    good = frame(STX, "1.8.0(001234.5*kWh)\r\n!\r\n")
    bad = good[:-1] + bytes((good[-1] ^ 0x11,))
    r = _cli("decode", "--hex", bad.hex(), "--json")
    assert r.returncode == 1
    d = json.loads(r.stdout)
    assert d["bcc_errors"] == 1 and "wrong: computed 0x" in d["frames"][0]["bcc"]
    r = _cli("decode", "--hex", good[:12].hex())
    assert r.returncode == 0 and "unfinished message" in r.stdout
    text = "> /?!<CR><LF>\n< /LGZ5\\2ZMD3104407.B32<CR><LF>\n"
    f = tmp_path / "t.txt"
    f.write_text(text)
    r = _cli("decode", str(f))
    assert "offers mode E" in r.stdout and "any meter" in r.stdout
    for args in (["--hex", "zz"], [str(tmp_path / "missing")], []):
        r = _cli("decode", *args)
        assert r.returncode == 2 and r.stderr.startswith("irprobe decode:"), r.stderr
        assert "Traceback" not in r.stderr
    garbage = os.urandom(200)
    g = tmp_path / "g.bin"
    g.write_bytes(garbage)
    r = _cli("decode", str(g))
    assert "Traceback" not in r.stderr and r.returncode == 2
    assert r.stderr.startswith("irprobe decode: not a capture: ") and "gave up at byte" in r.stderr

# `irprobe read --server auto`: the CLI finds the HDLC server address and says which flags to
# use; bad --server / --server-size values end in one plain line (the virtual line stands in
# for the serial port).
import json

import irprobe.serialport
from irprobe import cli
from irprobe.sim.dlms_profiles import PROFILES, make_meter
from irprobe.sim.vline import VirtualLine
from meterproto.line import FMT_8N1


def _port(monkeypatch, meter):
    class Port(VirtualLine):
        def __init__(self, name, time_scale=1.0):
            VirtualLine.__init__(self, meter, baud=9600, fmt=FMT_8N1)

        def close(self):
            pass

    monkeypatch.setattr(irprobe.serialport, "SerialPort", Port)


def test_server_auto_reads_and_names_the_address(monkeypatch, capsys):
    p = dict(PROFILES["dlms-direct"], server_lower=1000 + 1)  # 4 bytes, from the serial
    _port(monkeypatch, make_meter(p))
    args = ["read", "--port", "sim", "--mode", "hdlc", "--server", "auto",
            "--address", "70000001", "--json"]
    assert cli.main(args) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["meter"]["id"] == "70000001"
    notes = [n for n in d.get("notes", []) if "answered" in n]
    assert notes and "use --server 1/1001" in notes[0], d.get("notes")


def test_bad_server_options_are_one_line(monkeypatch, capsys):
    _port(monkeypatch, make_meter(PROFILES["dlms-direct"]))
    for args, words in ((["--server", "x"], "--server is UPPER"),
                        (["--server", "1/99999"], "0..16383"),
                        (["--server", "auto", "--server-size", "4"], "not auto")):
        assert cli.main(["read", "--port", "sim", "--mode", "hdlc"] + args) != 0
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err

# Host fuzz targets (CPython only): what the host imports from a probe, and what `decode` prints.
# Same interface as tests/core/test_fuzz_mp.py TARGETS, (name, fn(bytes), corpus()), so
# bench/fuzz.py runs them at 10^6 inputs and tests/host/test_fuzz_host.py briefly in `make test`.
# A target may end in a result or a ProtocolError; every other exception is a failure, and so is
# decode output that carries a terminal control, bidi override or unescaped markup.
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "core"))

import test_fuzz_mp as F  # noqa: E402
from meterproto.link import channel as hostlink
from meterproto.errors import DecodeError, ProtocolError
from meterproto.link.records import HEADER_LEN, MAGIC, VERSION, crc16, decode_record

from irprobe.inbound import Untrusted, check_reading, check_tree

# Characters that must never reach the terminal from meter data (irprobe.output._HIDDEN).
RAW = ["\x1b", "\x07", "\x9b", "\x9d", "\u202e", "\u2066", "\u200f", "\u2028"]


def _readings():
    iec = {
        "meter": {"id": "41234567", "manufacturer": "ISK", "ident": "/ISk5MT174-0001"},
        "protocol": "iec62056-21", "mode": "C", "baud": 9600,
        "values": [{"obis": "1-0:1.8.0*255", "value": "012345.678", "unit": "kWh",
                    "address": "1.8.0"},
                   {"obis": "1-0:1.8.1*255", "value": "1", "unit": None, "extra": ["x", "y"],
                    "time": "2026-11-25 17:00"}],
        "profiles": [{"obis": "1-0:99.1.0*255", "period_min": 15,
                      "columns": [{"obis": "1-0:1.29.0*255", "unit": "kWh"}],
                      "rows": [{"time": "2026-11-25T00:15", "status": "00", "values": ["0.1"]}]}],
        "notes": ["echo seen"],
    }
    dlms = {
        "meter": {"id": "LGZ1"}, "protocol": "dlms", "mode": "HDLC", "baud": 9600,
        "values": [{"obis": "1-0:1.8.0*255", "value": "12.5", "unit": "kWh"}],
        "objects": [{"class_id": 3, "obis": "1-0:1.8.0*255", "version": 0}],
        "profiles": [{"obis": "1-0:99.1.0*255",
                      "capture_objects": [{"class_id": 8, "obis": "0-0:1.0.0*255", "attr": 2},
                                          {"class_id": 3, "obis": "1-0:1.8.0*255", "attr": 2}],
                      "rows": [["2026-11-25 00:15:00", "12.5"], ["2026-11-25 00:30:00", "13"]]}],
    }
    hostile = {"meter": {"id": "[link=x]y[/link]\u202e"}, "protocol": "iec62056-21",
               "values": [{"obis": "=1+1", "value": "\u009b31m", "unit": "\\ud800"}]}
    return [iec, dlms, hostile]


def _payloads():
    return [json.dumps(r, separators=(",", ":")).encode() for r in _readings()]


def _record(seq, payload, time_s=1764090000):
    """A record around any payload bytes, with a right CRC (so the JSON is what is fuzzed)."""
    out = bytearray(MAGIC + bytes((VERSION,)) + len(payload).to_bytes(2, "big")
                    + seq.to_bytes(4, "big") + time_s.to_bytes(4, "big") + b"\x01" * 8)
    out += payload
    c = crc16(out, 0xFFFF, 0, HEADER_LEN + len(payload))
    return bytes(out + bytes((c >> 8, c & 0xFF)))


_STORE = [None, 0]


def t_host_record(data):
    """Payload bytes -> a record -> decode -> the host store: stored, or a defined refusal."""
    from irprobe.db import BadRecord, Store

    if _STORE[0] is None or _STORE[1] >= 5000:  # a fresh in-memory store now and then
        _STORE[0] = Store(":memory:")
        _STORE[1] = 0
    _STORE[1] += 1
    data = bytes(data[:65535])
    rec = decode_record(_record(_STORE[1], data))
    try:
        _STORE[0].add_records("fuzz", [(rec.seq, rec.time_s, rec.reading, rec.digest)])
    except BadRecord:
        raise DecodeError("refused")
    # what was stored shows without markup or raw controls
    _no_raw_in(_show(check_reading(rec.reading)["values"]))


def t_host_message(data):
    """A command-channel answer payload (HELLO/STATUS/TAKE JSON) through the host's checks."""
    value = hostlink.decode_json(data)
    try:
        check_tree(value, "the probe's answer")
        if isinstance(value.get("reading"), dict):
            check_reading(value["reading"], "the probe's reading", for_display=True)
    except Untrusted:
        raise DecodeError("refused")


def _messages():
    e = hostlink.encode_json
    return [e({"device_id": "P1", "firmware": "0.1", "proto": 1, "clock": 5, "busy": False,
               "count": 3, "first_seq": 1, "last_seq": 3, "next_seq": 4, "acked": 0,
               "free_pct": 90, "full": False}),
            e({"outcome": "success", "seq": 4, "reading": _readings()[0]}),
            e({"outcome": "success", "seq": 5, "reading": _readings()[1]}),
            e({"error": "busy", "message": "a read runs", "retry": True})]


def _show(values):
    from irprobe.output import reading_table

    rec = Recorder()
    rec.print(reading_table({"values": values, "meter": {"id": "m"}}))
    return rec.text()


class Recorder:
    """Stands in for rich's Console (rendering a table costs ~3 ms; this ~50 us): takes what
    would be printed, renders each text as rich would (markup or not), and fails if meter
    text became markup (a style or link span) or keeps a raw control."""

    def __init__(self, *a, **kw):
        self.parts = []

    def _markup(self, s):
        from rich.markup import render

        if not isinstance(s, str):
            return
        t = render(s)  # raises MarkupError on broken markup: a failure, as on a terminal
        if t.spans:
            raise AssertionError("meter text became markup: %r" % s)
        self.parts.append(t.plain)

    def print(self, obj="", *a, markup=True, **kw):
        from rich.table import Table

        if isinstance(obj, Table):
            self._markup(obj.title)
            self._markup(obj.caption)
            for col in obj.columns:
                self._markup(col.header)
                for cell in col._cells:
                    self._markup(cell)
        elif markup:
            self._markup(obj)
        else:
            self.parts.append(str(obj))

    def text(self):
        return "\n".join(self.parts)


def _no_raw_in(text):
    for ch in RAW:
        if ch in text:
            raise AssertionError("%r reached the display" % ch)


def t_decode_output(data):
    """Capture bytes -> `irprobe decode` result -> what it prints: no markup, no raw control."""
    import rich.console

    from irprobe import cmd_decode
    from irprobe.cli import CommandError

    try:
        result = cmd_decode.decode(cmd_decode.parse_capture(bytes(data)))
    except CommandError:
        raise DecodeError("refused")
    rec = Recorder()
    real = rich.console.Console
    rich.console.Console = lambda *a, **kw: rec  # _print imports Console when it runs
    try:
        cmd_decode._print(result)
    finally:
        rich.console.Console = real
    _no_raw_in(rec.text())


def _captures():
    text = (b"> /?!<CR><LF>\n< /ISk5MT174-0001<CR><LF>\n> <ACK>050<CR><LF>\n"
            b"< <STX>1.8.0(001234.567*kWh)<CR><LF>!<CR><LF><ETX>\\x34\n")
    return [text] + F._iec_block() + F._hdlc()


_PACKED = []


def _packed_stream():
    """Packed records (recpack) of a few readings: a schema, then readings with one-byte,
    longer and text cells, a meter id cell and notes."""
    if not _PACKED:
        from meterproto.link.recpack import Packer

        p = Packer()
        r = _readings()[0]
        r = {"meter": r["meter"], "protocol": r["protocol"], "mode": "C", "baud": 9600,
             "values": r["values"] + [{"obis": "1-0:0.9.1*255", "value": "101010",
                                       "unit": None}], "notes": ["echo seen"]}
        for i in range(4):
            x = json.loads(json.dumps(r))
            x["values"][0]["value"] = "%010.3f" % (12345.678 + 700.5 * i)
            x["values"][2]["value"] = "%06d" % (1010 + 1500 * i)
            x["meter"]["id"] = "4123456%d" % i
            _PACKED.extend(p.pack(1 + i, 1764090000 + 900 * i, x, b"\x02" * 8))
    return _PACKED


def _packed_bodies():
    from meterproto.link.records import HEAD

    return [raw[HEAD:-2] for raw in _packed_stream() if raw[3] == 0x52]


def t_host_packed(data):
    """A packed reading's body (length and CRC made good): irprobe.packed_rows gives what
    recpack.Unpacker and the one check give, a refusal where they refuse."""
    from irprobe.packed_rows import RowReader
    from irprobe.record_rows import RecordRows, rows_of
    from meterproto.link.records import K_READING, frame_record
    from meterproto.link.recpack import Unpacker

    raws = [r for r in _packed_stream() if r[3] != 0x52] + [
        frame_record(K_READING, bytes(data[:32768]))]
    out = []
    for reader in (RowReader(), Unpacker()):
        try:
            for raw in raws:
                rec = reader.feed(raw)
            if rec.__class__ is not RecordRows:
                rec = rows_of(rec.seq, rec.time_s, rec.reading, rec.digest)
            out.append((rec.text, rec.meter, tuple(map(tuple, rec.columns))))
        except (ProtocolError, Untrusted) as e:
            out.append(str(e))
    if out[0] != out[1]:
        raise AssertionError("by tables %r, the general way %r" % tuple(out))
    if isinstance(out[0], str):
        raise DecodeError("refused")


HOST_TARGETS = (("host_record", t_host_record, _payloads),
                ("host_message", t_host_message, _messages),
                ("decode_output", t_decode_output, _captures),
                ("host_packed", t_host_packed, _packed_bodies))


def run(name, n, seed=1):
    """n inputs of one target; returns (inputs run, defined refusals)."""
    _, fn, corpus = [t for t in HOST_TARGETS if t[0] == name][0]
    refused = 0
    count = 0
    for data in F.inputs(name, corpus(), n, seed):
        try:
            fn(data)
        except ProtocolError:
            refused += 1
        count += 1
    return count, refused

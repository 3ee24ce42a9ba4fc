# obis, bcc and reading: the small shared pieces, on both runtimes.
from meterproto import bcc, obis
from meterproto.compat import unhexlify
from meterproto.errors import DecodeError
from meterproto.reading import Reading, Value


def test_bcc_matches_published_vectors():
    # IEC 62056-21 clause 6.3 (tests/vectors/iec/messages.txt): break SOH B0 ETX -> 0x71; R1 1.8.0(1) -> 0x6B (SOH excluded).
    assert bcc.bcc(unhexlify("01 42 30 03"), 1) == 0x71
    assert bcc.bcc(unhexlify("01 52 31 02 31 2E 38 2E 30 28 31 29 03"), 1) == 0x6B
    assert bcc.bcc(b"\x01P0\x02(1234567)\x03", 1) == 0x50


def test_obis_round_trip_and_errors():
    assert obis.from_bytes(bytes((1, 0, 1, 8, 0, 255))) == "1-0:1.8.0*255"
    assert obis.to_bytes("0-0:40.0.0*255") == bytes((0, 0, 40, 0, 0, 255))
    assert obis.normalise("1.0.99.1.0.255") == "1-0:99.1.0*255"
    for bad in ("1.8.0", "1-0:1.8.0*256", "x", "1-0:1.8.0*255*1"):
        try:
            obis.parse(bad)
        except DecodeError:
            pass
        else:
            raise AssertionError("accepted %r" % bad)


def test_reading_dict_round_trip_keeps_decimal_text():
    r = Reading("iec62056-21", "12345678", "LGZ", "LGZ5\\2ZMD", "C", 9600)
    r.add(Value("1-0:1.8.0*255", "001234.567", "kWh", address="1.8.0"))
    d = r.to_dict()
    assert d["values"][0] == {"obis": "1-0:1.8.0*255", "value": "001234.567", "unit": "kWh",
                              "address": "1.8.0"}
    back = Reading.from_dict(d)
    assert back.to_dict() == d
    assert back.get("1.8.0").value == "001234.567"


def test_relay_passes_a_sub_machines_actions_on_in_order():
    from meterproto.echo import EchoFilter
    from meterproto.line import FMT_8N1
    from irprobe.sim.vline import actions
    from meterproto.machine import A_SEND, A_SET_LINE, Machine

    sub = Machine()
    sub._send(b"/?!\r\n", 0)
    sub._set_line(9600, FMT_8N1)
    sub._send(b"\x7e", 0)
    sub._deadline = 1500
    outer = Machine()
    echo = EchoFilter()
    assert outer._relay(sub, echo) is False  # sub still runs
    assert list(actions(outer)) == [(A_SEND, b"/?!\r\n"), (A_SET_LINE, 9600, FMT_8N1),
                                    (A_SEND, b"\x7e")]
    assert sub.next_action() is None and outer.deadline_ms() == 1500
    assert (outer.baud, outer.fmt) == (9600, FMT_8N1) and outer.tx_end_ms() == sub.tx_end_ms()
    assert echo.filter(b"\x7e") == b"" and echo.echo_bytes == 1  # told what went out after
    sub._finish("ok")
    assert outer._relay(sub) is True and not outer.done  # the outer machine decides what next

# IEC 62056-21 messages: identification, builders, framer, fed whole, byte by byte and at
# random split points; golden vectors from tests/vectors/iec (provenance in each file).
from meterproto.iec import msg as m
from meterproto.compat import unhexlify
from meterproto.errors import DecodeError, LocalProtocolError
from irprobe.sim.rng import Rng

VEC = __file__.rsplit("/", 2)[0] + "/vectors/iec/"


def _records(name):
    out = []
    with open(VEC + name) as f:
        for line in f:
            line = line.rstrip("\r\n")
            if line and not line.startswith("#"):
                out.append([p.strip() for p in line.split("|")])
    return out


def _chunks(data, how, rng):
    if how == "whole":
        return [data]
    if how == "bytes":
        return [data[i:i + 1] for i in range(len(data))]
    out = []
    i = 0
    while i < len(data):
        n = 1 + rng.below(7)
        out.append(data[i:i + n])
        i += n
    return out


def _feed(framer, data, how, rng):
    got = []
    for c in _chunks(data, how, rng):
        got.extend(framer.feed(c))
    return got


def test_vector_files_start_with_provenance():
    for name in ("identifications.txt", "messages.txt", "data_lines.txt"):
        with open(VEC + name) as f:
            first = f.readline()
        assert first.startswith("# "), name
        with open(VEC + name) as f:
            assert "Provenance" in f.read(2000), name


def test_identification_vectors():
    recs = _records("identifications.txt")
    assert len(recs) >= 8
    for r in recs:
        line, man, z, mode, top, enh, text, fast, src = r
        if z == "' '":
            z = " "
        ident = m.parse_identification(line.encode() + b"\r\n")
        assert ident.manufacturer == man, (line, ident)
        assert ident.baud_char == z, line
        assert ident.mode == mode, (line, ident.mode)
        assert ident.max_baud == (None if top == "-" else int(top)), line
        assert ident.enhanced == ([enh] if enh else []), line
        assert ident.mode_e == (enh == "2"), line
        assert ident.text == text, (line, ident.text)
        assert ident.fast_reaction == (fast == "yes"), line
        assert ident.reaction_ms() == (20 if fast == "yes" else 200)
        assert "/" + ident.ident() == line, line


def test_identification_with_parity_in_bit_7_and_bad_lines():
    raw = bytearray(b"/ISk5MT174-0001\r\n")
    for i in range(len(raw)):
        b = raw[i]
        p = 0
        x = b
        while x:
            p ^= x & 1
            x >>= 1
        raw[i] = b | (p << 7)
    ident = m.parse_identification(bytes(raw))
    assert ident.parity_in_bit7 and ident.manufacturer == "ISk" and ident.max_baud == 9600
    for bad in (b"/IS\r\n", b"/1Sk5X\r\n", b"/" + b"A" * 200 + b"\r\n"):
        try:
            m.parse_identification(bad)
        except DecodeError as e:
            assert "identification" in e.args[0]
        else:
            raise AssertionError("accepted %r" % bad)


def test_message_vectors():
    for r in _records("messages.txt"):
        call, hexbytes = r[0], r[1]
        want = unhexlify(hexbytes)
        parts = call.split(" ")
        if parts[0] == "command":
            got = m.command(parts[1], parts[2], parts[3])
        elif parts[0] == "break":
            got = m.break_message()
        elif parts[0] == "option":
            got = m.option_select(parts[1], parts[2], parts[3])
        else:
            got = m.sign_on()
        assert got == want, (call, got)


def test_builders_and_baud_tables():
    assert m.sign_on("12345678") == b"/?12345678!\r\n"
    assert m.option_select(0, 5, 1) == b"\x0605" + b"1\r\n"
    assert m.char_for_baud(19200) == "6" and m.char_for_baud(300) == "0"
    assert m.baud_for_char("E") == ("B", 9600) and m.baud_for_char("7") == ("C", None)
    assert m.baud_for_char("H") == ("B", None) and m.baud_for_char(" ") == ("A", 300)
    for bad in (lambda: m.sign_on("a!b"), lambda: m.sign_on("1" * 33),
                lambda: m.char_for_baud(115200), lambda: m.option_select(10, 0, 0)):
        try:
            bad()
        except LocalProtocolError:
            pass
        else:
            raise AssertionError("bad builder input accepted")
    assert m.parse_request(b"/?123!\r\n") == "123" and m.parse_request(b"/?!\r\n") == ""
    assert m.split_command(b"R1\x021.8.0()") == ("R1", "1.8.0()")
    assert m.split_command(b"B0") == ("B0", None)
    msgd = m.data_message("1.8.0(1*kWh)\r\n!\r\n")
    assert msgd[0] == m.STX and msgd[-2] == m.ETX


_STREAM = (b"\x00\x00/?!\r\n/ISk5MT174-0001\r\n"
           + m.data_message("0.0.0(123)\r\n1.8.0(0001.5*kWh)\r\n!\r\n")
           + b"\x06\x15"
           + m.data_message("P.01(1)\r\n", m.EOT)
           + m.command("P", "0", "(1234567)")
           + b"/XMX5LGBBFFB231314239\r\n\r\n1-0:1.8.1(000001.000*kWh)\r\n!1234\r\n")


def test_framer_whole_bytewise_and_random_splits_agree():
    rng = Rng(7)
    ref = None
    for how in ("whole", "bytes", "random", "random", "random"):
        f = m.Framer()
        got = [(x.kind, x.raw, x.body, x.end, x.bcc_ok) for x in _feed(f, _STREAM, how, rng)]
        assert not f.busy()
        if ref is None:
            ref = got
        assert got == ref, how
        assert f.nul_bytes == 2
    kinds = [x[0] for x in ref]
    assert kinds == [m.M_REQUEST, m.M_IDENT, m.M_DATA, m.M_ACK, m.M_NAK, m.M_DATA,
                     m.M_COMMAND, m.M_IDENT, m.M_LINE, m.M_LINE], kinds
    assert ref[2][2] == b"0.0.0(123)\r\n1.8.0(0001.5*kWh)\r\n!\r\n" and ref[2][4] is True
    assert ref[5][3] == m.EOT and ref[5][4] is True
    assert ref[6][2] == b"P0\x02(1234567)" and ref[6][4] is True
    assert ref[9][2] == b"!1234"


def test_framer_reports_bad_bcc_and_parity_bits():
    good = m.data_message("1.8.0(1*kWh)\r\n!\r\n")
    bad = good[:-1] + bytes(((good[-1] ^ 1),))
    f = m.Framer()
    out = f.feed(bad + good)
    assert [x.bcc_ok for x in out] == [False, True]
    hi = bytes([b | 0x80 for b in good])
    out = f.feed(hi)
    assert out[0].bcc_ok and f.high_bytes == len(good)


def test_framer_meter_side_option_select_and_lone_ack():
    f = m.Framer(option_after_ack=True)
    out = f.feed(b"\x06050\r\n\x06")
    assert out[0].kind == m.M_OPTION and out[0].body == b"050"
    assert out[1].kind == m.M_ACK and not f.option_after_ack


def test_framer_guards_absurd_sizes_and_restarts_on_stx():
    f = m.Framer(max_len=100)
    out = f.feed(b"\x02" + b"9" * 200)
    assert out and out[0].kind == m.M_GARBAGE and f.garbage == 1
    out = f.feed(b"/" + b"A" * 150)
    assert out and out[-1].kind == m.M_GARBAGE
    f = m.Framer()
    out = f.feed(b"\x02lost" + m.data_message("1(2)\r\n!\r\n"))
    assert len(out) == 1 and out[0].bcc_ok and out[0].body == b"1(2)\r\n!\r\n"
    f.feed(b"\x02half")
    assert f.busy()

# IEC 62056-21 data blocks: data sets, OBIS normalisation, P.01 profiles, P1 telegrams.
# The data-line vectors come from tests/vectors/iec/data_lines.txt (provenance inside).
from meterproto.iec import data as d
from meterproto.iec import msg as m
from meterproto.errors import DecodeError
from irprobe.sim.rng import Rng

VEC = __file__.rsplit("/", 2)[0] + "/vectors/iec/"


def _cases():
    cases = []
    with open(VEC + "data_lines.txt") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if line.startswith("> "):
                cases.append((line[2:], []))
            elif line.startswith("= "):
                p = [x.strip() for x in line[2:].split("|")]
                cases[-1][1].append((p[0], p[1], p[2], None if p[3] == "-" else p[3],
                                     None if p[4] == "-" else p[4].split(";")))
    return cases


def _check(values, expected):
    assert len(values) == len(expected), (values, expected)
    for v, e in zip(values, expected):
        assert (v.address, v.obis, v.value, v.unit, v.extra) == e, (v.to_dict(), e)


def test_data_line_vectors_one_by_one():
    cases = _cases()
    assert len(cases) >= 14
    for text, expected in cases:
        _check(d.to_values(d.parse_block(text + "\r\n")), expected)


def test_whole_readout_through_the_framer_in_any_chunking():
    cases = _cases()
    lines = [c[0] for c in cases if not c[0].endswith("!")]
    glued = [c for c in cases if c[0].endswith("!")][0]
    block = "\r\n".join(lines) + "\r\n" + glued[0] + "\r\n"
    frame = m.data_message(block)
    want = []
    for c in cases:
        if not c[0].endswith("!"):
            want.extend(c[1])
    want.extend(glued[1])
    rng = Rng(3)
    for how in ("whole", "bytes", "random", "random"):
        f = m.Framer()
        got = []
        i = 0
        while i < len(frame):
            n = len(frame) if how == "whole" else (1 if how == "bytes" else 1 + rng.below(9))
            got.extend(f.feed(frame[i:i + n]))
            i += n
        assert len(got) == 1 and got[0].bcc_ok, how
        _check(d.to_values(d.parse_block(got[0].body)), want)


def test_time_stamps_units_nul_bytes_and_errors():
    sets = d.parse_block(b"1.6.1(27.19*kW)(1702090945)\r\n0.0.0(\x0012 34)\r\n1.8.0(5)\r\n")
    vals = d.to_values(sets)
    assert vals[0].time == "1702090945" and vals[0].extra == ["1702090945"]
    assert vals[1].value == "12 34"
    assert vals[2].unit is None and vals[2].time is None
    assert d.error_reply(d.parse_block("(ERROR)")) == "ERROR"
    assert d.error_reply(d.parse_block("(ER01)\r\n")) == "ER01"
    assert d.error_reply(d.parse_block("1.8.0(ERROR)")) is None
    # Unbalanced parenthesis: the group ends at the line's end, the next line still parses.
    vals = d.to_values(d.parse_block("1.8.0(12*kWh\r\n2.8.0(3*kWh)\r\n!\r\n"))
    assert [(v.address, v.value) for v in vals] == [("1.8.0", "12"), ("2.8.0", "3")]
    # A header text line without data sets is skipped; `!` ends the block.
    vals = d.to_values(d.parse_block("HEADER LINE\r\n1.8.0(1)\r\n!\r\n9.9.9(9)\r\n"))
    assert [v.address for v in vals] == ["1.8.0"]


def test_absurd_sizes_are_refused_in_plain_words():
    for block in ("1.8.0(" + "9" * 5000 + ")", "A" * 5000 + "(1)", "1" + "(2)" * 3000):
        try:
            d.parse_block(block)
        except DecodeError as e:
            assert "value" in e.args[0] or "address" in e.args[0]
        else:
            raise AssertionError("absurd block accepted")


def test_address_normalisation_edge_cases():
    assert d.address_to_obis("P.01") == "1-0:99.1.0*255"
    assert d.address_to_obis("L.2.1") == "1-0:98.2.1*255"
    assert d.address_to_obis("C.1") == "0-0:96.1.0*255"
    assert d.address_to_obis("1.0.1.8.0.255") == "1-0:1.8.0*255"
    for bad in ("12", "x.y", "1.8.0*xx", "1.256.0", "1-0-0:1.8.0", "", "1.2.3.4.5"):
        assert d.address_to_obis(bad) is None, bad


def test_meter_id_prefers_0_0_0_then_c_1_0():
    vals = d.to_values(d.parse_block("C.1.0(SER1)\r\n0.0.0(ADDR7)\r\n"))
    assert d.meter_id(vals) == "ADDR7"
    vals = d.to_values(d.parse_block("96.1.0(SER2)\r\n"))
    assert d.meter_id(vals) == "SER2"
    assert d.meter_id(d.to_values(d.parse_block("1.8.0(1)"))) is None


_PROFILE = ("P.01(2240228234500)(00000000)(15)(2)(1.5.0)(kW)(2.5.0)(kW)\r\n"
            "(0.120)(0.000)\r\n(0.130)(0.001)\r\n(0.140)(0.000)\r\n"
            "P.01(1240331020000)(00000008)(15)(1)(1.8.0)(kWh)\r\n(000123.4)\r\n")


def test_load_profile_rows_and_time_steps():
    prof = d.parse_profile(d.parse_block(_PROFILE))
    assert len(prof) == 2
    p = prof[0]
    assert p["obis"] == "1-0:99.1.0*255" and p["period_min"] == 15
    assert p["columns"] == [{"address": "1.5.0", "obis": "1-0:1.5.0*255", "unit": "kW"},
                            {"address": "2.5.0", "obis": "1-0:2.5.0*255", "unit": "kW"}]
    assert [r["time"] for r in p["rows"]] == ["2240228234500", "2240229000000",
                                              "2240229001500"]
    assert p["rows"][1]["values"] == ["0.130", "0.001"]
    assert prof[1]["rows"] == [{"time": "1240331020000", "status": "00000008",
                                "values": ["000123.4"]}]
    assert d.add_minutes("2231231234500", 15) == "2240101000000"
    assert d.add_minutes("2302281230", 60 * 24) == "2303011230"
    assert d.add_minutes("not a stamp", 15) is None
    try:
        d.parse_profile(d.parse_block("P.01(1)(2)(x)(1)\r\n"))
    except DecodeError as e:
        assert "not a number" in e.args[0]
    else:
        raise AssertionError("bad header accepted")


def _p1(body, crc=True):
    raw = ("/XMX5LGBBFFB231314239\r\n\r\n" + body + "!").encode()
    if crc:
        raw += ("%04X" % d.crc16_arc(raw)).encode()
    return raw + b"\r\n"


def test_crc16_arc_and_p1_telegrams():
    assert d.crc16_arc(b"123456789") == 0xBB3D  # the catalogue check value of CRC-16/ARC
    body = ("1-3:0.2.8(50)\r\n0-0:96.1.1(4B384547303034303436333935353037)\r\n"
            "1-0:1.8.1(000123.456*kWh)\r\n1-0:99.97.0(1)(0-0:96.7.19)(190111133452W)"
            "(0000002779*s)\r\n")
    ident, sets, ok = d.parse_p1(_p1(body))
    assert ident == "XMX5LGBBFFB231314239" and ok is True
    vals = d.to_values(sets)
    assert vals[2].obis == "1-0:1.8.1*255" and vals[2].value == "000123.456"
    assert vals[3].extra == ["0-0:96.7.19", "190111133452W", "0000002779*s"]
    bad = bytearray(_p1(body))
    bad[40] ^= 1
    assert d.parse_p1(bytes(bad))[2] is False
    assert d.parse_p1(_p1(body, crc=False))[2] is None
    try:
        d.parse_p1(b"no telegram here")
    except DecodeError as e:
        assert "'/'" in e.args[0]
    else:
        raise AssertionError("accepted")


def test_random_bytes_give_values_or_decode_errors_only():
    rng = Rng(99)
    alphabet = b"0123456789.:-*&()!/?\r\n\x02\x03\x04\x01\x06\x15\x00ABCFLPkWh ;"
    for _ in range(300):
        n = rng.below(120)
        data = bytes([alphabet[rng.below(len(alphabet))] for _ in range(n)])
        f = m.Framer(max_len=64)
        for x in f.feed(data):
            if x.kind == m.M_IDENT:
                try:
                    m.parse_identification(x.body)
                except DecodeError:
                    pass
        for blob in (data, b"P.01" + data):
            try:
                sets = d.parse_block(blob)
                d.to_values(sets)
                d.parse_profile(sets)
            except DecodeError:
                pass
        try:
            d.parse_p1(data)
        except DecodeError:
            pass

# Fuzz targets for every parser of the core, run briefly on both runtimes (MicroPython too):
# random bytes and mutated valid vectors must give a result or a meterproto.errors
# ProtocolError, nothing else. bench/fuzz.py runs the same targets with 10^6 inputs each.
from irprobe.sim import acse_server
from meterproto.dlms import acse as apdu_acse
from meterproto.dlms import get as apdu_get
from meterproto.dlms import dar
from irprobe.sim import get_server
from meterproto.dlms import axdr, sn
from irprobe.sim import axdr_encode
from meterproto.hdlc import frame as hdlc_frame
from meterproto.link import channel as hostlink
from meterproto.iec import data as iec21_data
from meterproto.iec import msg as iec21_msg
from meterproto.link import records
from meterproto.dlms import initiate as apdu_initiate
from meterproto.compat import hexlify
from meterproto.errors import ProtocolError
from irprobe.sim.rng import Rng


# -- valid vectors: what each parser normally sees -----------------------------------------
def _iec_block():
    from irprobe.sim.profiles import get_profile
    lines = []
    for name in ("lgz-zmd", "battery", "elster-as1440"):
        for line in get_profile(name)["data"]:
            text = ""
            for ds in line:
                unit = ("*" + ds["unit"]) if ds["unit"] else ""
                text += ds["address"] + "(" + ds["value"] + unit + ")"
                for x in ds["extra"]:
                    text += "(" + x + ")"
            lines.append(text)
    return [("\r\n".join(lines[:12]) + "\r\n!\r\n").encode(),
            ("\r\n".join(lines[12:30]) + "\r\n!\r\n").encode(),
            ("\r\n".join(lines[30:]) + "!\r\n").encode(),
            b"P.01(0261124000)(00)(15)(2)(1.5)(kW)(2.5)(kW)\r\n(01.000)(00.000)\r\n(02.137)(00.053)\r\n",
            b"(ERROR)\r\n"]


def _idents():
    m = iec21_msg.identification
    return [m("LGZ", "5", "ZMD3104407.B32", ("2",)), m("ISk", "5", "MT174-0001"),
            m("ELS", "6", "AS1440-V3.10", ("@",)), m("HAG", "J", "EHZ-A300"),
            b"/EMH5\\@eHZ-PUSH\r\n"]


def _hdlc():
    c = hdlc_frame.client_address(16)
    s = hdlc_frame.server_address(1)
    s2 = hdlc_frame.server_address(1, 17)
    return [hdlc_frame.encode_frame(s, c, hdlc_frame.ctl_u(hdlc_frame.K_SNRM)),
            hdlc_frame.encode_frame(c, s2, hdlc_frame.ctl_u(hdlc_frame.K_UA),
                                    hdlc_frame.encode_params()),
            hdlc_frame.encode_frame(s, c, hdlc_frame.ctl_i(0, 0),
                                    b"\xe6\xe6\x00"
                                    + apdu_get.build_get_normal(1, 3, "1-0:1.8.0*255", 2)),
            hdlc_frame.encode_frame(c, s, hdlc_frame.ctl_i(1, 1), bytes(range(100)), True),
            hdlc_frame.encode_frame(c, s, hdlc_frame.ctl_rr(3))]


def _axdr_values():
    a = axdr_encode
    return [a.enc_uint32(12345678), a.enc_int16(-1500), a.enc_octets(b"SIM70000001DEV"),
            a.enc_visible("70000001"),
            a.enc_struct([a.enc_int8(-2), a.enc_enum(30)]),
            a.enc_array([a.enc_struct([a.enc_octets(bytes(12)), a.enc_uint8(0),
                                       a.enc_uint64(12300000 + i)]) for i in range(4)]),
            a.enc_bitstring(12, b"\xa5\x50"), a.enc_bool(True), a.enc_null(),
            a.enc_utf8("Zähler")]


def _apdus():
    return [apdu_acse.build_aarq(mechanism=1, password=b"12345678"),
            acse_server.build_aare(conformance=0x001E1D, max_pdu=0x04C8),
            apdu_get.build_get_normal(1, 3, "1-0:1.8.0*255", 2),
            get_server.build_get_response_normal(1, axdr_encode.enc_uint32(5009)),
            get_server.build_get_response_block(1, False, 1, bytes(40)),
            get_server.build_get_response_list(2, [axdr_encode.enc_uint8(1), 4]),
            get_server.build_exception(1, 2),
            acse_server.build_rlre(), sn.build_read_response([axdr_encode.enc_uint16(7), 3]),
            acse_server.build_initiate_response()]


def _hostlink():
    e = hostlink.encode_frame
    return [e(hostlink.CMD_HELLO, 1, hostlink.encode_json({"magic": "irprobe", "proto": 1})),
            e(hostlink.CMD_PULL | hostlink.RESPONSE, 7, _records()[0] + _records()[1]),
            e(hostlink.T_ERROR, 0, b'{"error":"bad-crc","message":"x","retry":true}'),
            b"\x03" + e(hostlink.CMD_ACK, 9, b'{"up_to_seq":3}')]


def _records():
    r = {"meter": {"id": "41234567"}, "protocol": "iec62056-21", "mode": "C", "baud": 9600,
         "values": [{"obis": "1-0:1.8.0*255", "value": "012345.678", "unit": "kWh"}]}
    return [records.encode_record(1, 1764000000, r, records.exchange_digest(b"raw")),
            records.encode_record(65535, 0, {"protocol": "dlms", "values": []})]


# -- targets: bytes in, result or ProtocolError out ------------------------------------------
def t_iec_block(data):
    sets = iec21_data.parse_block(data)
    iec21_data.error_reply(sets)
    iec21_data.to_values(sets)
    iec21_data.parse_profile(sets)


def t_iec_ident(data):
    iec21_msg.parse_identification(data)
    for m in iec21_msg.Framer(512).feed(data):
        if m.kind == iec21_msg.M_COMMAND and m.bcc_ok:
            iec21_msg.split_command(m.body)


def t_hdlc(data):
    for f in hdlc_frame.FrameReader().feed(data):
        hdlc_frame.describe(f)
        if f.kind in (hdlc_frame.K_SNRM, hdlc_frame.K_UA) and f.info:  # negotiation
            hdlc_frame.parse_params(f.info)
    hdlc_frame.describe(hdlc_frame.decode_frame(data, strict=False))


def t_axdr(data):
    axdr.decode_whole(data)
    axdr.decode_typed(data)


def t_apdu(data):
    for parse in (acse_server.parse_aarq, apdu_acse.parse_aare, get_server.parse_get_request,
                  apdu_get.parse_get_response, dar.parse_exception, acse_server.parse_rlre,
                  sn.parse_read_response, sn.parse_read_request,
                  apdu_initiate.parse_initiate):
        try:
            parse(data)
        except ProtocolError:
            pass


def t_hostlink(data):
    for item in hostlink.FrameDecoder(1024).feed(data):
        if not isinstance(item, Exception) and item.type != hostlink.CMD_PULL | hostlink.RESPONSE:
            hostlink.decode_json(item.payload)


def t_records(data):
    for raw in records.split_records(data):
        records.decode_record(raw)
    records.check_record(data)
    records.decode_record(data)


TARGETS = (("iec_block", t_iec_block, _iec_block), ("iec_ident", t_iec_ident, _idents),
           ("hdlc_frame", t_hdlc, _hdlc), ("axdr", t_axdr, _axdr_values),
           ("apdu", t_apdu, _apdus), ("hostlink", t_hostlink, _hostlink),
           ("records", t_records, _records))

# Bytes that matter to the parsers: delimiters, tags, lengths, the extremes.
_SPECIAL = (b"\x00\x01\x02\x03\x04\x06\x09\x0a\x0d\x15\x28\x29\x2a\x2f\x21\x7d\x7e\x7f"
            b"\x80\x81\x82\x83\xff")


def mutate(rng, data):
    """One to four random edits of a valid vector (flip, set, insert, delete, splice, grow)."""
    b = bytearray(data)
    for _ in range(1 + rng.below(4)):
        k = rng.below(7)
        n = len(b)
        if k == 0 and n:
            b[rng.below(n)] ^= 1 << rng.below(8)
        elif k == 1 and n:
            b[rng.below(n)] = _SPECIAL[rng.below(len(_SPECIAL))]
        elif k == 2:
            i = rng.below(n + 1)
            b[i:i] = bytes((rng.below(256),))
        elif k == 3 and n:
            i = rng.below(n)
            j = i + 1 + rng.below(8)
            b[i:j] = b""
        elif k == 4 and n:
            i = rng.below(n)
            b[i:i] = b[i:i + 1 + rng.below(16)]  # repeat a run
        elif k == 5 and n:
            b[rng.below(n):] = b""  # truncate
        elif k == 6 and n:
            b[rng.below(n)] = 0xFF if rng.below(2) else 0x7F  # absurd lengths
    return bytes(b)


def random_bytes(rng, maxlen=64):
    n = rng.below(maxlen + 1)
    out = bytearray(n)
    for i in range(n):
        out[i] = rng.below(256)
    return bytes(out)


def inputs(name, corpus, n, seed):
    """n inputs for a target: a third random, the rest mutated vectors (and the vectors)."""
    rng = Rng(seed * 1000003 + len(name))
    for v in corpus:
        yield v
    for i in range(n - len(corpus)):
        if i % 3 == 0:
            yield random_bytes(rng)
        else:
            yield mutate(rng, corpus[rng.below(len(corpus))])


def fuzz(name, fn, corpus, n, seed=1):
    """Run n inputs; -> number run. Raises AssertionError naming the first bad input."""
    count = 0
    for data in inputs(name, corpus, n, seed):
        try:
            fn(data)
        except ProtocolError:
            pass
        except Exception as e:  # anything else is a bug in the parser
            raise AssertionError("%s: %r on input %s" % (name, e, hexlify(data, "")))
        count += 1
    return count


def _check(name, n=300):
    for tname, fn, corpus in TARGETS:
        if tname == name:
            vectors = corpus()
            for v in vectors:
                fn(v)  # valid vectors must parse without any error at all
            assert fuzz(tname, fn, vectors, n) == n
            return
    raise AssertionError("no fuzz target " + name)


def test_fuzz_iec_block():
    _check("iec_block")


def test_fuzz_iec_ident():
    _check("iec_ident")


def test_fuzz_hdlc_frame():
    _check("hdlc_frame")


def test_fuzz_axdr():
    _check("axdr")


def test_fuzz_apdu():
    _check("apdu")


def test_fuzz_hostlink():
    _check("hostlink")


def test_fuzz_records():
    _check("records")


def test_mutator_is_seeded_and_changes_vectors():
    a = list(inputs("x", [b"hello world"], 20, 3))
    b = list(inputs("x", [b"hello world"], 20, 3))
    assert a == b
    assert len(set(a)) > 10

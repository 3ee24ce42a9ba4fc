# HDLC frame layer (IEC 62056-46, tests/vectors/hdlc/frames.txt): CRC, addresses, encode/decode of
# the Part C vectors, the stream FrameReader (whole, byte by byte, random splits) and fuzzed input.
from irprobe.sim.rng import Rng
from meterproto.compat import unhexlify
from meterproto.crc16 import crc16_x25
from meterproto.errors import ChecksumError, DecodeError
from meterproto.hdlc import frame as hf

_VECTORS = __file__.rsplit("/", 2)[0] + "/vectors/hdlc/frames.txt"


def load_vectors():
    out = {}
    with open(_VECTORS) as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split("|")
            out[parts[0].strip()] = unhexlify(parts[2])
    return out


def feed_split(reader, data, rng, mode):
    """Feed data whole (mode 0), byte by byte (1) or in random chunks (2); all frames."""
    out = []
    if mode == 0:
        return reader.feed(data)
    i = 0
    while i < len(data):
        n = 1 if mode == 1 else 1 + rng.below(17)
        out.extend(reader.feed(data[i:i + n]))
        i += n
    return out


def test_crc16_x25_check_values():
    assert crc16_x25(b"123456789") == 0x906E
    assert crc16_x25(bytes((0x03, 0x3F))) == 0xEC5B  # sent as 5B EC
    assert crc16_x25(b"xx123456789yy", 2, 11) == 0x906E
    assert crc16_x25(b"") == 0x0000


def test_addresses_encode_and_decode():
    assert hf.client_address(16) == b"\x21"
    assert hf.client_address(1) == b"\x03"
    assert hf.server_address(1) == b"\x03"
    assert hf.server_address(1, 17) == b"\x02\x23"
    assert hf.server_address(1, 2836) == unhexlify("00 02 2C 29")
    assert hf.server_address(1, 17, 4) == unhexlify("00 02 00 23")
    assert hf.address_value(unhexlify("00 02 2C 29")) == (1, 2836)
    assert hf.address_value(b"\x02\x23") == (1, 17)
    assert hf.address_value(b"\x03") == (1, None)
    for up, low in ((0, 0), (127, 127), (0x3FFF, 0x3FFF), (300, 5)):
        a = hf.server_address(up, low)
        assert hf.address_value(a) == (up, low)
    try:
        hf.server_address(200, 1, 2)
    except hf.LocalProtocolError:
        pass
    else:
        raise AssertionError("200 accepted in a 2-byte address")


def test_control_bytes():
    assert hf.ctl_i(1, 1) == 0x32 and hf.ctl_i(2, 2) == 0x54 and hf.ctl_i(0, 0) == 0x10
    assert hf.ctl_rr(1) == 0x31 and hf.ctl_rnr(1) == 0x35
    assert hf.ctl_u(hf.K_SNRM) == 0x93 and hf.ctl_u(hf.K_DISC) == 0x53
    assert hf.ctl_u(hf.K_UA) == 0x73 and hf.ctl_u(hf.K_DM) == 0x1F and hf.ctl_u(hf.K_FRMR) == 0x97
    assert hf.ctl_u(hf.K_UI, False) == 0x03
    assert hf.control_kind(0x52) == (hf.K_I, 1, 2, 1)
    assert hf.control_kind(0x31) == (hf.K_RR, None, 1, 1)
    assert hf.control_kind(0x73)[0] == hf.K_UA
    try:
        hf.control_kind(0xFF)
    except DecodeError:
        pass
    else:
        raise AssertionError("0xFF accepted as a control byte")


def test_every_vector_decodes_and_reencodes_exactly():
    vec = load_vectors()
    assert len(vec) == 15
    for name in vec:
        raw = vec[name]
        f = hf.decode_frame(raw)
        assert f.hcs_ok and f.fcs_ok
        assert hf.encode_frame(f.dst, f.src, f.control, f.info, f.segmented) == raw, name


def test_vectors_built_from_parts():
    vec = load_vectors()
    c16 = hf.client_address(16)
    s1 = hf.server_address(1)
    s117 = hf.server_address(1, 17)
    assert hf.encode_frame(s1, c16, hf.ctl_u(hf.K_SNRM)) == vec["snrm_plain"]
    assert hf.encode_frame(s117, c16, 0x93) == vec["snrm_1_17"]
    ua = hf.ctl_u(hf.K_UA)
    assert hf.encode_frame(c16, s117, ua, hf.encode_params(154, 154, 1, 1)) == vec["ua_params"]
    ua_2byte = hf.encode_frame(c16, s117, ua, hf.encode_params(512, 512, 1, 1))
    assert ua_2byte == vec["ua_params_2byte"]
    aarq = vec["aarq_1_17"][9:-3]
    assert aarq[:3] == hf.LLC_REQUEST
    assert hf.encode_frame(s117, c16, hf.ctl_i(0, 0), aarq) == vec["aarq_1_17"]
    assert hf.encode_frame(s1, c16, hf.ctl_i(0, 0), aarq) == vec["aarq_1"]
    get = hf.LLC_REQUEST + unhexlify("C0 01 C1 00 03 01 00 01 08 00 FF 02 00")
    assert hf.encode_frame(s1, c16, hf.ctl_i(1, 1), get) == vec["get_attr2"]
    resp = hf.LLC_RESPONSE + unhexlify("C4 01 C1 00 06 00 00 13 91")
    assert hf.encode_frame(c16, s1, hf.ctl_i(1, 2), resp) == vec["get_response"]
    assert hf.encode_frame(s1, c16, hf.ctl_rr(1)) == vec["rr_1"]
    assert hf.encode_frame(s1, c16, hf.ctl_u(hf.K_DISC)) == vec["disc"]
    assert hf.encode_frame(c16, s1, hf.ctl_u(hf.K_UA)) == vec["ua_plain"]
    assert hf.encode_frame(c16, s1, hf.ctl_u(hf.K_DM)) == vec["dm"]
    # The FCS of an I frame depends on the information only (IEC 62056-46 FCS).
    assert vec["aarq_1"][-3:] == vec["aarq_1_17"][-3:]


def test_params_parse_and_defaults():
    vec = load_vectors()
    p = hf.parse_params(hf.decode_frame(vec["ua_params"]).info)
    assert p == {"max_info_tx": 154, "max_info_rx": 154, "window_tx": 1, "window_rx": 1}
    p = hf.parse_params(hf.decode_frame(vec["ua_params_2byte"]).info)
    assert p["max_info_tx"] == 512 and p["max_info_rx"] == 512
    assert hf.parse_params(b"") == hf.default_params()
    assert hf.parse_params(unhexlify("81 80 03 05 01 80"))["max_info_tx"] == 128
    p = hf.parse_params(hf.encode_params(2030, 1000, 7, 3, 1))
    assert p == {"max_info_tx": 2030, "max_info_rx": 1000, "window_tx": 7, "window_rx": 3}
    assert hf.parse_params(unhexlify("81 80 06 07 04 00 00 00 01"))["window_tx"] == 1
    for bad in ("81 80 05 05 01", "80 80 00", "81 80 03 05 05 80", "81 80 03 07 01 00", "81"):
        try:
            hf.parse_params(unhexlify(bad))
        except DecodeError:
            pass
        else:
            raise AssertionError("accepted parameters " + bad)


def test_large_frame_and_segment_bit():
    info = bytes(range(256)) * 2  # 512 bytes, several 0x7E inside
    dst = hf.client_address(16)
    raw = hf.encode_frame(dst, hf.server_address(1, 17), hf.ctl_i(3, 4), info, True)
    assert raw[1] == 0xAA and ((raw[1] & 7) << 8 | raw[2]) == len(raw) - 2
    f = hf.decode_frame(raw)
    assert f.segmented and f.info == info and f.ns == 3 and f.nr == 4 and f.pf == 1
    try:
        hf.encode_frame(b"\x03", b"\x21", 0x10, bytes(2040))
    except hf.LocalProtocolError:
        pass
    else:
        raise AssertionError("oversized frame encoded")


def test_reader_whole_bytewise_and_random_splits():
    vec = load_vectors()
    names = sorted(vec)
    # Frames back to back sharing one flag, with doubled flags and line noise between some.
    stream = bytearray()
    for i in range(len(names)):
        raw = vec[names[i]]
        if stream and i % 3 == 0:
            stream.extend(raw[1:])  # share the previous closing flag
        else:
            stream.extend(raw)
        if i % 4 == 1:
            stream.extend(b"\x00\xff\x7e")
    big = hf.encode_frame(b"\x21", b"\x02\x23", 0x30, b"\x7e" * 300)
    stream.extend(big)
    want = [hf.decode_frame(vec[n]).info for n in names] + [b"\x7e" * 300]
    rng = Rng(7)
    for mode in (0, 1, 2, 2, 2):
        r = hf.FrameReader()
        got = feed_split(r, bytes(stream), rng, mode)
        assert [f.info for f in got] == want, mode
        assert r.bad_frames == 0
        assert r.pending() <= 1


def test_reader_skips_damaged_frame_and_keeps_the_next():
    vec = load_vectors()
    for pos in range(1, len(vec["aare"]) - 1):
        bad = bytearray(vec["aare"])
        bad[pos] ^= 0x04
        stream = bytes(bad) + vec["get_response"] + vec["dm"]
        rng = Rng(pos)
        for mode in (0, 1, 2):
            r = hf.FrameReader()
            got = feed_split(r, stream, rng, mode)
            kinds = [f.kind for f in got]
            assert kinds[-2:] == [hf.K_I, hf.K_DM], (pos, kinds)
            assert got[-2].info == vec["get_response"][8:-3]
            assert hf.K_UA not in kinds and len(got) == 2, (pos, kinds)


def test_decode_reports_checksums_without_strict():
    vec = load_vectors()
    bad = bytearray(vec["get_attr2"])
    bad[15] ^= 1
    try:
        hf.decode_frame(bytes(bad))
    except ChecksumError:
        pass
    else:
        raise AssertionError("damaged frame accepted")
    f = hf.decode_frame(bytes(bad), strict=False)
    assert f.hcs_ok and not f.fcs_ok
    assert "FCS BAD" in hf.describe(f)


def test_describe_lines():
    vec = load_vectors()
    text = hf.describe(hf.decode_frame(vec["snrm_plain"]))
    assert text == "SNRM poll client 16 -> server 1, no parameters, FCS ok"
    assert "max info 154/154 window 1/1" in hf.describe(hf.decode_frame(vec["ua_params"]))
    text = hf.describe(hf.decode_frame(vec["get_response"]))
    assert text == "I N(S)=1 N(R)=2 final server 1 -> client 16, 12 bytes, FCS ok"


def test_fuzz_random_and_mutated_input_only_defined_errors():
    vec = load_vectors()
    raws = [vec[n] for n in sorted(vec)]
    rng = Rng(2026)
    r = hf.FrameReader()
    for it in range(400):
        base = bytearray(raws[it % len(raws)])
        kind = it % 4
        if kind == 0:
            data = bytes(rng.below(256) for _ in range(rng.below(60)))
        else:
            for _ in range(1 + rng.below(4)):
                op = rng.below(3)
                i = rng.below(len(base))
                if op == 0:
                    base[i] = rng.below(256)
                elif op == 1 and len(base) > 3:
                    base[i:i + 1] = b""
                else:
                    base[i:i] = bytes((rng.below(256),))
            data = bytes(base)
        for strict in (True, False):
            try:
                f = hf.decode_frame(data, strict)
                hf.describe(f)
            except DecodeError:
                pass
        try:
            hf.parse_params(data)
        except DecodeError:
            pass
        for f in r.feed(data):
            assert f.fcs_ok and f.hcs_ok
            hf.describe(f)
    # After all that noise a clean frame still comes through (after a resync flag).
    got = r.feed(b"\x7e" + vec["dm"] + vec["dm"])
    assert got and got[-1].kind == hf.K_DM


def _lost_carry(info):
    """A frame as gurux-dlms 1.0.203 sends it when 7 + addresses + info crosses 256: the
    length's high bits one short, the HCS made over that wrong header."""
    good = hf.encode_frame(b"\x21", b"\x03", hf.ctl_i(0, 0), info, True)
    length = ((good[1] & 7) << 8) | good[2]
    assert length & 0xFF < 7
    head = bytearray(good[1:6])
    head[0] -= 1  # the carry into the high bits is lost
    c = crc16_x25(bytes(head), 0, len(head))
    return good[:1] + bytes(head) + bytes((c & 0xFF, c >> 8)) + good[8:]


def test_a_length_that_lost_its_carry_is_read_by_its_fcs():
    info = bytes(range(253))  # a frame of 7 + 2 + 253 = 262 bytes: 0x106 sent as 0xA8 0x06
    wire = _lost_carry(info) + hf.encode_frame(b"\x21", b"\x03", hf.ctl_rr(1))
    for chunks in ([wire], [wire[i:i + 1] for i in range(len(wire))]):
        r = hf.FrameReader()
        got = []
        for c in chunks:
            got += r.feed(c)
        assert [f.info for f in got] == [info, b""] and got[0].segmented
        assert r.carried == 1 and r.bad_frames == 0


def test_a_lost_flag_is_still_a_bad_frame():
    wire = bytearray(hf.encode_frame(b"\x21", b"\x03", hf.ctl_i(0, 0), b"abc"))
    wire[-1] = 0x00  # the closing flag hit by noise
    r = hf.FrameReader()
    assert r.feed(bytes(wire) + hf.encode_frame(b"\x21", b"\x03", hf.ctl_rr(1))) != []
    assert r.bad_frames == 1 and r.carried == 0

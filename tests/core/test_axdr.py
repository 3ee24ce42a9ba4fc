# A-XDR Data codec: known encodings, round trips, exact floats, compact arrays, lengths,
# and random/mutated input that must only ever raise DecodeError (both runtimes).
from irprobe.sim.rng import Rng
from meterproto.dlms import axdr
from irprobe.sim import axdr_encode
from meterproto.dlms.axdr_float import float_text
from meterproto.compat import unhexlify
from meterproto.errors import DecodeError, LocalProtocolError
import core_checks


def raises(exc, fn, *args):
    return str(core_checks.raises(exc, fn, *args))  # these tests look at the message text


def test_am550_push_element_decodes():
    # IEC 62056-6-2 register example: OBIS 1.1.1.8.0.255, value 58276, scaler 0, unit 30 (Wh).
    buf = unhexlify("02 03 09 06 01 01 01 08 00 FF 06 00 00 E3 A4 02 02 0F 00 16 1E")
    v, pos = axdr.decode(buf)
    assert pos == len(buf)
    assert v == (bytes((1, 1, 1, 8, 0, 255)), 58276, (0, 30))
    t, _ = axdr.decode_typed(buf)
    assert t[0] == axdr.STRUCTURE
    assert t[1][2] == (axdr.STRUCTURE, ((axdr.INT8, 0), (axdr.ENUM, 30)))
    assert axdr_encode.encode_typed(t) == buf


def test_integers_every_width_and_sign():
    cases = [
        (axdr_encode.enc_int8, -128, "0F 80"), (axdr_encode.enc_int8, 127, "0F 7F"),
        (axdr_encode.enc_uint8, 255, "11 FF"), (axdr_encode.enc_int16, -60, "10 FF C4"),
        (axdr_encode.enc_uint16, 0x04C8, "12 04 C8"), (axdr_encode.enc_int32, -2, "05 FF FF FF FE"),
        (axdr_encode.enc_uint32, 5009, "06 00 00 13 91"),
        (axdr_encode.enc_int64, -(1 << 63), "14 80 00 00 00 00 00 00 00"),
        (axdr_encode.enc_uint64, (1 << 64) - 1, "15 FF FF FF FF FF FF FF FF"),
        (axdr_encode.enc_enum, 30, "16 1E"), (axdr_encode.enc_bcd, 0x42, "0D 42"),
    ]
    for enc, val, hexs in cases:
        b = enc(val)
        assert b == unhexlify(hexs), (val, hexs)
        assert axdr.decode_whole(b) == val
    for enc, bad in ((axdr_encode.enc_int8, 128), (axdr_encode.enc_uint8, -1), (axdr_encode.enc_uint16, 65536),
                     (axdr_encode.enc_int32, 1 << 31), (axdr_encode.enc_uint64, 1 << 64), (axdr_encode.enc_enum, 256)):
        raises(LocalProtocolError, enc, bad)


def test_strings_bool_bitstring_null_and_raw_types():
    assert axdr_encode.enc_octets(b"\x01\x02") == unhexlify("09 02 01 02")
    assert axdr_encode.enc_visible("AB") == unhexlify("0A 02 41 42")
    assert axdr.decode_whole(axdr_encode.enc_visible("ISK1030775213859")) == "ISK1030775213859"
    assert axdr.decode_whole(axdr_encode.enc_utf8("Zähler")) == "Zähler"
    assert axdr.decode_whole(unhexlify("0A 02 41 E9")) == "A\u00e9"  # Latin-1 kept readable
    assert "not valid text" in raises(DecodeError, axdr.decode_whole, unhexlify("0C 02 FF FE"))
    assert axdr_encode.enc_bool(True) == b"\x03\x01" and axdr.decode_whole(b"\x03\x00") is False
    assert axdr_encode.enc_bitstring("1010000011") == unhexlify("04 0A A0 C0")
    assert axdr.decode_whole(unhexlify("04 0A A0 C0")) == (10, b"\xa0\xc0")
    assert axdr_encode.enc_bitstring(3, b"\xe0") == unhexlify("04 03 E0")
    raises(LocalProtocolError, axdr_encode.enc_bitstring, 9, b"\x00")
    assert axdr.decode_whole(b"\x00") is None and axdr.decode_whole(b"\xff") is None
    dt = unhexlify("07 E6 01 01 06 00 00 00 FF 80 00 00")
    assert axdr.decode_whole(axdr_encode.enc_datetime(dt)) == dt
    assert axdr.decode_whole(unhexlify("1A 07 E6 01 01 FF")) == unhexlify("07 E6 01 01 FF")
    assert axdr.decode_whole(unhexlify("1B 0C 1E 00 00")) == unhexlify("0C 1E 00 00")
    raises(LocalProtocolError, axdr_encode.enc_raw, axdr.DATE, b"\x00")


def test_floats_are_exact_decimal_text():
    f = float_text
    assert f(unhexlify("3F 80 00 00")) == "1"
    assert f(unhexlify("3D CC CC CD")) == "0.100000001490116119384765625"
    assert f(unhexlify("C0 49 0F DB")) == "-3.1415927410125732421875"
    assert f(unhexlify("43 66 19 9A")) == "230.100006103515625"
    assert f(unhexlify("3F B9 99 99 99 99 99 9A")) == "0.1000000000000000055511151231257827021181583404541015625"
    assert f(unhexlify("40 09 00 00 00 00 00 00")) == "3.125"
    assert f(unhexlify("7F 7F FF FF")) == "340282346638528859811704183484516925440"
    assert f(unhexlify("00 00 00 01")).startswith("0.0000000000000000000000000000000000000000000014012984")
    assert f(unhexlify("7F 80 00 00")) == "Infinity" and f(unhexlify("FF F0 00 00 00 00 00 00")) == "-Infinity"
    assert f(unhexlify("7F C0 00 00")) == "NaN" and f(unhexlify("80 00 00 00")) == "-0"
    assert axdr.decode_whole(unhexlify("17 42 28 00 00")) == "42"
    assert axdr.decode_typed(unhexlify("18 3F F8 00 00 00 00 00 00"))[0] == (axdr.FLOAT64, "1.5")
    raises(DecodeError, f, b"\x00\x00")


def test_lengths_all_forms():
    for n, hexs in ((0, "00"), (0x7F, "7F"), (0x80, "81 80"), (0xFF, "81 FF"),
                    (0x100, "82 01 00"), (0xFFFF, "82 FF FF"), (0x10000, "84 00 01 00 00")):
        enc = axdr_encode.enc_length(n)
        assert enc == unhexlify(hexs)
        assert axdr.decode_length(enc + b"\x99", 0) == (n, len(enc))
    assert axdr.decode_length(unhexlify("83 00 01 00"), 0) == (256, 4)
    raises(DecodeError, axdr.decode_length, b"\x80", 0)
    raises(DecodeError, axdr.decode_length, b"\x85\x00\x00\x00\x00\x01", 0)
    raises(DecodeError, axdr.decode_length, b"\x82\x01", 0)
    raises(DecodeError, axdr.decode_length, b"", 0)
    big = bytes(300)
    enc = axdr_encode.enc_octets(big)
    assert enc[:4] == unhexlify("09 82 01 2C") and axdr.decode_whole(enc) == big
    arr = axdr_encode.enc_array([axdr_encode.enc_uint8(i & 0xFF) for i in range(200)])
    assert arr[:3] == unhexlify("01 81 C8")
    assert axdr.decode_whole(arr) == [i & 0xFF for i in range(200)]


def test_nested_round_trip_and_trailing_bytes():
    enc = axdr_encode.enc_array([
        axdr_encode.enc_struct([axdr_encode.enc_uint16(3), axdr_encode.enc_octets(bytes((1, 0, 1, 8, 0, 255))),
                         axdr_encode.enc_int8(2), axdr_encode.enc_uint16(0)]),
        axdr_encode.enc_struct([]),
    ])
    v = axdr.decode_whole(enc)
    assert v == [(3, bytes((1, 0, 1, 8, 0, 255)), 2, 0), ()]
    assert axdr_encode.encode_typed(axdr.decode_whole(enc, True)) == enc
    msg = raises(DecodeError, axdr.decode_whole, enc + b"\x00")
    assert "unexpected" in msg
    # decode() from an offset returns the position after the value
    v, pos = axdr.decode(b"\xaa\xbb" + axdr_encode.enc_uint16(7) + b"\xcc", 2)
    assert (v, pos) == (7, 5)


def test_compact_array_decodes():
    # array of structure {long-unsigned, double-long-unsigned}, contents 12 bytes
    buf = unhexlify("13 02 02 12 06 0C 00 01 00 00 00 05 00 02 00 00 00 07")
    assert axdr.decode_whole(buf) == [(1, 5), (2, 7)]
    t = axdr.decode_whole(buf, True)
    assert t[0] == axdr.COMPACT_ARRAY and t[1][0] == unhexlify("02 02 12 06")
    assert t[1][1][1] == (axdr.STRUCTURE, ((axdr.UINT16, 2), (axdr.UINT32, 7)))
    assert axdr_encode.encode_typed(t) == buf
    # simple element type, and an inner fixed array of 2 octet-strings (own lengths)
    assert axdr.decode_whole(unhexlify("13 11 03 01 02 03")) == [1, 2, 3]
    inner = unhexlify("13 01 00 02 09 08 01 41 02 42 43 01 44 00")
    assert axdr.decode_whole(inner) == [[b"A", b"BC"], [b"D", b""]]
    # contents ending inside an element, empty-element arrays, bad type tags
    raises(DecodeError, axdr.decode_whole, unhexlify("13 02 02 12 06 08 00 01 00 00 00 05 00 02"))
    raises(DecodeError, axdr.decode_whole, unhexlify("13 01 FF FF 01 FF FF 00 00 00"))
    raises(DecodeError, axdr.decode_whole, unhexlify("13 77 00"))
    assert axdr.decode_whole(unhexlify("13 02 00 00")) == []
    raises(DecodeError, axdr.decode_whole, unhexlify("13 02 00 02 00 00"))


def test_truncations_and_absurd_lengths_raise_decode_error():
    good = unhexlify("02 03 09 06 01 01 01 08 00 FF 06 00 00 E3 A4 02 02 0F 00 16 1E")
    for cut in range(len(good)):
        raises(DecodeError, axdr.decode, good[:cut])
    raises(DecodeError, axdr.decode, unhexlify("01 84 FF FF FF FF 00"))
    raises(DecodeError, axdr.decode, unhexlify("09 84 7F FF FF FF 00"))
    raises(DecodeError, axdr.decode, b"\x07")
    raises(DecodeError, axdr.decode, b"\x01\x01" * 40 + b"\x00")  # nesting bomb
    msg = raises(DecodeError, axdr.decode, b"\x42")
    assert "unknown data type 0x42" in msg


def _fuzz_one(buf):
    try:
        v, pos = axdr.decode(buf)
        assert 0 < pos <= len(buf)
        t, pos2 = axdr.decode_typed(buf)
        assert pos2 == pos
    except DecodeError:
        pass


def test_random_and_mutated_input_only_decode_error():
    rng = Rng(4242)
    seeds = [
        unhexlify("02 03 09 06 01 01 01 08 00 FF 06 00 00 E3 A4 02 02 0F 00 16 1E"),
        unhexlify("13 02 02 12 06 0C 00 01 00 00 00 05 00 02 00 00 00 07"),
        unhexlify("01 02 02 02 0F FE 16 1B 02 02 0F 00 16 1E"),
    ]
    tags = list(axdr.TAG_NAMES)
    for _ in range(1500):
        n = rng.below(24)
        buf = bytearray(n)
        for i in range(n):
            # bias towards real tags so the decoder gets deep, not just "unknown type"
            buf[i] = tags[rng.below(len(tags))] if rng.below(3) == 0 else rng.below(256)
        _fuzz_one(bytes(buf))
    for _ in range(1500):
        buf = bytearray(seeds[rng.below(len(seeds))])
        for _ in range(1 + rng.below(3)):
            buf[rng.below(len(buf))] = rng.below(256)
        if rng.below(4) == 0:
            buf = buf[:rng.below(len(buf) + 1)]
        _fuzz_one(bytes(buf))


def test_nesting_is_bounded_at_max_depth():
    # MAX_DEPTH arrays of one element around an unsigned: accepted; one more: refused.
    def nested(levels):
        return b"\x01\x01" * levels + b"\x11\x07"

    v, pos = axdr.decode(nested(axdr.MAX_DEPTH))
    for _ in range(axdr.MAX_DEPTH):
        v = v[0]
    assert v == 7 and pos == 2 * axdr.MAX_DEPTH + 2
    t, _ = axdr.decode_typed(b"\x02\x02" + nested(3) + b"\x01\x00")
    assert t[0] == axdr.STRUCTURE and t[1][1] == (axdr.ARRAY, [])
    assert "deeper" in raises(DecodeError, axdr.decode, nested(axdr.MAX_DEPTH + 1))
    # a structure whose last member closes several levels at once
    v, _ = axdr.decode(unhexlify("02 02 01 01 02 01 11 05 11 06"))
    assert v == ([(5,)], 6)


def test_compact_description_depth_is_bounded_too():
    # compact-array of array[1] of ... of unsigned: the description nests as deep as it says
    def compact(levels):
        desc = b"\x01\x00\x01" * levels + b"\x11"
        return b"\x13" + desc + b"\x01\x2A"

    v, _ = axdr.decode(compact(3))
    assert v == [[[[42]]]]
    assert "too deep" in raises(DecodeError, axdr.decode, compact(axdr.MAX_DEPTH + 2))
    # an element that runs past the contents is refused, not read from the bytes after it
    bad = unhexlify("13 12 01 07 08")  # long-unsigned elements in 1 content byte, then 08
    assert "past" in raises(DecodeError, axdr.decode, bad)

# records: the stored-reading format round-trips, and damaged bytes are never trusted
# (both runtimes).
from meterproto.link import records as R
from meterproto.errors import ChecksumError, DecodeError
from meterproto.reading import Reading, Value
from core_checks import raises


def _reading():
    r = Reading("iec62056-21", "12345678", "LGZ", "LGZ5\\2ZMD", "C", 9600)
    r.add(Value("1-0:1.8.0*255", "001234.567", "kWh", address="1.8.0"))
    r.add(Value("1-0:2.8.0*255", "000000.001", "kWh"))
    return r


def test_round_trip_keeps_decimal_text_and_header_fields():
    dig = R.exchange_digest(b"/?!\r\n/LGZ5\\2ZMD\r\n")
    assert len(dig) == 8
    raw = R.encode_record(42, 1732550400, _reading(), dig)
    assert raw[:2] == b"IR" and raw[2] == 1
    rec = R.decode_record(raw)
    assert rec.seq == 42 and rec.time_s == 1732550400 and rec.digest == dig
    assert rec.reading == _reading().to_dict()
    assert rec.reading["values"][0]["value"] == "001234.567"
    assert Reading.from_dict(rec.reading).get("1.8.0").value == "001234.567"
    assert R.check_record(raw) == (42, 1732550400)
    # a dict works the same as a Reading; JSON stays compact (no spaces)
    assert R.encode_record(42, 1732550400, _reading().to_dict(), dig) == raw
    assert b", " not in raw and b": " not in raw


def test_digest_is_sha256_prefix():
    # SHA-256("abc") = ba7816bf 8f01cfea ...
    assert R.exchange_digest(b"abc") == bytes((0xBA, 0x78, 0x16, 0xBF, 0x8F, 0x01, 0xCF, 0xEA))


def test_every_single_byte_damage_is_detected():
    raw = R.encode_record(7, 1000, _reading(), b"\x01" * 8)
    for i in range(len(raw)):
        for flip in (0x01, 0x80):
            bad = bytearray(raw)
            bad[i] ^= flip
            raises(DecodeError, R.decode_record, bytes(bad))
    e = raises(ChecksumError, R.decode_record, raw[:30] + bytes((raw[30] ^ 4,)) + raw[31:])
    assert "damaged" in str(e)


def test_short_long_and_foreign_bytes_are_decode_errors():
    raw = R.encode_record(7, 1000, {"protocol": "dlms", "values": []})
    wrong_version = raw[:2] + b"\x09" + raw[3:]
    for bad in (b"", raw[:10], raw[:-1], raw + b"\x00", b"XX" + raw[2:], wrong_version):
        e = raises(DecodeError, R.decode_record, bad)
        assert str(e)


def test_split_records_back_to_back():
    raws = [R.encode_record(s, 100 + s, {"protocol": "dlms", "values": [], "n": "x" * s})
            for s in range(1, 8)]
    blob = b"".join(raws)
    assert R.split_records(blob) == raws
    assert R.split_records(b"") == []
    raises(DecodeError, R.split_records, blob[:-3])
    bad = bytearray(blob)
    bad[len(raws[0]) + 25] ^= 0x10
    raises(ChecksumError, R.split_records, bytes(bad))


def test_bad_arguments_are_refused_in_plain_words():
    raises(DecodeError, R.encode_record, -1, 0, {})
    raises(DecodeError, R.encode_record, 1, 1 << 32, {})
    raises(DecodeError, R.encode_record, 1, 0, "not a reading")
    e = raises(DecodeError, R.encode_record, 1, 0, {"big": "9" * (R.MAX_PAYLOAD + 1)})
    assert "too large" in str(e)


def _record_around(payload):
    """A record with a right CRC around any payload bytes (the JSON is what is tested)."""
    out = bytearray(R.MAGIC + bytes((R.VERSION,)) + len(payload).to_bytes(2, "big")
                    + (1).to_bytes(4, "big") + (0).to_bytes(4, "big") + bytes(8))
    out += payload
    c = R.crc16(out, 0xFFFF, 0, len(out))
    return bytes(out + bytes((c >> 8, c & 0xFF)))


def test_json_nested_3000_deep_is_a_decode_error_never_a_crash():
    """CPython's parser recurses (RecursionError near 1000 levels); MicroPython's does not.
    Either way a probe's or host's reader sees a reading or a DecodeError, nothing else
    (the host bounds depth further: irprobe.inbound.check_tree)."""
    import sys

    from meterproto.link import channel

    deep = b'{"a":' + b"[" * 3000 + b"]" * 3000 + b"}"
    for decode in (channel.decode_json, lambda p: R.decode_record(_record_around(p))):
        try:
            decode(deep)
        except DecodeError as e:
            assert "nested too deeply" in str(e)
        else:
            assert sys.implementation.name == "micropython"

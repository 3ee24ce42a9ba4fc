# recpack: the compact record format (version 2) gives every reading back exactly, keeps the
# schema once, and never trusts damaged bytes (both runtimes).
from meterproto.link import cells as C
from meterproto.link import records as V1
from meterproto.link import recpack as P
from meterproto.link.records import (HEAD, K_JSON, K_READING, K_SCHEMA, frame_record,
                                     gap_record, record_info, record_time)
from meterproto.errors import ChecksumError, DecodeError
from core_checks import raises


def _iec(n):
    return {"meter": {"id": "41234567", "manufacturer": "LGZ", "ident": "LGZ5\\2ZMD"},
            "protocol": "iec62056-21", "mode": "C", "baud": 9600,
            "values": [
                {"obis": "1-0:1.8.0*255", "value": "%06d.%03d" % (12345 + n, n % 1000),
                 "unit": "kWh", "address": "1.8.0"},
                {"obis": "1-0:1.7.0*255", "value": "-%d.%02d" % (n % 7, n % 100), "unit": "kW"},
                {"obis": "1-0:32.7.0*255", "value": str(225 + n % 10), "unit": "V"},
                {"obis": "1-0:1.6.0*255", "value": "05.678", "unit": "kW",
                 "extra": ["2611191730"], "time": "2611191730"},
                {"obis": "0-0:96.1.0*255", "value": "SN-%d" % n, "unit": None},
                {"obis": "0-0:42.0.0*255", "value": "LGZ-DEVICE-NAME", "unit": None},
                {"obis": "1-0:14.7.0*255", "value": None, "unit": "Hz"},
                {"obis": "1-0:0.9.2*255", "value": "0%d" % n, "unit": None},
            ]}


def _dlms(day):
    rows = []
    e = 12300100 + day * 20000
    for k in range(96):
        e += 37 + (k * 13) % 200
        rows.append(["2026-11-%02d %02d:%02d:00" % (24 + day, k // 4, (k % 4) * 15),
                     "8" if k == 40 else "0", str(e)])
    rows[50][2] = None  # a missing cell
    rows[60][1] = "ok?"  # text where a number was
    return {"meter": {"id": "70000005", "manufacturer": None, "ident": None},
            "protocol": "dlms", "mode": "HDLC", "baud": 9600,
            "values": [{"obis": "0-0:1.0.0*255", "value": "2026-11-%02d 00:05:00" % (25 + day),
                        "unit": None}],
            "objects": [{"obis": "0-0:40.0.0*255", "class_id": 15, "version": 1}],
            "profiles": [{"obis": "1-0:99.1.0*255", "capture_objects": [{"class_id": 8}],
                          "rows": rows}],
            "notes": ["HDLC connected", "35 round trips, %d bytes" % (700 + day)]}


def _t(rec):
    """A decoded Record as a plain tuple (gap notices as ("gap", first, last))."""
    if rec is None or rec.gap_to is not None:
        return rec and ("gap", rec.seq, rec.gap_to)
    return rec.seq, rec.time_s, rec.digest, rec.reading


def _feed(up, recs):
    out = [_t(up.feed(r)) for r in recs]
    assert out[:-1] == [None] * (len(out) - 1)  # schemas first
    return out[-1]


def test_readings_come_back_exactly_and_the_schema_is_written_once():
    for make in (_iec, _dlms):
        pk = P.Packer()
        up = P.Unpacker()
        sizes = []
        for n in range(6):
            d = make(n)
            recs = pk.pack(100 + n, 1700000000 + n, d, b"dig%d" % n)
            assert len(recs) == (2 if n == 0 else 1)
            assert [r[3] for r in recs][-1] == K_READING
            seq, t, dig, got = _feed(up, recs)
            assert (seq, t, dig) == (100 + n, 1700000000 + n, b"dig%d\0\0\0\0" % n)
            assert got == d
            sizes.append(len(recs[-1]))
        if make is _dlms:
            assert max(sizes) < 96 * 6  # 96 rows: a few bytes each
        else:
            assert max(sizes) < 80


def test_unchanged_text_costs_one_byte():
    pk = P.Packer()
    a = pk.pack(1, 1, _iec(1))[-1]
    d = _iec(1)
    d["values"][5]["value"] = "LGZ-DEVICE-NAME-2"
    b = pk.pack(2, 1, d)[-1]
    assert len(a) < 40  # the unchanged text is one byte
    assert len(b) - len(a) == len("LGZ-DEVICE-NAME-2")  # + its length byte, - that one byte
    up = P.Unpacker()
    recs = P.Packer().pack(1, 1, _iec(1)) + [b]
    assert [_t(up.feed(r)) for r in recs][1:] == [(1, 1, bytes(8), _iec(1)), (2, 1, bytes(8), d)]


def test_decimal_layouts_never_change_the_meters_text():
    pk = P.Packer()
    up = P.Unpacker()
    first = _iec(0)
    _feed(up, pk.pack(1, 1, first))
    odd = _iec(0)
    # wider than the first padded width, other decimals, a sign, leading zeros, plain text
    for i, text in enumerate(["1234567.8901", "12345.6", "-0.00", "007", "1e5", "", "-", "٣"]):
        odd["values"][i % 3]["value"] = text
        recs = pk.pack(2 + i, 1, odd)
        assert len(recs) == 1
        assert _feed(up, recs)[3] == odd


def test_changed_frame_goes_as_json_once_then_gets_its_schema():
    pk = P.Packer()
    up = P.Unpacker()
    _feed(up, pk.pack(1, 1, _iec(1)))
    d = _iec(2)
    d["values"][0]["unit"] = "Wh"
    recs = pk.pack(2, 1, d)
    assert [r[3] for r in recs] == [K_JSON] and _feed(up, recs)[3] == d
    recs = pk.pack(3, 1, d)  # the same frame again: now a schema pays off
    assert [r[3] for r in recs] == [K_SCHEMA, K_READING] and _feed(up, recs)[3] == d
    assert [r[3] for r in pk.pack(4, 1, d)] == [K_READING]
    pk.reset()  # a new segment: its own schema
    assert [r[3] for r in pk.pack(5, 1, d)] == [K_SCHEMA, K_READING]


def test_meters_of_one_type_share_a_schema():
    pk = P.Packer()
    up = P.Unpacker()
    _feed(up, pk.pack(1, 1, _iec(1)))
    for n, ident in enumerate(("41234568", "X-99", "")):
        d = _iec(1)
        d["meter"]["id"] = ident
        recs = pk.pack(2 + n, 1, d)
        assert len(recs) == 1 and _feed(up, recs)[3] == d


def test_adopt_takes_the_schema_back_from_flash():
    pk = P.Packer()
    recs = pk.pack(5, 1, _iec(5))
    pk2 = P.Packer()
    pk2.adopt(recs[0])
    again = pk2.pack(6, 1, _iec(6))
    assert len(again) == 1
    up = P.Unpacker()
    up.feed(recs[0])
    assert up.feed(again[0]).reading == _iec(6)


def test_other_shapes_are_kept_as_json():
    up = P.Unpacker()
    d = {"protocol": "x", "values": [{"obis": "1", "value": 5, "unit": None}]}
    recs = P.Packer().pack(9, 2, d)
    assert len(recs) == 1 and recs[0][3] == K_JSON
    assert _t(up.feed(recs[0])) == (9, 2, bytes(8), d)


def test_damaged_or_unknown_records_are_refused():
    pk = P.Packer()
    schema, rec = pk.pack(1, 1, _iec(1))
    up = P.Unpacker()
    assert raises(DecodeError, up.feed, rec)  # its schema was never seen
    up.feed(schema)
    for i in range(len(rec)):
        bad = bytearray(rec)
        bad[i] ^= 0x10
        assert raises(DecodeError, up.feed, bytes(bad))  # ChecksumError is a DecodeError
    bad = bytearray(rec)
    bad[-1] ^= 1
    assert raises(ChecksumError, up.feed, bytes(bad))
    assert raises(DecodeError, up.feed, rec[:-1])
    assert raises(DecodeError, up.feed, b"IR\x07" + rec[3:])
    # a body that lies about its cells, with a good CRC
    fake = frame_record(K_READING, rec[HEAD:HEAD + 17] + b"\xff\xff\xff")
    assert raises(DecodeError, up.feed, fake)


def test_version_1_records_and_gap_notices_decode_too():
    raw = V1.encode_record(7, 1600000000, _iec(7), b"12345678")
    n, kind, seq = record_info(raw)
    assert (n, kind, seq) == (len(raw), "V", 7) and record_time(raw) == 1600000000
    assert _t(P.Unpacker().feed(raw)) == (7, 1600000000, b"12345678", _iec(7))
    g = gap_record(3, 5)
    assert _t(P.Unpacker().feed(g)) == ("gap", 3, 5)
    assert record_info(g)[1] == V1.K_GAP


def test_dates_round_trip_across_centuries_and_leap_days():
    lay = [2, 0, 0, 0]
    for text in ("2000-01-01 00:00:00", "1999-12-31 23:59:59", "2024-02-29 12:00:00",
                 "2100-03-01 00:00:01", "1970-01-01 00:00:00"):
        assert C._text(C._to_int(text, lay), lay) == text
    assert C._to_int("2023-02-29 00:00:00", lay) is None  # no such day: kept as text

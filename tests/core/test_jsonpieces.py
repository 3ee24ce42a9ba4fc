# jsonpieces: a reading's JSON text made piece by piece joins to exactly the compact text of
# the whole, with no piece larger than a leaf (both runtimes: the probe streams its commit
# and its TAKE answer with it).
from meterproto.link import channel as H
from meterproto.link import frameout as F
from meterproto.link import records as R
from meterproto.link.jsonpieces import pieces, size
from meterproto.errors import DecodeError
from core_checks import raises


def _reading(rows=96):
    return {"outcome": "success", "seq": 7, "message": "ok",
            "reading": {"meter": {"id": "70000005", "manufacturer": None, "ident": "x\u00e9"},
                        "protocol": "dlms", "baud": 9600, "ok": True,
                        "values": [{"obis": "1-0:1.8.0*255", "value": "001234.567",
                                    "unit": "kWh", "extra": []}],
                        "objects": [{"obis": "0-0:40.0.0*255", "class_id": 15,
                                     "attrs": [[1, "r"], [2, "rw"]]}] * 20,
                        "profiles": [{"obis": "1-0:99.1.0*255", "capture_objects": [],
                                      "rows": [["2026-11-24 %02d:%02d:00" % (k // 4, k % 4 * 15),
                                                "0", str(12300100 + 37 * k), None]
                                               for k in range(rows)]}],
                        "notes": ["a \"quoted\" note", "tab\there"], "empty": {}}}


def test_pieces_join_to_the_compact_text():
    for obj in (_reading(), {}, [], "text", 12, None, True, [[[[[[[[1]]]]]]]], {"a": {"b": []}},
                {"k": [{}, [], "", 0, -5, False]}, _reading(0)):
        got = "".join(pieces(obj))
        assert got == R.dumps(obj), (got, R.dumps(obj))
        assert size(obj) == len(R.dumps(obj).encode())


def test_dict_with_other_keys_goes_whole_and_still_matches():
    obj = {"a": {1: "one", 2: [3]}, "b": [1, 2]}
    assert "".join(pieces(obj)) == R.dumps(obj)


def test_no_piece_is_larger_than_a_leaf():
    obj = _reading(96)
    whole = len(R.dumps(obj))
    biggest = max(len(p) for p in pieces(obj))
    assert whole > 5000
    assert biggest < 100, biggest  # one profile row, one value: never the whole


def test_frame_written_in_pieces_is_the_whole_frame():
    obj = _reading(96)
    text = R.dumps(obj).encode()
    whole = H.encode_frame(0x85, 513, text)  # built whole, the plain way
    got = []
    F.write_frame(got.append, 0x85, 513, b"", obj)
    assert b"".join(bytes(p) for p in got) == bytes(whole)
    assert len(got) > 10 and max(len(p) for p in got) < F.CHUNK + 200
    got = []  # a PULL answer (bytes) in pieces too
    F.write_frame(got.append, 0x87, 9, text)
    assert b"".join(bytes(p) for p in got) == bytes(H.encode_frame(0x87, 9, text))
    dec = H.FrameDecoder()
    frames = dec.feed(b"".join(bytes(p) for p in got))
    assert len(frames) == 1 and frames[0].payload == text and frames[0].seq == 9


def test_record_written_in_pieces_is_the_whole_record():
    obj = _reading(96)["reading"]
    head = b"\x00\x00\x00\x07" + bytes(12)
    want = R.frame_record(R.K_JSON, head + R.dumps(obj).encode())
    got = []
    R.write_record(got.append, R.K_JSON, head, obj)
    assert b"".join(bytes(p) for p in got) == want
    assert len(got) > 10 and max(len(p) for p in got) < R.PIECE + 200
    got = []
    R.write_record(got.append, R.K_READING, b"cells")
    assert b"".join(bytes(p) for p in got) == R.frame_record(R.K_READING, b"cells")


def test_too_large_a_record_writes_nothing():
    got = []
    big = {"values": ["x" * 1000] * 40}
    assert raises(DecodeError, R.write_record, got.append, R.K_JSON, bytes(16), big)
    assert got == []


def _reference_frame(ftype, seq, payload):
    """A frame built the plain way (docs/COMMAND-CHANNEL.md), byte by byte."""
    from meterproto.crc16 import crc16_ccitt_false

    n = len(payload)
    body = bytes((ftype, seq >> 8, seq & 0xFF, n >> 8, n & 0xFF)) + bytes(payload)
    c = crc16_ccitt_false(body)
    out = bytearray((0x7E,))
    for b in body + bytes((c >> 8, c & 0xFF)):
        if b < 0x20 or 0x7D <= b <= 0x7F:
            out.append(0x7D)
            out.append(b ^ 0x20)
        else:
            out.append(b)
    out.append(0x7F)
    return bytes(out)


def test_frames_and_whitening_match_the_plain_way_on_this_runtime():
    data = bytes((i * 37 + i // 7) & 0xFF for i in range(1500))
    for n in (0, 1, 255, 256, 257, 700, 1500):
        assert bytes(H.encode_frame(0x87, 300 + n, data[:n])) == \
            _reference_frame(0x87, 300 + n, data[:n])
        assert bytes(F.frame_bytes(0x87, 300 + n, data[:n])) == \
            _reference_frame(0x87, 300 + n, data[:n])
        w = H.whiten(bytearray(data[:n]))
        assert bytes(w) == bytes(b ^ 0x60 for b in data[:n])
        assert bytes(H.whiten(w)) == data[:n]
    obj = _reading(5)
    assert bytes(F.frame_bytes(0x85, 2, b"", obj)) == \
        _reference_frame(0x85, 2, R.dumps(obj).encode())

# DlmsClient block transfer (IEC 62056-5-3 9.4.6.3): array values (profile buffer, object
# list) are decoded element by element as blocks arrive (meterproto.dlms.axdr_stream), keeping
# only the undecoded tail.
# Fed whole, byte by byte and at random split points, they must give the same rows (both
# runtimes).
import random

from meterproto.dlms import axdr
from irprobe.sim import axdr_encode
from meterproto.dlms import cosem
from meterproto.compat import const
from meterproto.dlms.client import DlmsClient
from meterproto.errors import DecodeError
from meterproto.obis import to_bytes

LP = "1-0:99.1.0*255"
_PROFILE = const(5)
_OBJECTS = const(3)


def _buffer(n):
    """A profile buffer of n rows {clock, status, energy} (encoded Data) and its texts."""
    rows = []
    want = []
    for i in range(n):
        mi = 15 * i
        raw = cosem.encode_datetime(2026, 11, 24, mi // 60 % 24, mi % 60, 0, 0, -60, 0)
        rows.append(axdr_encode.enc_struct([axdr_encode.enc_octets(raw), axdr_encode.enc_uint8(i % 3),
                                     axdr_encode.enc_uint32(1000000 + 250 * i)]))
        want.append(["2026-11-24 %02d:%02d:00" % (mi // 60 % 24, mi % 60), str(i % 3),
                     cosem.apply_scaler(1000000 + 250 * i, -3)])
    return axdr_encode.enc_array(rows), want


def _profile_client():
    c = DlmsClient()
    c.state = _PROFILE
    c._profile = {"obis": LP, "capture_objects": [], "rows": []}
    c._cols = [(None, True), (None, False), (-3, False)]  # clock, status, energy in Wh
    c._listed = False
    return c


def _feed(c, data, cuts):
    """data split at the sorted offsets cuts; each piece as the raw part of a block."""
    start = 0
    for end in list(cuts) + [len(data)]:
        # a block's raw data sits behind its header in the APDU: decode from an offset
        head = b"\xc4\x02\xc1\x00\x00\x00\x00\x01\x00\x81"
        c._elements(head + data[start:end], len(head), end == len(data))
        start = end
    if c.state == _PROFILE:
        c._row_texts()  # the transfer is over: rows kept as bytes become texts


def test_profile_rows_whole_bytewise_and_at_random_splits():
    data, want = _buffer(40)
    c = _profile_client()
    _feed(c, data, [])
    assert c._profile["rows"] == want, c._profile["rows"][:2]
    c = _profile_client()
    _feed(c, data, range(1, len(data)))
    assert c._profile["rows"] == want
    rnd = random.Random(7) if hasattr(random, "Random") else None
    for k in range(20):
        c = _profile_client()
        if rnd is not None:
            cuts = sorted(set(rnd.randrange(1, len(data)) for _ in range(k + 1)))
        else:
            random.seed(k)
            cuts = sorted(set(random.getrandbits(16) % (len(data) - 1) + 1 for _ in range(k + 1)))
        _feed(c, data, cuts)
        assert c._profile["rows"] == want, cuts
        assert c.checkpoint[LP] == want[-1][0]


def test_rows_arrive_with_each_block_and_only_a_small_tail_is_kept():
    data, want = _buffer(60)
    c = _profile_client()
    half = len(data) // 2
    _feed_one = c._elements
    _feed_one(data[:half], 0, False)
    got = len(c._profile["rows"])
    assert 0 < got < len(want)
    assert c.checkpoint[LP] == want[got - 1][0]  # resumable from the rows already decoded
    assert len(c._stream.tail) < 40  # part of one row, not the whole value so far
    _feed_one(data[half:], 0, True)
    assert c._stream is None
    c._profile_done()
    assert c.reading.profiles[0]["rows"] == want


def test_a_short_or_wrong_value_is_a_plain_error():
    data, _ = _buffer(5)
    c = _profile_client()
    try:
        _feed(c, data[:-3], [10])
    except DecodeError as e:
        assert "profile buffer" in str(e), str(e)
    else:
        raise AssertionError("a cut-off profile buffer must fail")
    c = _profile_client()
    try:
        c._elements(axdr_encode.enc_uint16(5), 0, True)
    except DecodeError as e:
        assert "must be an array" in str(e), str(e)
    else:
        raise AssertionError("a number is no profile buffer")
    c = _profile_client()
    try:
        c._elements(data + b"\x00", 0, True)
    except DecodeError as e:
        assert "extra bytes" in str(e), str(e)
    else:
        raise AssertionError("bytes after the buffer must fail")


def _entry(cid, obis, attrs):
    rights = axdr_encode.enc_struct([
        axdr_encode.enc_array([axdr_encode.enc_struct([axdr_encode.enc_int8(a), axdr_encode.enc_enum(1), axdr_encode.enc_null()])
                        for a in attrs]),
        axdr_encode.enc_array([])])
    return axdr_encode.enc_struct([axdr_encode.enc_uint16(cid), axdr_encode.enc_uint8(0),
                            axdr_encode.enc_octets(to_bytes(obis)), rights])


def test_object_list_in_pieces_plans_the_reads_and_publishes_dicts():
    data = axdr_encode.enc_array([_entry(15, "0-0:40.0.0*255", [1, 2]),
                           _entry(3, "1-0:1.8.0*255", [1, 2, 3]),
                           _entry(7, LP, [1, 2, 3, 4]),
                           _entry(1, "0-0:96.1.0*255", [1, 2])])
    whole = cosem.parse_object_list(data)
    for cuts in ([], range(1, len(data)), [3, 40, 41, 90]):
        c = DlmsClient()
        c.state = _OBJECTS
        _feed(c, data, cuts)
        assert c._queue == [(3, "1-0:1.8.0*255", 2), (3, "1-0:1.8.0*255", 3), (7, LP, 3),
                            (1, "0-0:96.1.0*255", 2)], c._queue
        assert c._profiles == [LP]
        c._publish_objects()
        assert c.reading.objects == whole


def test_an_element_the_client_refuses_is_not_taken_for_a_short_one():
    # a damaged object_list entry in the first block must fail there, not be skipped
    bad = axdr_encode.enc_struct([axdr_encode.enc_uint16(3), axdr_encode.enc_uint8(0), axdr_encode.enc_octets(b"\x01\x02"),
                           axdr_encode.enc_struct([axdr_encode.enc_array([]), axdr_encode.enc_array([])])])
    data = axdr_encode.enc_array([bad, _entry(3, "1-0:1.8.0*255", [2])])
    c = DlmsClient()
    c.state = _OBJECTS
    try:
        c._elements(data + b"\x00\x00", 0, False)
    except DecodeError as e:
        assert "object_list entry" in str(e), str(e)
    else:
        raise AssertionError("a bad entry must fail at once")

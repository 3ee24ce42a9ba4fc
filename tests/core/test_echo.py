# Echo cancellation: exact, parity-in-bit-7 and stripped echoes are dropped; a meter reply
# that merely starts like our frame is kept whole. Fed whole and byte by byte.
from meterproto.compat import unhexlify
from meterproto.echo import EchoFilter, V_PARITY7, V_EXACT

SNRM = unhexlify("7E A0 07 03 21 93 0F 01 7E")
SEED_BACK = unhexlify("7E A0 87 03 21 93 0F 81 7E")
UA = unhexlify("7E A0 07 21 03 73 01 40 7E")


def _feed(f, data, chunk):
    out = b""
    for i in range(0, len(data), chunk):
        out += f.filter(data[i:i + chunk])
    return out


def test_seed_case_is_our_snrm_with_parity_in_bit_7():
    for chunk in (1, 2, 9):
        f = EchoFilter()
        f.sent(SNRM)
        assert _feed(f, SEED_BACK, chunk) == b""
        assert f.echo_bytes == 9 and f.echo_frames == 1
        assert f.variants[V_PARITY7] >= 2


def test_exact_echo_then_meter_reply_passes_reply():
    f = EchoFilter()
    f.sent(SNRM)
    assert _feed(f, SNRM + UA, 1) == UA
    assert f.variants[V_EXACT] == 9


def test_reply_starting_like_our_frame_is_not_eaten():
    # No crosstalk: the UA shares its first 3 bytes with the SNRM.
    for chunk in (1, 4, 9):
        f = EchoFilter()
        f.sent(SNRM)
        assert _feed(f, UA, chunk) == UA
        assert f.echo_bytes == 0


def test_iec_sign_on_echo_and_disabled_filter():
    f = EchoFilter()
    f.sent(b"/?!\r\n")
    assert f.filter(b"/?!\r\n/LGZ5\\2ZMD\r\n") == b"/LGZ5\\2ZMD\r\n"
    off = EchoFilter(enabled=False)
    off.sent(b"/?!\r\n")
    assert off.filter(b"/?!\r\n") == b"/?!\r\n"


def test_partial_echo_is_settled_by_next_send():
    f = EchoFilter()
    f.sent(b"/?!\r\n")
    assert f.filter(b"/?!\r") == b""  # LF lost on the way
    f.sent(b"/?!\r\n")
    assert f.echo_frames == 1 and f.echo_bytes == 4
    assert f.filter(b"/?!\r\n") == b""

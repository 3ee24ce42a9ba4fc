# The A-XDR decoder must not need C stack in proportion to the data's nesting: on the RP2040
# the USB server's call chain leaves little (issue 12: "maximum recursion depth exceeded").
# CPython's recursion limit stands in for the small stack: 20 levels of nesting must decode
# with 20 frames to spare (a recursive decoder needs two per level).
import inspect
import sys

from meterproto.dlms import axdr


def _frames():
    return len(inspect.stack(0))


def test_deep_data_decodes_with_a_few_frames_of_stack():
    data = b"\x01\x01" * (axdr.MAX_DEPTH - 1) + b"\x02\x02\x11\x01\x12\x00\x02"
    compact = b"\x13" + b"\x01\x00\x01" * 15 + b"\x11" + b"\x01\x2A"
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(_frames() + 20)
    try:
        v, _ = axdr.decode(data)
        c, _ = axdr.decode(compact)
    finally:
        sys.setrecursionlimit(old)
    for _ in range(axdr.MAX_DEPTH - 1):
        v = v[0]
    assert v == (1, 2)
    for _ in range(16):  # the compact-array itself, then 15 described levels
        c = c[0]
    assert c == 42

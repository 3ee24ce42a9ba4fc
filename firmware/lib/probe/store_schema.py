# probe.store_schema: the current schema read back from its segment for the next commit
# (device side; record format docs/STORAGE.md, meterproto.link.recpack). A packer needs the
# schema's cell layouts, not its frame (the register list, a DLMS association view: most of
# the record), so the record is read in small pieces, its CRC checked, and only the members
# other than "f" are kept and parsed: after a read the heap is too fragmented for the whole
# record in one piece (an IEC schema is 2.4 KB; measured on the emulated Pico).
import json

from meterproto.errors import DecodeError
from meterproto.link import records as R

PIECE = 256  # bytes read from flash at a time


def read_schema(f, pos):
    """(schema id, {"c", "p", "n", "i", "k", "f": {}}) of the schema record at pos of the
    open segment f; DecodeError when it is damaged or not a schema."""
    f.seek(pos)
    head = f.read(R.HEAD + 4)
    n, kind, _ = R.record_info(head)
    if kind != R.K_SCHEMA or len(head) < R.HEAD + 4:
        raise DecodeError("the stored schema record is not a schema")
    crc = R.crc16(head)
    sc = _Scan()
    left = n - R.OVERHEAD2 - 4  # the JSON text
    while left > 0:
        b = f.read(PIECE if left > PIECE else left)
        if not b:
            raise DecodeError("the stored schema record is cut short")
        crc = R.crc16(b, crc)
        sc.feed(b)
        left -= len(b)
    tail = f.read(2)
    if len(tail) != 2 or crc != (tail[0] << 8) | tail[1] or not sc.done:
        raise DecodeError("a stored schema record is damaged")
    s = {"f": {}}
    try:
        for k in sc.kept:
            s[k] = json.loads(bytes(sc.kept[k]).decode())
    except (ValueError, UnicodeError):
        raise DecodeError("a stored schema record is not valid")
    if not isinstance(s.get("c"), list) or not isinstance(s.get("p"), list):
        raise DecodeError("a stored schema record is not valid")
    return int.from_bytes(head[R.HEAD:R.HEAD + 4], "big"), s


class _Scan:
    """The members of a JSON object fed in pieces: the text of each member's value, except
    "f" (skipped as it goes by). Strings, escapes and nesting are followed byte by byte."""

    def __init__(self):
        self.kept = {}
        self.done = False
        self._depth = 0
        self._str = False  # inside a string
        self._esc = False  # after a backslash in a string
        self._key = None  # bytearray while reading a member's name
        self._name = None  # the member whose value comes now
        self._val = None  # bytearray of the value's text (None: skipped, or between members)

    def feed(self, data):
        for b in data:
            if self._str:
                if self._esc:
                    self._esc = False
                elif b == 0x5C:  # backslash
                    self._esc = True
                elif b == 0x22:  # closing quote
                    self._str = False
                    if self._key is not None:
                        self._name = bytes(self._key).decode()
                        self._key = None
                        continue
                if self._key is not None:
                    self._key.append(b)
                elif self._val is not None:
                    self._val.append(b)
                continue
            d = self._depth
            if d == 1 and (b == 0x2C or b == 0x7D):  # "," or "}" ends a member
                self._end_member()
                if b == 0x7D:
                    self._depth = 0
                    self.done = True
                continue
            if d == 1 and b == 0x3A:  # ":" the value starts
                self._val = bytearray() if self._name != "f" else None
                continue
            if b == 0x22:
                self._str = True
                if d == 1 and self._name is None:
                    self._key = bytearray()
                    continue
            elif b == 0x7B or b == 0x5B:  # { [
                self._depth = d + 1
                if d == 0:
                    continue
            elif b == 0x7D or b == 0x5D:  # } ]
                self._depth = d - 1
            if self._val is not None:
                self._val.append(b)

    def _end_member(self):
        if self._name is not None and self._val is not None:
            self.kept[self._name] = self._val
        self._name = None
        self._val = None

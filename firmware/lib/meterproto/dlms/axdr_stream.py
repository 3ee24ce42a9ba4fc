# meterproto.dlms.axdr_stream: an A-XDR array (IEC 62056-6-2 4.1.5) decoded element by element
# while its bytes arrive in pieces, e.g. the raw-data blocks of a GET (IEC 62056-5-3
# 9.4.6.3): a load profile buffer or the association object_list (core).
from meterproto.dlms import axdr
from meterproto.errors import DecodeError


class ArrayStream:
    """feed() the value's bytes as they come; each element that has fully arrived goes to
    element(value, buf, start, end) at once and is dropped. Between pieces only the undecoded
    tail (part of one element) is kept, as small bytes: a whole-value buffer, or a copy of
    every block, would need kilobytes in one piece from a heap split by what was read.

    what: the value in words for errors; typed: decode_typed() values (else decode());
    count(n): called once the array header says how many elements follow."""

    def __init__(self, what, typed, element, count=None):
        self.what = what
        self.typed = typed
        self.element = element
        self.count = count
        self.left = -1  # elements still to come; -1 = array header not read yet
        self.tail = b""

    def feed(self, buf, pos=0, last=False):
        """The bytes buf[pos:]; last: no more will come (then a short value is an error)."""
        end = len(buf)
        tail = self.tail
        if tail:
            # the element split between pieces: join the tail with as few of the new bytes
            # as it takes (rows are tens of bytes), not with the whole piece
            n = 64
            while True:
                k = pos + n if pos + n < end else end
                joined = tail + buf[pos:k]
                used = self._decode(joined, 0, last and k == end)
                if used > len(tail) or k == end:
                    break
                n *= 4
            if used <= len(tail):  # all of this piece and still no whole element
                self.tail = joined[used:]
                if last:
                    self._check(False)
                return
            pos += used - len(tail)
        pos = self._decode(buf, pos, last)
        self.tail = buf[pos:] if pos < end else b""
        if last:
            self._check(pos == end)

    def _decode(self, data, pos, last):
        """Hand on the whole elements in data[pos:] -> where the first incomplete one starts.
        Only a decode that runs out of bytes waits for more; what element() raises is the
        caller's answer and goes up as it is."""
        if self.left < 0:
            if data[pos:pos + 1] != b"\x01" and (pos < len(data) or last):
                raise DecodeError("%s must be an array" % self.what)
            try:
                self.left, pos = axdr.decode_length(data, pos + 1)
            except DecodeError as e:
                return self._short(e, last, pos)
            if self.count is not None:
                self.count(self.left)
        dec = axdr.decode_typed if self.typed else axdr.decode
        while self.left > 0:
            start = pos
            try:
                v, pos = dec(data, pos)
            except DecodeError as e:
                return self._short(e, last, start)
            self.left -= 1
            self.element(v, data, start, pos)
        return pos

    def _short(self, e, last, pos):
        if last:  # the value is complete, so this is no partial element
            raise DecodeError("%s is cut off or damaged: %s" % (self.what, e))
        return pos

    def _check(self, at_end):
        if self.left or not at_end:
            raise DecodeError("%s ends early or has extra bytes" % self.what)

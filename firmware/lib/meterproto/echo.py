# meterproto.echo: byte-level echo/crosstalk cancellation for IEC and HDLC (core).
# No standard clause: an optical-head artefact that IEC 62056-21 and -46 both meet.
#
# An optical head often sees its own LED (public captures show our ACK and SNRM come back).
# The driver tells the filter what it sent; received bytes that reproduce the sent ones in
# order are echo, dropped and counted. A reproduction may be exact, or seen through a
# mismatched character format: sent 7E1 and read as 8N1 puts the parity bit in bit 7
# (the seed case: 7E A0 07 .. 01 7E came back as 7E A0 87 .. 81 7E), sent 8N1 and read as
# 7E1 strips bit 7. Bytes are held while they still match the sent sequence and released as
# meter data at the first mismatch, so a reply that merely starts like our frame (an HDLC
# UA starts 7E A0 like the SNRM) is never eaten.
from meterproto.line import even_parity_bit

V_EXACT = 0
V_PARITY7 = 1  # bit 7 carries the even parity of bits 0-6 (7E1 seen by an 8N1 receiver)
V_STRIPPED = 2  # bit 7 cleared (8N1 seen by a 7E1 receiver)
VARIANT_NAMES = ("exact", "parity-in-bit-7", "bit-7-stripped")


def _variant(sent, got):
    """Which way `got` reproduces `sent`, or -1."""
    if got == sent:
        return V_EXACT
    low = sent & 0x7F
    if got == low | (even_parity_bit(low) << 7):
        return V_PARITY7
    if got == low:
        return V_STRIPPED
    return -1


class EchoFilter:
    """Drop our own transmission from the received stream. enabled=False passes all."""

    def __init__(self, enabled=True):
        self.enabled = enabled
        self._pending = bytearray()  # sent bytes whose echo may still come
        self._held = bytearray()  # received bytes matching the pending prefix so far
        self.echo_bytes = 0
        self.echo_frames = 0
        self.variants = [0, 0, 0]

    def sent(self, data):
        if not self.enabled:
            return
        self._settle()
        self._pending.extend(data)

    def line_changed(self):
        # After a baud/format switch the old echo can no longer arrive intact.
        self._settle()
        self._pending = bytearray()

    def _settle(self):
        # A new transmission while an echo is half seen: the rest of it was lost on the
        # way; what matched so far was still our own light if it is at least half.
        h = len(self._held)
        if h and h * 2 >= len(self._pending):
            self._count(h)
            self._pending = bytearray()
            self._held = bytearray()

    def _count(self, n):
        self.echo_bytes += n
        self.echo_frames += 1

    def filter(self, data):
        """Return the bytes of `data` that are not echo (may be b"")."""
        if not self.enabled or (not self._pending and not self._held):
            return data
        out = bytearray()
        for b in data:
            if self._pending:
                i = len(self._held)
                v = _variant(self._pending[i], b)
                if v >= 0:
                    self._held.append(b)
                    self.variants[v] += 1
                    if len(self._held) == len(self._pending):
                        self._count(len(self._held))
                        self._pending = bytearray()
                        self._held = bytearray()
                    continue
                # Not our echo: whatever was held is meter data after all.
                out.extend(self._held)
                self._held = bytearray()
                self._pending = bytearray()
            out.append(b)
        return bytes(out)

    def held(self):
        """Bytes still held as possible echo (the driver may flush them on a timeout)."""
        return bytes(self._held)

    def release(self):
        """Give back held bytes as data (e.g. when a deadline passes with them held)."""
        out = bytes(self._held)
        self._held = bytearray()
        self._pending = bytearray()
        return out

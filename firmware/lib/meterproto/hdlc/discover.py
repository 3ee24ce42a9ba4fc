# meterproto.hdlc.discover: find the HDLC server address a meter answers to (core).
# IEC 62056-46 leaves the physical (lower) address to the maker: SNRM to the usual ones in
# turn (IEC 62056-46 addressing: 1-byte 1; 2-byte 1/17, 1/16, 1/1; 4-byte, 0x3FFF, serial-derived),
# the first that answers wins, DISC leaves the meter as found. Bounded by a time budget.
from meterproto.compat import const
from meterproto.errors import NoAnswer
from meterproto.hdlc import frame as hf
from meterproto.line import FMT_8N1
from meterproto.machine import Machine

LISTEN_MS = const(400)  # per SNRM: a meter answers within tens of ms at 9600 baud
BUDGET_MS = const(12000)  # all candidates together, whatever the list
_BYE_MS = const(300)  # wait for the UA to our DISC, then go on anyway


def candidates(serial=None, upper=1):
    """(upper, lower or None, address size) to try, most usual first. serial: the meter's
    serial number (digits), for makers that derive the lower address from it."""
    out = [(upper, None, 1), (upper, 17, 2), (upper, 16, 2), (upper, 1, 2),
           (upper, 17, 4), (upper, 16, 4), (upper, 0x3FFF, 4)]
    digits = "".join(c for c in (serial or "") if "0" <= c <= "9")
    if digits:
        last4 = int(digits[-4:])
        # seen on meters: last four digits + 16, and 1000 + last four digits (Landis+Gyr)
        for lower in (last4 + 16, 1000 + last4):
            if (upper, lower, 4) not in out:
                out.append((upper, lower, 4))
    return out


def server_text(upper, lower, size):
    """How `irprobe read` is told: --server UPPER or UPPER/LOWER."""
    return "%d" % upper if lower is None else "%d/%d" % (upper, lower)


class Discover(Machine):
    """DISC after the answer unless disconnect=False.
    result: {"server_upper", "server_lower", "size", "server": "1/17", "tried": n,
    "answer": "UA" | "DM" | ...}; NoAnswer when no candidate answered within the budget."""

    def __init__(self, client_sap=16, serial=None, addresses=None, baud=9600, fmt=FMT_8N1,
                 set_line=True, listen_ms=LISTEN_MS, budget_ms=BUDGET_MS, disconnect=True):
        Machine.__init__(self, baud, fmt)
        self.client_sap = client_sap
        self.addresses = list(addresses or candidates(serial))
        self.set_line_first = set_line
        # disconnect=False: a reader connects next anyway (IEC 62056-46: a second SNRM resets the link), and
        # a mode E meter would go back to IEC mode on our DISC
        self.disconnect = disconnect
        self.listen_ms = listen_ms
        self.budget_ms = budget_ms
        self.tried = []  # "1/17 (2-byte)" texts, in order
        self._i = -1
        self._t0 = 0
        self._reader = hf.FrameReader()
        self._found = None
        self._dst = None

    def start(self, now_ms):
        self._t0 = now_ms
        if self.set_line_first:
            self._set_line(self.baud, self.fmt)
        self._next(now_ms)

    def _next(self, now_ms):
        self._i += 1
        if self._i >= len(self.addresses) or now_ms - self._t0 >= self.budget_ms:
            self._fail(NoAnswer(
                "no HDLC answer from any of %d server addresses (%s) with client %d at %d "
                "baud: is this a DLMS meter, and is the client address right (16 public, 1 "
                "management)?" % (len(self.tried), ", ".join(self.tried), self.client_sap,
                                   self.baud)))
            return
        up, lo, size = self.addresses[self._i]
        self._dst = hf.server_address(up, lo, size)
        self.tried.append("%s (%d-byte)" % (server_text(up, lo, size), size))
        self._reader = hf.FrameReader()
        end = self._send(hf.encode_frame(self._dst, hf.client_address(self.client_sap),
                                         hf.ctl_u(hf.K_SNRM)), now_ms)
        self._deadline = end + self.listen_ms

    def receive(self, data, now_ms):
        self.bytes_rx += len(data)
        for f in self._reader.feed(data):
            if f.src != self._dst:
                continue  # our own echo, or another station
            if self._found is None:
                up, lo, size = self.addresses[self._i]
                self._found = {"server_upper": up, "server_lower": lo, "size": size,
                               "server": server_text(up, lo, size), "tried": len(self.tried),
                               "answer": hf.KIND_NAMES[f.kind]}
                if not self.disconnect:
                    self._finish(self._found)
                    return
                # leave the meter as we found it (a UA means it is now connected)
                end = self._send(hf.encode_frame(self._dst, hf.client_address(self.client_sap),
                                                 hf.ctl_u(hf.K_DISC)), now_ms)
                self._deadline = end + _BYE_MS
            elif f.kind in (hf.K_UA, hf.K_DM):
                self._finish(self._found)
                return

    def timeout(self, now_ms):
        if self._found is not None:
            self._finish(self._found)
            return
        self._next(now_ms)

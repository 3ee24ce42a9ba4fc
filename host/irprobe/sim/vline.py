# irprobe.sim.vline: an in-process serial line in simulated time (host side, core subset).
#
# Two ends: the client end (a port for meterproto.driver.run) and the meter end (any
# sans-I/O machine with the meterproto.machine contract, e.g. a simulated meter). Each end
# has its own baud and character format; a byte occupies bits_per_char/baud seconds on the
# wire and arrives when its last stop bit does. Time is kept in integer nanoseconds, so a
# 300-baud session runs in milliseconds of real time and its wire time is exact.
# What the receiver sees depends on both ends' settings, as on a real line:
#   7E1 sent, 8N1 read  -> the parity bit shows up as bit 7 (IEC 62056-21 clause 6.1)
#   8N1 sent, 7E1 read  -> bit 7 is taken as parity and stripped
#   baud mismatch       -> framing garbage, a different number of bytes
# Faults (meter unpowered, echo, bit errors, drops, duplicates, bursts) are data in Faults.
from meterproto.line import FMT_7E1, FMT_8N1, bits_per_char, even_parity_bit
from meterproto.machine import A_SEND, A_SET_LINE
from meterproto.errors import LocalProtocolError
from irprobe.sim.rng import Rng

_NS = 1000000000
_MS = 1000000



def actions(machine):
    """Every action the machine has queued, in order, taking them off its queue (the meter
    side of a simulated line carries them out)."""
    act = machine.next_action()
    while act is not None:
        yield act
        act = machine.next_action()

class Faults:
    """What goes wrong on the line. Rates are per million bytes."""

    def __init__(self, unpowered=False, echo=False, echo_bit7=False, byte_error_ppm=0,
                 drop_ppm=0, dup_ppm=0, burst_every_ms=0, burst_len=0, stop_after=0,
                 client_8n1=False, seed=1, late_ms=0):
        self.unpowered = unpowered      # the meter hears nothing and says nothing
        self.echo = echo                # our own light comes back to our receiver
        self.echo_bit7 = echo_bit7      # ... seen with bit 7 set on parity-odd bytes
        self.byte_error_ppm = byte_error_ppm
        self.drop_ppm = drop_ppm
        self.dup_ppm = dup_ppm
        self.burst_every_ms = burst_every_ms  # noise burst period on the meter->client path
        self.burst_len = burst_len
        self.stop_after = stop_after    # the meter falls silent after this many bytes sent
        self.client_8n1 = client_8n1    # our adapter cannot do 7 bits: it always reads 8N1
        self.late_ms = late_ms          # the meter starts each answer this much later
        self.rng = Rng(seed)


def receive_as(b, tx_fmt, rx_fmt):
    """The byte a receiver set to rx_fmt reads when b was sent as tx_fmt."""
    if tx_fmt == FMT_7E1:
        b &= 0x7F
        if rx_fmt != FMT_7E1:
            b |= even_parity_bit(b) << 7
        return b
    if rx_fmt == FMT_7E1:
        return b & 0x7F
    return b


class _End:
    def __init__(self, baud, fmt):
        self.baud = baud  # what the receiver is set to now
        self.fmt = fmt
        # What the transmitter uses for the next characters: a switch requested after a
        # send takes effect for RX once TX has drained, but every later send already
        # starts after that drain, so it goes out at the new setting.
        self.tx_baud = baud
        self.tx_fmt = fmt
        self.tx_free = 0  # ns at which this end's transmitter is idle again


class VirtualLine:
    """A client end and a meter end joined by simulated light."""

    def __init__(self, meter, baud=300, fmt=FMT_7E1, faults=None, meter_baud=None,
                 meter_fmt=None, parity_bit7=False):
        self.meter = meter
        # parity_bit7: the client's port reads a 7E1 line as 8N1 (same 10-bit frame), so each
        # 7E1 character arrives with its parity bit as bit 7 and line faults can hit it too.
        self.parity_bit7 = parity_bit7
        self.faults = faults or Faults()
        self.now = 0
        self.client = _End(baud, fmt)
        self.meter_end = _End(meter_baud or meter.baud, meter.fmt if meter_fmt is None else meter_fmt)
        self._events = []      # (t_ns, order, kind, payload), kept sorted
        self._order = 0
        self._rx = bytearray()  # bytes arrived at the client, not yet read
        self.bytes_to_meter = 0
        self.bytes_to_client = 0
        self.meter_sent = 0
        # Every transmission as (who, start_ns, end_ns, nbytes, baud): "c" client, "m" meter.
        # bench/ builds the wire-time bound from it.
        self.log = []
        self._started = False
        self._next_burst = 0

    # -- port interface (client end) --------------------------------------------------
    def now_ms(self):
        return self.now // _MS

    def write(self, data):
        self._start_meter()
        t0 = self.client.tx_free if self.client.tx_free > self.now else self.now
        self._transmit(self.client, data, "m")
        self.log.append(("c", t0, self.client.tx_free, len(data), self.client.tx_baud))
        if self.faults.echo:
            self._echo(data, t0)

    def drain(self):
        self._advance(self.client.tx_free)

    def set_line(self, baud, fmt):
        c = self.client
        c.baud = c.tx_baud = baud
        c.fmt = c.tx_fmt = fmt

    def read(self, deadline_ms):
        self._start_meter()
        while not self._rx:
            t = self._next_event_time()
            if t is None or t > deadline_ms * _MS:
                if deadline_ms * _MS > self.now:
                    self.now = deadline_ms * _MS
                break
            self._step()
        out = bytes(self._rx)
        self._rx = bytearray()
        return out

    # -- simulation ---------------------------------------------------------------------
    def _start_meter(self):
        if not self._started:
            self._started = True
            self.meter.start(self.now // _MS)
            self._meter_actions()

    def _push(self, t, kind, payload):
        ev = (t, self._order, kind, payload)
        self._order += 1
        ev_list = self._events
        i = len(ev_list)
        while i > 0 and (ev_list[i - 1][0], ev_list[i - 1][1]) > (t, ev[1]):
            i -= 1
        ev_list.insert(i, ev)

    def _next_event_time(self):
        t = None
        if self._events:
            t = self._events[0][0]
        d = self.meter.deadline_ms()
        if d is not None and not self.faults.unpowered:
            dn = d * _MS
            if dn < self.now:
                dn = self.now
            if t is None or dn < t:
                t = dn
        return t

    def _step(self):
        t = self._next_event_time()
        if t is None:
            raise LocalProtocolError("virtual line: nothing will ever happen")
        self.now = t
        if self._events and self._events[0][0] == t:
            ev = self._events.pop(0)
            self._handle(ev)
            return
        self.meter.timeout(t // _MS)
        self._meter_actions()

    def _advance(self, t_ns):
        while True:
            t = self._next_event_time()
            if t is None or t > t_ns:
                break
            self._step()
        if t_ns > self.now:
            self.now = t_ns

    def _handle(self, ev):
        kind = ev[2]
        if kind == "m":  # a byte reaches the meter
            b, tx_baud, tx_fmt = ev[3]
            if self.faults.unpowered:
                return
            end = self.meter_end
            got = self._through(b, tx_baud, tx_fmt, end)
            if got:
                self.bytes_to_meter += len(got)
                self.meter.receive(got, self.now // _MS)
                self._meter_actions()
        elif kind == "c":  # a byte reaches the client
            b, tx_baud, tx_fmt = ev[3]
            end = self.client
            if self.faults.client_8n1 or (self.parity_bit7 and end.fmt == FMT_7E1):
                end = _End(end.baud, FMT_8N1)
            got = self._through(b, tx_baud, tx_fmt, end)
            got = self._line_faults(got)
            self.bytes_to_client += len(got)
            self._rx.extend(got)
        elif kind == "e":  # our own light, back on our receiver
            self._rx.extend(ev[3])
        elif kind == "L":  # the meter switches its line once its TX has drained
            self.meter_end.baud, self.meter_end.fmt = ev[3]

    def _through(self, b, tx_baud, tx_fmt, end):
        """Bytes a receiving end reads for one sent character."""
        if tx_baud == end.baud:
            return bytes((receive_as(b, tx_fmt, end.fmt),))
        # Wrong rate: the receiver samples garbage. A faster receiver sees several
        # characters (start bits found in the data), a slower one loses most of them.
        rng = self.faults.rng
        if end.baud > tx_baud:
            n = end.baud // tx_baud
            if n > 4:
                n = 4
            out = bytearray()
            for _ in range(n):
                out.append(rng.below(256) & (0x7F if end.fmt == FMT_7E1 else 0xFF))
            return bytes(out)
        if rng.below(tx_baud // end.baud or 1) == 0:
            return bytes((rng.below(256) & (0x7F if end.fmt == FMT_7E1 else 0xFF),))
        return b""

    def _line_faults(self, got):
        f = self.faults
        if not got or not (f.byte_error_ppm or f.drop_ppm or f.dup_ppm or f.burst_every_ms):
            return got
        out = bytearray()
        for b in got:
            if f.drop_ppm and f.rng.chance(f.drop_ppm):
                continue
            if f.byte_error_ppm and f.rng.chance(f.byte_error_ppm):
                b ^= 1 << f.rng.below(8)
            out.append(b)
            if f.dup_ppm and f.rng.chance(f.dup_ppm):
                out.append(b)
        if f.burst_every_ms and self.now >= self._next_burst:
            self._next_burst = self.now + f.burst_every_ms * _MS
            for _ in range(f.burst_len):
                out.append(f.rng.below(256))
        return bytes(out)

    def _transmit(self, end, data, dest):
        t = end.tx_free if end.tx_free > self.now else self.now
        ns_per_char = bits_per_char(end.tx_fmt) * _NS
        i = 0
        for b in data:
            i += 1
            self._push(t + (i * ns_per_char) // end.tx_baud, dest, (b, end.tx_baud, end.tx_fmt))
        end.tx_free = t + (len(data) * ns_per_char) // end.tx_baud

    def _echo(self, data, t0):
        # Each character comes back as it leaves our LED (crosstalk has no delay).
        ns_per_char = bits_per_char(self.client.fmt) * _NS
        i = 0
        for b in data:
            i += 1
            if self.faults.echo_bit7:
                b = (b & 0x7F) | (even_parity_bit(b) << 7)
            self._push(t0 + (i * ns_per_char) // self.client.baud, "e", bytes((b,)))

    def _meter_actions(self):
        for act in actions(self.meter):
            if self.faults.unpowered:
                continue
            if act[0] == A_SEND:
                data = act[1]
                if self.faults.stop_after:
                    room = self.faults.stop_after - self.meter_sent
                    if room <= 0:
                        continue
                    data = data[:room]
                self.meter_sent += len(data)
                if self.faults.late_ms and self.meter_end.tx_free <= self.now:
                    self.meter_end.tx_free = self.now + self.faults.late_ms * _MS
                t0 = self.meter_end.tx_free if self.meter_end.tx_free > self.now else self.now
                self._transmit(self.meter_end, data, "c")
                self.log.append(("m", t0, self.meter_end.tx_free, len(data),
                                 self.meter_end.tx_baud))
            elif act[0] == A_SET_LINE:
                t = self.meter_end.tx_free if self.meter_end.tx_free > self.now else self.now
                self._push(t, "L", (act[1], act[2]))
                self.meter_end.tx_baud, self.meter_end.tx_fmt = act[1], act[2]

# irprobe.sim.pty_server: serves any meter Machine on a pseudo-terminal in real time, so
# real serial programs (our `irprobe read`, third-party readers) can talk to a simulated meter
# (host only: needs os.openpty/termios/select; written in the core subset all the same).
#
# Line emulation, best effort. A pty has no wire: bytes written are readable at once and the
# baud rate is only a stored number. We therefore (1) pace the meter's output by its baud
# (wire time per character, divided by time_scale), (2) deliver the reader's bytes to the
# meter one character time apart at the rate the reader's side is set to, and (3) read the
# slave side's termios (baud, CS7/CS8, parity) before every delivery and garble what a real
# line would garble: a rate mismatch turns characters into noise, 7E1 read as 8N1 shows the
# parity in bit 7, 8N1 read as 7E1 loses bit 7 (the rules of irprobe.sim.vline). Over TCP
# there is no line to check, and where the kernel's pty refuses CS7/parity (EINVAL) only the
# baud rate is checked: the reader's character format is taken to match the meter's.
# time_scale > 1 runs the meter's clock (and its pacing) that much faster than real time; the
# reader must then scale its clock the same way (irprobe read --time-scale).
import os
import select
import time

from meterproto.line import FMT_7E1, FMT_8N1, FMT_8E1, bits_per_char, even_parity_bit
from meterproto.machine import A_SEND, A_SET_LINE
from irprobe.sim.rng import Rng
from irprobe.sim.vline import actions, receive_as

# Faults a pty can emulate (names as in irprobe.sim.vline.Faults).
PTY_FAULTS = ("unpowered", "echo", "echo_bit7", "client_8n1", "stop_after", "byte_error_ppm",
              "drop_ppm")


def parse_fault(spec):
    """'echo' or 'stop_after=300' -> (name, value). ValueError with plain words otherwise."""
    name, _, val = spec.partition("=")
    name = name.strip().replace("-", "_")
    if name not in PTY_FAULTS:
        raise ValueError("fault %r is not emulated on a pty (known: %s)"
                         % (spec, ", ".join(PTY_FAULTS)))
    if name in ("unpowered", "echo", "echo_bit7", "client_8n1"):
        return name, True
    try:
        return name, int(val)
    except ValueError:
        raise ValueError("fault %s needs a number, e.g. %s=300" % (name, name))


def _termios_line(fd, with_format=True):
    """(baud, fmt) the slave side is set to (fmt None when the pty cannot hold a format),
    or None when it cannot be read."""
    try:
        import termios
        attrs = termios.tcgetattr(fd)
    except Exception:
        return None
    speed = attrs[5]
    baud = None
    for b in (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200):
        if getattr(termios, "B%d" % b, None) == speed:
            baud = b
            break
    if not with_format:
        return baud, None
    cflag = attrs[2]
    seven = (cflag & termios.CSIZE) == termios.CS7
    parity = bool(cflag & termios.PARENB)
    if seven:
        fmt = FMT_7E1
    else:
        fmt = FMT_8E1 if parity else FMT_8N1
    return baud, fmt


class _PtyEnd:
    """The pty pair; we keep the slave open too so the master never reads EIO between
    clients, and so its termios stay readable."""

    check_line = True

    def __init__(self):
        import tty
        import termios
        self.master, self.slave = os.openpty()
        # Nobody may be reading: a full pty buffer must drop bytes, like light into the void.
        os.set_blocking(self.master, False)
        tty.setraw(self.slave)
        attrs = termios.tcgetattr(self.slave)
        attrs[4] = attrs[5] = termios.B300
        termios.tcsetattr(self.slave, termios.TCSANOW, attrs)
        # 300 7E1 like an IR head at rest. Some kernels refuse CS7/parity on a pty; then
        # the reader's character format is unknowable and taken to match the meter's.
        self.formats = True
        try:
            attrs[2] = (attrs[2] & ~(termios.CSIZE | termios.PARODD)) | termios.CS7 \
                | termios.PARENB
            termios.tcsetattr(self.slave, termios.TCSANOW, attrs)
        except termios.error:
            self.formats = False
        got = termios.tcgetattr(self.slave)[2]
        if (got & termios.CSIZE) != termios.CS7 or not got & termios.PARENB:
            self.formats = False
        self.name = os.ttyname(self.slave)

    def fileno(self):
        return self.master

    def read(self):
        try:
            return os.read(self.master, 4096)
        except OSError:
            return b""

    def write(self, data):
        try:
            os.write(self.master, data)
        except OSError:
            pass

    def line(self):
        return _termios_line(self.slave, self.formats)

    def close(self):
        os.close(self.master)
        os.close(self.slave)


class _TcpEnd:
    """One TCP client at a time on 127.0.0.1 (pyserial: socket://127.0.0.1:PORT)."""

    check_line = False

    def __init__(self, port):
        import socket
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", port))
        self.srv.listen(1)
        self.conn = None
        self.name = "socket://127.0.0.1:%d" % self.srv.getsockname()[1]

    def fileno(self):
        return self.conn.fileno() if self.conn is not None else self.srv.fileno()

    def read(self):
        if self.conn is None:
            self.conn, _ = self.srv.accept()
            return b""
        try:
            data = self.conn.recv(4096)
        except OSError:
            data = b""
        if not data:
            self.conn.close()
            self.conn = None
        return data

    def write(self, data):
        if self.conn is not None:
            try:
                self.conn.sendall(data)
            except OSError:
                pass

    def line(self):
        return None

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.srv.close()


class PtyServer:
    """Runs `meter` (a meter-side Machine) on a pty (or TCP) in real time."""

    def __init__(self, meter, time_scale=1.0, faults=None, tcp_port=None, seed=1):
        self.meter = meter
        self.scale = float(time_scale) if time_scale else 1.0
        self.faults = dict(faults or {})
        self.end = _TcpEnd(tcp_port) if tcp_port is not None else _PtyEnd()
        self.port = self.end.name
        self.rng = Rng(seed)
        self._t0 = None
        self._out = []      # (due_ms, byte, baud, fmt): meter characters on their way
        self._in = []       # (due_ms, byte, baud, fmt): reader characters on their way
        self._switches = []  # (at_ms, baud, fmt): meter line changes once its TX drained
        self._tx_free = 0.0
        self._rx_free = 0.0
        self.meter_line = (meter.baud, meter.fmt)   # what the meter transmits with
        self.meter_rx = (meter.baud, meter.fmt)     # what the meter receives with
        self.sent = 0
        self.trace = []

    def now(self):
        return (time.monotonic() - self._t0) * 1000.0 * self.scale

    def _reader_line(self):
        """(baud, fmt) of the reader's side; client_8n1: its adapter cannot do 7E1."""
        line = self.end.line() if self.end.check_line else None
        if self.faults.get("client_8n1"):
            baud = line[0] if line is not None and line[0] is not None else self.meter_rx[0]
            return (baud, FMT_8N1)
        return line

    def _meter_actions(self):
        for act in actions(self.meter):
            if self.faults.get("unpowered"):
                continue
            if act[0] == A_SEND:
                self._queue_out(act[1])
            elif act[0] == A_SET_LINE:
                at = self._tx_free if self._tx_free > self.now() else self.now()
                self._switches.append((at, act[1], act[2]))
                self.meter_line = (act[1], act[2])

    def _queue_out(self, data):
        baud, fmt = self.meter_line
        stop = self.faults.get("stop_after")
        if stop:
            room = stop - self.sent
            data = data[:room] if room > 0 else b""
        self.sent += len(data)
        t = self._tx_free if self._tx_free > self.now() else self.now()
        per = bits_per_char(fmt) * 1000.0 / baud
        for b in data:
            t += per
            self._out.append((t, b, baud, fmt))
        self._tx_free = t

    def _through(self, b, tx_baud, tx_fmt, rx_line):
        """Bytes a receiver set to rx_line reads for one character (None: not known)."""
        if rx_line is None or rx_line[0] is None:
            return bytes((b,))
        rx_baud, rx_fmt = rx_line
        if rx_fmt is None:
            rx_fmt = tx_fmt
        if rx_baud == tx_baud:
            return bytes((receive_as(b, tx_fmt, rx_fmt),))
        mask = 0x7F if rx_fmt == FMT_7E1 else 0xFF
        if rx_baud > tx_baud:
            n = rx_baud // tx_baud
            return bytes([self.rng.below(256) & mask for _ in range(n if n < 4 else 4)])
        if self.rng.below(tx_baud // rx_baud or 1) == 0:
            return bytes((self.rng.below(256) & mask,))
        return b""

    def _damage(self, data):
        ber = self.faults.get("byte_error_ppm", 0)
        drop = self.faults.get("drop_ppm", 0)
        if not (ber or drop):
            return data
        out = bytearray()
        for b in data:
            if drop and self.rng.chance(drop):
                continue
            if ber and self.rng.chance(ber):
                b ^= 1 << self.rng.below(8)
            out.append(b)
        return bytes(out)

    def _step(self):
        """Do everything that is due; return the sim ms of the next thing due, or None."""
        now = self.now()
        while self._switches and self._switches[0][0] <= now:
            sw = self._switches.pop(0)
            self.meter_rx = (sw[1], sw[2])
        if self._out and self._out[0][0] <= now:
            line = self._reader_line()
            out = bytearray()
            while self._out and self._out[0][0] <= now:
                _, b, baud, fmt = self._out.pop(0)
                out.extend(self._through(b, baud, fmt, line))
            out = self._damage(bytes(out))
            if out:
                self.trace.append((int(now), "<", bytes(out)))
                self.end.write(out)
        got = bytearray()
        while self._in and self._in[0][0] <= now:
            _, b, baud, fmt = self._in.pop(0)
            got.extend(self._through(b, baud, fmt, self.meter_rx))
        if got and not self.faults.get("unpowered"):
            self.meter.receive(bytes(got), int(now))
            self._meter_actions()
        d = self.meter.deadline_ms()
        if d is not None and d <= now and not self.faults.get("unpowered"):
            self.meter.timeout(int(now))
            self._meter_actions()
            d = self.meter.deadline_ms()
        nxt = []
        for q in (self._out, self._in, self._switches):
            if q:
                nxt.append(q[0][0])
        if d is not None and not self.faults.get("unpowered"):
            nxt.append(d)
        return min(nxt) if nxt else None

    def _incoming(self, data):
        """Bytes the reader wrote: each arrives one character time after the previous one."""
        now = self.now()
        self.trace.append((int(now), ">", data))
        if self.faults.get("echo"):
            echo = data
            if self.faults.get("echo_bit7"):
                echo = bytes([(b & 0x7F) | (even_parity_bit(b) << 7) for b in data])
            self.end.write(echo)
        line = self._reader_line()
        if line is None or line[0] is None:
            line = self.meter_rx
        baud, fmt = line
        if fmt is None:
            fmt = self.meter_rx[1]
        per = bits_per_char(fmt) * 1000.0 / baud
        t = self._rx_free if self._rx_free > now else now
        for b in data:
            t += per
            self._in.append((t, b, baud, fmt))
        self._rx_free = t

    def serve(self, timeout_s=None):
        """Serve until timeout_s real seconds have passed (None: until interrupted)."""
        self._t0 = time.monotonic()
        end_at = None if timeout_s is None else self._t0 + timeout_s
        self.meter.start(0)
        self._meter_actions()
        fd = self.end.fileno
        while True:
            nxt = self._step()
            real_now = time.monotonic()
            if end_at is not None and real_now >= end_at:
                return
            wait = 1.0
            if nxt is not None:
                wait = (nxt - self.now()) / 1000.0 / self.scale
            if end_at is not None and end_at - real_now < wait:
                wait = end_at - real_now
            if wait < 0:
                wait = 0
            r, _, _ = select.select([fd()], [], [], wait)
            if r:
                data = self.end.read()
                if data:
                    self._incoming(data)

    def close(self):
        self.end.close()

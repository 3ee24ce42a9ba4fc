# meterproto.driver: carries out a machine's actions on a port (core; owns no I/O itself).
# The one loop between a sans-I/O Machine (meterproto.machine) and a real or simulated line:
# the host runs it to the end (run), the probe one slice at a time between its other jobs
# (Driver.step), and both apply the same deadline rule for held echo (deadline_passed).
#
# The port is injected and does the real work, so one loop serves the RP2040 UART, a
# host serial head, a pty and the simulated-time virtual line alike. A port offers:
#   now_ms()                 monotonic ms (any origin; the driver makes it session-relative)
#   write(data)              queue bytes for sending
#   drain()                  return once TX has fully left the line (last stop bit)
#   set_line(baud, fmt)      switch rate and character format (called after drain())
#   read(deadline_ms)        bytes received so far, waiting until some arrive or until the
#                            port clock reaches deadline_ms (then b""); deadline_ms is in the
#                            port's own clock
# An optional echo filter (meterproto.echo) removes our own transmission seen on RX.
from meterproto.errors import LocalProtocolError
from meterproto.machine import A_SEND, A_SET_LINE

# Trace entry kinds: what was sent, what was received, a line change.
T_TX = ">"
T_RX = "<"
T_LINE = "="


def deadline_passed(machine, echo, now_ms):
    """A deadline has passed. Bytes an echo filter still holds as possible echo were meter
    data after all (our echo comes back within a character time), so the machine gets
    them first; it times out only if it is still past its deadline afterwards."""
    if echo is not None and echo.held():
        machine.receive(echo.release(), now_ms)
        d = machine.deadline_ms()
        if machine.done or d is None or now_ms < d:
            return
    machine.timeout(now_ms)


class Driver:
    """One machine on one port: step() waits once (for data or the deadline, at most
    budget_ms) and carries out what the machine asks; run() steps to the end.

    trace, if a list, receives (ms, kind, payload) tuples: the raw exchange. Counters:
    sent, rx_bytes (everything received, echo included), meter_bytes (what was not echo).
    """

    def __init__(self, machine, port, echo=None, trace=None):
        self.machine = machine
        self.port = port
        self.echo = echo
        self.trace = trace
        self.sent = 0
        self.rx_bytes = 0
        self.meter_bytes = 0
        self.t0 = port.now_ms()
        machine.start(0)
        self._act()

    def received(self, data):
        """Every chunk as it arrived, echo included (the probe hashes them: a subclass)."""

    def _act(self):
        m = self.machine
        port = self.port
        echo = self.echo
        trace = self.trace
        act = m.next_action()
        while act is not None:
            if act[0] == A_SEND:
                port.write(act[1])
                self.sent += len(act[1])
                if echo is not None:
                    echo.sent(act[1])
                if trace is not None:
                    trace.append((port.now_ms() - self.t0, T_TX, act[1]))
            elif act[0] == A_SET_LINE:
                port.drain()  # IEC 62056-21 6.4.2: switch only once the ACK has left
                port.set_line(act[1], act[2])
                if echo is not None:
                    echo.line_changed()
                if trace is not None:
                    trace.append((port.now_ms() - self.t0, T_LINE, (act[1], act[2])))
            act = m.next_action()

    def abort(self, exc):
        """End the session now (see Machine.abort) and send what leaves the meter idle."""
        m = self.machine
        try:
            m.abort(exc, self.port.now_ms() - self.t0)
            self._act()
        except Exception:  # noqa: BLE001 - best effort: the port may be the fault
            pass

    def step(self, budget_ms=None):
        """Advance the session by one wait of at most budget_ms (None: up to the machine's
        deadline); True once it has ended."""
        m = self.machine
        if m.done:
            return True
        deadline = m.deadline_ms()
        if deadline is None:
            m._fail(LocalProtocolError("the session waits with no deadline: it would hang"))
            return True
        port = self.port
        until = deadline
        if budget_ms is not None:
            cut = port.now_ms() - self.t0 + budget_ms
            if cut < until:
                until = cut
        data = port.read(until + self.t0)
        now = port.now_ms() - self.t0
        if data:
            self.rx_bytes += len(data)
            self.received(data)
            if self.trace is not None:
                self.trace.append((now, T_RX, data))
            if self.echo is not None:
                data = self.echo.filter(data)
            if data:
                self.meter_bytes += len(data)
                m.receive(data, now)
                self._act()
                return m.done
        if now >= deadline:
            if self.echo is not None:
                self.meter_bytes += len(self.echo.held())  # released as meter data
            deadline_passed(m, self.echo, now)
            self._act()
        return m.done


def run(machine, port, echo=None, trace=None):
    """Run `machine` to the end on `port`; return machine.result or raise machine.error.
    Ended from outside (Ctrl-C, a fault in our code), the session is hung up first (abort)."""
    d = Driver(machine, port, echo, trace)
    try:
        while not d.step():
            pass
    except BaseException as e:  # noqa: BLE001 - KeyboardInterrupt too: the meter goes idle
        d.abort(e if isinstance(e, Exception) else LocalProtocolError("stopped by the user"))
        raise
    if machine.error is not None:
        raise machine.error
    return machine.result

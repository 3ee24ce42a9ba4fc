# meterproto.driver: carries out a machine's actions on a port (core; owns no I/O itself).
# The one loop between a sans-I/O Machine (meterproto.machine) and a real or simulated line.
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


def run(machine, port, echo=None, trace=None):
    """Run `machine` to the end on `port`; return machine.result or raise machine.error.

    trace, if a list, receives (ms, kind, payload) tuples: the raw exchange.
    """
    t0 = port.now_ms()
    machine.start(0)
    while True:
        act = machine.next_action()
        while act is not None:
            kind = act[0]
            if kind == A_SEND:
                data = act[1]
                port.write(data)
                if echo is not None:
                    echo.sent(data)
                if trace is not None:
                    trace.append((port.now_ms() - t0, T_TX, data))
            elif kind == A_SET_LINE:
                port.drain()
                port.set_line(act[1], act[2])
                if echo is not None:
                    echo.line_changed()
                if trace is not None:
                    trace.append((port.now_ms() - t0, T_LINE, (act[1], act[2])))
            act = machine.next_action()
        if machine.done:
            break
        deadline = machine.deadline_ms()
        if deadline is None:
            raise LocalProtocolError("machine waits with no deadline: it would hang")
        data = port.read(deadline + t0)
        now = port.now_ms() - t0
        if data:
            if trace is not None:
                trace.append((now, T_RX, data))
            if echo is not None:
                data = echo.filter(data)
            if data:
                machine.receive(data, now)
                continue
        if now >= deadline:
            if echo is not None and echo.held():
                # Bytes held as possible echo at a deadline were meter data after all.
                machine.receive(echo.release(), now)
                continue
            machine.timeout(now)
    if machine.error is not None:
        raise machine.error
    return machine.result

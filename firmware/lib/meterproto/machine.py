# meterproto.machine: the contract every sans-I/O session machine follows (core).
# Time and line settings are data: the IEC 62056-21 and HDLC machines ask for them as
# actions and deadlines instead of sleeping, so one machine runs on the probe and the host.
#
# Theory of operation. A machine never reads a clock, sleeps or touches a port. The driver
# (meterproto.driver.run, or a test) feeds it:
#   start(now_ms)            once, at the beginning of the session;
#   receive(data, now_ms)    bytes from the line, in any chunking (byte by byte is fine);
#   timeout(now_ms)          when now_ms >= deadline_ms();
# and carries out what it asks, in order, via next_action():
#   (A_SEND, data)           write these bytes;
#   (A_SET_LINE, baud, fmt)  wait until TX has fully drained, then switch the line
#                            (IEC 62056-21 6.4.2: the switch happens after the ACK has left).
# A "wait" is simply a deadline with nothing to receive. now_ms is a plain, monotonic
# millisecond count from the start of the session (the driver takes care of tick wrap).
# When done is True, result holds the outcome, or error holds the exception that ended it.
# A session made of machines run one after the other (IEC sign-on then DLMS, the doctor's
# steps, mode D's listener) passes a sub-machine's actions on with _relay(); a simulator
# carrying a meter machine's actions out on its line takes them with
# irprobe.sim.vline.actions(machine).
from meterproto.compat import const
from meterproto.line import FMT_7E1, wire_ms

A_SEND = const(1)
A_SET_LINE = const(2)
ACTION_NAMES = ("", "send", "set-line")


class Machine:
    """Base class: the action queue, the deadline and the end of the session."""

    def __init__(self, baud=300, fmt=FMT_7E1):
        self.done = False
        self.result = None
        self.error = None
        self.baud = baud
        self.fmt = fmt
        self._actions = []
        self._deadline = None
        self._tx_end = 0
        self.bytes_tx = 0
        self.bytes_rx = 0

    # -- driver side ------------------------------------------------------------------
    def next_action(self):
        """The next action to carry out, or None."""
        if self._actions:
            return self._actions.pop(0)
        return None

    def deadline_ms(self):
        """Absolute ms at which timeout() must be called, or None when done."""
        if self.done:
            return None
        return self._deadline

    def start(self, now_ms):
        raise NotImplementedError  # each machine defines its own opening

    def receive(self, data, now_ms):
        raise NotImplementedError

    def timeout(self, now_ms):
        raise NotImplementedError

    # -- machine side -----------------------------------------------------------------
    def _send(self, data, now_ms):
        """Queue bytes; return the ms at which their last stop bit leaves the line."""
        self._actions.append((A_SEND, data))
        self.bytes_tx += len(data)
        start = now_ms if now_ms > self._tx_end else self._tx_end
        self._tx_end = start + wire_ms(len(data), self.baud, self.fmt)
        return self._tx_end

    def _set_line(self, baud, fmt):
        self._actions.append((A_SET_LINE, baud, fmt))
        self.baud = baud
        self.fmt = fmt

    def _relay(self, sub, echo=None):
        """Pass a sub-machine's queued actions on as ours and follow its line settings, end
        of transmission and deadline; echo (an EchoFilter in front of sub) is told what is
        sent. True once sub is done (its result or error is then the caller's to use)."""
        act = sub.next_action()
        while act is not None:
            self._actions.append(act)
            if echo is not None:
                if act[0] == A_SEND:
                    echo.sent(act[1])
                else:
                    echo.line_changed()
            act = sub.next_action()
        self.baud = sub.baud
        self.fmt = sub.fmt
        if sub.tx_end_ms() > self._tx_end:
            self._tx_end = sub.tx_end_ms()
        if sub.done:
            return True
        self._deadline = sub.deadline_ms()
        return False

    def tx_end_ms(self):
        """When what this machine has sent so far will have left the line."""
        return self._tx_end

    def abort(self, exc, now_ms):
        """End the session now with exc (a user's abort, a fault outside the protocol, no
        memory): what leaves the meter idle is queued first (_hang_up: DISC for HDLC, B0 in
        IEC programming mode), so the driver still sends it. Best effort: the line may be gone."""
        if not self.done:
            try:
                self._hang_up(now_ms)
            except Exception:  # noqa: BLE001 - no memory, a broken state: the error stays exc
                pass
        self.done = True
        self.error = exc
        self._deadline = None

    def _hang_up(self, now_ms):
        """Queue what ends an open session at the meter; nothing for a session that opens none."""

    def _finish(self, result):
        self.done = True
        self.result = result
        self._deadline = None

    def _fail(self, exc):
        self.done = True
        self.error = exc
        self._deadline = None

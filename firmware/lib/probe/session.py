# probe.session: one meter read as the reader app runs it (device side): the Machine for the
# chosen mode (imported lazily, so an IEC read never loads the DLMS stack), and
# meterproto.driver.run cut into short steps so the app can serve USB and the LED meanwhile.
# Loaded for a read only; probe.app drops it with the protocol modules when memory is short.
from meterproto.driver import T_LINE, T_RX, T_TX
from meterproto.errors import LocalProtocolError, NoAnswer
from meterproto.machine import A_SEND, A_SET_LINE
from probe.app import ECHO_ONLY, ERROR, NO_ANSWER, SUCCESS

_AUTO_MODES = {"auto": "auto", "dlms": "auto", "iec-e": "e", "e": "e", "hdlc": "hdlc"}


def _hex(text):
    if not text:
        return None
    from meterproto.compat import unhexlify

    return unhexlify(text)


def make_session(s):
    """The Machine for one read, from settings(). Imported lazily: a missing protocol module
    only disables that mode."""
    mode = s["mode"]
    if mode in ("iec", "iec-c"):
        from meterproto.iec.client import IecClient

        return IecClient(address=s["address"] or "", max_baud=s["max_baud"],
                         wakeup=s["wakeup"], password=s["password"])
    if mode in _AUTO_MODES:
        from meterproto.session.auto import AutoSession

        kw = {}
        if s["client"] is not None:
            kw["client_sap"] = s["client"]
        server = s["server"]
        if server is not None:
            if server > 0x3FFF:
                kw["server_upper"] = server >> 16
                kw["server_lower"] = server & 0xFFFF
            else:
                kw["server_upper"] = server
        keys = s["keys"] or {}
        for k in ("ek", "ak", "system_title"):
            if keys.get(k):
                kw[k] = _hex(keys[k])
        return AutoSession(mode=_AUTO_MODES[mode], address=s["address"] or "",
                           max_baud=s["max_baud"], password=s["password"],
                           wakeup=s["wakeup"], **kw)
    raise LocalProtocolError("unknown meter mode %r (use iec, auto, iec-e or hdlc)" % (mode,))


class Stepper:
    """meterproto.driver.run cut into steps: step(budget_ms) never waits longer than that.

    Hashes the received bytes as they come (the record digest, meterproto.link.records
    exchange_digest) instead of keeping them: a long readout must not cost its size in RAM.
    """

    def __init__(self, machine, port, echo=None, trace=None):
        import hashlib

        self.machine = machine
        self.port = port
        self.echo = echo
        self.trace = trace
        self._hash = hashlib.sha256()  # everything received, echo included, as it came
        self.rx_bytes = 0
        self.meter_bytes = 0  # received bytes that were not our echo
        self.sent = 0
        self.t0 = port.now_ms()
        machine.start(0)
        self._actions()

    def _actions(self):
        m = self.machine
        port = self.port
        act = m.next_action()
        while act is not None:
            if act[0] == A_SEND:
                port.write(act[1])
                self.sent += len(act[1])
                if self.echo is not None:
                    self.echo.sent(act[1])
                self._log(T_TX, act[1])
            elif act[0] == A_SET_LINE:
                port.drain()  # IEC 62056-21 6.4.2: switch only once the ACK has left
                port.set_line(act[1], act[2])
                if self.echo is not None:
                    self.echo.line_changed()
                self._log(T_LINE, (act[1], act[2]))
            act = m.next_action()

    def _log(self, kind, payload):
        if self.trace is not None:
            self.trace.append((self.port.now_ms() - self.t0, kind, payload))

    def step(self, budget_ms):
        """Advance the session by at most budget_ms; True once it has ended."""
        m = self.machine
        if m.done:
            return True
        deadline = m.deadline_ms()
        if deadline is None:
            m._fail(LocalProtocolError("session waits with no deadline: it would hang"))
            return True
        now = self.port.now_ms() - self.t0
        until = now + budget_ms
        if deadline < until:
            until = deadline
        data = self.port.read(until + self.t0)
        now = self.port.now_ms() - self.t0
        if data:
            self._hash.update(data)
            self.rx_bytes += len(data)
            self._log(T_RX, data)
            if self.echo is not None:
                data = self.echo.filter(data)
            if data:
                self.meter_bytes += len(data)
                m.receive(data, now)
                self._actions()
                return m.done
        if now >= deadline:
            m.timeout(now)
            self._actions()
        return m.done

    def digest(self):
        """= meterproto.link.records.exchange_digest(every byte received)."""
        from meterproto.link.records import DIGEST_LEN

        return self._hash.digest()[:DIGEST_LEN]


def classify(stepper, echo):
    """Outcome name for a finished session (store errors are handled by the caller)."""
    m = stepper.machine
    if m.error is None:
        return SUCCESS
    if isinstance(m.error, NoAnswer) and stepper.meter_bytes == 0:
        if echo is not None and echo.echo_bytes > 0:
            return ECHO_ONLY  # our own light came back, the meter said nothing
        if not stepper.rx_bytes:
            return NO_ANSWER
    return ERROR


def as_dict(result):
    if result is None or isinstance(result, dict):
        return result
    if hasattr(result, "to_dict"):
        return result.to_dict()
    reading = getattr(result, "reading", None)  # e.g. an AutoSession result object
    if reading is not None:
        return as_dict(reading)
    return None

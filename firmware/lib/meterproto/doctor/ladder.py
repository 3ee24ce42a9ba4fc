# meterproto.doctor.ladder: the first-contact diagnosis ladder (core; one state machine).
#
# Theory of operation. Silence has a handful of causes (no power, head off the LED, wrong
# framing, a sleeping battery meter, a meter that wants its address, the probe hearing only
# itself). The ladder tries, in order, the openings a meter may need and classifies what
# came back in each step (our own echo, nothing, an identification, an HDLC frame, bytes
# with the parity in bit 7, garbage, NULs only). The verdict names the first cause the
# evidence supports, in words for someone who has never read IEC 62056-21.
# Steps (IEC 62056-21 6.3.1 sign-on at 300 7E1; annex on battery wake-up; IEC 62056-46 SNRM):
#   sign-on       /?! at 300 7E1                  -> identification? then a readout check
#   wake-up       NUL train + pause + /?!         -> a battery meter that was asleep
#   address       /?ADDR! (when an address given) -> a meter that answers only when called
#   snrm          SNRM at 9600 8N1                -> a meter that speaks HDLC directly
#   listen        2400/9600, 7E1                  -> a meter pushing by itself at another rate
# The driver must run this machine WITHOUT an echo filter: the doctor wants to see the echo.
from meterproto.compat import const
from meterproto.doctor.findings import (  # noqa: F401  (re-exported for callers and tests)
    F_CORRUPT, F_ECHO, F_GARBAGE, F_HDLC, F_IDENT, F_NOTHING, F_PARITY7, F_TEXT, F_ZEROS,
    VERDICTS, Step, classify, snrm_frame, verdict)
from meterproto.echo import EchoFilter
from meterproto.hdlc.frame import client_address, encode_frame
from meterproto.iec.msg import sign_on
from meterproto.iec.wakeup import nul_train, wakeup_plan
from meterproto.line import FMT_7E1, FMT_8N1
from meterproto.driver import deadline_passed
from meterproto.machine import Machine

_S_IDLE = const(0)
_S_WAKE = const(1)  # NUL train sent, pause running
_S_LISTEN = const(2)
_S_GAP = const(3)  # quiet time between steps so the meter returns to idle
_S_SUB = const(4)  # a sub-machine (the readout check) runs

_QUIET_MS = 1500  # the meter's 1500 ms rule: after this silence it is idle again
_GAP_MS = 1600
_GAP_MAX_MS = 40000  # a 1000-character mode A readout at 300 baud takes 33 s
_HDLC_LISTEN_MS = 700  # per SNRM: a meter answers within tens of ms at 9600
# Server addresses to try: meterproto.hdlc.discover.candidates (1-byte 1 first, then the
# common physical addresses on optical ports in 2 and 4 bytes, 0x3FFF, and 4-byte ones
# from the --address serial; IEC 62056-46 addressing: a meter ignores frames not for it).


class Doctor(Machine):
    """Runs the ladder; result is a dict {"verdict", "text", "steps": [...]}."""

    def __init__(self, address=None, loopback=False, try_hdlc=True, readout_check=True,
                 wakeup="standard", client_sap=16, server_upper=1, settle_ms=0):
        Machine.__init__(self)
        # Bad options fail here, in plain words, not half-way through the ladder.
        if address:
            sign_on(address)
        wakeup_plan(wakeup)
        self.address = address
        self.loopback = loopback
        self.try_hdlc = try_hdlc
        self.readout_check = readout_check
        self.wakeup = wakeup
        self.client_sap = client_sap
        self.server_upper = server_upper
        # settle_ms: wait for the line to be quiet this long first (e.g. the probe app
        # breaking off a read: the meter may still be sending its readout).
        self.settle_ms = settle_ms
        self.steps = []
        self._step = None
        self._sub = None
        self._state = _S_IDLE
        self._last_rx = 0
        self.reading = None  # the readout check's reading, when it got one

    # -- the ladder ----------------------------------------------------------------------
    def start(self, now_ms):
        # Whatever the port was left at, every ladder starts at 300 baud 7E1 (6.3.1).
        self._set_line(300, FMT_7E1)
        if self.loopback:
            first = Step("loopback (head off the meter)", 300, FMT_7E1, sign_on())
        else:
            first = Step("sign-on 300 7E1", 300, FMT_7E1, sign_on())
        if self.settle_ms > 0:
            self._gap(now_ms, first, self.settle_ms)
        else:
            self._begin(first, now_ms)

    def _next(self, now_ms):
        """Decide the next step from the findings so far, or finish."""
        s = self._step
        names = [x.name for x in self.steps]
        if self.loopback:
            return self._verdict()
        if s.kind == "readout":
            if s.name == "mode E check" and s.finding == F_IDENT:
                # Switched to HDLC: the SNRM must follow at once (B.14, about 1.5 s).
                return self._begin(self._hdlc_step("SNRM after mode E", self.baud), now_ms)
            if s.name == "readout check" and s.finding == F_NOTHING and self._mode_e_offered() \
                    and "mode E check" not in names:
                # Some mode E meters give no text readout at all (docs/INTEROP.md): ask for
                # HDLC instead before calling the link broken.
                return self._gap(now_ms, "mode-e")
            return self._verdict()
        if s.kind == "listen":
            if s.finding in (F_TEXT, F_IDENT):
                return self._verdict()
            return self._listen_next(names, now_ms)
        if s.finding == F_IDENT:
            if self.readout_check and "readout check" not in names:
                return self._gap(now_ms, "readout")
            return self._verdict()
        if s.finding in (F_PARITY7, F_ZEROS):
            return self._verdict()
        if s.finding in (F_GARBAGE, F_TEXT):
            # Something is sending on its own at another rate: listen at the usual ones.
            return self._listen_next(names, now_ms)
        if s.finding == F_CORRUPT:
            return self._verdict()
        if s.finding == F_HDLC:
            self._disc(s, now_ms)
            return self._verdict()
        if s.name == "SNRM after mode E":
            return self._verdict()
        # Nothing but silence or our own echo so far: try the next opening.
        if "wake-up + sign-on" not in names and self.wakeup:
            return self._gap(now_ms, Step("wake-up + sign-on", 300, FMT_7E1, sign_on(),
                                          wakeup=wakeup_plan(self.wakeup)))
        if self.address and "sign-on with address" not in names:
            return self._gap(now_ms, Step("sign-on with address", 300, FMT_7E1,
                                          sign_on(self.address)))
        if self.try_hdlc and "SNRM 9600 8N1" not in names:
            return self._gap(now_ms, self._hdlc_step("SNRM 9600 8N1", 9600))
        return self._verdict()

    def _hdlc_step(self, name, baud):
        step = Step(name, baud, FMT_8N1, listen_ms=_HDLC_LISTEN_MS, kind="hdlc")
        from meterproto.hdlc.discover import candidates
        step.addresses = candidates(self.address, self.server_upper)
        step.payload = snrm_frame(self.client_sap, self.server_upper, None)
        return step

    def _next_address(self, step, now_ms):
        step.addr_i += 1
        up, lo, size = step.addresses[step.addr_i]
        step.payload = snrm_frame(self.client_sap, up, lo, size)
        self._transmit(step, now_ms)

    def _disc(self, step, now_ms):
        # Leave the meter as we found it: DISC (control 0x53) to the server that answered.
        if step.server:
            self._send(encode_frame(step.server, client_address(self.client_sap), 0x53), now_ms)

    def _listen_next(self, names, now_ms):
        # Listen at the usual rates in turn, then give the verdict.
        for baud in (2400, 9600):
            nm = "listen %d 7E1" % baud
            if nm not in names:
                return self._gap(now_ms, Step(nm, baud, FMT_7E1, b"", listen_ms=4000,
                                              kind="listen"))
        return self._verdict()

    def _mode_e_offered(self):
        for s in self.steps:
            ident = getattr(s, "ident", None)
            if ident is not None and ident.mode_e:
                return True
        return False

    def _gap(self, now_ms, step, quiet_ms=_GAP_MS):
        self._pending = step
        self._state = _S_GAP
        self._gap_start = now_ms
        self._quiet_ms = quiet_ms
        self._deadline = now_ms + quiet_ms

    def _begin(self, step, now_ms):
        if step == "readout":
            return self._begin_readout(now_ms, False)
        if step == "mode-e":
            return self._begin_readout(now_ms, True)
        self._step = step
        self.steps.append(step)
        if step.baud != self.baud or step.fmt != self.fmt:
            self._set_line(step.baud, step.fmt)
        if step.wakeup:
            n, pause, _baud = step.wakeup
            end = self._send(nul_train(n), now_ms)
            self._state = _S_WAKE
            self._deadline = end + pause
            return
        self._transmit(step, now_ms)

    def _transmit(self, step, now_ms):
        end = self._send(step.payload, now_ms) if step.payload else now_ms
        step.sent = step.sent + step.payload
        self._state = _S_LISTEN
        self._listen_end = end + step.listen_ms
        self._deadline = self._listen_end

    def _begin_readout(self, now_ms, mode_e):
        # A full readout proves the characters survive: every block has a BCC (6.3.3).
        # mode_e: sign on again and switch to HDLC with ACK 2 Z 2 (6.4.5) instead.
        from meterproto.iec.client import IecClient

        step = Step("mode E check" if mode_e else "readout check", 300, FMT_7E1,
                    kind="readout")
        self._step = step
        self.steps.append(step)
        if self.baud != 300 or self.fmt != FMT_7E1:
            self._set_line(300, FMT_7E1)
        address = ""
        for s in self.steps:
            if s.name == "sign-on with address" and s.finding == F_IDENT:
                address = self.address
        self._sub = IecClient(address=address, max_baud=9600, wakeup=self._wakeup_used(),
                              retries=1, mode_e=mode_e)
        # The readout is checked as `irprobe read` would do it: with our own echo removed.
        self._sub_echo = EchoFilter()
        self._sub.baud = self.baud
        self._sub.fmt = self.fmt
        self._state = _S_SUB
        self._sub.start(now_ms)
        self._pump(now_ms)

    def _wakeup_used(self):
        for s in self.steps:
            if s.wakeup and s.finding == F_IDENT:
                return self.wakeup
        return None

    def _pump(self, now_ms):
        sub = self._sub
        self._relay(sub, self._sub_echo)
        if sub.done:
            step = self._step
            damaged = 0
            for note in sub.notes:
                if "BCC" in note or "unreadable" in note:
                    damaged += 1
            if sub.error is not None:
                e = sub.error
                code = getattr(e, "code", "")
                step.finding = F_CORRUPT if code in ("checksum", "decode") or damaged \
                    else F_NOTHING
                step.detail = str(e)
            elif sub.handover is not None:
                step.finding = F_IDENT
                step.detail = "identification again, then ACK 2 Z 2: HDLC at %d baud 8N1" % (
                    sub.handover[0])
            elif damaged:
                # Read in the end, but only because blocks were repeated (NAK, 6.3.8): the
                # light path is marginal and the next read may well fail.
                step.finding = F_CORRUPT
                step.detail = "%d values read, but %d block(s) arrived damaged and had to " \
                    "be repeated" % (len(sub.result.values), damaged)
                self.reading = sub.result
            else:
                step.finding = F_IDENT
                step.detail = "%d values read, every block check correct" % len(
                    sub.result.values)
                self.reading = sub.result
            self._sub = None
            self._next(now_ms)

    # -- inputs ----------------------------------------------------------------------------
    def receive(self, data, now_ms):
        if self._state == _S_SUB:
            data = self._sub_echo.filter(data)
            if data:
                self._sub.receive(data, now_ms)
                self._pump(now_ms)
            return
        if self._state == _S_GAP:
            # A meter still sending (a mode A readout runs on at 300 baud for many seconds)
            # would drown the next request: wait until it has been quiet for the gap (the
            # 1500 ms rule, 6.3.14), at most _GAP_MAX_MS. Listening steps need no quiet.
            p = self._pending
            if p == "readout" or p.payload:
                d = now_ms + self._quiet_ms
                if d > self._gap_start + _GAP_MAX_MS:
                    d = self._gap_start + _GAP_MAX_MS
                if d > self._deadline:
                    self._deadline = d
            return
        if self._state != _S_LISTEN:
            return
        step = self._step
        if len(step.received) < 4096:
            step.received.extend(data)
        self._last_rx = now_ms
        # An identification line or an HDLC frame ends the step early; otherwise listen
        # until the 1500 ms rule says the sender has finished.
        if step.kind == "iec" and b"\n" in data and len(step.received) > len(step.sent) + 3:
            classify(step)
            if step.finding in (F_IDENT, F_PARITY7):
                return self._next(now_ms)
        quiet = now_ms + _QUIET_MS if step.kind != "hdlc" else now_ms + 300
        self._deadline = quiet if quiet < self._listen_end else self._listen_end

    def timeout(self, now_ms):
        st = self._state
        if st == _S_SUB:
            deadline_passed(self._sub, self._sub_echo, now_ms)  # the driver's rule
            return self._pump(now_ms)
        if st == _S_WAKE:
            return self._transmit(self._step, now_ms)
        if st == _S_GAP:
            return self._begin(self._pending, now_ms)
        if st == _S_LISTEN:
            step = self._step
            classify(step)
            if step.kind == "hdlc" and step.finding in (F_NOTHING, F_ECHO) and \
                    step.addr_i + 1 < len(step.addresses):
                return self._next_address(step, now_ms)
            return self._next(now_ms)

    # -- verdict ---------------------------------------------------------------------------
    def _verdict(self):
        code, text = verdict(self.steps, self.address, self.loopback)
        self._finish({"verdict": code, "text": text,
                      "steps": [s.to_dict() for s in self.steps]})

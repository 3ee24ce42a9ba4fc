# meterproto.doctor: the first-contact diagnosis ladder (core; one state machine).
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
from meterproto.compat import const, hexlify
from meterproto.echo import EchoFilter
from meterproto.errors import DecodeError
from meterproto.hdlc_frame import FrameReader, encode_frame, client_address, server_address
from meterproto.iec21_msg import parse_identification, sign_on
from meterproto.iec21_wakeup import wakeup_plan, nul_train
from meterproto.line import FMT_7E1, FMT_8N1, even_parity_bit, fmt_name
from meterproto.machine import Machine

# Findings of one step.
F_NOTHING = "nothing"
F_ECHO = "echo"
F_IDENT = "ident"
F_HDLC = "hdlc"
F_PARITY7 = "parity-in-bit-7"
F_ZEROS = "zeros"
F_GARBAGE = "garbage"
F_CORRUPT = "corrupt"
F_TEXT = "text"  # readable lines, but no identification (a pushing meter)

VERDICTS = ("ok", "echo-only", "silent", "wrong-framing", "needs-wakeup", "bit-errors",
            "needs-address")

_S_IDLE = const(0)
_S_WAKE = const(1)  # NUL train sent, pause running
_S_LISTEN = const(2)
_S_GAP = const(3)  # quiet time between steps so the meter returns to idle
_S_SUB = const(4)  # a sub-machine (the readout check) runs

_LISTEN_MS = 2200  # tr up to 1500 ms + the first characters of an answer
_QUIET_MS = 1500  # the meter's 1500 ms rule: after this silence it is idle again
_GAP_MS = 1600


class Step:
    def __init__(self, name, baud, fmt, payload=b"", wakeup=None, listen_ms=_LISTEN_MS,
                 kind="iec"):
        self.name = name
        self.baud = baud
        self.fmt = fmt
        self.payload = payload
        self.wakeup = wakeup
        self.listen_ms = listen_ms
        self.kind = kind  # "iec" | "hdlc" | "listen" | "readout"
        self.sent = b""
        self.received = bytearray()
        self.echo_bytes = 0
        self.finding = None
        self.detail = ""

    def to_dict(self):
        return {"step": self.name, "line": "%d %s" % (self.baud, fmt_name(self.fmt)),
                "sent": hexlify(self.sent), "received": hexlify(bytes(self.received[:64])),
                "received_bytes": len(self.received), "echo_bytes": self.echo_bytes,
                "finding": self.finding, "detail": self.detail}


def snrm_frame(client_sap=16, server_upper=1, server_lower=None):
    return encode_frame(server_address(server_upper, server_lower), client_address(client_sap),
                        0x93)


def classify(step):
    """Set step.finding/detail from what came back (echo separated from meter bytes)."""
    f = EchoFilter()
    f.sent(step.sent)
    meter = f.filter(bytes(step.received))
    meter += f.release() if f.held() and len(f.held()) * 2 < len(step.sent) else b""
    step.echo_bytes = f.echo_bytes
    if not meter:
        step.finding = F_ECHO if step.echo_bytes else F_NOTHING
        return
    if step.kind == "hdlc":
        r = FrameReader()
        frames = r.feed(meter)
        if frames:
            step.finding = F_HDLC
            step.detail = ", ".join([fr.name() for fr in frames])
            return
        if r.bad_frames:
            step.finding = F_CORRUPT
            step.detail = "%d damaged HDLC frame(s)" % r.bad_frames
            return
    nz = 0
    high = 0
    par = 0
    for b in meter:
        if b:
            nz += 1
        if b & 0x80:
            high += 1
            if (b >> 7) == even_parity_bit(b):
                par += 1
    if nz == 0:
        step.finding = F_ZEROS
        step.detail = "%d bytes, all 0x00" % len(meter)
        return
    # 7E1 characters read by an 8N1 receiver: bit 7 always equals the even parity of 0-6,
    # and about half the characters have it set (PROTOCOL-FACTS A.1, capture iec/013).
    if high * 5 >= len(meter) and par == high and _parity_consistent(meter):
        step.finding = F_PARITY7
        step.detail = "%d of %d bytes have bit 7 set, always equal to even parity" % (
            high, len(meter))
        return
    text = bytes([b & 0x7F for b in meter])
    start = text.find(b"/")
    if start >= 0 and step.kind != "hdlc":
        end = text.find(b"\n", start)
        line = text[start:end + 1] if end >= 0 else text[start:]
        if _printable(line[1:].rstrip(b"\r\n")) and end >= 0:
            try:
                ident = parse_identification(line)
                step.finding = F_IDENT
                step.detail = ident.ident()
                step.ident = ident
                return
            except DecodeError:
                pass
        if _damaged_ident(line):
            step.finding = F_CORRUPT
            step.detail = "an identification arrived damaged: %r" % bytes(line[:40])
            return
    if _printable(text.replace(b"\r", b"").replace(b"\n", b"")) and b"\n" in text:
        step.finding = F_TEXT
        step.detail = "readable text: %r" % bytes(text[:40])
        return
    step.finding = F_GARBAGE
    step.detail = "%d bytes that are not characters at %d baud %s" % (
        len(meter), step.baud, fmt_name(step.fmt))


def _damaged_ident(line):
    """An identification with a few characters hit by bit errors, not noise that happens to
    contain a '/': a damaged answer is mostly intact (6.3.2: 3 letters, then printables)."""
    body = line[1:].rstrip(b"\r\n")
    if len(body) < 5:
        return False
    bad = 0
    for b in body:
        if b < 0x20 or b > 0x7E:
            bad += 1
    letters = 0
    for b in body[:3]:
        if 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A:
            letters += 1
    return letters >= 2 and bad * 8 <= len(body)


def _parity_consistent(data):
    for b in data:
        if (b >> 7) != even_parity_bit(b):
            return False
    return True


def _printable(data):
    for b in data:
        if b < 0x20 or b > 0x7E:
            return False
    return True


class Doctor(Machine):
    """Runs the ladder; result is a dict {"verdict", "text", "steps": [...]}."""

    def __init__(self, address=None, loopback=False, try_hdlc=True, readout_check=True,
                 wakeup="standard", client_sap=16, server_upper=1):
        Machine.__init__(self)
        self.address = address
        self.loopback = loopback
        self.try_hdlc = try_hdlc
        self.readout_check = readout_check
        self.wakeup = wakeup
        self.client_sap = client_sap
        self.server_upper = server_upper
        self.steps = []
        self._step = None
        self._sub = None
        self._state = _S_IDLE
        self._last_rx = 0

    # -- the ladder ----------------------------------------------------------------------
    def start(self, now_ms):
        if self.loopback:
            self._begin(Step("loopback (head off the meter)", 300, FMT_7E1, sign_on()), now_ms)
        else:
            self._begin(Step("sign-on 300 7E1", 300, FMT_7E1, sign_on()), now_ms)

    def _next(self, now_ms):
        """Decide the next step from the findings so far, or finish."""
        s = self._step
        names = [x.name for x in self.steps]
        if self.loopback:
            return self._verdict()
        if s.kind == "readout":
            return self._verdict()
        if s.kind == "listen":
            if s.finding in (F_TEXT, F_IDENT):
                return self._verdict()
            for baud in (2400, 9600):
                nm = "listen %d 7E1" % baud
                if nm not in names:
                    return self._gap(now_ms, Step(nm, baud, FMT_7E1, b"", listen_ms=4000,
                                                  kind="listen"))
            return self._verdict()
        if s.finding == F_IDENT:
            if self.readout_check and "readout check" not in names:
                return self._gap(now_ms, "readout")
            return self._verdict()
        if s.finding in (F_PARITY7, F_ZEROS):
            return self._verdict()
        if s.finding in (F_GARBAGE, F_TEXT) and s.kind != "listen":
            # Something is sending on its own at another rate: listen at the usual ones.
            for baud in (2400, 9600):
                nm = "listen %d 7E1" % baud
                if nm not in names:
                    return self._gap(now_ms, Step(nm, baud, FMT_7E1, b"", listen_ms=4000,
                                                  kind="listen"))
            return self._verdict()
        if s.finding == F_CORRUPT:
            return self._verdict()
        if s.finding == F_HDLC:
            return self._verdict()
        # Nothing but silence or our own echo so far: try the next opening.
        if "wake-up + sign-on" not in names and self.wakeup:
            return self._gap(now_ms, Step("wake-up + sign-on", 300, FMT_7E1, sign_on(),
                                          wakeup=wakeup_plan(self.wakeup)))
        if self.address and "sign-on with address" not in names:
            return self._gap(now_ms, Step("sign-on with address", 300, FMT_7E1,
                                          sign_on(self.address)))
        if self.try_hdlc and "SNRM 9600 8N1" not in names:
            return self._gap(now_ms, Step("SNRM 9600 8N1", 9600, FMT_8N1,
                                          snrm_frame(self.client_sap, self.server_upper),
                                          listen_ms=1500, kind="hdlc"))
        return self._verdict()

    def _gap(self, now_ms, step):
        self._pending = step
        self._state = _S_GAP
        self._deadline = now_ms + _GAP_MS

    def _begin(self, step, now_ms):
        if step == "readout":
            return self._begin_readout(now_ms)
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
        step.sent = step.payload
        self._state = _S_LISTEN
        self._listen_end = end + step.listen_ms
        self._deadline = self._listen_end

    def _begin_readout(self, now_ms):
        # A full readout proves the characters survive: every block has a BCC (6.3.3).
        from meterproto.iec21_client import IecClient

        step = Step("readout check", 300, FMT_7E1, kind="readout")
        self._step = step
        self.steps.append(step)
        if self.baud != 300 or self.fmt != FMT_7E1:
            self._set_line(300, FMT_7E1)
        self._sub = IecClient(address=self.address or "", max_baud=9600,
                              wakeup=self._wakeup_used(), retries=1)
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
        act = sub.next_action()
        while act is not None:
            self._actions.append(act)
            if act[0] == 2:
                self.baud, self.fmt = act[1], act[2]
            act = sub.next_action()
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
        else:
            self._deadline = sub.deadline_ms()

    # -- inputs ----------------------------------------------------------------------------
    def receive(self, data, now_ms):
        if self._state == _S_SUB:
            self._sub.receive(data, now_ms)
            self._pump(now_ms)
            return
        if self._state != _S_LISTEN:
            return  # stray bytes between steps (a meter finishing its answer)
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
            self._sub.timeout(now_ms)
            return self._pump(now_ms)
        if st == _S_WAKE:
            return self._transmit(self._step, now_ms)
        if st == _S_GAP:
            return self._begin(self._pending, now_ms)
        if st == _S_LISTEN:
            classify(self._step)
            return self._next(now_ms)

    # -- verdict ---------------------------------------------------------------------------
    def _verdict(self):
        code, text = verdict(self.steps, self.address, self.loopback)
        self._finish({"verdict": code, "text": text,
                      "steps": [s.to_dict() for s in self.steps]})


def _find(steps, finding):
    for s in steps:
        if s.finding == finding:
            return s
    return None


def verdict(steps, address=None, loopback=False):
    """(code, plain-words text) from the findings of the steps."""
    echo = 0
    for s in steps:
        echo += s.echo_bytes
    if loopback:
        if echo:
            return ("echo-only", "with the head off the meter the probe hears its own light "
                    "(%d bytes came back): that is optical crosstalk. irprobe cancels this "
                    "echo, but a piece of black tape between LED and receiver helps." % echo)
        if any(s.received for s in steps):
            return ("wrong-framing", "with the head off the meter something still arrives "
                    "that is not our own light: stray light or a noisy receiver line.")
        return ("silent", "with the head off the meter nothing comes back: no crosstalk. Now put "
                "the head on the meter and run the doctor again.")
    readout = None
    for s in steps:
        if s.kind == "readout":
            readout = s
    ident_step = _find(steps, F_IDENT)
    if readout is not None and readout.finding == F_CORRUPT:
        return ("bit-errors", "the meter answers, but characters arrive damaged (%s). The head "
                "is probably not centred on the meter's LED, or stray light reaches it: "
                "re-seat the head (the magnet centres it) and shade it." % readout.detail)
    if readout is not None and readout.finding == F_NOTHING:
        return ("wrong-framing", "the meter answers at 300 baud, but the readout after the "
                "switch to a higher speed failed (%s). The head or adapter may not follow "
                "the speed change: read with --max-baud 300." % readout.detail)
    if ident_step is not None and ident_step.kind != "readout":
        ident = getattr(ident_step, "ident", None)
        how = _how(ident)
        if ident_step.wakeup:
            return ("needs-wakeup", "meter asleep: it answered only after a wake-up (NUL "
                    "characters for about 2 s, then a 1.6 s pause). %s Use --wakeup "
                    "standard when reading it." % how)
        if ident_step.name == "sign-on with address":
            return ("needs-address", "the meter answers only when called by its address "
                    "(%s). %s Use --address %s when reading it." % (address, how, address))
        extra = ""
        if echo:
            extra = " The probe also hears its own light (%d bytes of echo, cancelled)." % echo
        return ("ok", "meter answered: %s%s" % (how, extra))
    hd = _find(steps, F_HDLC)
    if hd is not None:
        return ("ok", "meter answered: it speaks DLMS over HDLC directly at 9600 baud 8N1 "
                "(%s); read it with --mode hdlc." % hd.detail)
    p7 = _find(steps, F_PARITY7)
    if p7 is not None:
        return ("wrong-framing", "bytes arrive, but with the parity bit in bit 7: the meter "
                "sends 7 data bits with even parity (7E1) and the receiver reads 8N1. Set "
                "the serial head to 7 data bits, even parity, 1 stop bit (%s)." % p7.detail)
    for s in steps:
        if s.kind == "listen" and s.finding in (F_TEXT, F_IDENT):
            return ("wrong-framing", "the meter sends by itself at %d baud %s (a push / mode D "
                    "meter), not at 300 baud: read it with --mode d --baud %d (%s)." % (
                        s.baud, fmt_name(s.fmt), s.baud, s.detail))
    z = _find(steps, F_ZEROS)
    if z is not None:
        return ("wrong-framing", "only 0x00 bytes arrive: the receiver sees light as a long "
                "break. The receiver polarity is probably inverted, or the speed is wrong.")
    g = _find(steps, F_GARBAGE) or _find(steps, F_CORRUPT) or _find(steps, F_TEXT)
    if g is not None:
        if g.finding == F_CORRUPT:
            return ("bit-errors", "something that looks like the meter's answer arrives "
                    "damaged (%s): re-seat the head on the LED and shade it." % g.detail)
        return ("wrong-framing", "bytes arrive but they are not characters at 300 baud 7E1 "
                "(%s): the line speed or framing is wrong, or the signal is inverted." % g.detail)
    if echo:
        return ("echo-only", "only your own echo came back (%d bytes): the meter is not "
                "answering. Is it powered (many do not answer on battery alone)? Is the "
                "head on the meter's optical port, LED to LED, magnet centred?" % echo)
    hint = "" if address else (" If the meter requires its address, run again with "
                               "--address <the serial number on its nameplate>.")
    return ("silent", "nothing came back, not even the probe's own light. Check that the "
            "meter is powered and the head sits on its optical port; check the receiver "
            "wiring (phototransistor to RX, pull-up, polarity)." + hint)


def _how(ident):
    if ident is None:
        return ""
    baud = ident.max_baud
    if ident.mode == "E":
        return ("mode C at %s baud, and it speaks DLMS too (mode E); identification %s." %
                (baud, ident.ident()))
    if ident.mode == "A":
        return "mode A at 300 baud; identification %s." % ident.ident()
    if baud is None:
        return ("mode %s with an unknown baud character %r; identification %s." %
                (ident.mode, ident.baud_char, ident.ident()))
    return "mode %s at %s baud; identification %s." % (ident.mode, baud, ident.ident())

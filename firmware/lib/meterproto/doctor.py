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
from meterproto.hdlc_frame import FrameReader, encode_frame, client_address, server_address, \
    address_text
from meterproto.iec21_msg import parse_identification, sign_on
from meterproto.iec21_wakeup import wakeup_plan, nul_train
from meterproto.line import FMT_7E1, FMT_8N1, even_parity_bit, fmt_name
from meterproto.machine import Machine, A_SEND

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
_GAP_MAX_MS = 40000  # a 1000-character mode A readout at 300 baud takes 33 s
_HDLC_LISTEN_MS = 700  # per SNRM: a meter answers within tens of ms at 9600
# Server addresses to try, as (upper, lower): 1-byte 1 first, then the common physical
# addresses on optical ports (PROTOCOL-FACTS B.3; a meter ignores frames not for it).
_HDLC_ADDRESSES = ((1, None), (1, 17), (1, 16), (1, 1))


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
        self.addresses = None  # HDLC steps: server addresses tried in turn
        self.addr_i = 0
        self.server = None  # HDLC steps: address bytes of the server that answered

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
            for fr in frames:
                if fr.name() in ("UA", "DM", "FRMR"):
                    step.server = fr.src
                    try:
                        step.detail += " from server " + address_text(fr.src)
                    except DecodeError:
                        pass
                    break
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
            if s.name == "mode E check" and s.finding == F_IDENT:
                # Switched to HDLC: the SNRM must follow at once (B.14, about 1.5 s).
                return self._begin(self._hdlc_step("SNRM after mode E", self.baud), now_ms)
            if s.name == "readout check" and s.finding == F_NOTHING and self._mode_e_offered() \
                    and "mode E check" not in names:
                # Some mode E meters give no text readout at all (PROTOCOL-FACTS D): ask for
                # HDLC instead before calling the link broken.
                return self._gap(now_ms, "mode-e")
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
        step.addresses = [(self.server_upper, lo) for _up, lo in _HDLC_ADDRESSES]
        step.payload = snrm_frame(self.client_sap, self.server_upper, None)
        return step

    def _next_address(self, step, now_ms):
        step.addr_i += 1
        up, lo = step.addresses[step.addr_i]
        step.payload = snrm_frame(self.client_sap, up, lo)
        self._transmit(step, now_ms)

    def _disc(self, step, now_ms):
        # Leave the meter as we found it: DISC (control 0x53) to the server that answered.
        if step.server:
            self._send(encode_frame(step.server, client_address(self.client_sap), 0x53), now_ms)

    def _mode_e_offered(self):
        for s in self.steps:
            ident = getattr(s, "ident", None)
            if ident is not None and ident.mode_e:
                return True
        return False

    def _gap(self, now_ms, step):
        self._pending = step
        self._state = _S_GAP
        self._gap_start = now_ms
        self._deadline = now_ms + _GAP_MS

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
        from meterproto.iec21_client import IecClient

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
        act = sub.next_action()
        while act is not None:
            self._actions.append(act)
            if act[0] == A_SEND:
                self._sub_echo.sent(act[1])
            else:
                self.baud, self.fmt = act[1], act[2]
                self._sub_echo.line_changed()
            act = sub.next_action()
        if sub.tx_end_ms() > self._tx_end:
            self._tx_end = sub.tx_end_ms()
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
        else:
            self._deadline = sub.deadline_ms()

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
                d = now_ms + _GAP_MS
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
            if self._sub_echo.held():
                # Held as possible echo at a deadline: it was meter data after all.
                self._sub.receive(self._sub_echo.release(), now_ms)
                self._pump(now_ms)
                if self._sub is None or self.done or now_ms < self._sub.deadline_ms():
                    return
            self._sub.timeout(now_ms)
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


def _named(steps, name):
    for s in steps:
        if s.name == name:
            return s
    return None


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
    readout = _named(steps, "readout check")
    after_e = _named(steps, "SNRM after mode E")
    ident_step = None
    for s in steps:
        if s.finding == F_IDENT and s.kind in ("iec", "hdlc"):
            ident_step = s
            break
    for r in (readout, _named(steps, "mode E check"), after_e):
        if r is not None and r.finding == F_CORRUPT:
            return ("bit-errors", "the meter answers, but characters arrive damaged (%s). The "
                    "head is probably not centred on the meter's LED, or stray light reaches "
                    "it: re-seat the head (the magnet centres it) and shade it." % r.detail)
    mode_e = ""
    if readout is not None and readout.finding == F_NOTHING:
        if after_e is not None and after_e.finding == F_HDLC:
            mode_e = (" It gives no text readout, but it speaks DLMS/COSEM in mode E (after "
                      "ACK 2 Z 2: %s at %d baud 8N1); read it with --mode e." % (
                          after_e.detail, after_e.baud))
        else:
            also = ""
            if after_e is not None:
                also = (" Switching to DLMS (mode E) got no answer either, at any of the "
                        "usual HDLC addresses.")
            return ("wrong-framing", "the meter answers at 300 baud, but the readout after "
                    "the switch to a higher speed failed (%s).%s The head or adapter may not "
                    "follow the speed change: read with --max-baud 300." % (readout.detail,
                                                                            also))
    if ident_step is not None:
        ident = getattr(ident_step, "ident", None)
        how = _how(ident)
        if ident_step.wakeup:
            return ("needs-wakeup", "meter asleep: it answered only after a wake-up (NUL "
                    "characters for about 2 s, then a 1.6 s pause). %s Use --wakeup "
                    "standard when reading it." % how)
        if ident_step.name == "sign-on with address":
            return ("needs-address", "the meter answers only when called by its address "
                    "(%s). %s Use --address %s when reading it." % (address, how, address))
        extra = mode_e
        if echo:
            extra += " The probe also hears its own light (%d bytes of echo, cancelled)." % echo
        return ("ok", "meter answered: %s%s" % (how, extra))
    hd = _find(steps, F_HDLC)
    if hd is not None:
        where = ""
        if hd.server is not None and len(hd.server) > 1:
            where = " Its HDLC server address is %s (upper/lower), not plain 1." % (
                address_text(hd.server))
        return ("ok", "meter answered: it speaks DLMS over HDLC directly at 9600 baud 8N1, "
                "without the IEC sign-on (%s); read it with --mode hdlc.%s" % (hd.detail, where))
    p7 = _find(steps, F_PARITY7)
    if p7 is not None:
        return ("wrong-framing", "bytes arrive, but with the parity bit in bit 7: the meter "
                "sends 7 data bits with even parity (7E1) and the receiver reads 8N1. Set "
                "the serial head to 7 data bits, even parity, 1 stop bit (%s)." % p7.detail)
    for s in steps:
        if s.kind == "listen" and s.finding in (F_TEXT, F_IDENT):
            return ("wrong-framing", "the meter sends by itself at %d baud %s and ignores "
                    "requests at 300 baud: it is a push meter (mode D). Nothing is wrong with "
                    "the head; read it by listening at %d baud %s instead of signing on "
                    "(%s)." % (s.baud, fmt_name(s.fmt), s.baud, fmt_name(s.fmt), s.detail))
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

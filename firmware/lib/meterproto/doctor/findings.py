# meterproto.doctor.findings: what one step of the doctor ladder saw, and the verdict in plain
# words (core; pure functions, no state machine). IEC 62056-21 6.3 sign-on and identification,
# A.1 character format (7E1 read as 8N1), IEC 62056-46 HDLC frames. Used by doctor.ladder.
from meterproto.compat import hexlify
from meterproto.echo import EchoFilter
from meterproto.errors import DecodeError
from meterproto.hdlc.frame import FrameReader, address_text, address_value, client_address, \
    encode_frame, server_address
from meterproto.iec.msg import parse_identification
from meterproto.line import even_parity_bit, fmt_name

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

LISTEN_MS = 2200  # tr up to 1500 ms + the first characters of an answer


class Step:
    def __init__(self, name, baud, fmt, payload=b"", wakeup=None, listen_ms=LISTEN_MS,
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


def snrm_frame(client_sap=16, server_upper=1, server_lower=None, size=None):
    return encode_frame(server_address(server_upper, server_lower, size),
                        client_address(client_sap), 0x93)


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
    # and about half the characters have it set (IEC 62056-21 clause 6.1: 7E1).
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
            return ("needs-wakeup", "the meter was asleep (battery meters sleep to save "
                    "power): it answered only after a wake-up signal (about 2 s of NUL "
                    "characters, then a 1.6 s pause). Once awake %s Use --wakeup standard "
                    "when reading it." % how)
        if ident_step.name == "sign-on with address":
            return ("needs-address", "the meter ignores a general call and answers only "
                    "when called by its own address (%s). Then %s Use --address %s when "
                    "reading it." % (address, how, address))
        extra = mode_e
        if echo:
            extra += " The probe also hears its own light (%d bytes of echo, cancelled)." % echo
        return ("ok", "the probe and the meter talk: %s%s" % (how, extra))
    hd = _find(steps, F_HDLC)
    if hd is not None:
        where = ""
        if hd.server is not None and len(hd.server) > 1:
            flags = "--server %s" % address_text(hd.server)
            if len(hd.server) == 4 and max(address_value(hd.server)) < 128:
                flags += " --server-size 4"  # it wants the 4-byte form of a small address
            where = (" Its HDLC server address is %s (upper/lower, %d bytes), not plain 1: "
                     "add %s." % (address_text(hd.server), len(hd.server), flags))
        return ("ok", "the probe and the meter talk: the meter speaks DLMS/COSEM (HDLC "
                "frames at 9600 baud 8N1) directly, "
                "without the IEC sign-on (%s); read it with --mode hdlc.%s" % (hd.detail, where))
    p7 = _find(steps, F_PARITY7)
    if p7 is not None:
        return ("wrong-framing", "the meter answers, but the serial port is set wrong: the "
                "meter sends 7 data bits with even parity (7E1) and the port reads 8 data bits "
                "without parity (8N1), so the parity shows up as the top bit of every "
                "character. Set the port or adapter to 7 data bits, even parity, 1 stop bit "
                "(7E1); some cheap adapters cannot do that at all (%s)." % p7.detail)
    for s in steps:
        if s.kind == "listen" and s.finding in (F_TEXT, F_IDENT):
            return ("wrong-framing", "the meter sends by itself at %d baud %s and ignores "
                    "requests at 300 baud: it is a push meter (mode D). Nothing is wrong with "
                    "the head; read it by listening at %d baud %s instead of signing on "
                    "(irprobe read --push --push-baud %d) (%s)." % (
                        s.baud, fmt_name(s.fmt), s.baud, fmt_name(s.fmt), s.baud, s.detail))
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
        return ("echo-only", "only your own echo came back (%d bytes): the probe works, "
                "but the meter is not answering. Is it powered (many do not answer on "
                "battery alone)? Is the head on the meter's optical port, LED facing LED, "
                "held by its magnet?" % echo)
    hint = "" if address else (" If the meter requires its address, run again with "
                               "--address <the serial number on its nameplate>.")
    return ("silent", "nothing came back at all, not even the probe's own light. Check "
            "that the meter is powered and the head sits on its optical port, LED facing "
            "LED, held by its magnet. If you built the head yourself, check the receiver "
            "wiring (phototransistor to RX, pull-up, polarity)." + hint)


def _how(ident):
    """What the identification says, in words (IEC 62056-21 6.3.2, modes 6.4)."""
    if ident is None:
        return ""
    who = "it calls itself %s." % ident.ident()
    if ident.max_baud is None:
        return ("it answers at 300 baud but names an unknown speed (character %r), so "
                "read it at 300 baud (--max-baud 300); %s" % (ident.baud_char, who))
    if ident.mode == "A":
        return "it gives a text readout at 300 baud only (IEC mode A); " + who
    if ident.mode == "E":
        return ("it gives a text readout at up to %d baud and also speaks DLMS/COSEM (IEC "
                "mode E); %s" % (ident.max_baud, who))
    return "it gives a text readout at up to %d baud (IEC mode %s); %s" % (
        ident.max_baud, ident.mode, who)

# meterproto.iec.msg: IEC 62056-21 messages (clause 6.3) and baud characters (6.3.14), core.
# Identification parsing, the HHU's message builders (sign-on, option select, command, break)
# and a stream framer that cuts received bytes into whole messages with their BCC checked.
from meterproto.bcc import bcc
from meterproto.compat import const
from meterproto.errors import DecodeError, LocalProtocolError

SOH = const(0x01)
STX = const(0x02)
ETX = const(0x03)
EOT = const(0x04)
ACK = const(0x06)
NAK = const(0x15)
CR = const(0x0D)
LF = const(0x0A)

# Baud-rate character Z (clause 6.3.14): digits are mode C/E,
# letters A-F mode B, anything else mode A (300 baud only).
BAUD_C = (300, 600, 1200, 2400, 4800, 9600, 19200)  # '0'..'6'
BAUD_B = (600, 1200, 2400, 4800, 9600, 19200)  # 'A'..'F'

# The standard limits the identification text to 16 characters; meters send more (20 and
# with spaces are seen), so accept up to this many and only guard against absurd lines.
IDENT_MAX = const(100)


def baud_for_char(ch):
    """(mode letter, baud or None when reserved) for a baud-rate character."""
    if "0" <= ch <= "9":
        i = ord(ch) - 48
        return "C", (BAUD_C[i] if i < len(BAUD_C) else None)
    if "A" <= ch <= "I":
        i = ord(ch) - 65
        return "B", (BAUD_B[i] if i < len(BAUD_B) else None)
    return "A", 300


def char_for_baud(baud):
    """The mode C/E baud character for a rate: 9600 -> '5'. LocalProtocolError otherwise."""
    for i in range(len(BAUD_C)):
        if BAUD_C[i] == baud:
            return chr(48 + i)
    raise LocalProtocolError("%s baud is not one of the IEC 62056-21 rates %r" % (baud, BAUD_C))


class Identification:
    """What the meter said about itself in `/XXXZ[\\W]...text CR LF` (clause 6.3.2)."""

    def __init__(self, manufacturer, baud_char, enhanced, text, parity_in_bit7=False):
        self.manufacturer = manufacturer  # 3-letter FLAG id as sent, e.g. "ISk"
        self.baud_char = baud_char
        self.enhanced = enhanced  # list of the W characters of every `\W` pair
        self.text = text  # identification text after the last `\W` pair
        self.mode_e = "2" in enhanced  # `\2`: the meter can switch to HDLC (mode E)
        # Third letter in lower case: the meter reacts in 20 ms instead of 200 ms (6.3.14 note).
        self.fast_reaction = len(manufacturer) == 3 and "a" <= manufacturer[2] <= "z"
        self.mode, self.max_baud = baud_for_char(baud_char)
        if self.mode == "C" and self.mode_e:
            self.mode = "E"
        self.parity_in_bit7 = parity_in_bit7  # 7E1 read with an 8N1 port (masked here)

    def ident(self):
        """The identification as one string without `/` and CR LF, e.g. 'LGZ4\\2ZMD120'."""
        return self.manufacturer + self.baud_char + "".join(["\\" + w for w in self.enhanced]) \
            + self.text

    def reaction_ms(self, normal=200, fast=20):
        """The HHU's wait before the option select the meter allows (clause 6.3.14)."""
        return fast if self.fast_reaction else normal

    def __repr__(self):
        return "Identification(%r, %r, %r, %r)" % (self.manufacturer, self.baud_char,
                                                    self.enhanced, self.text)


def text7(raw):
    """Received bytes (or str) -> str of 7-bit characters, NUL dropped (seen in captures).
    Clause 6.1: characters are 7 bits and parity is a line property, so bit 7 is never data;
    this can never raise a UnicodeError."""
    if isinstance(raw, str):
        return raw.replace("\x00", "")
    out = bytearray()
    for b in raw:
        b &= 0x7F
        if b:
            out.append(b)
    return bytes(out).decode()


def parse_identification(line):
    """Identification line (bytes, with or without '/' and CR LF) -> Identification."""
    if isinstance(line, str):
        line = line.encode()
    high = False
    for b in line:
        if b & 0x80:
            high = True
            break
    s = text7(line)
    if s.endswith("\n"):
        s = s[:-1]
    if s.endswith("\r"):
        s = s[:-1]
    if s.startswith("/"):
        s = s[1:]
    if len(s) > IDENT_MAX:
        raise DecodeError("identification of %d characters: too long to be real" % len(s))
    if len(s) < 4:
        raise DecodeError("identification %r is too short: it needs 3 letters of the "
                          "manufacturer and a baud character" % s)
    man = s[0:3]
    for ch in man:
        if not ("A" <= ch <= "Z" or "a" <= ch <= "z"):
            raise DecodeError("identification %r does not start with a 3-letter "
                              "manufacturer id" % s)
    z = s[3]
    i = 4
    enhanced = []
    while i + 1 < len(s) and s[i] == "\\":
        enhanced.append(s[i + 1])
        i += 2
    return Identification(man, z, enhanced, s[i:], high)


# -- builders (HHU side, and the meter side the simulators need) ---------------------------

def sign_on(address=""):
    """Request message `/?[address]!CR LF` (clause 6.3.1). Address: up to 32 characters."""
    if len(address) > 32:
        raise LocalProtocolError("a device address has at most 32 characters, got %d"
                                 % len(address))
    for ch in address:
        if not ("0" <= ch <= "9" or "A" <= ch <= "Z" or "a" <= ch <= "z" or ch == " "):
            raise LocalProtocolError("a device address may hold digits, letters and spaces "
                                     "only, not %r" % ch)
    return b"/?" + address.encode() + b"!\r\n"


def _digit(x):
    if isinstance(x, int):
        if not 0 <= x <= 9:
            raise LocalProtocolError("option select field %r is not one digit" % x)
        return 48 + x
    if len(x) != 1:
        raise LocalProtocolError("option select field %r is not one character" % x)
    return ord(x)


def option_select(v, z, y):
    """Acknowledgement/option select `ACK V Z Y CR LF` (clause 6.3.3). ACK 0 5 0 = 9600 readout."""
    return bytes((ACK, _digit(v), _digit(z), _digit(y), CR, LF))


def command(c, d, data=None, end=ETX):
    """Command message `SOH C D [STX data] ETX BCC` (clause 6.3.6); data str or bytes."""
    out = bytearray((SOH,))
    out.extend(c.encode() if isinstance(c, str) else c)
    out.extend(d.encode() if isinstance(d, str) else d)
    if data is not None:
        out.append(STX)
        out.extend(data.encode() if isinstance(data, str) else data)
    out.append(end)
    out.append(bcc(out, 1))
    return bytes(out)


# SOH B 0 ETX BCC: complete sign-off (clause 6.3.6; tests/vectors/iec/messages.txt)
BREAK = b"\x01B0\x03q"


def break_message():
    return BREAK


def identification(manufacturer, baud_char, text, enhanced=()):
    """Identification message as a meter sends it (for simulators and tests)."""
    return ("/" + manufacturer + baud_char + "".join(["\\" + w for w in enhanced]) + text
            + "\r\n").encode()


def frame(opener, body, end=ETX):
    """opener + body + end + BCC: the BCC covers everything after the opener (6.3.3)."""
    out = bytearray((opener,))
    out.extend(body.encode() if isinstance(body, str) else body)
    out.append(end)
    out.append(bcc(out, 1))
    return bytes(out)


def data_message(block, end=ETX):
    """`STX block end BCC` (clause 6.3.5/6.3.7); end=EOT for a partial block."""
    return frame(STX, block, end)


def parse_request(raw):
    """`/?address!CR LF` -> the address text ('' for none)."""
    s = text7(raw).strip()
    if not (s.startswith("/?") and s.endswith("!")):
        raise DecodeError("not a sign-on request: %r" % s)
    return s[2:-1]


def split_command(body):
    """Command body (between SOH and ETX/EOT) -> ('R1', data text or None)."""
    s = text7(body)
    cd = s[0:2]
    i = s.find("\x02")
    return cd, (s[i + 1:] if i >= 0 else None)


# -- framer ----------------------------------------------------------------------------------
M_IDENT = const(1)  # `/XXXZ... CR LF` from a meter
M_REQUEST = const(2)  # `/?...! CR LF` from an HHU (or our own echo)
M_OPTION = const(3)  # `ACK V Z Y CR LF` (meter side, when option_after_ack is set)
M_DATA = const(4)  # STX ... ETX|EOT BCC
M_COMMAND = const(5)  # SOH C D [STX ...] ETX|EOT BCC
M_ACK = const(6)
M_NAK = const(7)
M_LINE = const(8)  # any other CR LF-terminated text outside a frame (mode D/P1 lines)
M_GARBAGE = const(9)  # an absurdly long message, dropped
KIND_NAMES = ("", "ident", "request", "option", "data", "command", "ack", "nak", "line",
              "garbage")

# Parity (clause 6.1: 7 data bits + even parity). A port reading the 7E1 line as 8N1 hands
# over the parity bit as bit 7 (same 10-bit frame), so the framer can check every character
# itself: the block check (an XOR) misses two flips of the same bit, parity misses none of
# the single flips. AUTO decides from the bytes: an odd-weight byte means bit 7 is not
# parity (a true 7E1 or 8N1 port); PARITY_VOTES high bytes of even weight first mean it is.
PARITY_AUTO = const(0)
PARITY_CHECK = const(1)
PARITY_OFF = const(2)
PARITY_VOTES = const(4)
_ODD = bytearray(256)  # _ODD[b] = 1 when b has an odd number of 1 bits
for _i in range(1, 256):
    _ODD[_i] = _ODD[_i >> 1] ^ (_i & 1)

_F_IDLE = const(0)
_F_LINE = const(1)
_F_BLOCK = const(2)
_F_BCC = const(3)


class Msg:
    """One framed message. body: bytes between the opening and the ETX/EOT (or the text of
    a line without CR LF); end: ETX or EOT; bcc_ok: True/False for framed messages;
    parity_ok: False when a character broke even parity, None when parity is not known."""

    def __init__(self, kind, raw, body=None, end=None, bcc_ok=None, parity_ok=None):
        self.kind = kind
        self.raw = raw
        self.body = body
        self.end = end
        self.bcc_ok = bcc_ok
        self.parity_ok = parity_ok

    def damaged(self):
        """True when the BCC or a character's parity says the message was hit on the way."""
        return self.bcc_ok is False or self.parity_ok is False

    def partial(self):
        return self.end == EOT

    def __repr__(self):
        return "Msg(%s, %r)" % (KIND_NAMES[self.kind], self.raw)


class Framer:
    """Cuts a received byte stream into Msg objects; feed any chunking.

    Bytes are taken as 7-bit (parity is a line property): a 7E1 stream read by an 8N1 port
    still frames, and high_bytes counts how often bit 7 was set so the caller can say so.
    parity: PARITY_AUTO / PARITY_CHECK / PARITY_OFF for bit 7 (see PARITY_AUTO above); when
    checked, a message with a parity error has parity_ok False and a lone ACK/NAK with one
    is dropped.
    """

    def __init__(self, max_len=32768, option_after_ack=False, parity=PARITY_AUTO):
        self.max_len = max_len
        self.option_after_ack = option_after_ack
        self._buf = bytearray()
        self._st = _F_IDLE
        self._opener = 0
        self.parity = parity
        self.parity_errors = 0
        self._votes = 0
        self._perr = 0  # parity errors in the message being framed
        self.high_bytes = 0
        self.nul_bytes = 0  # NULs outside frames (wake-up trains, idle line noise)
        self.garbage = 0

    def busy(self):
        """True while a message has started and not ended (inter-character timeout runs)."""
        return self._st != _F_IDLE

    def reset(self):
        self._buf = bytearray()
        self._st = _F_IDLE

    def feed(self, data):
        """Bytes in -> list of complete Msg (possibly empty)."""
        out = []
        for b in data:
            bad = False
            if b & 0x80:
                self.high_bytes += 1
            if self.parity != PARITY_OFF:
                bad = _ODD[b] == 1
                if self.parity == PARITY_AUTO:
                    if bad:
                        self.parity = PARITY_OFF
                    elif b & 0x80:
                        self._votes += 1
                        if self._votes >= PARITY_VOTES:
                            self.parity = PARITY_CHECK
                    bad = False
                elif bad:
                    self.parity_errors += 1
            b &= 0x7F
            st = self._st
            if st == _F_IDLE:
                self._perr = 0
                if bad and (b == ACK or b == NAK or b == 0 or b == CR or b == LF):
                    continue  # a damaged lone character means nothing
                if bad:
                    self._perr = 1
                self._idle(b, out)
                continue
            if bad:
                self._perr += 1
            if st == _F_LINE:
                if (b == STX or b == SOH) and self._opener != ACK:
                    # No line holds STX/SOH: the "line" was noise and a frame starts here.
                    self.garbage += 1
                    self._perr = 1 if bad else 0
                    self._idle(b, out)
                    continue
                self._buf.append(b)
                if b == LF:
                    self._line_done(out)
                elif len(self._buf) > self.max_len or (
                        self._opener == 0x2F and len(self._buf) > IDENT_MAX + 4):
                    self._garbage(out)
            elif st == _F_BLOCK:
                if b == STX and self._opener == STX:
                    # A new STX inside a data block: the old block lost its end; restart.
                    self.garbage += 1
                    self._buf = bytearray((STX,))
                    self._perr = 1 if bad else 0
                    continue
                self._buf.append(b)
                if b == ETX or b == EOT:
                    self._st = _F_BCC
                elif len(self._buf) > self.max_len:
                    self._garbage(out)
            else:  # _F_BCC
                buf = self._buf
                ok = bcc(buf, 1) == b
                end = buf[-1]
                kind = M_DATA if self._opener == STX else M_COMMAND
                buf.append(b)
                raw = bytes(buf)
                out.append(Msg(kind, raw, raw[1:-2], end, ok, self._parity_ok()))
                self.reset()
        return out

    def _parity_ok(self):
        return (self._perr == 0) if self.parity == PARITY_CHECK else None

    def _idle(self, b, out):
        if b == STX or b == SOH:
            self._opener = b
            self._buf = bytearray((b,))
            self._st = _F_BLOCK
        elif b == ACK:
            if self.option_after_ack:
                self._opener = ACK
                self._buf = bytearray((b,))
                self._st = _F_LINE
            else:
                out.append(Msg(M_ACK, b"\x06"))
        elif b == NAK:
            out.append(Msg(M_NAK, b"\x15"))
        elif b == 0:
            self.nul_bytes += 1
        elif b == CR or b == LF:
            pass  # blank line between messages (P1 puts one after the identification)
        else:
            self._opener = b
            self._buf = bytearray((b,))
            self._st = _F_LINE

    def _line_done(self, out):
        raw = bytes(self._buf)
        body = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        pok = self._parity_ok()
        if self._opener == ACK:
            out.append(Msg(M_OPTION, raw, body[1:], parity_ok=pok))
            self.option_after_ack = False
        elif self._opener == 0x2F:  # '/'
            kind = M_REQUEST if body[1:2] == b"?" else M_IDENT
            out.append(Msg(kind, raw, body, parity_ok=pok))
        else:
            out.append(Msg(M_LINE, raw, body, parity_ok=pok))
        self.reset()

    def _garbage(self, out):
        self.garbage += 1
        out.append(Msg(M_GARBAGE, bytes(self._buf[:64])))
        self.reset()

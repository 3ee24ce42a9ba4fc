# meterproto.hdlc.frame: HDLC frame format type 3 for DLMS/COSEM (core, both runtimes).
# IEC 62056-46 MAC sublayer (frame type 3, ISO/IEC 13239): frame format, addresses, control field,
# HCS/FCS, SNRM/UA parameters. Encoding, the stream FrameReader and a one-line describe().
from meterproto.compat import const, hexlify
from meterproto.crc16 import crc16_x25
from meterproto.errors import ChecksumError, DecodeError, LocalProtocolError

FLAG = const(0x7E)
MAX_FRAME_LEN = const(2047)  # 11-bit length field (B.1)
MAX_INFO = const(2030)  # largest max-info-field value a UA may grant
DEFAULT_MAX_INFO = const(128)  # B.5: defaults when SNRM/UA carry no value
DEFAULT_WINDOW = const(1)

# Frame kinds, dispatched by the control byte alone (B.4).
K_I = const(0)
K_RR = const(1)
K_RNR = const(2)
K_REJ = const(3)
K_SREJ = const(4)
K_SNRM = const(5)
K_DISC = const(6)
K_UA = const(7)
K_DM = const(8)
K_FRMR = const(9)
K_UI = const(10)
KIND_NAMES = ("I", "RR", "RNR", "REJ", "SREJ", "SNRM", "DISC", "UA", "DM", "FRMR", "UI")

PF = const(0x10)  # poll/final bit
_SNRM = const(0x83)
_DISC = const(0x43)
_UA = const(0x63)
_DM = const(0x0F)
_FRMR = const(0x87)
_UI = const(0x03)
_U_KINDS = {_SNRM: K_SNRM, _DISC: K_DISC, _UA: K_UA, _DM: K_DM, _FRMR: K_FRMR, _UI: K_UI}
_S_KINDS = (K_RR, K_RNR, K_REJ, K_SREJ)  # indexed by control bits 3..2

LLC_REQUEST = b"\xe6\xe6\x00"  # client -> server (B.6: LSAPs E6/E6, quality 0)
LLC_RESPONSE = b"\xe6\xe7\x00"  # server -> client


# -- control byte ---------------------------------------------------------------------------
def ctl_i(ns, nr, pf=True):
    return ((nr & 7) << 5) | (PF if pf else 0) | ((ns & 7) << 1)


def ctl_rr(nr, pf=True):
    return ((nr & 7) << 5) | (PF if pf else 0) | 0x01


def ctl_rnr(nr, pf=True):
    return ((nr & 7) << 5) | (PF if pf else 0) | 0x05


def ctl_u(kind, pf=True):
    """Control byte of an unnumbered frame kind (K_SNRM, K_DISC, K_UA, K_DM, K_FRMR, K_UI)."""
    for code in _U_KINDS:
        if _U_KINDS[code] == kind:
            return code | (PF if pf else 0)
    raise LocalProtocolError("%s is not an unnumbered frame" % KIND_NAMES[kind])


def control_kind(c):
    """(kind, ns, nr, pf) for a control byte; DecodeError for a byte no frame type uses."""
    pf = 1 if c & PF else 0
    if not c & 1:
        return K_I, (c >> 1) & 7, c >> 5, pf
    if c & 3 == 1:
        return _S_KINDS[(c >> 2) & 3], None, c >> 5, pf
    k = _U_KINDS.get(c & 0xEF)
    if k is None:
        raise DecodeError("unknown HDLC control byte 0x%02X" % c)
    return k, None, None, pf


# -- addresses (B.3) --------------------------------------------------------------------
def client_address(sap):
    """The one-byte client address: SAP 16 (public client) -> 0x21."""
    if not 0 <= sap <= 0x7F:
        raise LocalProtocolError("client address %r is out of range 0..127" % (sap,))
    return bytes(((sap << 1) | 1,))


def default_addr_size(upper, lower):
    if lower is None:
        return 1
    return 2 if upper < 128 and lower < 128 else 4


def server_address(upper, lower=None, size=None):
    """Server address bytes: 1 byte (upper only), 2 bytes (7+7 bits) or 4 bytes (14+14 bits)."""
    if size is None:
        size = default_addr_size(upper, lower)
    if lower is None:
        lower = 0
    lim = 0x3FFF if size == 4 else 0x7F
    if size not in (1, 2, 4) or not 0 <= upper <= lim or not 0 <= lower <= lim:
        raise LocalProtocolError("server address %r/%r does not fit in %r bytes"
                                 % (upper, lower, size))
    if size == 1:
        return bytes(((upper << 1) | 1,))
    if size == 2:
        return bytes((upper << 1, (lower << 1) | 1))
    return bytes(((upper >> 7) << 1, (upper & 0x7F) << 1,
                  (lower >> 7) << 1, ((lower & 0x7F) << 1) | 1))


def address_value(addr):
    """(upper, lower) of address bytes; lower is None for a one-byte address."""
    n = len(addr)
    if n == 1:
        return addr[0] >> 1, None
    if n == 2:
        return addr[0] >> 1, addr[1] >> 1
    if n == 4:
        return ((addr[0] >> 1) << 7) | (addr[1] >> 1), ((addr[2] >> 1) << 7) | (addr[3] >> 1)
    raise DecodeError("an HDLC address has 1, 2 or 4 bytes, not %d" % n)


def address_text(addr):
    up, low = address_value(addr)
    return "%d" % up if low is None else "%d/%d" % (up, low)


def _address_end(buf, i, end):
    """Index after the address starting at buf[i], -1 if more bytes are needed."""
    j = i
    while j < end:
        if buf[j] & 1:
            n = j + 1 - i
            if n == 3:
                raise DecodeError("an HDLC address has 1, 2 or 4 bytes, not 3")
            return j + 1
        j += 1
        if j - i >= 4:
            raise DecodeError("HDLC address longer than 4 bytes")
    return -1


# -- frames -------------------------------------------------------------------------------
def encode_frame(dst, src, control, info=b"", segmented=False):
    """A complete frame with both flags, HCS (when info is present) and FCS."""
    n_hdr = 2 + len(dst) + len(src) + 1
    length = n_hdr + (2 + len(info) if info else 0) + 2
    if length > MAX_FRAME_LEN:
        raise LocalProtocolError("HDLC frame of %d bytes exceeds 2047; segment it" % length)
    buf = bytearray(length + 2)
    buf[0] = FLAG
    buf[1] = 0xA0 | (0x08 if segmented else 0) | (length >> 8)
    buf[2] = length & 0xFF
    p = 3
    buf[p:p + len(dst)] = dst
    p += len(dst)
    buf[p:p + len(src)] = src
    p += len(src)
    buf[p] = control
    p += 1
    if info:
        c = crc16_x25(buf, 1, p)
        buf[p] = c & 0xFF
        buf[p + 1] = c >> 8
        p += 2
        buf[p:p + len(info)] = info
        p += len(info)
    c = crc16_x25(buf, 1, p)
    buf[p] = c & 0xFF
    buf[p + 1] = c >> 8
    buf[p + 2] = FLAG
    return bytes(buf)


class Frame:
    """One decoded frame. dst/src are the raw address bytes; ns/nr are None where unused."""

    def __init__(self, dst, src, control, info, segmented, hcs_ok=True, fcs_ok=True):
        self.dst = dst
        self.src = src
        self.control = control
        self.kind, self.ns, self.nr, self.pf = control_kind(control)
        self.info = info
        self.segmented = segmented
        self.hcs_ok = hcs_ok
        self.fcs_ok = fcs_ok

    def name(self):
        return KIND_NAMES[self.kind]

    def __repr__(self):
        return "<Frame %s>" % describe(self)


def _crc_ok(buf, start, end):
    c = crc16_x25(buf, start, end)
    return buf[end] == (c & 0xFF) and buf[end + 1] == (c >> 8)


def _header(buf, p, end, carry=0):
    """(length, segmented, dst_end, src_end) of the header whose format field is at buf[p]
    (bytes up to end are present), or None when more bytes are needed. DecodeError when
    it cannot be a type-3 header. dst_end/src_end are absolute indices into buf.
    carry: 256 to read the length as one carry higher than its field says (FrameReader)."""
    if end - p < 2:
        return None
    if buf[p] & 0xF0 != 0xA0:
        raise DecodeError("not an HDLC type 3 frame (format byte 0x%02X)" % buf[p])
    length = (((buf[p] & 7) << 8) | buf[p + 1]) + carry
    if length < 7:
        raise DecodeError("HDLC frame length %d is too short" % length)
    d = _address_end(buf, p + 2, end)
    if d < 0:
        return None
    s = _address_end(buf, d, end)
    if s < 0:
        return None
    hdr = s + 1 - p  # bytes up to and including the control byte
    if length != hdr + 2 and length < hdr + 5:
        raise DecodeError("HDLC frame length %d does not fit its header" % length)
    return length, (buf[p] & 0x08) != 0, d, s


def decode_frame(data, strict=True, carry=0):
    """Decode one frame (with or without its flags). strict: raise ChecksumError on a bad
    HCS/FCS; otherwise return the Frame with hcs_ok/fcs_ok telling what failed."""
    if len(data) >= 2 and data[0] == FLAG and data[-1] == FLAG:
        data = data[1:-1]
    h = _header(data, 0, len(data), carry)
    if h is None:
        raise DecodeError("HDLC frame cut short (%d bytes)" % len(data))
    length, seg, d, s = h
    if length != len(data):
        raise DecodeError("HDLC length field says %d bytes, frame has %d" % (length, len(data)))
    hdr = s + 1
    if length == hdr + 2:
        hcs_ok = fcs_ok = _crc_ok(data, 0, hdr)
        info = b""
    else:
        hcs_ok = _crc_ok(data, 0, hdr)
        fcs_ok = _crc_ok(data, 0, length - 2)
        info = bytes(data[hdr + 2:length - 2])
    if strict and not (hcs_ok and fcs_ok):
        what = "header" if not hcs_ok else "frame"
        raise ChecksumError("HDLC %s check failed: the frame was damaged on the line" % what)
    return Frame(bytes(data[2:d]), bytes(data[d:s]), data[s], info, seg, hcs_ok, fcs_ok)


class FrameReader:
    """Finds frames in a byte stream by flag and length (no byte stuffing: 0x7E may occur
    inside a frame). feed(data) returns the complete, checked frames; damaged frames are
    dropped and counted in bad_frames (last_error says why), other junk in garbage_bytes."""

    def __init__(self):
        self.buf = bytearray()
        self.bad_frames = 0
        self.garbage_bytes = 0
        self.last_error = None
        self._checked = 0  # length of the frame at buf[0] once its header check passed
        self._carry = 0  # 256 while trying that frame's length one carry higher
        self.carried = 0  # frames read with the carry their length field had lost

    def reset(self):
        """Forget a partial frame (after a timeout it can only be a stalled fragment)."""
        self.garbage_bytes += len(self.buf)
        self.buf = bytearray()
        self._checked = 0

    def pending(self):
        return len(self.buf)

    def in_frame(self):
        """True while a frame whose header checked out is still arriving."""
        return self._checked != 0

    def _bad(self, exc, n):
        self.bad_frames += 1
        self.last_error = exc
        self._drop(n)

    def _drop(self, n):
        self.buf[0:n] = b""
        self._checked = 0
        self._carry = 0

    def feed(self, data):
        self.buf.extend(data)
        out = []
        while True:
            f = self._one()
            if f is None:
                return out
            out.append(f)

    def _one(self):
        buf = self.buf
        while True:
            n = len(buf)
            if n == 0:
                return None
            if buf[0] != FLAG:
                i = buf.find(b"\x7e")
                if i < 0:
                    i = n
                self.garbage_bytes += i
                self._drop(i)
                continue
            # Shared or doubled flags between frames (B.1): keep the last one.
            if n > 1 and buf[1] == FLAG:
                self._drop(1)
                continue
            length = self._checked
            if not length:
                try:
                    h = _header(buf, 1, n, self._carry)
                except DecodeError:
                    if not self._carry and buf[1] & 0xF0 == 0xA0 and n > 2 and buf[2] < 7:
                        self._carry = 256  # a length too short for its header: see below
                        continue
                    # Not a frame start (a closing flag or noise): look for the next flag.
                    self.garbage_bytes += 1
                    self._drop(1)
                    continue
                if h is None:
                    return None
                length, seg, d, s = h
                hdr = s + 1  # index after the control byte
                if n < hdr + 2:
                    return None
                # The HCS (or the FCS of a frame without information) guards the length
                # field, so a damaged length never makes us wait for bytes that are not coming.
                if not _crc_ok(buf, 1, hdr):
                    e = ChecksumError("HDLC header check failed: frame damaged on the line")
                    self._bad(e, 1)
                    continue
                self._checked = length
            if n < length + 2:
                return None
            if buf[length + 1] != FLAG:
                if not self._carry and buf[2] < 7 and length + 256 <= MAX_FRAME_LEN:
                    # Its header checks out, yet no flag where its length says: gurux-dlms
                    # 1.0.203 loses the carry into the length's high bits (0xA8 0x06 for 262
                    # bytes), which leaves a low byte under 7. Try one carry higher; the FCS
                    # decides.
                    self._carry = 256
                    self._checked = 0
                    continue
                self._bad(DecodeError("HDLC frame of %d bytes has no closing flag" % length), 1)
                continue
            try:
                f = decode_frame(bytes(memoryview(buf)[1:length + 1]), True, self._carry)
            except DecodeError as e:
                self._bad(e, length + 1)
                continue
            if self._carry:
                self.carried += 1
            self._drop(length + 1)  # the closing flag may open the next frame
            return f


# -- SNRM/UA information field (B.5) ------------------------------------------------------
P_MAX_INFO_TX = const(5)
P_MAX_INFO_RX = const(6)
P_WINDOW_TX = const(7)
P_WINDOW_RX = const(8)
_PARAM_KEYS = {P_MAX_INFO_TX: "max_info_tx", P_MAX_INFO_RX: "max_info_rx",
               P_WINDOW_TX: "window_tx", P_WINDOW_RX: "window_rx"}


def default_params():
    return {"max_info_tx": DEFAULT_MAX_INFO, "max_info_rx": DEFAULT_MAX_INFO,
            "window_tx": DEFAULT_WINDOW, "window_rx": DEFAULT_WINDOW}


def _uint(v, n):
    return v.to_bytes(n, "big")


def encode_params(max_info_tx=128, max_info_rx=128, window_tx=1, window_rx=1, window_bytes=4):
    """81 80 LL + the four parameters; lengths in the fewest of 1/2 bytes, windows in
    window_bytes (4 is what the meters seen so far send)."""
    body = bytearray()
    for pid, v in ((P_MAX_INFO_TX, max_info_tx), (P_MAX_INFO_RX, max_info_rx)):
        n = 1 if v < 256 else 2
        body.extend(bytes((pid, n)))
        body.extend(_uint(v, n))
    for pid, v in ((P_WINDOW_TX, window_tx), (P_WINDOW_RX, window_rx)):
        body.extend(bytes((pid, window_bytes)))
        body.extend(_uint(v, window_bytes))
    return bytes((0x81, 0x80, len(body))) + bytes(body)


def parse_params(info):
    """SNRM/UA information field to a dict (missing values take the defaults 128 / 1).
    Values are as the sender sees them: its max_info_tx is what it will transmit."""
    p = default_params()
    if not info:
        return p
    if len(info) < 3 or info[0] != 0x81 or info[1] != 0x80:
        raise DecodeError("SNRM/UA parameters do not start with 81 80")
    end = 3 + info[2]
    if end > len(info):
        raise DecodeError("SNRM/UA parameter group is longer than the frame")
    i = 3
    while i < end:
        if i + 2 > end:
            raise DecodeError("SNRM/UA parameter cut short")
        pid = info[i]
        n = info[i + 1]
        i += 2
        if n < 1 or n > 4 or i + n > end:
            raise DecodeError("SNRM/UA parameter %d has a bad length %d" % (pid, n))
        v = 0
        for k in range(n):
            v = (v << 8) | info[i + k]
        i += n
        key = _PARAM_KEYS.get(pid)
        if key is None:
            continue  # unknown parameters are skipped, not fatal
        if pid <= P_MAX_INFO_RX:
            if v < 16:
                raise DecodeError("maximum information length %d is too small to use" % v)
            v = MAX_INFO if v > MAX_INFO else v
        else:
            if v < 1:
                raise DecodeError("window size 0 is not allowed")
            v = 7 if v > 7 else v  # sequence numbers are modulo 8
        p[key] = v
    return p


# -- describe -------------------------------------------------------------------------------
def _from_client(f):
    k = f.kind
    if k in (K_SNRM, K_DISC):
        return True
    if k in (K_UA, K_DM, K_FRMR):
        return False
    if f.info[:3] == LLC_REQUEST:
        return True
    if f.info[:3] == LLC_RESPONSE:
        return False
    return len(f.dst) != 1 or len(f.src) == 1 and f.src[0] != 0x03


def describe(f, from_client=None):
    """One line for a trace: 'SNRM client 16 -> server 1, no parameters, FCS ok'."""
    if from_client is None:
        from_client = _from_client(f)
    try:
        if from_client:
            who = "client %d -> server %s" % (f.src[0] >> 1, address_text(f.dst))
        else:
            who = "server %s -> client %d" % (address_text(f.src), f.dst[0] >> 1)
    except DecodeError:
        who = "%s -> %s" % (hexlify(f.src, ""), hexlify(f.dst, ""))
    k = f.kind
    parts = [KIND_NAMES[k]]
    if k == K_I:
        parts.append("N(S)=%d N(R)=%d" % (f.ns, f.nr))
    elif f.nr is not None:
        parts.append("N(R)=%d" % f.nr)
    if f.pf:
        parts.append("final" if not from_client else "poll")
    text = " ".join(parts) + " " + who
    if k in (K_SNRM, K_UA) and f.fcs_ok:
        if not f.info:
            text += ", no parameters"
        else:
            try:
                p = parse_params(f.info)
                text += ", max info %d/%d window %d/%d" % (
                    p["max_info_tx"], p["max_info_rx"], p["window_tx"], p["window_rx"])
            except DecodeError as e:
                text += ", bad parameters (%s)" % e
    elif f.info:
        text += ", %d bytes" % len(f.info)
    if f.segmented:
        text += ", more segments follow"
    if not f.hcs_ok:
        text += ", HCS BAD"
    text += ", FCS ok" if f.fcs_ok else ", FCS BAD"
    return text

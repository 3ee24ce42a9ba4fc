"""irprobe.explain: name every frame in a capture and recognise the classic mistakes.

Used by `irprobe decode`. Input is a list of (direction, bytes) with '>' for what we sent and
'<' for what we received. Frames are IEC 62056-21 messages (sign-on, identification, option
select, data/command blocks with BCC, clause 6.3) and IEC 62056-46 HDLC type 3 frames (address,
control, HCS/FCS, the DLMS APDU inside). Findings are the mistakes people make on first
contact: their own echo taken for an answer, 7E1 read as 8N1, damaged checksums, an SNRM sent
to an IEC meter, mode E offered but not used, client/server addresses swapped, cut frames.
"""
from meterproto.hdlc import frame as hd
from meterproto.iec import msg
from meterproto.compat import hexlify
from meterproto.echo import EchoFilter, V_PARITY7, V_STRIPPED
from meterproto.errors import DecodeError
from meterproto.line import even_parity_bit

# First byte of a DLMS APDU (IEC 62056-5-3 / Green Book tags) -> name.
APDU_NAMES = {
    0x01: "initiate-request", 0x08: "initiate-response", 0x05: "read-request (SN)",
    0x0C: "read-response (SN)", 0x06: "write-request (SN)", 0x0D: "write-response (SN)",
    0x0E: "confirmed-service-error", 0x0F: "data-notification", 0x60: "AARQ (open association)",
    0x61: "AARE (association answer)", 0x62: "RLRQ (release request)",
    0x63: "RLRE (release answer)", 0xC0: "GET-request", 0xC1: "SET-request",
    0xC2: "event-notification", 0xC3: "ACTION-request", 0xC4: "GET-response",
    0xC5: "SET-response", 0xC7: "ACTION-response", 0xC8: "glo-GET-request",
    0xCC: "glo-GET-response", 0xD8: "exception-response", 0xDB: "general-glo-ciphering",
    0xDD: "general-ded-ciphering", 0xE0: "general-block-transfer", 0x21: "glo-initiate-request",
    0x28: "glo-initiate-response",
}
_GET_KINDS = {1: "normal", 2: "next block", 3: "with list"}
_RESP_KINDS = {1: "normal", 2: "with data block", 3: "with list"}

# Client SAPs seen in the field (IEC 62056-46 addressing, docs/INTEROP.md): public 16,
# reader 17, 32, 48, 102.
_CLIENT_SAPS = (16, 17, 32, 48, 64, 102, 103)


def _frame(direction, protocol, kind, name, check, text, raw):
    return {"dir": direction, "protocol": protocol, "kind": kind, "name": name,
            "check": check, "text": text, "hex": hexlify(raw[:300]), "len": len(raw)}


def _finding(code, text):
    return {"code": code, "text": text}


# -- HDLC ------------------------------------------------------------------------------------
def looks_hdlc(data):
    """A flag followed by a type-3 format byte (also with bit 7 damaged by a 7E1 receiver)."""
    for i in range(len(data) - 1):
        if data[i] & 0x7F == 0x7E and data[i + 1] & 0x70 == 0x20:
            return True
    return False


def apdu_name(info):
    """Name of the APDU in an I/UI frame's information field (after the LLC header)."""
    body = info
    llc = ""
    if info[:3] == hd.LLC_REQUEST or info[:3] == hd.LLC_RESPONSE:
        body = info[3:]
        llc = "LLC " + hexlify(info[:3])
    if not body:
        return llc or "empty"
    tag = body[0]
    name = APDU_NAMES.get(tag)
    if name is None:
        return "unknown APDU tag 0x%02X" % tag if llc else "segment / data without LLC"
    if tag in (0xC0, 0xC1, 0xC3) and len(body) > 1:
        name += " " + _GET_KINDS.get(body[1], "type %d" % body[1])
    elif tag in (0xC4, 0xC5, 0xC7) and len(body) > 1:
        name += " " + _RESP_KINDS.get(body[1], "type %d" % body[1])
        if tag == 0xC4 and body[1] == 1 and len(body) > 3:
            name += ", data" if body[3] == 0 else ", error (data-access-result %d)" % (
                body[4] if len(body) > 4 else -1)
    elif tag == 0x61:
        i = body.find(b"\xa2\x03\x02\x01")
        if i >= 0 and i + 4 < len(body):
            name += ", accepted" if body[i + 4] == 0 else ", REJECTED (result %d)" % body[i + 4]
    return name


def hdlc_frames(direction, data):
    """(frames, leftover_bytes, findings) for one direction's bytes."""
    frames = []
    findings = []
    junk = 0
    i = 0
    n = len(data)
    while i < n:
        if data[i] != 0x7E or i + 2 >= n or data[i + 1] & 0xF0 != 0xA0:
            if data[i] != 0x7E:
                junk += 1
            i += 1
            continue
        length = ((data[i + 1] & 7) << 8) | data[i + 2]
        end = i + 1 + length  # index of the closing flag
        if end >= n:
            raw = data[i:]
            frames.append(_frame(direction, "hdlc", "truncated", "truncated HDLC frame", "none",
                                 "HDLC frame cut short: its length field says %d bytes, only "
                                 "%d arrived" % (length, n - i - 1), raw))
            findings.append(_finding("truncated", "an HDLC frame stops after %d of its %d "
                                     "bytes: the rest was lost (the line went quiet, or the "
                                     "capture ends there)" % (n - i - 1, length)))
            i = n
            break
        raw = bytes(data[i:end + 1])
        if data[end] != 0x7E:
            frames.append(_frame(direction, "hdlc", "damaged", "damaged HDLC frame", "bad",
                                 "HDLC frame of %d bytes without its closing flag" % length,
                                 raw))
            i += 1
            continue
        try:
            f = hd.decode_frame(raw, strict=False)
        except DecodeError as e:
            frames.append(_frame(direction, "hdlc", "damaged", "damaged HDLC frame", "bad",
                                 str(e), raw))
            i = end
            continue
        frames.append(_hdlc_item(direction, f, raw))
        i = end  # the closing flag may open the next frame
    return frames, junk, findings


def _hdlc_item(direction, f, raw):
    from_client = None
    if direction == ">":
        from_client = True
    elif f.kind in (hd.K_UA, hd.K_DM, hd.K_FRMR):
        from_client = False
    text = hd.describe(f, from_client) + ", control 0x%02X" % f.control
    name = hd.KIND_NAMES[f.kind]
    if f.info and f.kind in (hd.K_I, hd.K_UI) and f.fcs_ok:
        a = apdu_name(f.info)
        text += ", " + a
        name += " " + a
    check = "ok" if f.hcs_ok and f.fcs_ok else "bad"
    item = _frame(direction, "hdlc", hd.KIND_NAMES[f.kind], name, check, text, raw)
    item["hcs"] = "ok" if f.hcs_ok else "bad"
    item["fcs"] = "ok" if f.fcs_ok else "bad"
    item["dst"] = hexlify(f.dst)
    item["src"] = hexlify(f.src)
    item["_frame"] = f
    return item


# -- IEC 62056-21 ----------------------------------------------------------------------------
def iec_frames(direction, data):
    """(frames, findings) for one direction's bytes, cut by the core's Framer."""
    # an ACK we sent is an option select (ACK V Z Y CR LF, 6.3.4) or a lone ACK asking for
    # the next block (6.3.3)
    i = data.find(b"\x06")
    framer = msg.Framer(option_after_ack=(direction == ">" and i >= 0
                                          and data[i + 4:i + 6] == b"\r\n"))
    out = []
    for m in framer.feed(data):
        out.append(_iec_item(direction, m))
    findings = []
    if framer.busy():
        out.append(_frame(direction, "iec62056-21", "truncated", "unfinished message", "none",
                          "an unfinished message: the bytes stop before its end", b""))
        findings.append(_finding("truncated", "a message stops half-way: the rest never "
                                 "arrived (the head moved, or the capture ends there)"))
    return out, findings, framer


def _iec_item(direction, m):
    k = m.kind
    p = "iec62056-21"
    raw = m.raw
    if k == msg.M_REQUEST:
        addr = bytes(m.body[2:-1]).decode()
        return _frame(direction, p, "sign-on", "IEC sign-on request", "none",
                      "sign-on request /?%s! (%s)" % (addr, "device " + addr if addr
                                                      else "any meter"), raw)
    if k == msg.M_IDENT:
        try:
            ident = msg.parse_identification(m.body)
        except DecodeError as e:
            return _frame(direction, p, "identification", "IEC identification (damaged)",
                          "bad", "identification that does not parse: %s" % e, raw)
        rate = ("up to %d baud" % ident.max_baud) if ident.max_baud else "a reserved baud char"
        item = _frame(direction, p, "identification", "IEC identification", "none",
                      "identification %s: manufacturer %s, mode %s, %s%s%s" % (
                          ident.ident(), ident.manufacturer, ident.mode, rate,
                          ", offers mode E (DLMS over HDLC)" if ident.mode_e else "",
                          ", 20 ms reaction allowed" if ident.fast_reaction else ""), raw)
        item["_ident"] = ident
        return item
    if k == msg.M_OPTION:
        b = bytes(m.body).decode()
        what = {"0": "data readout", "1": "programming mode", "2": "HDLC (mode E)"}
        rate = "?"
        if len(b) >= 2:
            try:
                rate = msg.baud_for_char(b[1])[1]
            except Exception:
                pass
        item = _frame(direction, p, "option", "IEC ACK option select", "none",
                      "option select ACK %s: %s at %s baud" % (
                          " ".join(b), what.get(b[2:3], "mode %r" % b[2:3]), rate), raw)
        item["_option"] = b
        return item
    if k in (msg.M_DATA, msg.M_COMMAND):
        check = "ok" if m.bcc_ok else "bad"
        bcc_text = "ok"
        if not m.bcc_ok:
            from meterproto.bcc import bcc

            bcc_text = "wrong: computed 0x%02X, the message says 0x%02X" % (
                bcc(raw, 1, len(raw) - 1), raw[-1] & 0x7F)
        part = " (partial block, EOT)" if m.partial() else ""
        if k == msg.M_COMMAND:
            cd, body = msg.split_command(m.body)
            item = _frame(direction, p, "command", "IEC command %s" % cd, check,
                          "command %s%s%s, BCC %s" % (cd, " " + body if body else "", part,
                                                      bcc_text), raw)
        else:
            values, err = _values(m.body)
            item = _frame(direction, p, "data", "IEC data block", check,
                          "data block%s: %d value%s, BCC %s%s" % (
                              part, len(values), "" if len(values) == 1 else "s", bcc_text,
                              (", the meter says (%s)" % err) if err else ""), raw)
            item["values"] = values
        item["bcc"] = bcc_text
        return item
    if k == msg.M_ACK:
        return _frame(direction, p, "ack", "ACK", "none", "ACK (accepted / next block)", raw)
    if k == msg.M_NAK:
        return _frame(direction, p, "nak", "NAK", "none", "NAK (repeat please)", raw)
    if k == msg.M_LINE:
        t = bytes(m.body).decode("latin-1")
        item = _frame(direction, p, "line", "text line", "none", "text line %r" % t[:60], raw)
        if "(" in t:
            item["values"] = _values(m.body)[0]
        return item
    return _frame(direction, p, "garbage", "garbage", "none", "%d bytes that are no message"
                  % len(raw), raw)


def _values(body):
    """(values as reading dicts, the meter's error text or None) of an IEC data block."""
    from meterproto.iec import data as dat

    try:
        sets = dat.parse_block(body)
        return [v.to_dict() for v in dat.to_values(sets)], dat.error_reply(sets)
    except (DecodeError, ValueError, IndexError, TypeError, UnicodeError) as e:
        return [], "undecodable: %s" % e


# -- the whole capture ---------------------------------------------------------------------
def merge_chunks(chunks):
    """Consecutive chunks of the same direction joined: a message may span capture lines."""
    out = []
    for d, b in chunks:
        if out and out[-1][0] == d:
            out[-1] = (d, out[-1][1] + b)
        else:
            out.append((d, bytes(b)))
    return out


def explain(chunks):
    """(direction, bytes) list -> {"frames": [...], "findings": [...]}."""
    frames = []
    findings = []
    last_sent = b""
    sent_frames = []
    chunks = merge_chunks(chunks)
    for idx in range(len(chunks)):
        d, data = chunks[idx]
        if d == ">":
            last_sent = data
            got = _frames_of(d, data, findings)
            sent_frames.extend(got)
            frames.extend(got)
            continue
        rest = data
        if last_sent:
            rest = _echo(last_sent, data, sent_frames, frames, findings)
        if rest:
            frames.extend(_frames_of(d, rest, findings))
        last_sent = b""
    _after(chunks, frames, findings)
    for f in frames:
        for k in ("_frame", "_ident", "_option"):
            if k in f:
                del f[k]
    return {"frames": frames, "findings": findings}


def _frames_of(d, data, findings):
    # IEC then HDLC in one chunk (ACK 2 Z 2 and the SNRM right after it, mode E): each part
    # by its own rules.
    k = _hdlc_start(data)
    if k > 0:
        return _frames_of(d, data[:k], findings) + _frames_of(d, data[k:], findings)
    high = 0
    consistent = True
    for b in data:
        if b & 0x80:
            high += 1
            if (b >> 7) != even_parity_bit(b):
                consistent = False
    if d == "<" and high and consistent and not _intact_hdlc(d, data):
        orig = unparity_hdlc(data)
        if orig is not None:
            return _parity_hdlc(d, data, orig, findings)
    hdlc = looks_hdlc(data) and not (high and consistent and not _plain_hdlc(data))
    if hdlc:
        got, junk, fnd = hdlc_frames(d, data)
        findings.extend(fnd)
        if junk and not got:
            findings.append(_finding("garbage", "%d bytes that are neither IEC messages nor "
                                     "HDLC frames" % junk))
        return got
    if d == "<" and high * 5 >= len(data) and consistent and high:
        findings.append(_finding("parity-in-bit-7", "%d of %d received bytes have bit 7 set, "
                                 "and it always equals the even parity of the other 7 bits: "
                                 "the meter sends 7E1 (7 data bits, even parity) and the "
                                 "receiver was set to 8N1. Set the port to 7E1." % (
                                     high, len(data))))
    got, fnd, framer = iec_frames(d, data)
    findings.extend(fnd)
    if d == "<" and framer.nul_bytes:
        got.append(_frame(d, "iec62056-21", "nul", "NUL bytes", "none",
                          "%d NUL bytes (a wake-up train or a receiver that sees light as a "
                          "break)" % framer.nul_bytes, b""))
    whole = [f for f in got if f["kind"] not in ("garbage", "truncated", "nul")]
    if not whole and len(data) > framer.nul_bytes:
        findings.append(_finding("garbage", "%d bytes that are no IEC message and no HDLC "
                                 "frame: wrong speed or framing, an inverted receiver, or "
                                 "noise" % len(data)))
    return got


def unparity_hdlc(data, max_unknown=14):
    """The HDLC frame that, sent as 7E1 and read as 8N1, gives `data` (bit 7 replaced by the
    even parity of bits 0-6), or None. Bit 7 of the original is lost on the way, so the
    candidates are tried against the HCS/FCS; only short frames (the usual SNRM, UA, RR,
    DISC) are searched."""
    n = len(data)
    if n < 9 or data[0] != 0x7E or data[-1] != 0x7E:
        return None
    inner = [b & 0x7F for b in data[1:-1]]
    length = n - 2
    if length > 0x7FF:
        return None
    # Format byte A0-A7 (+ segmentation 08) and the length low byte are known exactly.
    fixed = {0: 0xA0 | (inner[0] & 0x0F), 1: length & 0xFF}
    if (fixed[0] & 7) != length >> 8 or (fixed[1] & 0x7F) != inner[1]:
        return None
    unknown = [i for i in range(length) if i not in fixed]
    if len(unknown) > max_unknown:
        return None
    base = bytearray(inner)
    for i in fixed:
        base[i] = fixed[i]
    for mask in range(1 << len(unknown)):
        cand = bytearray(base)
        for k in range(len(unknown)):
            if mask >> k & 1:
                cand[unknown[k]] |= 0x80
        frame = b"\x7e" + bytes(cand) + b"\x7e"
        try:
            f = hd.decode_frame(frame)
        except DecodeError:
            continue
        return frame, f
    return None


def _parity_hdlc(d, data, orig, findings):
    frame, f = orig
    item = _hdlc_item(d, f, frame)
    item["name"] += " (read with the parity in bit 7)"
    item["text"] += ", received as %s" % hexlify(data)
    item["hex"] = hexlify(data)
    findings.append(_finding("parity-in-bit-7", "these %d bytes are the HDLC frame %s with "
                             "bit 7 replaced by the even parity of the other 7 bits: it went "
                             "out as 7E1 and was read by a receiver set to 8N1 (or the other "
                             "way round)." % (len(data), hexlify(frame))))
    if f.kind in (hd.K_SNRM, hd.K_DISC) or f.info[:3] == hd.LLC_REQUEST:
        findings.append(_finding("echo", "a meter never sends a %s: it is a request from "
                                 "the client side. These bytes are almost certainly our own "
                                 "frame seen by our receiver (echo through a 7E1/8N1 "
                                 "mismatch), not a meter answer." % hd.KIND_NAMES[f.kind]))
    return [item]


def _intact_hdlc(d, data):
    got, junk, fnd = hdlc_frames(d, data)
    return bool(got) and not junk and not fnd and all(f["check"] == "ok" for f in got)


def _hdlc_start(data):
    """Index of the first flag that opens a type-3 frame after some IEC text, else -1."""
    for i in range(len(data) - 1):
        if data[i] == 0x7E and data[i + 1] & 0xF0 == 0xA0:
            return i if i and data[i - 1] == 0x0A else -1
    return -1


def _plain_hdlc(data):
    return any(data[i] == 0x7E and data[i + 1] & 0xF0 == 0xA0 for i in range(len(data) - 1))


def _echo(sent, data, sent_frames, frames, findings):
    """Strip the echo of `sent` off the start of `data`; report it. Returns the rest."""
    f = EchoFilter()
    f.sent(sent)
    rest = f.filter(data)
    if f.held():
        rest = f.release() + rest if len(f.held()) * 2 < len(sent) else rest
        if f.echo_bytes == 0 and not rest:
            f.echo_bytes = len(data)
    if not f.echo_bytes:
        return data
    what = sent_frames[-1]["name"] if sent_frames else "bytes"
    if f.variants[V_PARITY7]:
        how = ("read back with bit 7 set where the even parity of the other bits is 1: our "
               "own light, seen through a receiver set to 8N1 while the bytes went out as "
               "7E1 (or a mis-set receiver)")
    elif f.variants[V_STRIPPED]:
        how = ("read back with bit 7 cleared: our own light, seen through a receiver set to "
               "7E1 while the bytes went out as 8N1")
    else:
        how = "read back unchanged: the probe's receiver sees its own LED (optical crosstalk)"
    text = ("the %d received bytes %s are the %s we sent, %s. That is echo, not a meter "
            "answer: the meter has said nothing yet." % (
                f.echo_bytes, hexlify(data[:f.echo_bytes][:24]), what, how))
    if rest:
        text = text.replace(" the meter has said nothing yet.", " what follows is the "
                            "meter's.")
    findings.append(_finding("echo", text))
    frames.append(_frame("<", "echo", "echo", "echo of our %s" % what, "none",
                         "our own %s, %s" % (what, how.split(":")[0]), data[:f.echo_bytes]))
    return rest


def _after(chunks, frames, findings):
    """Findings that need the whole exchange."""
    for f in frames:
        if f["check"] == "bad":
            word = "BCC" if f["protocol"] == "iec62056-21" else (
                "HCS" if f.get("hcs") == "bad" else "FCS")
            findings.append(_finding("bad-checksum", "the %s of a %s is wrong: the bytes were "
                                     "damaged on the way (head not centred, stray light, or "
                                     "wrong speed)" % (word, f["name"])))
    # An SNRM that got no answer from a meter that may need the IEC sign-on first.
    for i in range(len(frames)):
        f = frames[i]
        fr = f.get("_frame")
        if f["dir"] == ">" and fr is not None and fr.kind == hd.K_SNRM:
            answered = False
            for g in frames[i + 1:]:
                if g["dir"] == ">":
                    break
                if g["dir"] == "<" and g["protocol"] != "echo":
                    answered = True
            if not answered and _iec_meter_before(frames, i):
                findings.append(_finding("snrm-to-iec", "an SNRM (HDLC connect) went to a "
                                         "meter that identified itself by IEC 62056-21 and "
                                         "got no answer: such a meter takes HDLC only after "
                                         "the option select ACK 2 Z 2 at 300 baud (mode E), "
                                         "and only if its identification has \\2."))
            elif not answered:
                findings.append(_finding("snrm-no-answer", "an SNRM (HDLC connect) was sent "
                                         "and the meter answered nothing. Most meters with an "
                                         "optical port speak IEC 62056-21 first: sign on at "
                                         "300 baud 7E1 (/?!), then switch to HDLC with ACK 2 Z "
                                         "2 (mode E). Only some meters take HDLC at 9600 "
                                         "directly."))
            if _swapped(fr):
                findings.append(_finding("swapped-addresses", "the SNRM/frame we sent goes "
                                         "to address %s from %s: that looks like a meter's "
                                         "reply (client and server addresses swapped). The "
                                         "destination must be the meter (server 1 = 03) and "
                                         "the source our client (16 = 21); a meter ignores "
                                         "frames not addressed to it." % (
                                             hexlify(fr.dst), hexlify(fr.src))))
        elif f["dir"] == ">" and fr is not None and _swapped(fr):
            findings.append(_finding("swapped-addresses", "a frame we sent has destination "
                                     "%s and source %s: client and server addresses look "
                                     "swapped (the meter ignores it)" % (
                                         hexlify(fr.dst), hexlify(fr.src))))
    # Mode E offered (\2) but not taken.
    for i in range(len(frames)):
        ident = frames[i].get("_ident")
        if ident is None or not ident.mode_e or frames[i]["dir"] != "<":
            continue
        opt = None
        for g in frames[i + 1:]:
            if g.get("_option"):
                opt = g["_option"]
                break
        if opt is None or opt[:1] != "2":
            findings.append(_finding("mode-e-unused", "the identification has \\2: this meter "
                                     "speaks DLMS/COSEM (mode E), which gives far more than "
                                     "the text readout. Answer with ACK 2 Z 2 to switch to "
                                     "HDLC%s." % ("" if opt is None else
                                                  " (ACK %s was sent)" % " ".join(opt))))
    sent = [c for c in chunks if c[0] == ">"]
    got = [c for c in chunks if c[0] == "<"]
    if sent and not got:
        findings.append(_finding("no-answer", "bytes were sent but nothing at all came back"))


def _iec_meter_before(frames, i):
    """True when the meter identified itself by IEC before frames[i] and no mode E option
    select (ACK 2 Z 2) was sent since."""
    seen = False
    for g in frames[:i]:
        if g["dir"] == "<" and g.get("_ident") is not None:
            seen = True
        if g["dir"] == ">" and g.get("_option", "")[:1] == "2":
            seen = False
    return seen


def _swapped(fr):
    # A client address is always one byte (IEC 62056-46 addressing); a frame we send whose source
    # is longer, or that goes to a typical client SAP from server 1, has them swapped.
    if len(fr.src) > 1:
        return True
    if len(fr.dst) == 1 and (fr.dst[0] >> 1) in _CLIENT_SAPS and fr.src[0] == 0x03:
        return True
    return False

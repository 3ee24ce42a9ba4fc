"""irprobe decode: decode and explain captured meter bytes.

Input: a capture file whose lines start with `>` (we sent) or `<` (we received) followed by
hex (`< 02 31 2E ...`) or text (`< /ISk5MT174-0001<CR><LF>`, with <STX>, <ETX>, <CR>, <LF>,
<ACK>, <NAK>, <SOH>, <EOT>, <NUL> or \\xHH for control bytes); or a file of raw bytes; or
--hex HEX (taken as received). Each direction is cut into messages and every message goes
to the first describer that claims it; describers are registered per protocol (DESCRIBERS),
so HDLC frames or echo explanations can be added without touching the IEC one.
"""
import sys

from irprobe.cli import CommandError

_NAMES = {"NUL": 0, "SOH": 1, "STX": 2, "ETX": 3, "EOT": 4, "ACK": 6, "NAK": 0x15,
          "CR": 13, "LF": 10}


def add_arguments(p):
    p.add_argument("file", nargs="?", help="capture file ('-' for stdin)")
    p.add_argument("--hex", help="bytes as hex instead of a file (taken as received)")
    p.add_argument("--sent", metavar="HEX", help="with --hex: the bytes sent just before "
                   "them (so echo and unanswered requests are recognised)")
    p.add_argument("--json", action="store_true", help="machine-readable result")


# -- input ---------------------------------------------------------------------------------
def _is_hex(text):
    t = text.replace(" ", "").replace(":", "").replace("\t", "")
    if not t or len(t) % 2:
        return False
    for ch in t:
        if ch not in "0123456789abcdefABCDEF":
            return False
    return True


def _unhex(text):
    from meterproto.compat import unhexlify

    try:
        return unhexlify(text)
    except ValueError as e:
        raise CommandError("not hex: %s" % e)


def _text_bytes(text):
    """Text with <NAME> and \\xHH escapes to bytes (a plain backslash stays: `\\2` is data)."""
    out = bytearray()
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "<":
            j = text.find(">", i)
            if j > i and text[i + 1:j].upper() in _NAMES:
                out.append(_NAMES[text[i + 1:j].upper()])
                i = j + 1
                continue
        if ch == "\\" and text[i + 1:i + 2] == "x" and _is_hex(text[i + 2:i + 4]):
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
            continue
        out.extend(ch.encode("latin-1", "replace"))
        i += 1
    return bytes(out)


def parse_capture(data):
    """Capture bytes -> list of (direction, bytes); direction is '>' or '<'."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return [("<", data)]
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if lines and all(ln.lstrip()[0] in "<>" for ln in lines):
        chunks = []
        for ln in lines:
            s = ln.lstrip()
            d, body = s[0], s[1:].strip()
            chunks.append((d, _unhex(body) if _is_hex(body) else _text_bytes(body)))
        return chunks
    if lines and all(_is_hex(ln) for ln in lines):
        return [("<", _unhex(" ".join(lines)))]
    return [("<", data)]


# -- IEC 62056-21 describer ------------------------------------------------------------------
def _iec_claims(direction, data):
    for b in data[:4]:
        if b & 0x7F in (0x01, 0x02, 0x06, 0x15, 0x2F) or b == 0:
            return True
    return b"(" in data


def _iec_describe(direction, data):
    from meterproto.iec import data as dat
    from meterproto.iec import msg

    # an ACK we sent is an option select (ACK V Z Y CR LF) or a lone ACK for the next block
    i = data.find(b"\x06")
    framer = msg.Framer(option_after_ack=(direction == ">" and i >= 0
                                          and data[i + 4:i + 6] == b"\r\n"))
    items = []
    for m in framer.feed(data):
        items.append(_iec_item(m, direction, msg, dat))
    if framer.busy():
        items.append({"kind": "truncated", "protocol": "iec62056-21",
                      "text": "an unfinished message (%d bytes): the capture stops before "
                      "its end" % len(framer._buf), "values": []})
    if framer.high_bytes:
        items.append({"kind": "note", "protocol": "iec62056-21",
                      "text": "%d bytes had bit 7 set: 7E1 data read by an 8N1 port (the "
                      "parity bit shows up as bit 7); decoded as 7-bit" % framer.high_bytes,
                      "values": []})
    if framer.nul_bytes:
        items.append({"kind": "wake-up", "protocol": "iec62056-21",
                      "text": "%d NUL bytes (a battery-meter wake-up train or idle line)"
                      % framer.nul_bytes, "values": []})
    return items


def _iec_item(m, direction, msg, dat):
    k = msg.KIND_NAMES[m.kind]
    item = {"kind": k, "protocol": "iec62056-21", "values": []}
    if m.kind == msg.M_REQUEST:
        addr = m.body[2:-1].decode("ascii", "replace")
        item["text"] = "sign-on request " + ("for device %s" % addr if addr
                                             else "(any meter in front of the head)")
    elif m.kind == msg.M_IDENT:
        try:
            ident = msg.parse_identification(m.body)
        except Exception as e:
            item["text"] = "identification that does not parse: %s" % e
            return item
        rate = ("up to %d baud" % ident.max_baud) if ident.max_baud else "reserved baud char"
        item["text"] = "identification %s: manufacturer %s, mode %s, %s%s%s" % (
            ident.ident(), ident.manufacturer, ident.mode, rate,
            ", offers mode E (HDLC)" if ident.mode_e else "",
            ", 20 ms reaction allowed" if ident.fast_reaction else "")
    elif m.kind == msg.M_OPTION:
        b = m.body.decode("ascii", "replace")
        what = {"0": "data readout", "1": "programming mode", "2": "HDLC (mode E)"}
        if len(b) >= 3:
            mode_c, rate = msg.baud_for_char(b[1])
            item["text"] = "option select ACK %s: %s at %s baud" % (
                b, what.get(b[2], "mode %r" % b[2]), rate)
        else:
            item["text"] = "option select too short: %r" % b
    elif m.kind in (msg.M_DATA, msg.M_COMMAND):
        item["bcc"] = "ok" if m.bcc_ok else "wrong"
        if not m.bcc_ok:
            from meterproto.bcc import bcc

            item["bcc"] = "wrong: computed 0x%02X, message says 0x%02X" % (
                bcc(m.raw, 1, len(m.raw) - 1), m.raw[-1] & 0x7F)
        part = " (partial block, EOT)" if m.partial() else ""
        if m.kind == msg.M_COMMAND:
            cd, body = msg.split_command(m.body)
            item["text"] = "command %s%s%s, BCC %s" % (
                cd, " " + body if body else "", part, item["bcc"])
        else:
            values = []
            try:
                sets = dat.parse_block(m.body)
                values = [v.to_dict() for v in dat.to_values(sets)]
                err = dat.error_reply(sets)
            except Exception as e:
                err = "undecodable (%s)" % e
            item["values"] = values
            item["text"] = "data block%s: %d values, BCC %s%s" % (
                part, len(values), item["bcc"], (", meter says (%s)" % err) if err else "")
    elif m.kind == msg.M_ACK:
        item["text"] = "ACK (accepted / next block)"
    elif m.kind == msg.M_NAK:
        item["text"] = "NAK (repeat, or refused)"
    elif m.kind == msg.M_LINE:
        t = m.body.decode("ascii", "replace")
        item["text"] = "text line %r" % t
        if "(" in t:
            try:
                item["values"] = [v.to_dict() for v in dat.to_values(dat.parse_block(t))]
            except Exception:
                pass
    else:
        item["text"] = "garbage: %r" % m.raw[:32]
    return item


# Protocol describers, tried in order: (name, claims(direction, bytes), describe -> items).
DESCRIBERS = [("iec62056-21", _iec_claims, _iec_describe)]


def register(name, claims, describe, first=True):
    """Add a describer (e.g. HDLC); first=True tries it before the IEC one."""
    entry = (name, claims, describe)
    if first:
        DESCRIBERS.insert(0, entry)
    else:
        DESCRIBERS.append(entry)


def _register_hdlc():
    # HDLC frames (IEC 62056-46) are named by irprobe.explain, tried before the IEC describer.
    from irprobe.explain import hdlc_claims, hdlc_describe

    if not any(d[0] == "hdlc" for d in DESCRIBERS):
        register("hdlc", hdlc_claims, hdlc_describe)


_register_hdlc()


def decode(chunks):
    """(direction, bytes) chunks -> result dict: messages, values, bcc_errors."""
    from irprobe.explain import merge_chunks

    out = {"messages": [], "values": [], "bcc_errors": 0, "protocols": []}
    for d, data in merge_chunks(chunks):
        for name, claims, describe in DESCRIBERS:
            if claims(d, data):
                items = describe(d, data)
                if name not in out["protocols"]:
                    out["protocols"].append(name)
                break
        else:
            items = [{"kind": "unknown", "protocol": None, "values": [],
                      "text": "%d bytes no describer recognises" % len(data)}]
        for it in items:
            it["dir"] = d
            out["messages"].append(it)
            out["values"].extend(it.get("values") or ())
            if str(it.get("bcc", "ok")).startswith("wrong"):
                out["bcc_errors"] += 1
    return out


def run(args):
    if args.hex is not None:
        if args.file:
            raise CommandError("give a file or --hex, not both")
        if not _is_hex(args.hex.replace("\n", " ")):
            raise CommandError("--hex wants hex digits like '02 31 2E 38 03 ..'")
        chunks = [("<", _unhex(args.hex))]
        if getattr(args, "sent", None):
            if not _is_hex(args.sent.replace("\n", " ")):
                raise CommandError("--sent wants hex digits like '7E A0 07 ..'")
            chunks.insert(0, (">", _unhex(args.sent)))
    elif getattr(args, "sent", None):
        raise CommandError("--sent goes with --hex (a capture file marks sent lines with >)")
    elif args.file:
        try:
            if args.file == "-":
                data = sys.stdin.buffer.read()
            else:
                with open(args.file, "rb") as f:
                    data = f.read()
        except OSError as e:
            raise CommandError("cannot read %s: %s" % (args.file, e.strerror or e))
        chunks = parse_capture(data)
    else:
        raise CommandError("give a capture FILE or --hex HEX")
    if not any(len(b) for _, b in chunks):
        raise CommandError("nothing to decode: the input is empty")
    result = decode(chunks)
    from irprobe.explain import explain  # frame names and classic mistakes (issue 4)

    result.update(explain(chunks))
    if args.json:
        from irprobe.output import print_json

        print_json(result)
    else:
        _print(result)
    return 1 if result["bcc_errors"] else 0


def _print(result):
    from rich.console import Console

    from irprobe.output import plain_text as p

    con = Console(file=sys.stdout, highlight=False)
    arrows = {">": "sent    >", "<": "received<"}
    for it in result["messages"]:
        if it.get("protocol") == "hdlc" and result.get("frames") is not None:
            continue  # printed from the explained frames below, with the echo told apart
        con.print("%s %s" % (arrows.get(it["dir"], p(it["dir"])), p(it["text"])), markup=False)
    if result["values"]:
        from irprobe.output import reading_table

        con.print(reading_table({"values": result["values"]}, title="values"))
    for f in result.get("frames") or ():
        if f["protocol"] in ("hdlc", "echo"):
            con.print("%s %s" % (arrows.get(f["dir"], p(f["dir"])), p(f["text"])), markup=False)
    for fd in result.get("findings") or ():
        con.print("! %s: %s" % (p(fd["code"]), p(fd["text"])), markup=False)
    if result["bcc_errors"]:
        con.print("%d message(s) with a wrong BCC: the bytes were damaged on the way (hold "
                  "the head steady, shade it)" % result["bcc_errors"], markup=False)

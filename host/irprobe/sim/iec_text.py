# irprobe.sim.iec_text: the text a simulated IEC 62056-21 meter sends (host simulator, core
# subset): data sets and blocks (clause 6.5), framed messages with their BCC (6.3.3), and the
# P.01 load profile answer of programming mode (R5, IEC 62056-21 clause 6.4.5.3).
# Framing and 7-bit text are the core's (meterproto.iec.msg); the rest is meter-side text.
from meterproto.iec.msg import SOH, STX, ETX, EOT, ACK, NAK, frame, text7  # noqa: F401


def render_set(ds):
    """One data set as text: address(value*unit)(extra)... (clause 6.5)."""
    s = ds["address"] + "(" + ds["value"]
    if ds.get("unit"):
        s += "*" + ds["unit"]
    s += ")"
    for x in ds.get("extra") or ():
        s += "(" + x + ")"
    return s


def render_block(lines):
    """Readout data block: data lines then `!` CR LF (clause 6.3.7)."""
    out = []
    for line in lines:
        out.append("".join([render_set(ds) for ds in line]) + "\r\n")
    out.append("!\r\n")
    return "".join(out)


def _stamp_add(stamp, minutes):
    """Season digit + YYMMDDhhmm plus minutes, within one month (enough for a simulator)."""
    day = int(stamp[5:7])
    hh = int(stamp[7:9])
    mm = int(stamp[9:11]) + minutes
    hh += mm // 60
    mm %= 60
    day += hh // 24
    hh %= 24
    return "%s%02d%02d%02d" % (stamp[0:5], day, hh, mm)


def load_profile_rows(lp):
    """[(stamp, [values...]), ...] of a load profile description."""
    out = []
    stamp = lp["start"]
    for vals in lp["rows"]:
        out.append((stamp, vals))
        stamp = _stamp_add(stamp, lp["period"])
    return out


def load_profile_lines(lp, start="", end=""):
    """P.01 header + interval lines for rows with start <= stamp <= end (stamps compared on
    their first 11 characters: season digit + YYMMDDhhmm)."""
    rows = []
    for stamp, vals in load_profile_rows(lp):
        if start and stamp < start[0:11]:
            continue
        if end and stamp > end[0:11]:
            continue
        rows.append((stamp, vals))
    if not rows:
        return []
    head = "P.01(%s)(%s)(%d)(%d)" % (rows[0][0], lp.get("status", "00"), lp["period"],
                                     len(lp["channels"]))
    for addr, unit in lp["channels"]:
        head += "(%s)(%s)" % (addr, unit)
    out = [head]
    for stamp, vals in rows:
        out.append("".join(["(" + v + ")" for v in vals]))
    return out

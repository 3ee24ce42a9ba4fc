# bench.wirebound: the shortest time an exchange could take on the wire, from the virtual
# line's transmission log (irprobe.sim.vline: (who, start_ns, end_ns, nbytes, baud[, fmt])).
# Wire time is bytes x bits per character / baud (IEC 62056-21 6.1: 10 bits for 7E1 and 8N1).
# The meter's own reaction (the gap before each of its transmissions) is not ours to save;
# the HHU minimum reaction (clause 6.3.14: tr >= 200 ms, 20 ms when the FLAG's third letter
# is lower case) and the wake-up pause (>= 1.5 s, battery-meter annex) are imposed on us.
from meterproto.line import FMT_7E1, bits_per_char

NS = 1000000000
MS = 1000000
WAKEUP_PAUSE_MIN_MS = 1500  # battery-meter annex: pause 1.5 s to 1.7 s after the NUL train


def hhu_min_reaction_ms(manufacturer):
    """Our minimum reaction time the standard imposes for this meter's FLAG id."""
    if manufacturer and len(manufacturer) >= 3 and manufacturer[2].islower():
        return 20
    return 200


def wire_ns(nbytes, baud, fmt=FMT_7E1):
    """Exact time `nbytes` characters occupy the line, in ns (floor, like the virtual line)."""
    return nbytes * bits_per_char(fmt) * NS // baud


def bound(log, hhu_min_ms=0, wakeup_pause_ms=0, meter_who="m"):
    """Wire-time bound of one session from a transmission log.

    Sums the wire time of every transmission, the gap before each meter transmission (the
    meter's reaction, measured from the end of the line's previous transmission or from the
    session start), and hhu_min_ms before each of our transmissions that answers the meter.
    wakeup_pause_ms is added once when the session opens with a wake-up train.
    Returns a dict of ns: wire, meter_react, hhu_react, wakeup, strict (= wire + meter_react),
    standard (= strict + hhu_react + wakeup), plus counts.
    """
    wire = react = hhu = 0
    hhu_turns = meter_turns = 0
    prev_end = 0
    prev_who = None
    for entry in log:
        who, start, end, nbytes, baud = entry[0], entry[1], entry[2], entry[3], entry[4]
        fmt = entry[5] if len(entry) > 5 else FMT_7E1
        wire += wire_ns(nbytes, baud, fmt)
        if who == meter_who:
            if prev_who != meter_who:
                meter_turns += 1
            if start > prev_end:  # any silence before the meter speaks is its own doing
                react += start - prev_end
        elif prev_who == meter_who:
            hhu_turns += 1
            hhu += hhu_min_ms * MS
        if end > prev_end:
            prev_end = end
        prev_who = who
    wake = wakeup_pause_ms * MS
    strict = wire + react
    return {"wire": wire, "meter_react": react, "hhu_react": hhu, "wakeup": wake,
            "strict": strict, "standard": strict + hhu + wake,
            "meter_turns": meter_turns, "hhu_turns": hhu_turns}


def transcript_log(transcript, baud, meter_react_ms=0, client_dir=">", fmt=FMT_7E1):
    """A pty transcript [(seconds, direction, bytes)] of another client, laid out back to
    back on a line at `baud` with the meter reacting after meter_react_ms and the client
    after zero: the same wire model, and the best case for that client."""
    log = []
    t = 0
    prev = None
    for _sec, direction, data in transcript:
        who = "c" if direction == client_dir else "m"
        if who == "m" and prev != "m":
            t += meter_react_ms * MS
        end = t + wire_ns(len(data), baud, fmt)
        log.append((who, t, end, len(data), baud, fmt))
        t = end
        prev = who
    return log

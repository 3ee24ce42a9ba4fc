# meterproto.iec.wakeup: battery-meter wake-up trains as meter-profile data (core).
# IEC 62056-21 annex (battery-operated devices): NUL characters at 300 baud 7E1 for 2.1-2.3 s,
# a 1.5-1.7 s pause, then the sign-on. Vendors want other trains; they are data, not code.
from meterproto.errors import LocalProtocolError

# name -> (NUL count, pause ms, baud). At 300 baud 7E1 one character takes 33.3 ms.
WAKEUPS = {
    # 66 x 33.3 ms = 2.2 s of NULs, then 1.6 s of silence: the middle of the standard windows.
    "standard": (66, 1600, 300),
    # Shorter train that heat meters of the UH50/T550 family accept (ESPHome's uh50 option
    # uses about 40 NULs); also faster for meters that wake on the first characters. [P]
    "fast": (40, 1600, 300),
    "uh50": (40, 1600, 300),
}


def wakeup_plan(spec):
    """None | name | (nul_count, pause_ms[, baud]) -> (nul_count, pause_ms, baud) or None."""
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec not in WAKEUPS:
            raise LocalProtocolError("unknown wake-up %r: use one of %s or a (NUL count, "
                                     "pause ms) pair" % (spec, ", ".join(sorted(WAKEUPS))))
        return WAKEUPS[spec]
    try:
        n = int(spec[0])
        pause = int(spec[1])
        baud = int(spec[2]) if len(spec) > 2 else 300
    except (TypeError, ValueError, IndexError):
        raise LocalProtocolError("a wake-up is a name or a (NUL count, pause ms) pair, got %r"
                                 % (spec,))
    if not (0 < n <= 2000 and 0 <= pause <= 10000):
        raise LocalProtocolError("wake-up of %d NULs and %d ms pause is out of range "
                                 "(1-2000 NULs, 0-10000 ms)" % (n, pause))
    return (n, pause, baud)


def nul_train(n):
    return bytes(n)

# probe.doctor_run: the first-contact diagnosis on the probe (device side). A long button
# press, or the host's DOCTOR command (meterproto.link.channel), runs the meterproto.doctor
# ladder through the app's stepper; with an IR carrier on the board it runs twice, carrier off and
# on, and both results are kept. The verdict picks the LED pattern (docs/DOCTOR.md).

LONG_PRESS_MS = 2000  # the press that started a read, still held: diagnose instead
SETTLE_MS = 1600  # quiet line before a ladder that follows a read or another ladder (6.3.14)
# Verdict -> LED pattern. The three a person must tell apart at a glance: read OK, only our
# own echo, no answer at all. Every other cause flashes "error"; the display and
# `irprobe doctor --probe` say which.
LED = {"ok": "success", "echo-only": "echo-only", "silent": "no-answer"}
_RANK = ("ok", "needs-wakeup", "needs-address", "bit-errors", "wrong-framing", "echo-only",
         "silent", "error")
_REQUEST_KEYS = ("address", "loopback", "try_hdlc", "readout_check", "wakeup")


def options(s, request=None):
    """Doctor keyword options from the read settings and a host request (which wins)."""
    kw = {"address": s.get("address") or None, "wakeup": s.get("wakeup") or "standard"}
    for k in _REQUEST_KEYS:
        if request and k in request:
            kw[k] = request[k]
    return kw


def _rank(r):
    v = r.get("verdict")
    return _RANK.index(v) if v in _RANK else len(_RANK)


def combine(runs):
    """One result from [(carrier_state, result)]: the better verdict leads and both are
    kept under "carrier". carrier_state None: the board has no carrier (one run)."""
    if len(runs) == 1:
        return runs[0][1]
    by = {}
    for state, r in runs:
        by["on" if state else "off"] = r
    off, on = by["off"], by["on"]
    best = off if _rank(off) <= _rank(on) else on
    out = {"verdict": best["verdict"], "text": best["text"], "steps": best["steps"],
           "carrier": by}
    if off["verdict"] != on["verdict"]:
        good = "off" if best is off else "on"
        other = on if best is off else off
        out["text"] += (" (This is with the IR carrier %s; with it %s the verdict is %s: set "
                        "the board's carrier %s for this meter.)" % (
                            good, "on" if good == "off" else "off", other["verdict"], good))
    return out


class DoctorRun:
    """The ladder(s) of one diagnosis. kw: meterproto.doctor.ladder.Doctor options; carrier: the
    board's carrier (start/stop) or None."""

    def __init__(self, kw, carrier=None):
        from meterproto.doctor.ladder import Doctor

        Doctor(**kw)  # bad options fail here, before anything is sent
        self.kw = kw
        self.carrier = carrier
        self.states = [False, True] if carrier is not None else [None]
        self.runs = []
        self.result = None

    def next_machine(self):
        """Set the carrier for the next ladder and return its Doctor machine."""
        from meterproto.doctor.ladder import Doctor

        state = self.states[len(self.runs)]
        if state is not None:
            if state:
                self.carrier.start()
            else:
                self.carrier.stop()
        m = Doctor(**self.kw)
        self.kw["settle_ms"] = SETTLE_MS  # the next ladder waits for the meter to be idle
        return m

    def finished(self, machine):
        """Record a finished ladder; True once all have run (then self.result is set)."""
        if machine.error is None and isinstance(machine.result, dict):
            r = machine.result
        else:
            r = {"verdict": "error", "text": "the doctor stopped: %s" % machine.error,
                 "steps": []}
        self.runs.append((self.states[len(self.runs)], r))
        if len(self.runs) < len(self.states):
            return False
        if self.states[0] is not None:
            self.carrier.start()  # hal_mp only builds a carrier that is enabled: back on
        self.result = combine(self.runs)
        return True

    def led(self):
        return LED.get(self.result["verdict"], "error")

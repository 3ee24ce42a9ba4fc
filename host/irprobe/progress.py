"""irprobe.progress: what a long command is doing now, on the terminal (rich, on stderr).

Shown only when stderr is a terminal and the command prints no JSON; otherwise every call
is a no-op, so scripts and pipes see exactly what they saw before. A meter session's phase
(sign-on, baud change, readout, association view, profile rows n/N) is read from the
session Machine between the driver's I/O steps: the core stays free of display code.
"""
import sys
import time


def wanted(json_output=False, stream=None):
    s = stream or sys.stderr
    return not json_output and hasattr(s, "isatty") and s.isatty()


class Display:
    """One transient status line: a phase text, and a bar when the amount is known."""

    def __init__(self, enabled, label):
        self.enabled = enabled
        self.label = label
        self._bar = None
        self._task = None
        self._last = None

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, Progress, SpinnerColumn, TextColumn,
                                       TimeElapsedColumn)

            self._bar = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                 BarColumn(), TextColumn("{task.fields[count]}"),
                                 TimeElapsedColumn(), console=Console(stderr=True),
                                 transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=None, count="")
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None
        return False

    def update(self, phase, done=None, total=None):
        if self._bar is None:
            return
        key = (phase, done, total)
        if key == self._last:
            return
        self._last = key
        from irprobe.output import safe_text

        count = "%d/%d" % (done or 0, total) if total is not None else (
            "%d" % done if done else "")
        self._bar.update(self._task, description="%s: %s" % (self.label, safe_text(phase)),
                         completed=done or 0, total=total, count=count)


_IEC_PHASES = {"wake-up": "wake-up", "wait identification": "sign-on",
               "reaction": "option select", "wait data": "readout",
               "wait P0": "programming mode", "wait reply": "programming mode",
               "closing": "closing", "pause before retry": "retrying the sign-on"}
_DLMS_PHASES = {"connect": "HDLC connect", "associate": "association",
                "hls": "authentication", "object-list": "association view",
                "attributes": "registers", "profile": "profile rows",
                "release": "release", "disconnect": "disconnect"}


def session_phase(m):
    """(phase text, done, total) of a session Machine (IEC, DLMS, auto, doctor), as far as
    it shows; read-only and forgiving, so a changed Machine only loses detail."""
    for _ in range(4):  # auto session / doctor -> the sub-session running now
        step = getattr(m, "_step", None)
        if step is not None and getattr(step, "name", None):
            sub = getattr(m, "_sub", None)
            if sub is None:
                return "doctor: " + step.name, None, None
            text, done, total = session_phase(sub)
            return "doctor: %s, %s" % (step.name, text), done, total
        sub = getattr(m, "sub", None)
        if sub is None or sub is m:
            break
        m = sub
    names = getattr(type(m), "__module__", "")
    state = getattr(m, "state", None)
    if not isinstance(state, int):
        return "talking to the meter", None, None
    mod = sys.modules.get(names)
    table = getattr(mod, "NAMES", ())
    name = table[state] if 0 <= state < len(table) else "?"
    if names.endswith("iec.client"):
        text = _IEC_PHASES.get(name, name)
        if getattr(m, "baud", 300) != 300 and text == "readout":
            text = "readout at %d baud" % m.baud
        return text, None, None
    text = _DLMS_PHASES.get(name, name)
    if name == "profile":
        p = getattr(m, "_profile", None) or {}
        rows = len(p.get("rows") or ())
        st = getattr(m, "_stream", None)
        left = getattr(st, "left", -1) if st is not None else -1
        total = rows + left if left >= 0 else None
        return "profile %s rows" % (p.get("obis") or ""), rows, total
    if name == "object-list":
        return text, None, None
    return text, None, None


class WatchedPort:
    """A driver port that updates the display after every I/O step (same interface)."""

    def __init__(self, port, machine, display):
        self._port = port
        self._machine = machine
        self._display = display
        self._next = 0.0

    def __getattr__(self, name):
        return getattr(self._port, name)

    def _tick(self, force=False):
        now = time.monotonic()
        if force or now >= self._next:
            self._next = now + 0.1
            self._display.update(*session_phase(self._machine))

    def write(self, data):
        r = self._port.write(data)
        self._tick()
        return r

    def set_line(self, baud, fmt):
        r = self._port.set_line(baud, fmt)
        if baud != 300:
            self._display.update("baud change to %d" % baud)
        else:
            self._tick(True)
        return r

    def read(self, deadline_ms):
        r = self._port.read(deadline_ms)
        self._tick()
        return r

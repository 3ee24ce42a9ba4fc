# probe.flashlog: notes for the user (boot fallbacks, faults), printed on the REPL serial and
# kept in /irprobe.log on the flash, rotated and rate-limited so a fault loop cannot wear the
# flash out (device side).
import sys

from probe import fsys

LOG_PATH = "/irprobe.log"
LOG_MAX = 4096  # bytes; the log is renamed to .old past this
_log_writes = [0]  # flash writes this boot (at most 20)


def log(message, exc=None, to_flash=True):
    """A note for the user: printed on the REPL serial and appended to /irprobe.log (rotated
    to .old past LOG_MAX; at most 20 flash writes per boot, so a fault loop cannot wear it)."""
    print("irprobe: " + message)
    if exc is not None:
        _print_exception(exc)
    if not to_flash or _log_writes[0] >= 20:
        return
    _log_writes[0] += 1
    import os

    path = fsys.ROOT + LOG_PATH
    try:
        try:
            if os.stat(path)[6] > LOG_MAX:
                os.rename(path, path + ".old")
        except OSError:
            pass  # no log yet
        f = open(path, "a")
        try:
            f.write(message + "\n")
        finally:
            f.close()
    except OSError:
        pass  # flash full or read-only: the printed note has to do


def describe(e):
    """An exception in one line: its type, and its message when it has one."""
    return "%s: %s" % (type(e).__name__, e) if str(e) else type(e).__name__


def _print_exception(e):
    pe = getattr(sys, "print_exception", None)  # MicroPython
    if pe is not None:
        pe(e)
    else:
        import traceback

        traceback.print_exception(type(e), e, e.__traceback__)

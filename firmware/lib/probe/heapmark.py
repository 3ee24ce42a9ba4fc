# probe.heapmark: the probe's heap low-water mark (device side), sampled where memory peaks:
# every step of a meter session (the UART port's read), every answer of the USB server and
# after each commit. The mark is the live heap: free bytes after a collect, so garbage that
# the next automatic collect would free does not count. On CPython (no gc.mem_free) it is idle.
import gc

_free = getattr(gc, "mem_free", None)
_alloc = getattr(gc, "mem_alloc", None)

# [lowest since boot, lowest since mark_reset()]; None until the first sample.
_low = [None, None]
# [what runs now: a name or a function giving one, where the session's low was set]: the
# host sees which phase of a read sets the low point (issue 12).
_at = [None, None]


def at(where):
    """Name the phase that runs now (a str, or a function called when a new low is set)."""
    _at[0] = where


def sample():
    """Take a sample; returns the free heap now (None on CPython).

    A collect costs milliseconds, so it runs only when the uncollected figure is below a
    mark already: free heap after a collect is at least the figure before it, so a sample
    above both marks cannot lower either of them.
    """
    if _free is None:
        return None
    f = _free()
    b, s = _low
    if b is not None and s is not None and f >= b and f >= s:
        return f
    gc.collect()
    f = _free()
    if b is None or f < b:
        _low[0] = f
    if s is None or f < s:
        _low[1] = f
        w = _at[0]
        _at[1] = w() if callable(w) else w
    return f


def mark_reset():
    """Start a new session mark (a take, a sync): the next samples set it."""
    _low[1] = None
    _at[1] = None
    return sample()


def low():
    """Lowest free heap since the last mark_reset() (bytes, or None)."""
    return _low[1]


def report():
    """{"free", "total", "low_boot", "low"} in bytes for the host (the probe status, TAKE),
    and "low_at": the phase that set "low"."""
    if _free is None:
        return None
    f = sample()
    return {"free": f, "total": f + _alloc() if _alloc is not None else None,
            "low_boot": _low[0], "low": _low[1], "low_at": _at[1]}


# The DLMS client proposes a max PDU (client-max-receive-pdu-size, IEC 62056-5-3 9.3.3)
# that the heap can take: the reassembled APDU plus its decoded elements (and, ciphered, its
# deciphered copies) cost a few times its size, and RESERVE stays free for the commit and the
# USB answer. code: the bytecode the read is still to load (MicroPython 1.24 holds it in RAM).
PDU_MIN = 256
PDU_MAX = 1024
RESERVE = 64 * 1024
# What the DLMS read loads, measured with gc.mem_free() on the emulated Pico (MicroPython
# 1.24.1, -O3 .mpy): the client, HDLC and A-XDR; the ciphering adds security, aes_gcm, hls.
# Counted with the code: the reading the session builds (a day of load profile, the
# association view) is on the heap beside it at the end.
CODE_DLMS = (60 + 16) * 1024
CODE_CIPHER = 16 * 1024


def max_pdu(free=None, code=0):
    """The largest APDU this probe should ask for now (bytes, a multiple of 64)."""
    if free is None:
        if _free is None:
            return PDU_MAX  # CPython: no budget to keep
        gc.collect()
        free = _free()
    n = (free - code - RESERVE) // 8
    n = PDU_MIN if n < PDU_MIN else (PDU_MAX if n > PDU_MAX else n)
    return n - n % 64

# Virtual clock for firmware runs on the MicroPython unix port (tests only): install() puts
# this module in sys.modules["time"], so the firmware's ticks_ms/sleep_ms run on simulated
# time. A sleep moves the clock; every ticks call moves it by 10 us (code takes time too).
# STOP_MS: once the clock passes it, a sleep raises KeyboardInterrupt (the host's Ctrl-C).
import sys

import time as _real  # the real module: import vtime before install()

_PERIOD = 1 << 30
_NS = [0]
STOP_MS = [None]
T0_S = [1700000000]
ON_SLEEP = [None]  # callable(now_ms) run on every sleep (e.g. a meter link's heartbeat)


def install(stop_ms=None):
    STOP_MS[0] = stop_ms
    sys.modules["time"] = sys.modules[__name__]


def now_ns():
    return _NS[0]


def advance_to_ns(t_ns):
    if t_ns > _NS[0]:
        _NS[0] = t_ns


def ticks_ms():
    _NS[0] += 10000
    return (_NS[0] // 1000000) % _PERIOD


def ticks_us():
    _NS[0] += 10000
    return (_NS[0] // 1000) % _PERIOD


def ticks_add(t, delta):
    return (t + delta) % _PERIOD


def ticks_diff(a, b):
    d = (a - b) % _PERIOD
    if d >= _PERIOD // 2:
        d -= _PERIOD
    return d


def sleep_ms(ms):
    _NS[0] += int(ms) * 1000000
    if ON_SLEEP[0] is not None:
        ON_SLEEP[0](_NS[0] // 1000000)
    if STOP_MS[0] is not None and _NS[0] // 1000000 >= STOP_MS[0]:
        STOP_MS[0] = None  # once: the firmware's clean-up may sleep again
        raise KeyboardInterrupt


def sleep_us(us):
    _NS[0] += int(us) * 1000


def sleep(s):
    sleep_ms(int(s * 1000))


def time():
    return T0_S[0] + _NS[0] // 1000000000


def gmtime(t=None):
    return _real.gmtime(time() if t is None else t)


def localtime(t=None):
    return _real.localtime(time() if t is None else t)


def mktime(t):
    return _real.mktime(t)

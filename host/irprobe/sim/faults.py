# irprobe.sim.faults: the first-contact faults as data, shared by the virtual-line tests and
# `irprobe simulate --fault NAME` (host simulator, core subset: runs on MicroPython too).
# Each fault is what a person meets in the field when a meter stays silent; the doctor
# (meterproto.doctor.ladder) must name it. IEC 62056-21 6.3.1 sign-on, annex wake-up, mode D push.
from irprobe.sim.vline import Faults

# name -> (description, line faults as irprobe.sim.vline.Faults keywords, profile changes,
#          wrapper). Profile changes are applied to a copy of whichever IEC profile is
#          chosen; the wrapper (a name in _WRAPPERS) changes the meter's behaviour.
FAULTS = {
    "unpowered": ("the meter has no power: it hears nothing and says nothing",
                  {"unpowered": True}, None, None),
    "crosstalk": ("the probe sees its own LED (optical crosstalk) and the meter does not "
                  "answer", {"unpowered": True, "echo": True}, None, None),
    "crosstalk-bit7": ("crosstalk seen through a receiver set to 8N1 (the echo comes back "
                       "with the parity in bit 7), the meter does not answer",
                       {"unpowered": True, "echo": True, "echo_bit7": True}, None, None),
    "echo": ("the probe sees its own LED but the meter answers normally", {"echo": True},
             None, None),
    "adapter-8n1": ("the reader's serial adapter cannot do 7E1 and reads everything as 8N1",
                    {"client_8n1": True}, None, None),
    "push-9600": ("a mode D meter pushing its data by itself at 9600 baud, never answering "
                  "a sign-on", {}, {"mode": "D", "push_baud": 9600, "push_first_ms": 300,
                                   "push_gap_ms": 1000}, None),
    "asleep": ("a battery meter that sleeps until it gets a wake-up train of NULs", {},
               {"wakeup": "standard"}, None),
    "misaligned": ("the head is not centred on the meter's LED: random bit errors",
                   {"byte_error_ppm": 8000, "seed": 7}, None, None),
    "address-only": ("the meter answers only a sign-on that carries its address "
                     "(/?ADDRESS!)", {}, None, "address-only"),
}

FALLBACK_ADDRESS = "12345678"


def fault_names():
    names = list(FAULTS)
    names.sort()
    return names


def describe(name):
    return _entry(name)[0]


def _entry(name):
    e = FAULTS.get(name)
    if e is None:
        raise KeyError("no simulated fault %r; known: %s" % (name, ", ".join(fault_names())))
    return e


def apply_profile(name, profile):
    """A copy of `profile` with the fault's changes (the profile itself is not touched)."""
    e = _entry(name)
    p = {}
    for k in profile:
        p[k] = profile[k]
    if e[2]:
        for k in e[2]:
            p[k] = e[2][k]
    if e[3] == "address-only" and not p.get("address"):
        p["address"] = FALLBACK_ADDRESS
    return p


def changes_meter(name):
    """True when the fault changes the meter (its profile or behaviour), not just the line."""
    e = _entry(name)
    return bool(e[2]) or e[3] is not None


def line_faults(name, seed=None):
    """A fresh vline Faults for the fault (it holds random state, so one per session)."""
    kw = {}
    kw.update(_entry(name)[1])
    if seed is not None:
        kw["seed"] = seed
    return Faults(**kw)


def pty_faults(name):
    """The fault as the keyword dict irprobe.sim.pty_server.PtyServer(faults=...) takes."""
    out = {}
    kw = _entry(name)[1]
    for k in kw:
        if k != "seed":
            out[k] = kw[k]
    return out


def wrap_meter(name, meter):
    """The meter machine with the fault's behaviour change, if it has one."""
    w = _entry(name)[3]
    if w is None:
        return meter
    return _WRAPPERS[w](meter)


def make_faulty_meter(name, profile):
    """(meter machine, profile used) for a fault on a profile (dict or name)."""
    from irprobe.sim.profiles import get_profile, make_meter

    if isinstance(profile, str):
        profile = get_profile(profile)
    p = apply_profile(name, profile)
    return wrap_meter(name, make_meter(p)), p


class AddressOnly:
    """Wraps a meter so that a sign-on without an address (`/?!`) never reaches it
    (IEC 62056-21 6.3.1 lets a meter require its address, e.g. on a shared bus).
    Only the 300 baud sign-on is inspected; everything else passes unchanged."""

    def __init__(self, meter):
        self.meter = meter
        self._hold = bytearray()
        self._holding = False

    @property
    def baud(self):
        return self.meter.baud

    @property
    def fmt(self):
        return self.meter.fmt

    @property
    def done(self):
        return self.meter.done

    def start(self, now_ms):
        self.meter.start(now_ms)

    def next_action(self):
        return self.meter.next_action()

    def deadline_ms(self):
        return self.meter.deadline_ms()

    def timeout(self, now_ms):
        self.meter.timeout(now_ms)

    def receive(self, data, now_ms):
        if self.meter.baud != 300:
            self.meter.receive(data, now_ms)
            return
        out = bytearray()
        for b in data:
            c = b & 0x7F
            if self._holding:
                self._hold.append(b)
                if c == 0x0A or len(self._hold) > 40:
                    req = bytes([x & 0x7F for x in self._hold])
                    if not req.startswith(b"/?!"):
                        out.extend(self._hold)
                    self._hold = bytearray()
                    self._holding = False
            elif c == 0x2F:  # '/': a request may be starting
                self._holding = True
                self._hold = bytearray((b,))
            else:
                out.append(b)
        if out:
            self.meter.receive(bytes(out), now_ms)


_WRAPPERS = {"address-only": AddressOnly}

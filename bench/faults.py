# bench.faults: every simulated meter read through line faults on the virtual line
# (irprobe.sim.vline.Faults), counting completed sessions, retries, clean errors and, above
# all, values that differ from what the meter holds (profile "expected"). Host bench only.
import time

from meterproto.compat import unhexlify
from meterproto.driver import run
from meterproto.errors import ProtocolError
from meterproto.iec.client import IecClient
from meterproto.dlms.client import DlmsClient
from meterproto.session.auto import AutoSession
from meterproto.line import FMT_7E1, FMT_8N1
from meterproto.machine import Machine
from irprobe.sim import profiles
from irprobe.sim.vline import Faults, VirtualLine

BER = 1000  # ppm: a byte error rate of 1e-3
# The client's port reads the 7E1 phases as 8N1 and hands the parity bit over in bit 7, so
# the IEC framer checks every character (meterproto.iec.msg.PARITY_AUTO); False: a port
# that strips parity (a true 7E1 UART), where only the BCC guards the data.
PARITY_BIT7 = True

# name -> (Faults keyword arguments as a function of the profile, must the session complete)
KINDS = (
    ("bit errors 1e-3", lambda p: {"byte_error_ppm": BER}, True),
    ("dropped bytes 1e-3", lambda p: {"drop_ppm": BER}, True),
    ("duplicated bytes 1e-3", lambda p: {"dup_ppm": BER}, True),
    # The virtual line puts a burst into the first byte received after each period, so a
    # burst always hits a message; a period shorter than a retry cycle would hit every retry.
    ("noise bursts 8 B / 10 s", lambda p: {"burst_every_ms": 10000, "burst_len": 8}, True),
    # Late, but inside the standard's reaction window (IEC 62056-21 6.3.14: tr <= 1500 ms).
    ("late meter (1.45 s)", lambda p: {LATE: 1450}, True),
    ("meter stops mid-frame", lambda p: {"stop_after": 300}, False),
)
LATE = "late"  # not a vline fault: the meter itself answers late (see _meter)


class LateMeter(Machine):
    """A DLMS meter that starts every answer `late_ms` later than it would (the simulator's
    own HDLC answers are immediate); its timers are not involved, so delaying the actions
    models it. IEC meters get a longer reaction_ms in their profile instead."""

    def __init__(self, inner, late_ms):
        Machine.__init__(self, inner.baud, inner.fmt)
        self.inner = inner
        self.late = late_ms
        self.held = []  # (due_ms, action)

    def start(self, now_ms):
        self.inner.start(now_ms)
        self._collect(now_ms)

    def receive(self, data, now_ms):
        self.inner.receive(data, now_ms)
        self._collect(now_ms)

    def timeout(self, now_ms):
        while self.held and self.held[0][0] <= now_ms:
            self._actions.append(self.held.pop(0)[1])
        d = self.inner.deadline_ms()
        if d is not None and d <= now_ms:
            self.inner.timeout(now_ms)
        self._collect(now_ms)

    def _collect(self, now_ms):
        while True:
            a = self.inner.next_action()
            if a is None:
                break
            due = now_ms + self.late
            if self.held and self.held[-1][0] > due:
                due = self.held[-1][0]
            self.held.append((due, a))

    def deadline_ms(self):
        d = self.inner.deadline_ms()
        if self.held and (d is None or self.held[0][0] < d):
            d = self.held[0][0]
        return d


def profile_names():
    return profiles.list_profiles()


def _dlms_opts(p):
    o = {"client_sap": p["client_sap"], "server_upper": p["server_upper"],
         "server_lower": p["server_lower"], "auth": p["auth"], "password": p["password"]}
    if p.get("ek"):  # HLS-GMAC and/or the ciphered context (security suite 0)
        o["system_title"] = b"IRPROBE1"
        o["ek"] = unhexlify(p["ek"])
        o["ak"] = unhexlify(p["ak"])
    return o


def _meter(p, late_ms):
    if not late_ms:
        return profiles.make_meter(p)
    if p["protocol"] == "dlms":
        # the mode E identification already comes after 200 ms: stay inside 1500 ms
        return LateMeter(profiles.make_meter(p), late_ms - (200 if p["opening"] == "e" else 0))
    q = dict(p)
    q["reaction_ms"] = late_ms
    return profiles.make_meter(q)


def read(name, faults=None, late_ms=0):
    """One session of our client against profile `name` -> (reading, error, client, line)."""
    p = profiles.get_profile(name)
    meter = _meter(p, late_ms)
    if p["protocol"] == "dlms":
        if p["opening"] == "e":
            o = _dlms_opts(p)
            client = AutoSession(mode="e", client_sap=o["client_sap"],
                                 server_upper=o["server_upper"], server_lower=o["server_lower"],
                                 password=o["password"])
            line = VirtualLine(meter, baud=300, fmt=FMT_7E1, faults=faults,
                               parity_bit7=PARITY_BIT7)
        else:
            client = DlmsClient(**_dlms_opts(p))
            line = VirtualLine(meter, baud=9600, fmt=FMT_8N1, faults=faults)
    else:
        client = IecClient(**profiles.client_options(p))
        line = VirtualLine(meter, faults=faults, parity_bit7=PARITY_BIT7)
    try:
        return run(client, line), None, client, line
    except ProtocolError as e:
        return None, e, client, line


def mismatches(name, reading):
    """What the reading got wrong against the profile: [text], empty when all is right."""
    from irprobe.sim.dlms_profiles import expected_rows
    p = profiles.get_profile(name)
    bad = []
    got = [(v.obis, v.value, v.unit) for v in reading.values]
    if p["protocol"] == "dlms":
        want = [(e["obis"], e["value"], e["unit"]) for e in p["expected"]["values"]]
        for g in got:
            if g not in want:
                bad.append("value %s %r %r" % g)
        for w in want:
            if w not in got:
                bad.append("missing %s" % w[0])
        rows = []
        for lp in reading.profiles or ():
            rows += lp["rows"]
        if rows != expected_rows(p):
            bad.append("load profile rows differ (%d rows)" % len(rows))
    else:
        want = [(e["obis"], e["value"], e["unit"]) for e in p["expected"]]
        if got != want:
            for g in got:
                if g not in want:
                    bad.append("value %s %r %r" % g)
            if not bad:
                bad.append("%d of %d values" % (len(got), len(want)))
    return bad


def _retries(client, clean_round_trips):
    """IEC: sign-on retries + NAKs (repeat requests). DLMS: round trips beyond a clean read."""
    if isinstance(client, IecClient):
        return client.retries_used + sum(1 for n in client.notes if "(NAK)" in n)
    sub = getattr(client, "sub", None) or client
    rt = getattr(sub, "round_trips", None)
    if rt is None:
        return 0
    return max(0, rt - clean_round_trips)


def run_kind(names, make, must_complete, seeds, log=None):
    """-> {"sessions","completed","clean_errors","corrupt_stored","retries","failures":{}}."""
    st = {"sessions": 0, "completed": 0, "clean_errors": 0, "corrupt_stored": 0, "retries": 0,
          "max_sim_s": 0.0, "failures": {}}
    for name in names:
        p = profiles.get_profile(name)
        _r, _e, clean, _l = read(name)
        clean_rt = getattr(getattr(clean, "sub", None) or clean, "round_trips", 0) or 0
        for seed in seeds:
            kw = make(p)
            late = kw.pop(LATE, 0)
            kw["seed"] = seed * 7919 + len(name) * 131 + ord(name[-1])  # uncorrelated profiles
            reading, err, client, line = read(name, Faults(**kw), late)
            st["sessions"] += 1
            sim_s = line.now / 1e9
            if sim_s > st["max_sim_s"]:
                st["max_sim_s"] = sim_s
            if reading is not None:
                st["completed"] += 1
                st["retries"] += _retries(client, clean_rt)
                bad = mismatches(name, reading)
                if bad:
                    st["corrupt_stored"] += 1
                    st["failures"].setdefault(name, []).append("seed %d: CORRUPT %s"
                                                               % (seed, "; ".join(bad[:3])))
            else:
                st["clean_errors"] += 1
                if must_complete:
                    st["failures"].setdefault(name, []).append("seed %d: %s" % (seed, err))
    return st


def run_all(seeds_main=40, seeds_other=10, log=print):
    """Every fault kind over every profile -> (rows for the table, headline dict)."""
    names = profile_names()
    rows = []
    head = None
    for label, make, must in KINDS:
        t = time.time()
        seeds = range(1, (seeds_main if label.startswith("bit errors") else seeds_other) + 1)
        st = run_kind(names, make, must, seeds)
        st["kind"] = label
        st["must_complete"] = must
        st["seconds_real"] = round(time.time() - t, 1)
        rows.append(st)
        if head is None:
            head = st
    return rows, head


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description="Read every simulated meter through line faults "
                                 "and count completed, failed and corrupt sessions.")
    ap.add_argument("--seeds", type=int, default=40, help="seeds for bit errors (default 40)")
    ap.add_argument("--seeds-other", type=int, default=10, help="seeds for other faults")
    ap.add_argument("--no-parity", action="store_true",
                    help="the port strips the 7E1 parity bit (only the BCC guards IEC data)")
    a = ap.parse_args(argv)
    global PARITY_BIT7
    PARITY_BIT7 = not a.no_parity
    rows, _head = run_all(a.seeds, a.seeds_other)
    for r in rows:
        print("%-24s %4d sessions %4d completed %3d errors %2d corrupt %4d retries"
              % (r["kind"], r["sessions"], r["completed"], r["clean_errors"],
                 r["corrupt_stored"], r["retries"]))
        for name in sorted(r["failures"]):
            for f in r["failures"][name]:
                print("    %s %s" % (name, f[:140]))


if __name__ == "__main__":
    main()

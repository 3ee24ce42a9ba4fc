# bench.faults: every simulated meter read through line faults on the virtual line
# (irprobe.sim.vline.Faults), counting completed sessions, retries, clean errors and, above
# all, values that differ from what the meter holds (profile "expected"). Host bench only.
import time

from meterproto.compat import unhexlify
from meterproto.driver import run
from meterproto.errors import ProtocolError
from meterproto.iec21_client import IecClient
from meterproto.dlms_client import DlmsClient
from meterproto.auto_session import AutoSession
from meterproto.line import FMT_7E1, FMT_8N1
from irprobe.sim import profiles
from irprobe.sim.vline import Faults, VirtualLine

BER = 1000  # ppm: a byte error rate of 1e-3

# name -> (Faults keyword arguments as a function of the profile, must the session complete)
KINDS = (
    ("bit errors 1e-3", lambda p: {"byte_error_ppm": BER}, True),
    ("dropped bytes 1e-3", lambda p: {"drop_ppm": BER}, True),
    ("duplicated bytes 1e-3", lambda p: {"dup_ppm": BER}, True),
    ("noise bursts 8 B / 2 s", lambda p: {"burst_every_ms": 2000, "burst_len": 8}, True),
    # late, but inside the standard's 1500 ms reaction window (IEC 62056-21 6.3.14)
    ("late meter (1450 ms)", lambda p: {"late_ms": max(0, 1450 - _reaction(p))}, True),
    ("meter stops mid-frame", lambda p: {"stop_after": 300}, False),
)


def _reaction(p):
    return p.get("reaction_ms", 200) if p.get("protocol") != "dlms" else 0


def profile_names():
    return profiles.list_profiles()


def _dlms_opts(p):
    o = {"client_sap": p["client_sap"], "server_upper": p["server_upper"],
         "server_lower": p["server_lower"], "auth": p["auth"], "password": p["password"]}
    if p["auth"] == "hls-gmac":
        o["system_title"] = b"IRPROBE1"
        o["ek"] = unhexlify(p["ek"])
        o["ak"] = unhexlify(p["ak"])
    return o


def read(name, faults=None):
    """One session of our client against profile `name` -> (reading, error, client, line)."""
    p = profiles.get_profile(name)
    meter = profiles.make_meter(p)
    if p["protocol"] == "dlms":
        if p["opening"] == "e":
            o = _dlms_opts(p)
            client = AutoSession(mode="e", client_sap=o["client_sap"],
                                 server_upper=o["server_upper"], server_lower=o["server_lower"],
                                 password=o["password"])
            line = VirtualLine(meter, baud=300, fmt=FMT_7E1, faults=faults)
        else:
            client = DlmsClient(**_dlms_opts(p))
            line = VirtualLine(meter, baud=9600, fmt=FMT_8N1, faults=faults)
    else:
        client = IecClient(**profiles.client_options(p))
        line = VirtualLine(meter, faults=faults)
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
            kw["seed"] = seed
            reading, err, client, line = read(name, Faults(**kw))
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

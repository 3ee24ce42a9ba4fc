# bench/dlms_peers.py: round trips and bytes of the same full DLMS read (association view,
# every register with scaler and unit, clock, data objects, one day of the load profile) by
# our client and by the two peer clients (dlms-cosem, Gurux), per meter: every simulated DLMS
# meter of irprobe.sim, and a meter served by gurux-dlms's own server classes. Each client
# reads over a pty; round trips and bytes are counted from the transcript (interop_harness).
# Usage: python bench/dlms_peers.py [--json]   (also part of `make bench`)
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for p in (os.path.join(ROOT, "tests", "host"), os.path.join(ROOT, "host"),
          os.path.join(ROOT, "firmware", "lib")):
    if p not in sys.path:
        sys.path.insert(0, p)

CLIENTS = ("irprobe", "dlms-cosem", "gurux")
GURUX_METER = "gurux-server"


def _host_options():
    """What `irprobe read` gives the DLMS client on the host (no heap limit there)."""
    try:
        from irprobe.cmd_read import host_dlms_options
    except ImportError:
        return {}
    return host_dlms_options()


def _one(ih, meter, client, p, ours):
    with ih.PtyMeter(meter) as pm:
        if client == "irprobe":
            r, _c = ih.read_with_irprobe(pm.path, p, profile_from=ih.DAY[0],
                                         profile_to=ih.DAY[1], **ours)
            rows = sum(len(x["rows"]) for x in r.profiles or ())
            values = len(r.values)
        else:
            read = ih.read_with_dlms_cosem if client == "dlms-cosem" else ih.read_with_gurux
            got = read(pm.path, p["client_sap"], p["server_upper"], p["password"],
                       p["server_lower"])
            rows, values = len(got["rows"]), len(got["values"])
        time.sleep(0.05)  # the meter's last frame into the transcript
        st = ih.transcript_stats(list(pm.transcript))
    st["rows"], st["values"] = rows, values
    return st


def measure(meters=None, clients=CLIENTS, log=print):
    """-> {meter: {client: {"round_trips", "bytes_tx", "bytes_rx", "rows", "values"} or
    {"error": text}}}"""
    import interop_harness as ih
    import gurux_meter as gm
    from irprobe.sim.dlms_profiles import PROFILES, make_meter

    plain = [n for n, p in PROFILES.items() if not p.get("ek") and p.get("opening") != "e"]
    meters = meters or plain + [GURUX_METER]
    ours = _host_options()
    out = {}
    for name in meters:
        out[name] = {}
        for client in clients:
            if name == GURUX_METER:
                p = {"client_sap": 16, "server_upper": 1, "server_lower": None,
                     "password": None, "auth": "lowest"}
                meter = gm.GuruxHdlcMeter()
            else:
                p = PROFILES[name]
                meter = make_meter(p)
            try:
                out[name][client] = _one(ih, meter, client, p, ours)
            except Exception as e:  # a client that cannot read this meter is a figure too
                out[name][client] = {"error": "%s: %s" % (type(e).__name__, str(e)[:120])}
    if log:
        report(out, log)
    return out


def report(out, log=print):
    log("%-14s %-11s %6s %9s %9s %6s" % ("meter", "client", "trips", "bytes tx", "bytes rx",
                                          "rows"))
    for name, per in out.items():
        for client, st in per.items():
            if "error" in st:
                log("%-14s %-11s  fails: %s" % (name, client, st["error"]))
            else:
                log("%-14s %-11s %6d %9d %9d %6d" % (name, client, st["round_trips"],
                                                     st["bytes_tx"], st["bytes_rx"], st["rows"]))
        best = [st["round_trips"] for c, st in per.items() if c != "irprobe" and "round_trips" in st]
        mine = per.get("irprobe", {}).get("round_trips")
        if best and mine is not None:
            log("%-14s ours %d vs best peer %d: %s" % (
                name, mine, min(best), "met" if mine <= min(best) else "MISSED"))


if __name__ == "__main__":
    res = measure(log=None if "--json" in sys.argv else print)
    if "--json" in sys.argv:
        print(json.dumps(res, indent=1))

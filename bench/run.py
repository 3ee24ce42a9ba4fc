# bench/run.py: every figure of irprobe in one run (`make bench`): IEC and DLMS session time
# against the wire-time bound, DLMS round trips against two other clients, firmware heap and
# code size on the MicroPython unix port, host sync throughput, line faults, power and sync
# cuts. Prints a table per part and writes bench/results.json. Simulated time is exact
# (irprobe.sim.vline), so session figures are the same on every machine.
import contextlib
import io
import json
import os
import platform
import re
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for p in (HERE, os.path.join(ROOT, "tests", "host"), os.path.join(ROOT, "tests", "firmware"),
          os.path.join(ROOT, "host"), os.path.join(ROOT, "firmware", "lib")):
    if p not in sys.path:
        sys.path.insert(0, p)

import wirebound as wb  # noqa: E402
from meterproto.driver import run  # noqa: E402
from meterproto.dlms.client import DlmsClient  # noqa: E402
from meterproto.iec.client import IecClient  # noqa: E402
from meterproto.line import FMT_8N1  # noqa: E402
from irprobe.sim import profiles  # noqa: E402
from irprobe.sim.vline import VirtualLine  # noqa: E402

DLMS_PROFILE = "dlms-lp96"
DAY = ("2026-11-24 00:05:00", "2026-11-25 00:05:00")
GOAL_TIME = 1.05
GOAL_RT = 0.5
GOAL_HEAP = 48 * 1024
GOAL_RP2040_FREE = 64 * 1024  # lowest free heap of any session on the RP2040 (issue 12)
GOAL_SYNC = 5000  # readings/s over the pty (issue 15)
GOAL_WIRE = 1.15  # wire bytes per payload byte of a sync (issue 15)


def section(title):
    print()
    print(title)
    print("-" * len(title))


def _s(ns):
    return round(ns / 1e9, 4)


# -- IEC 62056-21 ------------------------------------------------------------------------------
def iec_sessions():
    """Each IEC profile read as the CLI does, plus a programming-mode session."""
    runs = []
    for name in profiles.list_profiles():
        p = profiles.get_profile(name)
        if p["protocol"] != "dlms":
            runs.append((name, p, profiles.client_options(p)))
    p = profiles.get_profile("prog-lp")
    runs.append(("prog-lp P1+R1+P.01", p, {"password": p["password"], "load_profile": ("", ""),
                                           "commands": [("R1", "1.8.0()")]}))
    out = []
    print("%-20s %6s %9s %9s %9s %7s  %s" % ("profile", "baud", "seconds", "bound s", "strict s",
                                              "ratio", "check"))
    for label, p, opts in runs:
        line = VirtualLine(profiles.make_meter(p))
        r = run(IecClient(**opts), line)
        want = [(e["obis"], e["value"], e["unit"]) for e in p["expected"]]
        got = [(v.obis, v.value, v.unit) for v in r.values]
        ok = got == want if "commands" not in opts else set(got) <= set(want) and got
        b = wb.bound(line.log, wb.hhu_min_reaction_ms(p["manufacturer"]),
                     wb.WAKEUP_PAUSE_MIN_MS if opts.get("wakeup") else 0)
        row = {"profile": label, "baud": r.baud, "seconds": _s(line.now),
               "bound_seconds": _s(b["standard"]), "strict_bound_seconds": _s(b["strict"]),
               "ratio": round(line.now / b["standard"], 4),
               "strict_ratio": round(line.now / b["strict"], 4),
               "bytes_tx": sum(e[3] for e in line.log if e[0] == "c"),
               "bytes_rx": sum(e[3] for e in line.log if e[0] == "m"),
               "values_ok": bool(ok)}
        out.append(row)
        print("%-20s %6d %9.3f %9.3f %9.3f %7.4f  %s" % (
            label, r.baud, row["seconds"], row["bound_seconds"], row["strict_bound_seconds"],
            row["ratio"], "values as expected" if ok else "VALUES DIFFER"))
    worst = max(x["ratio"] for x in out)
    print("ratio = session time / bound; bound = wire time (bytes x 10 bits / baud) + the "
          "meter's own reactions + the HHU minimum reaction of the standard (200 ms, 20 ms for "
          "a lower-case 3rd FLAG letter) + the 1.5 s wake-up pause where used; 'strict' leaves "
          "out the HHU minimums. Worst ratio %.4f (goal <= %.2f)." % (worst, GOAL_TIME))
    return out


# -- DLMS ---------------------------------------------------------------------------------------
def dlms_reference():
    """Our reference read on the virtual line, then dlms-cosem and Gurux on a pty."""
    from irprobe.sim.dlms_profiles import PROFILES, expected_rows
    p = PROFILES[DLMS_PROFILE]
    line = VirtualLine(profiles.make_meter(p), baud=9600, fmt=FMT_8N1)
    from irprobe.cmd_read import host_dlms_options
    c = DlmsClient(client_sap=p["client_sap"], server_upper=p["server_upper"],
                   profile_from=DAY[0], profile_to=DAY[1], **host_dlms_options())
    r = run(c, line)
    rows = sum(len(x["rows"]) for x in r.profiles or ())
    ok = (r.profiles and r.profiles[0]["rows"] == expected_rows(p)
          and set((e["obis"], e["value"], e["unit"]) for e in p["expected"]["values"])
          <= set((v.obis, v.value, v.unit) for v in r.values))
    b = wb.bound(line.log)
    react_ms = b["meter_react"] / 1e6 / max(1, b["meter_turns"])
    res = {"profile": DLMS_PROFILE, "round_trips": c.round_trips, "bytes_tx": c.bytes_tx,
           "bytes_rx": c.bytes_rx, "seconds": _s(line.now), "bound_seconds": _s(b["strict"]),
           "ratio": round(line.now / b["strict"], 4), "rows": rows, "values_ok": bool(ok),
           "meter_frames": b["meter_turns"], "peers": {}}
    res["peers"] = dlms_peers(p, react_ms)
    print("%-10s %6s %8s %8s %9s %9s %7s  %s" % ("client", "trips", "bytes tx", "bytes rx",
                                                  "seconds", "bound s", "ratio", "check"))
    print("%-10s %6d %8d %8d %9.3f %9.3f %7.4f  %s" % (
        "irprobe", res["round_trips"], res["bytes_tx"], res["bytes_rx"], res["seconds"],
        res["bound_seconds"], res["ratio"],
        "%d values, %d rows as expected" % (len(r.values), rows) if ok else "VALUES DIFFER"))
    for name, pr in res["peers"].items():
        if "error" in pr:
            print("%-10s  could not run: %s" % (name, pr["error"]))
            continue
        print("%-10s %6d %8d %8d %9.3f %9s %7s  %s" % (
            name, pr["round_trips"], pr["bytes_tx"], pr["bytes_rx"], pr["seconds"], "", "",
            "%d values, %d rows" % (pr["values"], pr["rows"])))
    best = [pr["round_trips"] for pr in res["peers"].values() if "round_trips" in pr]
    if best:
        res["round_trips_vs_best_peer"] = round(res["round_trips"] / min(best), 3)
        print("round trips: %d = %.2f x the best peer's %d (goal <= %.2f x). The profile allows "
              "1-frame windows of 128-byte information fields, so every 128 bytes the meter "
              "sends costs one poll: this read has %d meter frames." % (
                  res["round_trips"], res["round_trips_vs_best_peer"], min(best), GOAL_RT,
                  res["meter_frames"]))
    print("peer seconds: their pty transcripts laid out back to back on a 9600 Bd 8N1 line "
          "with the meter's %.0f ms reaction, and zero think time on their side (their best "
          "case); same wire model as ours." % react_ms)
    return res


def dlms_peers(p, react_ms):
    out = {}
    try:
        import interop_harness as ih
    except ImportError as e:
        return {"dlms-cosem": {"error": str(e)}, "gurux": {"error": str(e)}}
    for name in ("dlms-cosem", "gurux"):
        try:
            with ih.PtyMeter(profiles.make_meter(p)) as pm:
                if name == "dlms-cosem":
                    got = ih.read_with_dlms_cosem(pm.path, p["client_sap"], p["server_upper"],
                                                  p["password"])
                else:
                    got = ih.read_with_gurux(pm.path, p["client_sap"], p["server_upper"],
                                             p["password"])
                time.sleep(0.05)  # the meter's last frame into the transcript
                tr = list(pm.transcript)
            st = ih.transcript_stats(tr)
            b = wb.bound(wb.transcript_log(tr, 9600, react_ms, fmt=FMT_8N1))
            st["seconds"] = _s(b["strict"])
            st["values"] = len(got["values"])
            st["rows"] = len(got["rows"])
            out[name] = st
        except Exception as e:  # a peer that cannot run is reported, not fatal
            out[name] = {"error": "%s: %s" % (type(e).__name__, e)}
    return out


# -- firmware, sync, faults, cuts -------------------------------------------------------------
def firmware():
    import heap
    t = time.time()
    res = heap.measure(log=print)
    print("heap = smallest -X heapsize at which the scenario completes (bisected, then checked "
          "up to +25 %%), .mpy modules loaded into RAM as on a board without frozen modules; "
          "64-bit unix port. Goal <= %d B. .mpy sizes: meterproto %d B, probe %d B. (%.0f s)"
          % (GOAL_HEAP, res["mpy_bytes"]["meterproto"], res["mpy_bytes"]["probe"],
             time.time() - t))
    return res


def host_sync():
    import sync_bench
    s = sync_bench.run(10000)
    return {"records": s["records"], "records_per_s": s["records_per_s"],
            "bytes_per_record": s["wire_bytes_per_record"],
            "wire_per_payload": s["wire_per_payload"], "detail": s}


def sync_goals(sy):
    d = sy["detail"]
    return [
        ("sync >= %d readings/s" % GOAL_SYNC, sy["records_per_s"] >= GOAL_SYNC,
         "%.0f/s (best of %d; host CPU %.2f s for %d; load %.2f on %d CPUs)"
         % (sy["records_per_s"], len(d["runs_records_per_s"]), d["host_cpu_s"], sy["records"],
            d["load_avg_1min"], d["cpus"])),
        ("sync wire <= %.2f x payload" % GOAL_WIRE, sy["wire_per_payload"] <= GOAL_WIRE,
         "%.3f x (%.1f B for %.1f B)" % (sy["wire_per_payload"], d["wire_bytes_per_record"],
                                        d["payload_bytes_per_record"])),
    ]


def _measure_again(title, key, measure, goal_lines, what):
    """Measure one part again and put its figures and goal lines into results.json beside the
    others (`bench/run.py sync`, `bench/run.py device`)."""
    path = os.path.join(HERE, "results.json")
    with open(path) as fh:
        results = json.load(fh)
    section(title)
    results[key] = measure()
    lines = goal_lines(results[key])
    labels = set(label for label, _, _ in lines)
    goals = [g for g in results.get("goals", []) if g["goal"] not in labels]
    for label, ok, fig in lines:
        print("%-38s %-6s %s" % (label, "met" if ok else "MISSED", fig))
        goals.append({"goal": label, "met": ok, "figure": fig})
    results["goals"] = goals
    with open(path, "w") as fh:
        json.dump(results, fh, indent=1, sort_keys=False, default=str)
    print("\nwrote the %s figures into bench/results.json" % what)
    return 0 if all(ok for _, ok, _ in lines) else 1


def sync_only():
    return _measure_again("Host sync throughput (10,000 records over a pty)", "sync", host_sync,
                          sync_goals, "sync")


def rp2040_goal(marks):
    """The RP2040 heap goal line from the device run's marks."""
    marks = marks or {}
    rp = {k: v for k, v in marks.items() if isinstance(v, int) and not isinstance(v, bool)}
    ok = bool(rp) and min(rp.values()) >= GOAL_RP2040_FREE and marks.get("run_passed") is True
    fig = (", ".join("%s %d B" % kv for kv in rp.items()) or "not measured") + (
        "" if not rp or marks.get("run_passed") else " (the run stopped early)")
    return "RP2040 free heap >= 64 KB, every session", ok, fig


def device_only():
    return _measure_again("Firmware on an emulated RP2040 (stock MicroPython 1.24.1, rp2040js): "
                          "lowest free heap per session, measured by the firmware",
                          "rp2040_heap_free_min_bytes", rp2040_heap,
                          lambda marks: [rp2040_goal(marks)], "RP2040 heap")


def faults():
    import faults as fb
    rows, head = fb.run_all(seeds_main=40, seeds_other=10)
    print("%-24s %8s %9s %8s %8s %9s %8s" % ("fault", "sessions", "completed", "errors",
                                              "corrupt", "retries", "max sim s"))
    for r in rows:
        done = r["completed"] or 1
        print("%-24s %8d %9d %8d %8d %9.2f %8.1f%s" % (
            r["kind"], r["sessions"], r["completed"], r["clean_errors"], r["corrupt_stored"],
            r["retries"] / done, r["max_sim_s"],
            "" if r["must_complete"] else "   (must end in a clean error)"))
    for r in rows:
        for name, fails in r["failures"].items():
            if r["must_complete"] or any("CORRUPT" in f for f in fails):
                print("  %s / %s: %d: %s" % (r["kind"], name, len(fails), fails[0][:150]))
    print("every session ends (a reading or a clean error; none hangs); 'corrupt' = a "
          "completed reading with a value that differs from what the meter holds; 'retries' = "
          "per completed session: IEC sign-on retries + NAKs, DLMS round trips beyond a clean "
          "read.")
    return rows, head


def _parse(pattern, text):
    return [tuple(int(x) for x in m) for m in re.findall(pattern, text, re.M)]


def power_and_sync_cuts():
    """H6's power-cut tests (probe.store on simulated flash) and H8's cable cut at every
    frame of a sync, run as they are; their printed counts are collected."""
    out = {"power_cuts": 0, "lost": 0, "corrupt": 0, "duplicated": 0, "reused_seq": 0,
           "sync_cuts": 0, "failures": []}
    import test_store_powercut as pc
    import test_store_littlefs as pl
    for fn in (pc.test_power_cut_at_every_op_of_a_session_commit,
               pc.test_power_cut_at_every_op_of_an_ack,
               lambda: pl.test_power_cut_at_every_flash_program_and_erase(0),
               lambda: pl.test_power_cut_at_every_flash_program_and_erase(100)):
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf):
                fn()
        except AssertionError as e:
            out["failures"].append("%s: %s" % (fn.__name__, e))
        for ops, cuts, checked, lost, corrupt, reused in _parse(
                r"(\d+) (?:ops|flash writes), (\d+) cut points, (\d+) records checked, lost (\d+), "
                r"corrupt (\d+),"
                r" reused seq (\d+)", buf.getvalue()):
            out["power_cuts"] += cuts
            out["lost"] += lost
            out["corrupt"] += corrupt
            out["reused_seq"] += reused
    import test_sync as ts
    from irprobe.sim.probe_sim import ProbeSim
    import pathlib
    from irprobe.cmd_sync import STORE_RECORDS
    for every in (1, STORE_RECORDS):  # acked after each answer, and after several
        buf = io.StringIO()
        with tempfile.TemporaryDirectory() as tmp:
            try:
                with ProbeSim("iskra-mt174", root=os.path.join(tmp, "probe")) as sim:
                    with contextlib.redirect_stdout(buf):
                        ts.test_cut_at_every_frame_then_resume(sim, pathlib.Path(tmp), every)
            except AssertionError as e:
                out["failures"].append("sync cut: %s" % e)
        rows = _parse(r"^\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", buf.getvalue())
        per_round = 6
        for cut, before, added, dups, total in rows:
            want = per_round * (cut + 1)
            out["sync_cuts"] += 1
            out["lost"] += max(0, want - total)
            out["duplicated"] += max(0, total - want)
    print("power cuts at every flash operation of a commit and an ack: %d cuts, lost %d, "
          "corrupt %d, reused seq %d" % (out["power_cuts"], out["lost"], out["corrupt"],
                                         out["reused_seq"]))
    print("sync cable cut at every frame, then resumed: %d cuts, rows lost %d, duplicated %d"
          % (out["sync_cuts"], max(0, out["lost"]), out["duplicated"]))
    for f in out["failures"]:
        print("  FAILED:", f[:300])
    return out


def _rt_missed(results):
    """Meters on which our round trips exceed the best peer's (bench/dlms_peers.py)."""
    out = []
    for name, per in results.get("dlms_per_meter", {}).items():
        best = [st["round_trips"] for c, st in per.items()
                if c != "irprobe" and "round_trips" in st]
        mine = per.get("irprobe", {}).get("round_trips")
        if best and (mine is None or mine > min(best)):
            out.append("%s %s > %d" % (name, mine, min(best)))
    return out


def rp2040_heap():
    """The firmware's own heap low-water marks (bytes free after a collect, probe.heapmark) on
    an emulated RP2040 with stock MicroPython 1.24.1: the run of `make test-device`
    (tests/device/run_device.py: IEC, DLMS direct/mode E/HLS, doctor, sync). None where node
    or the emulator is missing."""
    import subprocess

    path = os.path.join(ROOT, "build", "device", "heap.json")
    if os.path.exists(path):
        os.remove(path)
    env = dict(os.environ)
    env.setdefault("IRPROBE_EMU_DIR", os.path.join(ROOT, "..", "shared", "emu"))
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "device", "run_device.py")],
                       env=env, capture_output=True, text=True)
    print(r.stdout[-3000:])
    if not os.path.exists(path):
        print("not measured: %s" % (r.stdout.strip().splitlines() or ["no output"])[-1])
        return None
    with open(path) as fh:
        marks = json.load(fh)
    # A run that stopped at a failed step reports the marks it reached: say so.
    marks["run_passed"] = r.returncode == 0
    if r.returncode != 0:
        print("the run failed: %s" % (r.stdout.strip().splitlines() or ["no output"])[-1])
    return marks


def main():
    t0 = time.time()
    results = {"generated_by": "bench/run.py", "python": platform.python_version()}
    section("IEC 62056-21: session time vs wire-time bound (simulated time, exact)")
    results["iec"] = iec_sessions()
    section("DLMS/COSEM reference read (%s: association view, registers with scaler/unit, "
            "clock, one day of 15-minute profile)" % DLMS_PROFILE)
    results["dlms"] = dlms_reference()
    section("DLMS round trips per meter: ours and both peers, the same full read over a pty "
            "(every simulated meter, and a meter served by gurux-dlms's server classes)")
    import dlms_peers
    results["dlms_per_meter"] = dlms_peers.measure()
    section("Firmware on the MicroPython unix port: peak heap, import cost, .mpy size")
    fw = firmware()
    results["heap_peak_bytes"] = fw["heap_peak_bytes"]
    results["firmware"] = fw
    section("Firmware on an emulated RP2040 (stock MicroPython 1.24.1, rp2040js): lowest free "
            "heap per session, measured by the firmware")
    results["rp2040_heap_free_min_bytes"] = rp2040_heap()
    section("Host sync throughput (10,000 records over a pty)")
    results["sync"] = host_sync()
    section("Storage on littlefs at the Pico geometry (352 x 4 KiB): readings until full")
    import storage_bench
    results["storage"] = storage_bench.run()
    section("Line faults (virtual line; every profile, seeded)")
    rows, head = faults()
    section("Power cuts and sync cuts")
    cuts = power_and_sync_cuts()
    results["faults"] = {"byte_error_rate": 1e-3, "sessions": head["sessions"],
                         "completed": head["completed"], "corrupt_stored": head["corrupt_stored"],
                         "retries_per_session":
                             round(head["retries"] / max(1, head["completed"]), 3),
                         "power_cuts": cuts["power_cuts"] + cuts["sync_cuts"],
                         "lost": cuts["lost"], "duplicated": cuts["duplicated"],
                         "kinds": rows, "cuts": cuts}
    section("Summary against the goals")
    worst = max(x["ratio"] for x in results["iec"])
    d = results["dlms"]
    hp = results["heap_peak_bytes"]
    rp_all = results["rp2040_heap_free_min_bytes"] or {}
    f = results["faults"]
    sto = results["storage"]
    lines = [
        ("IEC readings stored >= %d" % sto["goal_iec"],
         sto["iec_25_values"]["readings"] >= sto["goal_iec"] and sto["iec_25_values"]["exact"],
         "%d (25 values, %.0f B each)" % (sto["iec_25_values"]["readings"],
                                         sto["iec_25_values"]["stored_bytes_per_reading"])),
        ("DLMS readings stored >= %d" % sto["goal_dlms"],
         sto["dlms_96_rows"]["readings"] >= sto["goal_dlms"] and sto["dlms_96_rows"]["exact"],
         "%d (96 rows, %.0f B each)" % (sto["dlms_96_rows"]["readings"],
                                       sto["dlms_96_rows"]["stored_bytes_per_reading"])),
        ("IEC time <= %.2f x bound" % GOAL_TIME, worst <= GOAL_TIME, "worst %.4f" % worst),
        ("DLMS time <= %.2f x bound" % GOAL_TIME, d["ratio"] <= GOAL_TIME, "%.4f" % d["ratio"]),
        ("DLMS round trips <= %.1f x best peer" % GOAL_RT,
         d.get("round_trips_vs_best_peer", 9) <= GOAL_RT,
         "%s x" % d.get("round_trips_vs_best_peer", "n/a")),
        ("DLMS round trips <= best peer, per meter", not _rt_missed(results),
         ", ".join(_rt_missed(results)) or "every meter"),
        ("heap <= 48 KB", max(hp.values()) <= GOAL_HEAP,
         ", ".join("%s %d B" % kv for kv in hp.items())),
        rp2040_goal(rp_all),
        ("sessions complete at BER 1e-3", f["completed"] == f["sessions"],
         "%d of %d, %.2f retries each"
         % (f["completed"], f["sessions"], f["retries_per_session"])),
        ("no corrupt value stored", f["corrupt_stored"] == 0, "%d corrupt" % f["corrupt_stored"]),
        ("zero loss on power/sync cuts", f["lost"] == 0 and f["duplicated"] == 0
         and not cuts["failures"], "%d cuts, lost %d, duplicated %d"
         % (f["power_cuts"], f["lost"], f["duplicated"])),
    ] + sync_goals(results["sync"])
    for label, ok, fig in lines:
        print("%-38s %-6s %s" % (label, "met" if ok else "MISSED", fig))
    results["goals"] = [{"goal": a, "met": b, "figure": c} for a, b, c in lines]
    results["seconds_real"] = round(time.time() - t0, 1)
    with open(os.path.join(HERE, "results.json"), "w") as fh:
        json.dump(results, fh, indent=1, sort_keys=False, default=str)
    print("\nwrote bench/results.json (%.0f s)" % results["seconds_real"])
    return 0


if __name__ == "__main__":
    modes = {"sync": sync_only, "device": device_only}
    sys.exit(modes[sys.argv[1]]() if sys.argv[1:2] and sys.argv[1] in modes else main())

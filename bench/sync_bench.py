"""Sync throughput: 10,000 typical readings stored on the simulated probe, pulled over a pty.

The probe is the firmware's own store and command server on CPython (irprobe.sim.probe_sim),
run as a process of its own as `irprobe simulate --probe` does: a real probe has its own CPU,
so the host's figure is the host's work (decode, check, SQLite), the pty and the probe's
answer time, not the two sharing one interpreter. Its flash (a folder) is filled once and
copied afresh for each run; the sync goes into a new SQLite file on disk (WAL, every batch
committed before its ACK). Prints readings/s (the best of RUNS, and each), the host's CPU
seconds, the load average while it ran, bytes per reading and the channel's overhead against
the payload, and returns them as a dict. This measures the protocol and the host, not an
RP2040 (the USB CDC is far faster than these figures on a real board; the Pico's CPU will be
slower). Run: .venv/bin/python bench/sync_bench.py [N]
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in (os.path.join(ROOT, "host"), os.path.join(ROOT, "firmware", "lib"),
          os.path.join(ROOT, "bench"), os.path.join(ROOT, "tests", "firmware")):
    if p not in sys.path:
        sys.path.insert(0, p)

PROFILE = "lgz-zmd"
RUNS = 3


def fill(store, n):
    """n typical readings (25 IEC values every 15 minutes: bench/storage_bench.py)."""
    import itertools
    import random

    import storage_bench as sb

    rng = random.Random(5)
    for reading, t in itertools.islice(sb.iec_series(sb._read("elster-as1440"), rng), n):
        store.commit(reading, t, bytes(rng.getrandbits(8) for _ in range(8)))


def serve(root):
    """The probe process: serve the flash in root on a pty until stdin closes."""
    from irprobe.sim.probe_sim import ProbeSim

    sim = ProbeSim(PROFILE, root=root)
    sim.start()
    try:
        print(json.dumps({"port": sim.port}), flush=True)
        sys.stdin.read()  # the bench closes it when its sync is done
    finally:
        sim.close()


def _probe(root):
    """Start the probe process on root; (Popen, port)."""
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", root],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line:
        p.wait(10)
        raise RuntimeError("the simulated probe did not start")
    return p, json.loads(line)["port"]


def _one(flash, tmp, k, max_bytes):
    from irprobe.cmd_sync import sync
    from irprobe.db import Store
    from irprobe.probelink import ProbeLink

    root = os.path.join(tmp, "probe%d" % k)
    shutil.copytree(flash, root)
    proc, port = _probe(root)
    try:
        store = Store(os.path.join(tmp, "r%d.sqlite" % k))
        link = ProbeLink.open(port, timeout=5.0)
        load0 = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        st = sync(link, store, max_bytes=max_bytes)
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        load = max(load0, os.getloadavg()[0])
        wire = link.bytes_in + link.bytes_out
        frames = link.frames
        link.close()
        counts = store.counts()
        store.close()
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return st, secs, cpu, load, wire, frames, counts


def run(n=10000, max_bytes=None, runs=RUNS):
    from irprobe.sim.probe_sim import ProbeSim

    with tempfile.TemporaryDirectory(prefix="irprobe-bench-") as tmp:
        flash = os.path.join(tmp, "flash")
        sim = ProbeSim(PROFILE, root=flash)
        t0 = time.perf_counter()
        fill(sim.store, n)
        fill_s = time.perf_counter() - t0
        sim.close()
        got = [_one(flash, tmp, k, max_bytes) for k in range(runs)]
    best = min(got, key=lambda g: g[1])
    st, secs, cpu, load, wire, frames, counts = best
    payload = st["bytes"]
    out = {
        "records": st["pulled"],
        "seconds": round(secs, 3),
        "records_per_s": round(st["pulled"] / secs, 1),
        "runs_records_per_s": [round(g[0]["pulled"] / g[1], 1) for g in got],
        "host_cpu_s": round(cpu, 3),
        "records_per_host_cpu_s": round(st["pulled"] / cpu, 1),
        "load_avg_1min": round(load, 2),
        "cpus": os.cpu_count(),
        "by_tables": st["by_tables"],
        "payload_bytes_per_record": round(payload / st["pulled"], 1),
        "wire_bytes_per_record": round(wire / st["pulled"], 1),
        "wire_per_payload": round(wire / payload, 3),
        "channel_overhead_pct": round(100.0 * (wire - payload) / payload, 2),
        "wire_kbytes_per_s": round(wire / secs / 1024, 1),
        "batches": st["batches"],
        "frames": frames,
        "prefill_s": round(fill_s, 2),
        "db_sessions": counts["sessions"],
        "db_values": counts["values"],
    }
    print(
        "sync of %(records)d records over a pty, probe in its own process: %(seconds).2f s, "
        "%(records_per_s).0f records/s (best of %(n)d: %(each)s), %(wire_kbytes_per_s).0f "
        "KiB/s on the wire" % dict(out, n=runs, each=", ".join(
            "%.0f" % x for x in out["runs_records_per_s"]))
    )
    print(
        "host CPU %(host_cpu_s).2f s (%(records_per_host_cpu_s).0f records per CPU second); "
        "load average %(load_avg_1min).2f on %(cpus)d CPUs while it ran; %(by_tables)d of "
        "%(records)d readings decoded straight into rows (irprobe.packed_rows)" % out
    )
    print(
        "per record: %(payload_bytes_per_record).0f payload bytes, %(wire_bytes_per_record).1f "
        "bytes on the wire (%(wire_per_payload).3f x); channel overhead "
        "%(channel_overhead_pct).2f %% (%(batches)d PULL/ACK batches, %(frames)d frames)" % out
    )
    print(
        "database: %(db_sessions)d readings, %(db_values)d values; prefill took %(prefill_s).1f s"
        % out
    )
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2])
    else:
        run(int(sys.argv[1]) if len(sys.argv) > 1 else 10000)

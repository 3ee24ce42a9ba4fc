"""Sync throughput: 10,000 typical readings stored on the simulated probe, pulled over a pty.

Prints records/s, bytes per record and the command channel's overhead against the payload,
and returns them as a dict. The probe side is the firmware's own store and command server on
CPython, so this measures the protocol and the host, not an RP2040 (docs/ARCHITECTURE.md, "Host link": the USB
CDC itself is far faster than these figures on a real board; the Pico's CPU will be slower).
Run: .venv/bin/python bench/sync_bench.py [N]
"""

import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in (os.path.join(ROOT, "host"), os.path.join(ROOT, "firmware", "lib"),
          os.path.join(ROOT, "bench"), os.path.join(ROOT, "tests", "firmware")):
    if p not in sys.path:
        sys.path.insert(0, p)


def fill(store, n):
    """n typical readings (25 IEC values every 15 minutes: bench/storage_bench.py)."""
    import itertools
    import random

    import storage_bench as sb

    rng = random.Random(5)
    for reading, t in itertools.islice(sb.iec_series(sb._read("elster-as1440"), rng), n):
        store.commit(reading, t, bytes(rng.getrandbits(8) for _ in range(8)))


def run(n=10000, max_bytes=None):
    from irprobe.cmd_sync import sync
    from irprobe.db import Store
    from irprobe.probelink import ProbeLink
    from irprobe.sim.probe_sim import ProbeSim

    with tempfile.TemporaryDirectory(prefix="irprobe-bench-") as tmp:
        sim = ProbeSim("lgz-zmd", root=os.path.join(tmp, "probe"))
        t0 = time.perf_counter()
        fill(sim.store, n)
        fill_s = time.perf_counter() - t0
        sim.start()
        try:
            store = Store(os.path.join(tmp, "r.sqlite"))
            link = ProbeLink.open(sim.port, timeout=5.0)
            t0 = time.perf_counter()
            st = sync(link, store, max_bytes=max_bytes)
            secs = time.perf_counter() - t0
            wire_in, wire_out, frames = link.bytes_in, link.bytes_out, link.frames
            link.close()
            counts = store.counts()
            store.close()
        finally:
            sim.close()
    payload = st["bytes"]
    wire = wire_in + wire_out
    out = {
        "records": st["pulled"],
        "seconds": round(secs, 3),
        "records_per_s": round(st["pulled"] / secs, 1),
        "payload_bytes_per_record": round(payload / st["pulled"], 1),
        "wire_bytes_per_record": round(wire / st["pulled"], 1),
        "channel_overhead_pct": round(100.0 * (wire - payload) / payload, 2),
        "wire_kbytes_per_s": round(wire / secs / 1024, 1),
        "batches": st["batches"],
        "frames": frames,
        "prefill_s": round(fill_s, 2),
        "db_sessions": counts["sessions"],
        "db_values": counts["values"],
    }
    print(
        "sync of %(records)d records over a pty: %(seconds).2f s, %(records_per_s).0f records/s, "
        "%(wire_kbytes_per_s).0f KiB/s on the wire" % out
    )
    print(
        "per record: %(payload_bytes_per_record).0f payload bytes, %(wire_bytes_per_record).0f "
        "bytes on the wire; channel overhead %(channel_overhead_pct).2f %% "
        "(%(batches)d PULL/ACK batches, %(frames)d frames)" % out
    )
    print(
        "database: %(db_sessions)d readings, %(db_values)d values; prefill took %(prefill_s).1f s"
        % out
    )
    return out


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 10000)

# bench/fuzz.py: every core parser, the host's record/message import and `decode` output under
# random and mutated inputs (host bench).
#   python bench/fuzz.py [--inputs N] [--seed S] [--jobs J] [--targets a,b] [--time-limit SEC]
#   python bench/fuzz.py --atheris TARGET [--inputs N]   (coverage-guided, if atheris is there)
# Each input must end in a result or a meterproto.errors.ProtocolError, within the per-input
# time limit. The targets and the mutator are tests/core/test_fuzz_mp.py's (shared with the
# MicroPython run) plus tests/host/fuzz_host.py's. Exit status 1 and the input in hex on the
# first failure.
import argparse
import os
import signal
import sys
import time
from multiprocessing import Pool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "core"))
sys.path.insert(0, os.path.join(ROOT, "tests", "host"))

import fuzz_host  # noqa: E402  (host import and decode output; CPython only)
import test_fuzz_mp as F  # noqa: E402
from meterproto.errors import ProtocolError  # noqa: E402

TARGETS = tuple(F.TARGETS) + tuple(fuzz_host.HOST_TARGETS)


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def _target(name):
    for t in TARGETS:
        if t[0] == name:
            return t
    raise SystemExit("no fuzz target %r; known: %s" % (name, ", ".join(t[0] for t in TARGETS)))


def run_chunk(job):
    """(target, n, seed, time_limit) -> (target, n run, slowest s, failure or None)."""
    name, n, seed, limit = job
    _, fn, corpus = _target(name)
    signal.signal(signal.SIGALRM, _alarm)
    slowest = 0.0
    count = 0
    for data in F.inputs(name, corpus(), n, seed):
        t = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            fn(data)
        except ProtocolError:
            pass
        except Hang:
            return name, count, limit, ("took longer than %.1f s (hang?) on input %s"
                                        % (limit, data.hex()))
        except Exception as e:
            return name, count, slowest, "%r on input %s" % (e, data.hex())
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        dt = time.perf_counter() - t
        if dt > slowest:
            slowest = dt
        count += 1
    return name, count, slowest, None


def fuzz_all(inputs, seed=1, jobs=2, targets=None, limit=2.0, chunk=50000, log=print):
    """-> {target: {"inputs", "seconds", "slowest_ms", "failure"}}."""
    names = targets or [t[0] for t in TARGETS]
    work = []
    for name in names:
        left = inputs
        k = 0
        while left > 0:
            n = min(chunk, left)
            work.append((name, n, seed * 100003 + k, limit))  # a new input stream per chunk
            left -= n
            k += 1
    out = {}
    for name in names:
        out[name] = {"inputs": 0, "seconds": 0.0, "slowest_ms": 0.0, "failure": None}
    t0 = time.time()
    with Pool(jobs) as pool:
        for name, n, slowest, failure in pool.imap_unordered(run_chunk, work):
            r = out[name]
            r["inputs"] += n
            r["slowest_ms"] = max(r["slowest_ms"], round(slowest * 1000, 2))
            r["seconds"] = round(time.time() - t0, 1)
            if failure and not r["failure"]:
                r["failure"] = failure
                log("FAIL %s: %s" % (name, failure))
    return out


def atheris_run(name, runs):
    import tempfile
    import atheris

    atheris.instrument_all()  # every loaded Python function reports coverage
    _, fn, corpus = _target(name)
    seeds = tempfile.mkdtemp(prefix="fuzz-%s-" % name)
    for i, v in enumerate(corpus()):
        with open(os.path.join(seeds, "v%d" % i), "wb") as f:
            f.write(v)

    def one(data):
        try:
            fn(data)
        except ProtocolError:
            pass

    atheris.Setup([sys.argv[0], "-runs=%d" % runs, "-timeout=2", seeds], one)
    atheris.Fuzz()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--inputs", type=int, default=100000, help="inputs per parser")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--targets", default="", help="comma-separated subset")
    ap.add_argument("--time-limit", type=float, default=2.0, help="seconds per input")
    ap.add_argument("--atheris", metavar="TARGET", help="coverage-guided run of one target")
    a = ap.parse_args(argv)
    if a.atheris:
        try:
            import atheris  # noqa: F401
        except ImportError:
            print("atheris is not installed (pip install atheris==3.0.0)")
            return 2
        atheris_run(a.atheris, a.inputs)
        return 0
    targets = [t for t in a.targets.split(",") if t] or None
    print("fuzzing %s parsers, %d inputs each (random + mutated vectors), seed %d, %d jobs"
          % (len(targets or TARGETS), a.inputs, a.seed, a.jobs))
    res = fuzz_all(a.inputs, a.seed, a.jobs, targets, a.time_limit)
    bad = 0
    print("%-12s %10s %9s %12s  %s" % ("parser", "inputs", "done at s", "slowest ms", "result"))
    for name, r in res.items():
        ok = r["failure"] is None and r["inputs"] == a.inputs
        bad += not ok
        print("%-12s %10d %9.1f %12.2f  %s" % (name, r["inputs"], r["seconds"], r["slowest_ms"],
                                             "ok: only defined errors" if ok else r["failure"]))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

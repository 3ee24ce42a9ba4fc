# Heap budget of a whole DLMS session (association view, registers, clock, one day of
# 15-minute load profile) on the MicroPython unix port under a hard heap cap (-X heapsize),
# from .mpy files as the board loads them, replaying the meter's answers recorded on the
# virtual line (bench/heap.py, bench/mp_scenarios/session.py): only device-side code runs.
# The unix port is 64-bit: objects take about twice the room they take on the RP2040, whose
# heap is ~190 KB (docs/ARCHITECTURE.md, "Probe internals"). Smallest heap today: see `make bench` (bench/heap.py).
import importlib.util
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MPY = os.path.join(os.path.dirname(sys.executable), "micropython")

# The whole session must complete in this heap. It needed 357 KB when every block re-decoded
# the profile from its start; about 149 KB now (bench/heap.py), so 160 KB leaves room for
# fragmentation noise (a run can pass at N and fail a few KB above it).
CAP = 160 * 1024
IMPORT_BUDGET = 108 * 1024  # driver + DLMS client imports (gc.mem_alloc; 121 KB before, 104 now)

pytestmark = pytest.mark.skipif(not os.path.exists(MPY), reason="micropython unix port missing")


def _bench_heap():
    spec = importlib.util.spec_from_file_location("bench_heap",
                                                  os.path.join(ROOT, "bench", "heap.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def replay():
    # A short folder, as bench/heap.py uses: every module's path is kept as a string on the
    # heap, and pytest's long temporary paths would add about 1 KB the board (/lib/...) never
    # pays.
    import shutil
    import tempfile

    heap = _bench_heap()
    tmp = tempfile.mkdtemp(prefix="dh")
    try:
        lib = os.path.join(tmp, "lib")
        heap.build_mpy(lib)
        transcript = os.path.join(tmp, "dlms.txt")
        want = heap.record("dlms", transcript)
        yield heap, lib, transcript, want
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(replay, heapsize):
    heap, lib, transcript, want = replay
    ok, lines = heap.run_mp("session.py", ["dlms", transcript], heapsize, lib)
    return ok, lines, want


def test_dlms_session_fits_the_heap_cap(replay):
    ok, lines, want = _run(replay, CAP)
    assert ok, "the DLMS session does not fit a %d-byte heap:\n%s" % (CAP, "\n".join(lines[-12:]))
    got = lines[-1].split()
    assert (int(got[1]), int(got[2])) == want, (got, want)  # same values and profile rows
    assert want[1] == 96  # one day of 15-minute rows really went through the block transfer
    imports = int(lines[0].split()[1])
    assert imports <= IMPORT_BUDGET, "DLMS imports take %d bytes (budget %d)" % (
        imports, IMPORT_BUDGET)


def test_the_cap_really_bites(replay):
    # a heap far too small must fail (with MemoryError), or the cap above proves nothing
    ok, lines, _ = _run(replay, CAP // 3)
    assert not ok, lines[-3:]

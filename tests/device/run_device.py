#!/usr/bin/env python3
# make test-device: the firmware on stock MicroPython 1.24.1 in an emulated RP2040 (rp2040js,
# pinned in tests/device/package.json), end to end through the host CLI: install, configure,
# take an IEC meter and three DLMS meters (direct HDLC with a 96-row profile, mode E, HLS-GMAC
# ciphered) from the simulator, run the doctor on the probe, cut the power during a commit,
# restart from the same flash, add a segment of 1,000 more readings (over the raw REPL; the
# store's boot scan adopts them), restart, sync them all, and check the database. Prints the probe's own heap
# low-water marks and FAILS when one is under 64 KB (issue 12).
# The emulator runs at 0.3-0.5 x real time, so the meters run on a slowed clock (--time-scale)
# and are served over TCP without line emulation (a pty cannot carry 7E1; tests/device/relay).
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from relay import Relay  # noqa: E402

EMU_DIR = os.environ.get("IRPROBE_EMU_DIR", os.path.join(ROOT, "..", "shared", "emu"))
NODE_MODULES = os.path.join(HERE, "node_modules")
WORK = os.path.join(ROOT, "build", "device")
PY = sys.executable
# The meters' clock vs real time: half the emulator's recent speed (it runs at 0.3-0.46 x
# real time on an idle machine and far slower on a loaded one), or IRPROBE_EMU_SCALE.
SCALE = os.environ.get("IRPROBE_EMU_SCALE")
# The HLS-GMAC client's system title (any 8 bytes; the meter learns it from the AARQ).
CLIENT_TITLE = "4952505230303031"
# Each PULL answer (up to 16 KB of records, CRC-checked, whitened and stuffed in Python)
# takes the emulated Pico several seconds: sync waits up to a minute for one ("--timeout").
MIN_FREE = 64 * 1024  # the heap the probe must keep free in every session (issue 12)
FILL = 1000  # readings the probe's store appends before the sync (a sync of 1,000 records)

# (profile name on the probe, simulated meter, irprobe config arguments)
ALL_METERS = [
    ("iec", "lgz-zmd", ["--mode", "iec"]),
    ("lp96", "dlms-lp96", ["--mode", "hdlc"]),
    ("modee", "dlms-mode-e", ["--mode", "e", "--server", "1/17"]),
    ("hls", "dlms-hls", ["--mode", "hdlc", "--client", "1", "--auth", "hls-gmac", "--key",
                         "ek=000102030405060708090A0B0C0D0E0F", "--key",
                         "ak=D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF", "--key",
                         "system_title=" + CLIENT_TITLE]),
]

# IRPROBE_DEVICE_METERS=lp96 runs a subset (while working on one protocol); the IEC meter is
# always taken: the doctor and the power cut run at it.
_ONLY = os.environ.get("IRPROBE_DEVICE_METERS")
METERS = [m for m in ALL_METERS if not _ONLY or m[0] == "iec" or m[0] in _ONLY.split(",")]

T0 = time.monotonic()


def say(msg):
    print("[%5.0f s] %s" % (time.monotonic() - T0, msg), flush=True)


def skip(why):
    print("test-device skipped: %s" % why)
    sys.exit(0)


def fail(why):
    print("test-device FAILED: %s" % why, flush=True)
    raise SystemExit(1)


def irprobe(*args, timeout=300, check=True):
    r = subprocess.run([PY, "-m", "irprobe"] + list(args), capture_output=True, text=True,
                       timeout=timeout, cwd=ROOT)
    if check and r.returncode != 0:
        fail("irprobe %s: %s%s" % (" ".join(args[:2]), r.stdout[-2000:], r.stderr[-2000:]))
    return r


class Emulator:
    def __init__(self, flash):
        self.flash = flash
        self.proc = None
        self.info = None

    def start(self):
        run_dir = os.path.join(WORK, "run-%d" % int(time.monotonic() * 1000))
        self.events = os.path.join(run_dir, "events.jsonl")
        os.makedirs(run_dir, exist_ok=True)
        self.stderr = open(os.path.join(run_dir, "emu.stderr"), "w")  # why it died, if it does
        self.proc = subprocess.Popen(
            [PY, os.path.join(EMU_DIR, "emu_run.py"), "--node-modules", NODE_MODULES,
             "--uart", "0", "--flash-file", self.flash, "--run-dir", run_dir, "--quiet", "--",
             "--stats-every", "0.1"],
            stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        line = self.proc.stdout.readline()
        if not line:
            fail("the emulator did not start")
        self.info = json.loads(line)
        self._pos = 0
        return self.info

    def flash_writes(self):
        """Flash program calls the emulator has counted so far (from its stats events)."""
        n = None
        try:
            with open(self.events) as f:
                f.seek(self._pos)
                for line in f:
                    if '"flash"' in line:
                        try:
                            n = json.loads(line)["flash"]["programCalls"]
                        except (ValueError, KeyError):
                            pass
                self._pos = f.tell()
        except OSError:
            pass
        return n

    def speed(self):
        """The emulated clock's recent speed vs wall time (from its stats events)."""
        rates = []
        try:
            with open(self.events) as f:
                for line in f.readlines()[-60:]:
                    if '"stats"' in line:
                        v = json.loads(line).get("emu_per_wall_recent")
                        if v:
                            rates.append(v)
        except (OSError, ValueError):
            pass
        return sum(rates) / len(rates) if rates else 0.1

    def power_cut(self):
        """SIGKILL the emulator process itself: no shutdown, no last flash save."""
        os.kill(self.info["pid"], signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_meter(name, emu, listen=False):
    """The meter on a clock slower than the emulator's (half its speed): its own timeouts
    (IEC 62056-21's 1500 ms) never run out while the probe is still on time. For the doctor
    (listen) nearly as fast as the emulator: each doctor step listens a fixed 2.2 s, and a
    meter at half speed is still sending its identification when the step ends."""
    port = free_port()
    if listen:
        scale = SCALE or "%.3f" % min(0.6, max(0.02, emu.speed() * 0.85))
    else:
        scale = SCALE or "%.3f" % min(0.25, max(0.02, emu.speed() / 2))
    p = subprocess.Popen([PY, "-m", "irprobe", "simulate", "--profile", name, "--tcp",
                          str(port), "--time-scale", scale], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    json.loads(p.stdout.readline())  # {"port": ...}: it listens
    return p, port


def expected(name):
    lst = json.loads(irprobe("simulate", "--list", "--json").stdout)
    return [p for p in lst if p["name"] == name][0]


def install(cdc):
    """irprobe install, each of its steps shown with the time it was reached."""
    t = time.monotonic()
    p = subprocess.Popen([PY, "-m", "irprobe", "install", "--board", "pico", "--port", cdc,
                          "--timeout", "180"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    steps = []
    for line in p.stderr:
        steps.append("%.0f s %s" % (time.monotonic() - t, line.strip()[:60]))
    out = p.stdout.read()
    if p.wait(900) != 0:
        fail("irprobe install: %s" % " / ".join(steps[-3:]))
    say("installed in %.0f s: %s" % (time.monotonic() - t, out.strip()))
    print("    " + "\n    ".join(steps))


def check_values(name, reading, exp):
    got = {v["obis"]: (v["value"], v["unit"]) for v in reading["values"]}
    if isinstance(exp.get("expected"), dict):  # DLMS
        want = exp["expected"]["values"]
        rows = sum(len(p["rows"]) for p in reading.get("profiles") or ())
        if rows != exp["expected"]["profile_rows"]:
            fail("%s: %d profile rows, the meter holds %d"
                 % (name, rows, exp["expected"]["profile_rows"]))
        if not reading.get("objects"):
            fail("%s: no association view in the reading" % name)
    else:
        want = exp["expected"]
    for e in want:
        if got.get(e["obis"]) != (e["value"], e["unit"]):
            fail("%s: %s is %r, the meter says %r" % (name, e["obis"], got.get(e["obis"]),
                                                     (e["value"], e["unit"])))
    return len(want)


def wait_for_app(cdc, seconds=300):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r = subprocess.run([PY, "-c", HELLO, cdc], capture_output=True, text=True, timeout=30,
                           cwd=ROOT)
        if r.returncode == 0:
            return json.loads(r.stdout)
        time.sleep(1)
    fail("the reader app did not answer on %s within %d s" % (cdc, seconds))


# The running app's hello (no raw-REPL fallback): proves main.py runs the reader app.
HELLO = """
import json, sys
from irprobe.probelink import ProbeLink
with ProbeLink.open(sys.argv[1], timeout=10.0, raw_repl=False) as link:
    print(json.dumps(link.info))
"""


# The doctor on the probe (DOCTOR), then the heap low-water mark of that host session.
DOCTOR = """
import json, sys
from irprobe.probelink import ProbeLink
from meterproto.link import channel as H
with ProbeLink.open(sys.argv[1], timeout=10.0) as link:
    req = {"address": "", "loopback": False, "try_hdlc": False, "readout_check": False,
           "wakeup": None}
    res = link.call(link.host.request(H.CMD_DOCTOR, req), timeout=400.0, retries=0)
    st = link.status()
    print(json.dumps({"verdict": res.get("verdict"), "text": res.get("text"),
                      "steps": res.get("steps"), "heap": st.get("heap")}))
"""


def main():
    if shutil.which("node") is None:
        skip("`node` is not installed (the RP2040 emulator runs on Node.js)")
    if not os.path.exists(os.path.join(EMU_DIR, "emu_run.py")):
        skip("no emulator folder at %s" % os.path.relpath(EMU_DIR, ROOT))
    if not os.path.isdir(os.path.join(NODE_MODULES, "rp2040js")):
        fail("rp2040js is not installed: run `make test-device` (it runs npm ci first)")
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    flash = os.path.join(WORK, "flash.img")
    db = os.path.join(WORK, "readings.sqlite")
    emu = Emulator(flash)
    sims = []
    relay = None
    heap = []
    try:
        info = emu.start()
        cdc = info["cdc"]
        say("emulated Pico up: USB %s, UART0 %s" % (cdc, info["uart0"]))
        install(cdc)
        relay = Relay(info["uart0"])

        def plug(sim, listen=False):
            """A fresh simulated meter on a clock as fast as the emulator allows now."""
            relay.connect(None)
            while sims:
                old = sims.pop()
                old.terminate()
                old.wait(10)
            p, port = start_meter(sim, emu, listen)
            sims.append(p)
            relay.connect(port)

        for prof, sim, args in METERS:
            irprobe("config", "--port", cdc, "--meter", prof, "--active", prof, *args)
        stored = {}
        for prof, sim, args in METERS:
            irprobe("config", "--port", cdc, "--active", prof)
            plug(sim)
            t = time.monotonic()
            r = irprobe("take", "--port", cdc, "--json", "--timeout", "400", timeout=450)
            d = json.loads(r.stdout)
            n = check_values(sim, d, expected(sim))
            h = d.get("probe", {}).get("heap", {})
            heap.append((sim, h.get("free_min")))
            stored[prof] = d
            say("take %-11s ok in %3.0f s: %d values right, %d profile rows; heap low %s (%s)"
                % (sim, time.monotonic() - t, n,
                   sum(len(p["rows"]) for p in d.get("profiles") or ()), h.get("free_min"),
                   h.get("free_min_at")))
        # The doctor on the probe, at the IEC meter.
        irprobe("config", "--port", cdc, "--active", "iec")
        plug("lgz-zmd", listen=True)
        r = subprocess.run([PY, "-c", DOCTOR, cdc], capture_output=True, text=True,
                           timeout=600, cwd=ROOT)
        if r.returncode != 0:
            fail("the doctor on the probe: %s" % r.stderr[-1500:])
        d = json.loads(r.stdout)
        if d["verdict"] != "ok":
            fail("the doctor on the probe says %r at a meter that answers: %s\n%s"
                 % (d["verdict"], d.get("text"), json.dumps(d.get("steps"))[:3000]))
        heap.append(("doctor", (d.get("heap") or {}).get("low")))
        say("doctor on the probe: verdict ok")
        # Power cut during a commit: a take runs; at its first flash write the power goes.
        plug("lgz-zmd")  # back on the slower clock a take needs
        before = emu.flash_writes() or 0
        take = subprocess.Popen([PY, "-m", "irprobe", "take", "--port", cdc, "--timeout", "300"],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        end = time.monotonic() + 300
        while time.monotonic() < end:
            n = emu.flash_writes()
            if n is not None and n > before:
                break
            if take.poll() is not None:
                fail("the take ended before it wrote to flash: %s" % take.stderr.read())
            time.sleep(0.02)
        else:
            fail("the take never wrote to flash")
        emu.power_cut()
        take.wait(60)
        say("power cut at flash write %d, in the commit of reading %d"
            % (n, len(METERS) + 1))
        relay.close()
        relay = None
        info = emu.start()
        cdc = info["cdc"]
        hello = wait_for_app(cdc)
        count = hello.get("count")
        if count not in (len(METERS), len(METERS) + 1):
            fail("after the power cut the probe holds %r records (%d were stored before)"
                 % (count, len(METERS)))
        say("restarted from the same flash: the reader app answers, %d records (%d before the "
            "cut)" % (count, len(METERS)))
        # 1,000 more readings in a segment of their own, found by the store's boot scan;
        # then the sync carries them all.
        t = time.monotonic()
        size = fill(cdc, hello["next_seq"], FILL)
        hello = wait_for_app(cdc)
        if hello.get("count") != count + FILL:
            fail("after adding %d readings the probe holds %r records (%d expected)"
                 % (FILL, hello.get("count"), count + FILL))
        say("%d more readings (%d bytes) on the probe's flash, restarted in %.0f s: the "
            "store holds %d" % (FILL, size, time.monotonic() - t, hello["count"]))
        t = time.monotonic()
        r = irprobe("sync", "--port", cdc, "--db", db, "--timeout", "60", timeout=600)
        say("sync in %.0f s: %s" % (time.monotonic() - t, r.stdout.strip().splitlines()[-1]))
        heap.append(("sync", _figure(r.stderr, "sync")))  # of count + FILL records
        hello = wait_for_app(cdc)
        heap.append(("since boot", (hello.get("heap") or {}).get("low_boot")))
        check_db(db, stored, count)
        r = irprobe("sync", "--port", cdc, "--db", db, "--timeout", "60", timeout=300)
        check_db(db, stored, count)
        say("second sync: nothing new, nothing duplicated")
    finally:
        if relay is not None:
            relay.close()
        for p in sims:
            p.terminate()
            p.wait(10)
        emu.stop()
        report_heap(heap)  # what was measured, also when a step failed (make bench reads it)
    low = [v for _, v in heap if v is not None]
    if len(low) < len(heap):
        fail("the probe did not report every heap low-water mark")
    if min(low) < MIN_FREE:
        fail("heap goal (>= %d KB free in every session) missed: lowest %d bytes (%d KB)"
             % (MIN_FREE // 1024, min(low), min(low) // 1024))
    say("test-device passed (heap goal met: lowest %d KB free)" % (min(low) // 1024))


def report_heap(heap):
    print("\nheap low-water marks on the emulated RP2040 (bytes free after a collect, "
          "lowest the probe saw):")
    for what, v in heap:
        print("  %-12s %s" % (what, "not reported" if v is None else "%7d (%d KB)" % (v, v // 1024)))
    with open(os.path.join(WORK, "heap.json"), "w") as f:
        json.dump({k: v for k, v in heap}, f)


def _figure(text, what):
    """The heap figure irprobe printed ("probe heap: N bytes free ... of this <what>")."""
    import re

    m = re.search(r"probe heap: (\d+) bytes free at the lowest point of this " + what, text)
    return int(m.group(1)) if m else None


def fill_reading(n):
    v = [{"obis": o, "value": x, "unit": u} for o, x, u in fill_values(n)]
    return {"meter": {"id": "FILL0001", "manufacturer": "XYZ", "ident": "/XYZ5FILL"},
            "protocol": "iec62056-21", "mode": "C", "baud": 9600, "values": v}


def fill_values(n):
    return [("1-0:%d.8.0*255" % (k + 1), "%06d.%03d" % (n, k), "kWh") for k in range(24)]


def fill(cdc, first, n):
    """n readings from seq first on, packed by the record code the probe runs
    (meterproto.link.recpack), written as one segment file onto the probe's flash over the
    raw REPL; then main.py starts again and the store's boot scan checks and adopts them.
    (Committing them one by one on the emulated Pico takes about 1 s each.)"""
    sys.path.insert(0, os.path.join(ROOT, "host"))
    from irprobe import installer
    from meterproto.link.recpack import Packer

    pk = Packer()
    data = bytearray()
    for i in range(n):
        for r in pk.pack(first + i, 1764000000 + 900 * i, fill_reading(i), b"fill"):
            data += r
    t = installer.connect(cdc, 30)
    try:
        installer.write_files(t, [("/data/%08d.seg" % first, bytes(data))])
    finally:
        installer.restart(t)
    return len(data)


def check_db(db, stored, count):
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT seq, reading FROM sessions ORDER BY seq").fetchall()
    if len(rows) != count + FILL:
        fail("the database holds %d readings, the probe had %d" % (len(rows), count + FILL))
    for i, (seq, text) in enumerate(rows[count:]):
        got = [(v["obis"], v["value"], v["unit"]) for v in json.loads(text)["values"]]
        if got != fill_values(i):
            fail("appended reading %d (seq %d) came back as %r" % (i, seq, got[:3]))
    rows = rows[:count]
    for (seq, text), prof in zip(rows, [m[0] for m in METERS] + ["iec"]):
        got = json.loads(text)
        want = stored.get(prof) or stored["iec"]
        gv = [(v["obis"], v["value"], v["unit"]) for v in got["values"]]
        wv = [(v["obis"], v["value"], v["unit"]) for v in want["values"]]
        if gv != wv:
            fail("record %d in the database differs from what take printed" % seq)
        if len(got.get("profiles") or ()) != len(want.get("profiles") or ()):
            fail("record %d lost its load profile" % seq)
    n = conn.execute('SELECT count(*) FROM profile_rows').fetchone()[0]
    want = sum(len(p["rows"]) for d in stored.values() for p in d.get("profiles") or ())
    if (n == 0) != (want == 0):
        fail("the database holds %d load profile values, %d rows were read" % (n, want))
    conn.close()


if __name__ == "__main__":
    main()

"""Storage capacity and wear: probe.store on the real littlefs at the Pico's geometry.

littlefs-python (the C littlefs) with 352 blocks of 4 KiB, read 32, prog 256, cache 1024,
lookahead 32 (tests/firmware/lfs_flash.py). Readings are the simulator's own readouts as the
CLI reads them (elster-as1440: 25 values; dlms-lp96: one day of a 96-row load profile), then
evolved the way a meter logged every 15 minutes (IEC) or read once a day (DLMS) changes:
energy registers climb, clock and date registers advance, instantaneous values wander.
The firmware is installed first, as `irprobe install` lays it out (it shares the flash).
Commits until the store says full; counts erases per 1,000 readings and the most-erased block.
Run: .venv/bin/python bench/storage_bench.py
"""

import datetime
import json
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in (os.path.join(ROOT, "host"), os.path.join(ROOT, "firmware", "lib"),
          os.path.join(ROOT, "tests", "firmware")):
    if p not in sys.path:
        sys.path.insert(0, p)

GOAL_IEC = 10000
GOAL_DLMS = 2000


def _read(profile_name):
    from irprobe.sim import profiles
    from irprobe.sim.vline import VirtualLine
    from meterproto.driver import run

    p = profiles.get_profile(profile_name)
    if p["protocol"] == "dlms":
        from meterproto.dlms.client import DlmsClient
        from meterproto.line import FMT_8N1

        line = VirtualLine(profiles.make_meter(p), baud=9600, fmt=FMT_8N1)
        c = DlmsClient(client_sap=p["client_sap"], server_upper=p["server_upper"],
                       profile_from="2026-11-24 00:05:00", profile_to="2026-11-25 00:05:00")
        return run(c, line).to_dict()
    from meterproto.iec.client import IecClient

    return run(IecClient(**profiles.client_options(p)),
               VirtualLine(profiles.make_meter(p))).to_dict()


def _dec(text, delta):
    """text (the meter's decimal layout) plus delta units of its last digit, same layout."""
    neg = text.startswith("-")
    ip, _, fp = text.lstrip("-").partition(".")
    n = int(ip + fp) * (-1 if neg else 1) + delta
    s = str(abs(n)).rjust(len(ip) + len(fp), "0")
    out = s[:len(s) - len(fp)] + ("." + s[len(s) - len(fp):] if fp else "")
    return ("-" if n < 0 else "") + out


def iec_series(base, rng):
    """Readings every 15 minutes from base (a real readout), evolving like a meter."""
    t0 = datetime.datetime(2026, 11, 25, 10, 10, 10)
    i = 0
    cur = json.loads(json.dumps(base))
    while True:
        now = t0 + datetime.timedelta(minutes=15 * i)
        use = rng.randint(0, 2000)  # Wh in 15 minutes
        tariff = 1 + (now.hour // 6)
        for v in cur["values"]:
            o, val = v["obis"], v["value"]
            if o == "1-0:0.9.1*255":
                v["value"] = now.strftime("%H%M%S")
            elif o == "1-0:0.9.2*255":
                v["value"] = now.strftime("%y%m%d")
            elif o == "1-0:1.8.0*255":
                v["value"] = _dec(val, use)
            elif o == "1-0:1.8.%d*255" % tariff:
                v["value"] = _dec(val, use)
            elif o == "1-0:2.8.0*255":
                v["value"] = _dec(val, rng.randint(0, 50))
            elif o in ("1-0:3.8.0*255", "1-0:4.8.0*255"):
                v["value"] = _dec(val, rng.randint(0, 400))
            elif o.endswith(":32.7.0*255") or o.endswith(":52.7.0*255") or \
                    o.endswith(":72.7.0*255"):
                v["value"] = str(rng.randint(224, 240))
            elif o.endswith(".7.0*255") and v["unit"] == "A":
                v["value"] = "%d.%02d" % (rng.randint(0, 9), rng.randint(0, 99))
            elif o == "1-0:14.7.0*255":
                v["value"] = "%d.%d" % (rng.choice((49, 50)), rng.randint(0, 9))
            elif o == "1-0:1.6.0*255" and rng.random() < 0.01:
                v["value"] = "%02d.%03d" % (rng.randint(5, 9), rng.randint(0, 999))
                v["time"] = now.strftime("%y%m%d%H%M")
                v["extra"] = [v["time"]]
        yield json.loads(json.dumps(cur)), int(now.timestamp())
        i += 1


def dlms_series(base, rng):
    """One read a day, each with that day's 96 quarter-hour rows."""
    cur = json.loads(json.dumps(base))
    energy = int(cur["profiles"][0]["rows"][-1][2])
    day0 = datetime.datetime(2026, 11, 24)
    d = 0
    while True:
        rows = []
        for k in range(96):
            t = day0 + datetime.timedelta(days=d, minutes=15 * (k + 1))
            energy += rng.randint(40, 260)
            rows.append([t.strftime("%Y-%m-%d %H:%M:%S"), "8" if rng.random() < 0.02 else "0",
                         str(energy)])
        cur["profiles"][0]["rows"] = rows
        now = day0 + datetime.timedelta(days=d + 1, minutes=5)
        for v in cur["values"]:
            if v["obis"] == "0-0:1.0.0*255":
                v["value"] = now.strftime("%Y-%m-%d %H:%M:%S")
            elif v["obis"] == "1-0:1.8.0*255":
                v["value"] = str(energy)
            elif v["unit"] in ("V", "A", "W"):
                v["value"] = _dec(v["value"], rng.randint(-40, 40))
        yield json.loads(json.dumps(cur)), int(now.timestamp())
        d += 1


def install_firmware(fs):
    """The firmware as `irprobe install` lays it on the board (lib/ as .mpy, main.py ...):
    it shares the filesystem with the readings. Returns its blocks."""
    import tempfile

    from irprobe.installer import build

    free = fs.statvfs("/")[3]
    with tempfile.TemporaryDirectory() as tmp:
        for local, dev in build(os.path.join(ROOT, "firmware"), tmp):
            parts = dev.strip("/").split("/")
            for k in range(1, len(parts)):
                d = "/" + "/".join(parts[:k])
                if not fs.exists(d):
                    fs.mkdir(d)
            with open(local, "rb") as src:
                f = fs.open(dev, "wb")
                f.write(src.read())
                f.close()
    return free - fs.statvfs("/")[3]


def fill(series, limit=None):
    """Commit readings of series to a fresh store on littlefs (the firmware installed
    first) until it is full."""
    from lfs_flash import LfsFsys
    from meterproto.link.records import dumps
    from probe.store import Store, StoreFull

    fs = LfsFsys()
    fw_blocks = install_firmware(fs)
    st = Store(fs)
    st.recover()
    rng = random.Random(7)
    n = 0
    kept = []
    json_bytes = 0
    erases_at = None
    try:
        for reading, t in series:
            st.commit(reading, t, bytes(rng.getrandbits(8) for _ in range(8)))
            json_bytes += len(dumps(reading)) + 23
            kept.append((t, dumps(reading)))
            n += 1
            if n == 1000:
                erases_at = sum(fs.flash.erases)
            if limit and n >= limit:
                break
    except StoreFull:
        pass
    s = st.status()
    erases = fs.flash.erases
    seg_bytes = sum(seg.size for seg in st.segs)
    return {"exact": _all_back(st, kept), "firmware_blocks": fw_blocks, "readings": n, "stored_bytes_per_reading": round(seg_bytes / n, 1),
            "v1_bytes_per_reading": round(json_bytes / n, 1),
            "erases_first_1000": erases_at, "erases_per_1000": round(1000 * sum(erases) / n, 1),
            "max_erases_one_block": max(erases), "blocks_erased": sum(1 for e in erases if e),
            "status_after": s}


def _all_back(st, kept):
    """Pull everything as the USB server does and decode it as the host does: True when every
    reading comes back exactly (same text, units, times)."""
    from meterproto.link.records import dumps, record_info
    from meterproto.link.recpack import Unpacker

    up = Unpacker()
    got = []
    cursor = 1
    while True:
        data = st.pull(cursor, 16384)
        if not data:
            break
        i = 0
        while i < len(data):
            n = record_info(data, i)[0]
            r = up.feed(data[i:i + n])
            i += n
            if r is not None and r.gap_to is None:
                got.append((r.time_s, dumps(r.reading)))
                cursor = r.seq + 1
    return len(got) == len(kept) and all(
        a[0] == b[0] and json.loads(a[1]) == json.loads(b[1]) for a, b in zip(got, kept))


def run():
    rng = random.Random(1)
    iec = fill(iec_series(_read("elster-as1440"), rng))
    dlms = fill(dlms_series(_read("dlms-lp96"), rng))
    out = {"geometry": "littlefs 352 x 4 KiB, read 32, prog 256, cache 1024, lookahead 32",
           "iec_25_values": iec, "dlms_96_rows": dlms,
           "goal_iec": GOAL_IEC, "goal_dlms": GOAL_DLMS}
    for name, r, goal in (("IEC 25-value readings", iec, GOAL_IEC),
                          ("DLMS readings with a 96-row profile", dlms, GOAL_DLMS)):
        print("%s: %d fit (goal %d), %.0f bytes each stored (%.0f as version 1 JSON); "
              "%.0f erases per 1,000 readings, over %d blocks, at most %d on one block; "
              "all read back exactly: %s (firmware installed: %d blocks)"
              % (name, r["readings"], goal, r["stored_bytes_per_reading"],
                 r["v1_bytes_per_reading"], r["erases_per_1000"], r["blocks_erased"],
                 r["max_erases_one_block"], "yes" if r["exact"] else "NO",
                 r["firmware_blocks"]))
    return out


if __name__ == "__main__":
    run()

# irprobe.uf2: check a UF2 firmware image and find the RP2040 BOOTSEL drive (host only).
# UF2 is Microsoft's USB flashing format: 512-byte blocks, each with two start magics, an
# end magic, a target address and a payload (<= 476 bytes). The RP2040 boot ROM accepts
# blocks flagged with family id 0xE48BFF56 aimed at flash (XIP base 0x10000000).
import os
import struct
import sys

BLOCK = 512
MAGIC0 = 0x0A324655  # "UF2\n"
MAGIC1 = 0x9E5D5157
MAGIC_END = 0x0AB16F30
FLAG_NOT_MAIN_FLASH = 0x00000001
FLAG_FAMILY_ID = 0x00002000
RP2040_FAMILY = 0xE48BFF56
FLASH_BASE = 0x10000000
FLASH_MAX = 16 * 1024 * 1024  # the RP2040 addresses up to 16 MiB of QSPI flash
MAX_FILE = 2 * FLASH_MAX  # a UF2 is about twice its payload


class UF2Error(ValueError):
    """The file is not a UF2 an RP2040 would take (plain-words message)."""


def check(data):
    """Validate a whole UF2 image for the RP2040. Returns a summary dict."""
    if len(data) == 0:
        raise UF2Error("the file is empty")
    if len(data) % BLOCK:
        raise UF2Error(
            "the file is %d bytes, not a whole number of 512-byte UF2 blocks: "
            "is it really a .uf2?" % len(data)
        )
    if len(data) > MAX_FILE:
        raise UF2Error("the file is %d bytes, too big for any RP2040 board" % len(data))
    nblocks = len(data) // BLOCK
    total = None
    seen = set()
    families = set()
    payload = 0
    lo = hi = None
    for i in range(nblocks):
        b = data[i * BLOCK : (i + 1) * BLOCK]
        m0, m1, flags, addr, size, no, num, fam = struct.unpack_from("<8I", b, 0)
        (mend,) = struct.unpack_from("<I", b, BLOCK - 4)
        if m0 != MAGIC0 or m1 != MAGIC1 or mend != MAGIC_END:
            raise UF2Error(
                "block %d has no UF2 magic numbers: the file is not a UF2 (or is damaged)" % i
            )
        if flags & FLAG_NOT_MAIN_FLASH:
            continue  # comments/extra data the boot ROM skips
        if not flags & FLAG_FAMILY_ID:
            raise UF2Error("block %d carries no family id, so it cannot be checked for RP2040" % i)
        families.add(fam)
        if fam != RP2040_FAMILY:
            continue
        if size == 0 or size > 476:
            raise UF2Error("block %d claims a payload of %d bytes (at most 476)" % (i, size))
        if addr < FLASH_BASE or addr + size > FLASH_BASE + FLASH_MAX:
            raise UF2Error("block %d writes to 0x%08X, outside the RP2040's flash" % (i, addr))
        if total is None:
            total = num
        if num != total or no >= num:
            raise UF2Error(
                "block %d says it is block %d of %d; the numbering is inconsistent" % (i, no, num)
            )
        if no in seen:
            raise UF2Error("block number %d appears twice" % no)
        seen.add(no)
        payload += size
        lo = addr if lo is None or addr < lo else lo
        hi = addr + size if hi is None or addr + size > hi else hi
    if RP2040_FAMILY not in families:
        raise UF2Error(
            "this UF2 is for another chip (family id %s), not the RP2040 (0x%08X)"
            % (", ".join("0x%08X" % f for f in sorted(families)) or "none", RP2040_FAMILY)
        )
    if len(seen) != total:
        raise UF2Error(
            "the UF2 holds %d of its %d blocks: the file is truncated" % (len(seen), total)
        )
    return {"blocks": total, "payload": payload, "start": lo, "end": hi}


def make(payload, base=FLASH_BASE, family=RP2040_FAMILY, chunk=256):
    """Build a UF2 image (used by tests and by nobody else)."""
    n = (len(payload) + chunk - 1) // chunk
    out = bytearray()
    for i in range(n):
        part = payload[i * chunk : (i + 1) * chunk]
        head = struct.pack(
            "<8I", MAGIC0, MAGIC1, FLAG_FAMILY_ID, base + i * chunk, len(part), i, n, family
        )
        out += head + part + bytes(476 - len(part)) + struct.pack("<I", MAGIC_END)
    return bytes(out)


def is_bootsel_drive(path):
    try:
        with open(os.path.join(path, "INFO_UF2.TXT"), "r", errors="replace") as fh:
            return "RPI-RP2" in fh.read(4096)
    except OSError:
        return False


def _mount_points():
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/mounts") as fh:
                for line in fh:
                    parts = line.split()
                    if len(parts) > 1:
                        yield parts[1].replace("\\040", " ")
        except OSError:
            pass
    elif sys.platform == "darwin":
        try:
            for name in os.listdir("/Volumes"):
                yield os.path.join("/Volumes", name)
        except OSError:
            pass
    elif sys.platform == "win32":
        for letter in "DEFGHIJKLMNOPQRSTUVWXYZ":
            yield letter + ":\\"


def find_drives(candidates=None):
    """Mounted RPI-RP2 drives (boards held in BOOTSEL mode)."""
    cands = list(candidates) if candidates is not None else list(_mount_points())
    return [p for p in cands if os.path.isdir(p) and is_bootsel_drive(p)]


def flash(uf2_path, drive):
    """Check the UF2 and copy it onto the BOOTSEL drive. Returns the summary dict."""
    try:
        size = os.path.getsize(uf2_path)
        if size > MAX_FILE:
            raise UF2Error("%s is %d bytes, too big for any RP2040 board" % (uf2_path, size))
        with open(uf2_path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise UF2Error("cannot read %s: %s" % (uf2_path, e.strerror or e))
    info = check(data)
    if not is_bootsel_drive(drive):
        raise UF2Error("%s is not an RPI-RP2 boot drive (no INFO_UF2.TXT naming RPI-RP2)" % drive)
    dest = os.path.join(drive, os.path.basename(uf2_path) or "firmware.uf2")
    try:
        with open(dest, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as e:
        # The board reboots as soon as the last block lands; only a short write is an error.
        if not os.path.exists(dest) or os.path.getsize(dest) < len(data):
            raise UF2Error("copying to %s failed: %s" % (drive, e.strerror or e))
    return info

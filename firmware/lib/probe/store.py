# probe.store: power-safe storage of readings, one record file per meter session (device).
# Follows PLATFORM.md 4: write a .tmp, close it (= littlefs sync), rename it to .rec (the
# commit point); delete only what the host acked; keep >= 10 % free; bounded directories.
#
# Layout under root (default /data):
#   /data/acked                 ack watermark: b"ACKW" seq(4) crc16(2), replaced atomically
#   /data/00001/00000064.rec    record seq 64 (meterproto.link.records); folder = seq // 64, so a
#                               folder never holds more than 64 files
#   *.tmp  an unfinished commit (removed at boot);  *.bad  a record that failed its CRC
#          (quarantined: never returned, kept so its seq is never used again)
# Sequence numbers are never reused: next = max(any file's seq, ack watermark) + 1.
# Never call commit() while a meter session is receiving: flash writes stop all interrupts
# on the RP2040 and the UART FIFO overflows (PLATFORM.md 4). Commit after the session.
#
# API
#   Store(fs, root="/data", min_free_pct=10)     fs: probe.fsys.Fsys() or a SimFlash
#   recover() -> dict(removed_tmp, quarantined, deleted_acked)   call once at boot
#   commit(reading, time_s, digest=b"") -> seq   raises StoreFull (nothing written)
#   check_room(nbytes=0)                         raises StoreFull: ask before a meter session
#   records(from_seq=0, limit=None) -> iterator of (seq, raw record bytes), CRC-checked;
#       reading never writes flash (safe while a meter session runs)
#   read(seq) -> raw bytes  (KeyError if absent or damaged)
#   ack(up_to_seq) -> number of records deleted
#   status() -> {"count","first_seq","last_seq","acked","free_pct","full"}
from meterproto.errors import DecodeError
from meterproto.link.records import check_record, crc16, encode_record

FILES_PER_DIR = 64
_ACK_MAGIC = b"ACKW"
_ENOSPC = 28


class StoreFull(Exception):
    """The flash is too full to take another reading: the host must sync and acknowledge."""

    code = "store-full"

    def __init__(self, free_pct, min_pct):
        self.message = ("storage is full (%d%% free, %d%% must stay free): sync with the host "
                        "to make room" % (free_pct, min_pct))
        super().__init__(self.message)


def _ack_bytes(seq):
    body = _ACK_MAGIC + seq.to_bytes(4, "big")
    c = crc16(body)
    return body + bytes((c >> 8, c & 0xFF))


def _ack_value(data):
    if len(data) != 10 or data[:4] != _ACK_MAGIC:
        return None
    if crc16(data, 0xFFFF, 0, 8) != ((data[8] << 8) | data[9]):
        return None
    return int.from_bytes(data[4:8], "big")


def _parse_name(name):
    """("00000064.rec") -> (64, "rec"); None for names that are not ours."""
    if len(name) != 12 or name[8] != "." or not name[:8].isdigit():
        return None
    return int(name[:8]), name[9:]


class Store:
    def __init__(self, fs, root="/data", min_free_pct=10):
        self.fs = fs
        self.root = root.rstrip("/")
        self.min_free_pct = min_free_pct
        self.acked = 0
        self._seqs = []  # committed, unacked, believed good; ascending
        self._bad = []  # quarantined seqs (unacked)
        self._next = 1
        self._typical = 1024
        self._ready = False

    # -- paths ------------------------------------------------------------------------------
    def _dir(self, seq):
        return "%s/%05d" % (self.root, seq // FILES_PER_DIR)

    def _path(self, seq, ext="rec"):
        return "%s/%08d.%s" % (self._dir(seq), seq, ext)

    def _read(self, path):
        f = self.fs.open(path, "rb")
        try:
            return f.read()
        finally:
            f.close()

    def _write_atomic(self, tmp, final, data):
        f = self.fs.open(tmp, "wb")
        try:
            f.write(data)
        finally:
            f.close()  # littlefs sync: the tmp file is durable from here
        self.fs.rename(tmp, final)  # the commit point

    # -- boot -------------------------------------------------------------------------------
    def recover(self):
        """Scan after boot: drop unfinished commits, quarantine damaged records, finish an
        interrupted ack, find the next seq. Returns counts of what it fixed."""
        fs = self.fs
        report = {"removed_tmp": 0, "quarantined": 0, "deleted_acked": 0}
        if not fs.exists(self.root):
            fs.mkdir(self.root)
        self.acked = self._recover_watermark(report)
        seqs = []
        bad = []
        top = self.acked
        for d in fs.listdir(self.root):
            dpath = self.root + "/" + d
            if not d.isdigit() or not fs.is_dir(dpath):
                continue  # not ours: leave it alone
            for name in fs.listdir(dpath):
                parsed = _parse_name(name)
                if parsed is None:
                    continue
                seq, ext = parsed
                path = dpath + "/" + name
                if ext == "tmp":
                    fs.remove(path)  # never committed, never returned to anyone
                    report["removed_tmp"] += 1
                    continue  # so its seq may be used again: nobody ever saw it
                elif seq <= self.acked and ext in ("rec", "bad"):
                    fs.remove(path)  # an ack was cut short after its watermark landed
                    report["deleted_acked"] += 1
                elif ext == "bad":
                    bad.append(seq)
                elif ext == "rec":
                    if self._good(path, seq):
                        seqs.append(seq)
                    else:
                        fs.rename(path, dpath + "/%08d.bad" % seq)
                        report["quarantined"] += 1
                        bad.append(seq)
                else:
                    continue
                if seq > top:
                    top = seq
            if not fs.listdir(dpath):
                fs.rmdir(dpath)
        seqs.sort()
        bad.sort()
        self._seqs = seqs
        self._bad = bad
        self._next = top + 1
        self._ready = True
        return report

    def _recover_watermark(self, report):
        fs = self.fs
        path = self.root + "/acked"
        value = 0
        if fs.exists(path):
            v = _ack_value(self._read(path))
            if v is not None:
                value = v
        tmp = path + ".tmp"
        if fs.exists(tmp):
            v = _ack_value(self._read(tmp))
            if v is not None and v > value:
                fs.rename(tmp, path)  # the ack was durable, only its rename was cut
                value = v
            else:
                fs.remove(tmp)
                report["removed_tmp"] += 1
        return value

    def _good(self, path, seq):
        try:
            raw = self._read(path)
            return check_record(raw)[0] == seq
        except (DecodeError, OSError):
            return False

    def _ensure(self):
        if not self._ready:
            self.recover()

    # -- space ------------------------------------------------------------------------------
    def _space(self):
        st = self.fs.statvfs(self.root)
        return st[0], st[2], st[3]  # block size, blocks, free blocks

    def free_pct(self):
        _, blocks, free = self._space()
        return free * 100 // blocks if blocks else 0

    def _room_for(self, nbytes):
        bsize, blocks, free = self._space()
        need = (nbytes + bsize - 1) // bsize + 1  # the file, plus a folder's metadata
        return (free - need) * 100 >= self.min_free_pct * blocks

    def check_room(self, nbytes=0):
        """Raise StoreFull unless a record of nbytes (default: a typical one) still fits."""
        if not self._room_for(nbytes or self._typical):
            raise StoreFull(self.free_pct(), self.min_free_pct)

    # -- write ------------------------------------------------------------------------------
    def commit(self, reading, time_s, digest=b""):
        """Store one reading (after the meter session!). Returns its seq."""
        self._ensure()
        seq = self._next
        raw = encode_record(seq, time_s, reading, digest)
        self.check_room(len(raw))
        d = self._dir(seq)
        if not self.fs.exists(d):
            self.fs.mkdir(d)
        tmp = self._path(seq, "tmp")
        try:
            self._write_atomic(tmp, self._path(seq), raw)
        except OSError as e:
            if self.fs.exists(tmp):
                self.fs.remove(tmp)
            if e.args and e.args[0] == _ENOSPC:
                raise StoreFull(self.free_pct(), self.min_free_pct)
            raise
        self._next = seq + 1
        self._seqs.append(seq)
        self._typical = len(raw)
        return seq

    def ack(self, up_to_seq):
        """The host holds every record <= up_to_seq: delete them. Idempotent."""
        self._ensure()
        up_to = up_to_seq
        if up_to > self._next - 1:
            up_to = self._next - 1  # cannot ack what was never written
        if up_to <= self.acked:
            return 0
        # Watermark first: a cut after it still never returns or reuses these seqs.
        self._write_atomic(self.root + "/acked.tmp", self.root + "/acked", _ack_bytes(up_to))
        self.acked = up_to
        n = 0
        dirs = []
        while self._seqs and self._seqs[0] <= up_to:
            seq = self._seqs.pop(0)
            self._remove_quiet(self._path(seq))
            n += 1
            if self._dir(seq) not in dirs:
                dirs.append(self._dir(seq))
        while self._bad and self._bad[0] <= up_to:
            seq = self._bad.pop(0)
            self._remove_quiet(self._path(seq, "bad"))
            self._remove_quiet(self._path(seq))  # found damaged after boot, not renamed yet
            if self._dir(seq) not in dirs:
                dirs.append(self._dir(seq))
        for d in dirs:
            if self.fs.exists(d) and not self.fs.listdir(d):
                self.fs.rmdir(d)
        return n

    def _remove_quiet(self, path):
        try:
            self.fs.remove(path)
        except OSError:
            pass  # already gone (a previous, interrupted ack)

    # -- read -------------------------------------------------------------------------------
    def records(self, from_seq=0, limit=None):
        """(seq, raw) of stored records with seq >= from_seq, oldest first, CRC-checked;
        a damaged one is quarantined and skipped, never returned."""
        self._ensure()
        n = 0
        for seq in list(self._seqs):
            if seq < from_seq:
                continue
            if limit is not None and n >= limit:
                return
            raw = self._checked(seq)
            if raw is not None:
                n += 1
                yield seq, raw

    def read(self, seq):
        self._ensure()
        raw = self._checked(seq) if seq in self._seqs else None
        if raw is None:
            raise KeyError("no stored record %d" % seq)
        return raw

    def _checked(self, seq):
        path = self._path(seq)
        try:
            raw = self._read(path)
            if check_record(raw)[0] == seq:
                return raw
        except (DecodeError, OSError):
            pass
        # Damaged: never return it. Only RAM changes here (a pull may run during a meter
        # session, when flash must not be written); recover() renames it to .bad at boot.
        if seq in self._seqs:
            self._seqs.remove(seq)
            self._bad.append(seq)
            self._bad.sort()
        return None

    def status(self):
        self._ensure()
        return {
            "count": len(self._seqs),
            "first_seq": self._seqs[0] if self._seqs else None,
            "last_seq": self._seqs[-1] if self._seqs else None,
            "next_seq": self._next,
            "acked": self.acked,
            "free_pct": self.free_pct(),
            "full": not self._room_for(self._typical),
        }

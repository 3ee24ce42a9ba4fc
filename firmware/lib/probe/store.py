# probe.store: power-safe storage of readings in append-only segment files (device).
# Each reading is one compact record (meterproto.link.recpack: own length and CRC) appended to the
# open segment and closed at once (littlefs syncs on close; docs/ARCHITECTURE.md, "Probe internals"): the close is the
# commit point. A new segment starts at SEG_MAX bytes and with its own schema record, so any
# segment decodes on its own. Only whole segments are ever deleted, after the host acked all.
#
# Layout under root (default /data):
#   acked               ack watermark: b"ACKW" seq(4) crc16(2), replaced atomically (tmp+rename)
#   00000064.seg        segment whose first reading is seq 64: schema and reading records
#   00000064.tmp        a trimmed copy being written (boot): removed at boot if not renamed
#   00001/00000064.rec  version 1 (one file per reading, older firmware): served, then deleted
# Boot (recover): a record cut short at a segment's end (torn tail) is trimmed off by writing
# the good prefix to .tmp and renaming it over the segment; a damaged record in the middle
# is skipped (its seq becomes a gap: never returned, never reused, reported to the host).
# Sequence numbers never repeat: next = max(seq found, ack watermark) + 1.
# The watermark only moves over seqs this boot has sent in a pull (records or gap notices),
# so an ack never deletes a record the host was not given, damaged or not (issue 14).
# Never call commit() while a meter session is receiving: flash writes stop all interrupts
# on the RP2040 and the UART FIFO overflows. Commit after the session.
#
# API
#   Store(fs, root="/data", min_free_pct=3)     fs: probe.fsys.Fsys() or a SimFlash
#   recover() -> dict(removed_tmp, quarantined, deleted_acked, trimmed)   once at boot
#   commit(reading, time_s, digest=b"") -> seq   raises StoreFull (nothing written)
#   check_room(nbytes=0)                         raises StoreFull: ask before a meter session
#   records(from_seq=0, limit=None) -> iterator of (seq, raw reading record), CRC-checked
#   read(seq) -> raw bytes  (KeyError if absent or damaged)
#   listing(from_seq, limit) -> [[seq, time_s, size], ...]
#   pull(from_seq, max_bytes, have_schema=None) -> bytearray for a USB pull: the schema each
#       reading needs (unless the host has it), gap
#       notices for damaged seqs, records; at least one item when any is left
#   ack(up_to_seq) -> number of readings let go (clamped to what pulls sent)
#   status() -> {"count","first_seq","last_seq","next_seq","acked","free_pct","full",
#       "slots_left","capacity","low"}  (slots in readings of the size stored lately; low:
#       fewer than LOW_PCT % of the slots are left)
from meterproto.errors import DecodeError
from meterproto.link import records as R
from meterproto.link.records import check_record
from probe.store_layout import FILES_PER_DIR, Seg, ack_bytes, ack_value, seq_name  # noqa: F401

_ack_bytes = ack_bytes  # the old name (tests)

SEG_MAX = 131072
CHUNK = 2048  # bytes read at a time when scanning a segment (heap: one chunk, one record)
LOW_PCT = 5  # status()["low"] below this share of slots left (LED "storage-low")
_ENOSPC = 28


class StoreFull(Exception):
    """The flash is too full to take another reading: the host must sync and acknowledge."""

    code = "store-full"

    def __init__(self, free_pct, min_pct):
        self.message = ("storage is full (%d%% free, %d%% must stay free): sync with the host "
                        "to make room" % (free_pct, min_pct))
        super().__init__(self.message)


def _sync():
    from probe import store_sync

    return store_sync


def _forget(names):
    """On MicroPython, drop modules only a commit needs (and the package's reference), so
    their code is freed between readings; the next commit imports them again."""
    import sys

    if not hasattr(sys, "print_exception"):
        return  # CPython: nothing to gain
    for name in names:
        if sys.modules.pop(name, None) is not None:
            parent = sys.modules.get(name[:name.rfind(".")])
            d = parent.__dict__ if parent is not None else {}
            if name[name.rfind(".") + 1:] in d:
                del d[name[name.rfind(".") + 1:]]


def _size(recs):
    """Bytes the planned records take on flash."""
    n = 0
    for r in recs:
        n += R.OVERHEAD2 + r[3]
    return n


class Store:
    def __init__(self, fs, root="/data", min_free_pct=3):
        self.fs = fs
        self.root = root.rstrip("/")
        self.min_free_pct = min_free_pct
        self.acked = 0
        self.segs = []
        self.legacy = []  # version 1 record seqs (one file each), ascending
        self._next = 1
        self._schema_at = None  # (segment name, offset) of the schema the next reading uses
        self._seen = None  # key of the last reading's frame (recpack.Packer.seen)
        self._sent = None  # [first, last] seqs given to the host in pulls since boot
        self._pos = None  # (seq, segment, offset, schema raw): where the last pull stopped
        self._avg = 160  # bytes per reading lately (schema records included)
        self._ready = False

    # -- files --------------------------------------------------------------------------------
    def _p(self, name):
        return self.root + "/" + name

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

    def _records_of(self, seg, start=0):
        """(offset, raw) of each good record of seg from start; damaged ones are skipped
        (found again by the next magic whose CRC holds). Reads CHUNK bytes at a time."""
        f = self.fs.open(self._p(seg.name), "rb")
        try:
            end = self._file_size(f)
            pos = start
            buf = b""
            base = start  # file offset of buf[0]
            while pos + R.OVERHEAD2 <= end:
                i = pos - base
                if i + R.HEAD + 4 > len(buf):
                    f.seek(pos)
                    buf, base, i = f.read(CHUNK), pos, 0
                n = None
                try:
                    n = R.record_info(buf, i)[0]
                except DecodeError:
                    pass
                if n is not None and n <= R.MAX_BODY + R.OVERHEAD2 and pos + n <= end:
                    if i + n > len(buf):
                        f.seek(pos)
                        buf, base, i = f.read(max(n, CHUNK)), pos, 0
                    if R.check(buf, i, n):
                        yield pos, buf[i:i + n]
                        pos += n
                        continue
                pos = self._resync(f, pos + 1, end)
                buf = b""
        finally:
            f.close()

    def _resync(self, f, pos, end):
        """Offset of the next record whose CRC holds, else end."""
        while pos + R.OVERHEAD2 <= end:
            f.seek(pos)
            chunk = f.read(1024)
            i = chunk.find(b"IR\x02")
            if i < 0:
                pos += max(1, len(chunk) - 2)
                continue
            f.seek(pos + i)
            head = f.read(R.HEAD)
            try:
                n = R.record_info(head)[0]
                if n <= R.MAX_BODY + R.OVERHEAD2 and pos + i + n <= end:
                    if R.check(head + f.read(n - R.HEAD), 0, n):
                        return pos + i
            except DecodeError:
                pass
            pos += i + 1
        return end

    @staticmethod
    def _file_size(f):
        n = f.seek(0, 2)
        if n is None:  # some streams return None from seek
            n = f.tell()
        f.seek(0)
        return n

    # -- boot ---------------------------------------------------------------------------------
    def recover(self):
        """Scan after boot: drop unfinished copies, trim torn tails, find gaps, finish an
        interrupted ack, find the next seq. Returns counts of what it fixed
        (probe.store_boot: its code is let go again once done)."""
        from probe import store_boot

        try:
            return store_boot.recover(self)
        finally:
            _forget(("probe.store_boot",))

    def _trim(self, seg, size):
        """Keep the first size bytes of seg: a copy, closed, renamed over it (atomic)."""
        tmp = seg.name[:8] + ".tmp"
        src = self.fs.open(self._p(seg.name), "rb")
        try:
            dst = self.fs.open(self._p(tmp), "wb")
            try:
                done = 0
                while done < size:
                    chunk = src.read(min(1024, size - done))
                    if not chunk:
                        break
                    dst.write(chunk)
                    done += len(chunk)
            finally:
                dst.close()
        finally:
            src.close()
        self.fs.rename(self._p(tmp), self._p(seg.name))

    def _legacy_path(self, seq):
        return "%s/%05d/%08d.rec" % (self.root, seq // FILES_PER_DIR, seq)

    def _legacy_raw(self, seq):
        try:
            raw = self._read(self._legacy_path(seq))
            if check_record(raw)[0] == seq:
                return raw
        except (DecodeError, OSError):
            pass
        return None

    def _ensure(self):
        if not self._ready:
            self.recover()

    # -- space --------------------------------------------------------------------------------
    def _space(self):
        st = self.fs.statvfs(self.root)
        return st[0], st[2], st[3]  # block size, blocks, free blocks

    def free_pct(self):
        _, blocks, free = self._space()
        return free * 100 // blocks if blocks else 0

    def _spare(self):
        """Bytes that may still be written before the kept-free share is reached."""
        bsize, blocks, free = self._space()
        keep = (self.min_free_pct * blocks + 99) // 100 + 2  # + the tail copy and metadata
        return (free - keep) * bsize

    def check_room(self, nbytes=0):
        """Raise StoreFull unless a record of nbytes (default: a typical one) still fits."""
        if self._spare() < (nbytes or self._avg):
            raise StoreFull(self.free_pct(), self.min_free_pct)

    # -- write --------------------------------------------------------------------------------
    def commit(self, reading, time_s, digest=b""):
        """Store one reading (after the meter session!). Returns its seq."""
        self._ensure()
        seq = self._next
        seg = self.segs[-1] if self.segs else None
        from meterproto.link.recpack import Packer  # per commit, then let go: heap

        pk = Packer()
        if self._schema_at is not None:
            try:  # the schema is read back from flash: no RAM held between readings
                pk.adopt_parts(*self._schema_parts(self._schema_at[0], self._schema_at[1]))
            except (DecodeError, OSError, MemoryError):
                pass  # then this reading brings a new schema: only flash space is lost
        if self._seen is not None:
            pk.seen = self._seen
        try:
            return self._commit(pk, seq, seg, time_s, reading, digest)
        finally:
            self._seen = pk.seen
            # (meterproto.link.jsonpieces stays: small, and the USB server shares it)
            _forget(("meterproto.link.recpack", "meterproto.link.cells", "probe.store_schema"))

    def _schema_parts(self, name, pos):
        """(id, parsed body without its frame) of the schema at pos of segment name, read
        in small pieces (probe.store_schema, let go after the commit)."""
        from probe.store_schema import read_schema

        f = self.fs.open(self._p(name), "rb")
        try:
            return read_schema(f, pos)
        finally:
            f.close()

    def _commit(self, pk, seq, seg, time_s, reading, digest):
        # The records are planned, counted, then written in small pieces (records.write_record):
        # a day of DLMS load profile needs no record-sized buffer (heap on the RP2040).
        recs = pk.plan(seq, time_s, reading, digest) if seg else None
        if seg is None or seg.size + _size(recs) > SEG_MAX:
            pk.reset()  # a new segment carries its own schema
            recs = pk.plan(seq, time_s, reading, digest)
            seg = Seg("%08d.seg" % seq)
        size = _size(recs)
        for r in recs:
            if r[3] > R.MAX_BODY:  # before anything is written
                raise DecodeError("reading too large to store (%d bytes, at most %d)"
                                  % (r[3], R.MAX_BODY))
        try:
            self.check_room(size)
            f = self.fs.open(self._p(seg.name), "ab")
            try:
                for kind, head, obj, n in recs:
                    R.write_record(f.write, kind, head, obj, n)
            finally:
                f.close()  # the commit point: littlefs syncs the file on close
        except Exception as e:
            pk.reset()  # the schema may not have landed: write it again next time
            self._schema_at = None
            self._undo(seg)
            if isinstance(e, OSError) and e.args and e.args[0] == _ENOSPC:
                raise StoreFull(self.free_pct(), self.min_free_pct)
            raise
        if recs[0][0] == R.K_SCHEMA:
            self._schema_at = (seg.name, seg.size)  # it went first, at the old end
        if not seg.count:
            self.segs.append(seg)
            seg.first = seq
        elif seq > seg.last + 1:
            seg.gaps.extend(range(seg.last + 1, seq))  # a seq burnt by a torn append
        seg.last = seq
        seg.count += 1
        seg.size += size
        self._avg = max(16, seg.size // seg.count)
        self._next = seq + 1
        return seq

    def _undo(self, seg):
        """After a failed append: cut what may have landed, so the next append follows a
        whole record (littlefs keeps the old file on a failed sync; other file systems may
        not)."""
        try:
            if not self.fs.exists(self._p(seg.name)):
                return
            f = self.fs.open(self._p(seg.name), "rb")
            try:
                size = self._file_size(f)
            finally:
                f.close()
            if size != seg.size:
                if seg.count:
                    self._trim(seg, seg.size)
                else:
                    self.fs.remove(self._p(seg.name))
        except OSError:
            pass  # recover() trims it at the next boot

    # -- the host's side (probe.store_sync, loaded when a host pulls) --------------------
    def ack(self, up_to_seq):
        """The host holds every reading <= up_to_seq: let them go (only seqs pulls since boot
        have sent count). Returns how many readings were let go."""
        self._ensure()
        return _sync().ack(self, up_to_seq)

    def records(self, from_seq=0, limit=None):
        """(seq, raw) of stored readings with seq >= from_seq, oldest first, CRC-checked."""
        self._ensure()
        return _sync().records(self, from_seq, limit)

    def read(self, seq):
        for s, raw in self.records(seq, 1):
            if s == seq:
                return raw
        raise KeyError("no stored record %d" % seq)

    def listing(self, from_seq=0, limit=50):
        """[[seq, time_s, size], ...] of stored readings (LIST)."""
        return [[s, R.record_time(raw), len(raw)] for s, raw in self.records(from_seq, limit)]

    def pull(self, from_seq, max_bytes, have_schema=None):
        """Bytes for one PULL answer (probe.store_sync.pull)."""
        self._ensure()
        return _sync().pull(self, from_seq, max_bytes, have_schema)

    def _count(self):
        n = len(self.legacy)
        for seg in self.segs:
            if seg.first > self.acked:
                n += seg.count
            else:
                n += seg.last - self.acked - len([g for g in seg.gaps if g > self.acked])
        return n

    def status(self):
        self._ensure()
        count = self._count()
        slots = max(0, self._spare() // self._avg)
        return {
            "count": count,
            "first_seq": self._first(),
            "last_seq": self.segs[-1].last if self.segs else (
                self.legacy[-1] if self.legacy else None),
            "next_seq": self._next,
            "acked": self.acked,
            "free_pct": self.free_pct(),
            "full": slots == 0,
            "slots_left": slots,
            "capacity": count + slots,
            "low": slots * 100 < LOW_PCT * (count + slots),
        }

    def _first(self):
        if self.legacy:
            return self.legacy[0]
        for seg in self.segs:
            return max(seg.first, self.acked + 1)
        return None

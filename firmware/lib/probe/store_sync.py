# probe.store_sync: the host's side of probe.store (device): what a PULL sends, what an ACK
# lets go. Loaded when a host pulls, so a probe that only reads keeps the heap. The watermark
# only moves over seqs the pulls since boot have sent (readings and gap notices), so an ack
# never lets go of a reading the host was not given, damaged or not (docs/STORAGE.md).
from meterproto.link import records as R
from probe.store_layout import FILES_PER_DIR, ack_bytes


def ack(st, up_to_seq):
    """The host holds every reading <= up_to_seq: let them go. Only seqs that pulls
    since boot have sent count; returns how many readings were let go."""
    st._ensure()
    if st._sent is None or st._sent[0] > st.acked + 1:
        return 0  # nothing was sent from the watermark on: the host cannot hold it
    up = min(up_to_seq, st._sent[1], st._next - 1)
    if up <= st.acked:
        return 0
    before = st._count()
    # Watermark first: a cut after it still never returns or reuses these seqs.
    st._write_atomic(st._p("acked.tmp"), st._p("acked"), ack_bytes(up))
    st.acked = up
    dirs = []
    while st.legacy and st.legacy[0] <= up:
        seq = st.legacy.pop(0)
        _remove_quiet(st, st._legacy_path(seq))
        d = "%s/%05d" % (st.root, seq // FILES_PER_DIR)
        if d not in dirs:
            dirs.append(d)
    for d in st.fs.listdir(st.root):  # damaged version 1 files the host was told of
        if len(d) == 5 and d.isdigit() and int(d) * FILES_PER_DIR <= up:
            for name in st.fs.listdir(st._p(d)):
                if name[:8].isdigit() and int(name[:8]) <= up:
                    _remove_quiet(st, st._p(d) + "/" + name)
            if st._p(d) not in dirs:
                dirs.append(st._p(d))
    for d in dirs:
        if st.fs.exists(d) and not st.fs.listdir(d):
            st.fs.rmdir(d)
    while st.segs and st.segs[0].last <= up:
        seg = st.segs.pop(0)
        _remove_quiet(st, st._p(seg.name))
        if not st.segs:
            st._schema_at = None  # the schema went with the segment
    if st._pos is not None and st._pos[1] not in st.segs:
        st._pos = None  # its segment is gone; else the next pull carries on from there (a
        # rescan from the segment's start costs a CRC pass over every acked record)
    return before - st._count()


def _remove_quiet(st, path):
    try:
        st.fs.remove(path)
    except OSError:
        pass  # already gone (a previous, interrupted ack)


def _walk(st, start):
    """(seq, raw, schema raw or None, segment, offset after) of each good reading with
    seq >= start, oldest first. Reads only: safe while a meter session runs."""
    for seq in list(st.legacy):
        if seq >= start:
            raw = st._legacy_raw(seq)
            if raw is not None:
                yield seq, raw, None, None, 0
    for seg in list(st.segs):
        if seg.last < start:
            continue
        pos, schema = 0, None
        c = st._pos
        if c is not None and c[1] is seg and c[0] <= start:
            pos, schema = c[2], c[3]  # where the last pull stopped: no rescan
        for off, raw in st._records_of(seg, pos):
            if raw[3] == R.K_SCHEMA:
                schema = raw
                continue
            seq = R.record_info(raw)[2]
            if seq >= start:
                yield seq, raw, schema, seg, off + len(raw)


def records(st, from_seq=0, limit=None):
    """(seq, raw) of stored readings with seq >= from_seq, oldest first, CRC-checked."""
    st._ensure()
    n = 0
    for seq, raw, _, _, _ in _walk(st, max(from_seq, st.acked + 1)):
        if limit is not None and n >= limit:
            return
        n += 1
        yield seq, raw


def pull(st, from_seq, max_bytes, have_schema=None):
    """Bytes for one PULL answer: whole records from from_seq on, each reading preceded
    by its schema unless the host holds it (have_schema: that schema's id), and a gap
    notice for each run of seqs that will never come. At least one item when any is
    left; the seqs covered are remembered for ack()."""
    st._ensure()
    start = max(from_seq, st.acked + 1)
    out = bytearray()
    expect = start
    sent_schema = have_schema
    for seq, raw, schema, seg, after in _walk(st, start):
        add = len(raw)
        sid = None
        if schema is not None:
            sid = int.from_bytes(schema[R.HEAD:R.HEAD + 4], "big")
            if sid != sent_schema:
                add += len(schema)
        if seq > expect:
            add += R.OVERHEAD2 + 9
        if out and len(out) + add > max_bytes:
            break
        if seq > expect:
            out += R.gap_record(expect, seq - 1)
        if sid is not None and sid != sent_schema:
            out += schema
            sent_schema = sid
        out += raw
        expect = seq + 1
        st._pos = (expect, seg, after, schema) if seg is not None else None
    else:
        if expect < st._next and (not out or len(out) + R.OVERHEAD2 + 9 <= max_bytes):
            out += R.gap_record(expect, st._next - 1)  # lost at the very end
            expect = st._next
    if expect > start:
        s = st._sent
        if s is None or start > s[1] + 1 or start < s[0]:
            st._sent = [start, expect - 1]
        else:
            s[1] = max(s[1], expect - 1)
    return out

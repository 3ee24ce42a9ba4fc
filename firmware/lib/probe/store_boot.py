# probe.store_boot: what probe.store does once at boot (device): read every segment record by
# record, trim a torn or damaged tail, note gaps, finish an interrupted ack, find the version 1
# files of older firmware, find the next seq. A module of its own so its code is freed again
# after boot (probe.store._forget). Layout and rules: probe/store.py, docs/STORAGE.md.
from meterproto.errors import DecodeError
from meterproto.link import records as R
from probe.store_layout import Seg, ack_value, seq_name


def recover(st):
    """Scan after boot: drop unfinished copies, trim torn tails, find gaps, finish an
    interrupted ack, find the next seq. Returns counts of what it fixed."""
    fs = st.fs
    rep = {"removed_tmp": 0, "quarantined": 0, "deleted_acked": 0, "trimmed": 0}
    if not fs.exists(st.root):
        fs.mkdir(st.root)
    st.acked = _recover_watermark(st, rep)
    top = st.acked
    st.segs = []
    for name in fs.listdir(st.root):
        if seq_name(name, "tmp") is not None:
            fs.remove(st._p(name))  # a trimmed copy never renamed: the original stands
            rep["removed_tmp"] += 1
        elif seq_name(name, "seg") is not None:
            st.segs.append(Seg(name))
    st.segs.sort(key=lambda s: s.name)
    keep = []
    schema_at = {}  # segment name -> offset of its last schema record
    for seg in st.segs:
        last = _scan(st, seg, rep, schema_at)
        if seg.count and seg.last > st.acked:
            keep.append(seg)
        else:
            fs.remove(st._p(seg.name))  # acked (an ack was cut short) or empty
            if seg.count:
                rep["deleted_acked"] += 1
        if last is not None and last > top:
            top = last
    st.segs = keep
    top = max(top, _recover_legacy(st, rep))
    st._next = top + 1
    st._schema_at = None
    st._seen = None
    st._pos = None
    st._sent = None
    if st.segs:
        s = st.segs[-1]
        st._avg = max(16, s.size // max(1, s.count))
        if schema_at.get(s.name) is not None:  # found by its scan: no second pass
            st._schema_at = (s.name, schema_at[s.name])  # the next reading needs no new one
    st._ready = True
    return rep


def _scan(st, seg, rep, schema_at):
    """Fill seg from its file; trim a torn or damaged tail. Returns the highest seq seen
    (even in a damaged tail: that number is never handed out again)."""
    good_end = 0
    seqs = []
    bad_seq = None
    size = 0
    for pos, raw in st._records_of(seg):
        if pos != good_end:
            rep["quarantined"] += 1  # damage in the middle: its seqs become a gap
        good_end = pos + len(raw)
        size += len(raw)
        if raw[3] != R.K_SCHEMA:
            seqs.append(R.record_info(raw)[2])
        else:
            schema_at[seg.name] = pos
    f = st.fs.open(st._p(seg.name), "rb")
    try:
        end = st._file_size(f)
        if good_end < end:  # a torn or damaged tail: read what seq it claimed
            f.seek(good_end)
            try:
                info = R.record_info(f.read(R.HEAD + 4))
                if info[1] != R.K_SCHEMA and info[2] is not None:
                    bad_seq = info[2]
            except DecodeError:
                pass
    finally:
        f.close()
    if good_end < end:
        st._trim(seg, good_end)
        rep["trimmed"] += 1
    seg.count = len(seqs)
    seg.size = size
    if seqs:
        seg.first, seg.last = seqs[0], seqs[-1]
        if seg.last - seg.first + 1 != len(seqs):
            seg.gaps = [x for x in range(seg.first, seg.last) if x not in seqs]
    # A tail whose header is readable may have been pulled before it was damaged: its
    # seq is never handed out again (the host hears of it as a gap).
    want = seg.last + 1 if seqs else seq_name(seg.name, "seg")
    if bad_seq is not None and bad_seq == want:
        return bad_seq
    return seg.last


def _recover_watermark(st, rep):
    fs = st.fs
    path = st._p("acked")
    value = 0
    if fs.exists(path):
        v = ack_value(st._read(path))
        if v is not None:
            value = v
    tmp = path + ".tmp"
    if fs.exists(tmp):
        v = ack_value(st._read(tmp))
        if v is not None and v > value:
            fs.rename(tmp, path)  # the ack was durable, only its rename was cut
            value = v
        else:
            fs.remove(tmp)
            rep["removed_tmp"] += 1
    return value


def _recover_legacy(st, rep):
    """Version 1 files (older firmware): keep the good ones to serve; returns top seq."""
    fs = st.fs
    top = 0
    seqs = []
    for d in fs.listdir(st.root):
        dpath = st._p(d)
        if len(d) != 5 or not d.isdigit() or not fs.is_dir(dpath):
            continue
        for name in fs.listdir(dpath):
            if len(name) != 12 or name[8] != "." or not name[:8].isdigit():
                continue
            seq, ext = int(name[:8]), name[9:]
            path = dpath + "/" + name
            if ext == "tmp" or (seq <= st.acked and ext in ("rec", "bad")):
                fs.remove(path)
                rep["removed_tmp" if ext == "tmp" else "deleted_acked"] += 1
                continue
            top = max(top, seq)
            if ext == "rec":
                if st._legacy_raw(seq) is not None:
                    seqs.append(seq)
                else:
                    rep["quarantined"] += 1  # stays on flash as a gap until acked past
        if not fs.listdir(dpath):
            fs.rmdir(dpath)
    seqs.sort()
    st.legacy = seqs
    return top

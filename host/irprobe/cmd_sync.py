"""irprobe sync: pull the probe's stored readings into the local database, then acknowledge.

Order (docs/COMMAND-CHANNEL.md): PULL from the cursor, again from after the last record, up
to STORE_RECORDS -> check every record's CRC -> store them keyed by (device id, seq) in one
transaction -> COMMIT -> ACK. A cut anywhere re-sends at most an unacked tail, which the
database may already hold: no loss, no duplicate.
"""
import sys
import time


def add_arguments(p):
    p.add_argument("--port", required=True, help="the probe's serial port")
    p.add_argument(
        "--db", help="readings database: a file, or postgresql://user@host/db for a fleet "
        "(default: ~/.local/share/irprobe/readings.sqlite)"
    )
    p.add_argument("--no-clock", action="store_true", help="do not set the probe's clock")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for each answer")
    from irprobe.cmd_publish import add_broker_arguments

    add_broker_arguments(p, "--publish", required=False)


def _seq_ok(v):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 0xFFFFFFFF


# Session bounds: the probe says how many records it holds; a few more may be taken while we
# sync (interval logging), no more. Bytes and time follow from the record ceiling.
MARGIN_RECORDS = 64
# No probe holds more: 2 MB of flash at 23 bytes of record overhead is under 100,000 records.
MAX_PROBE_RECORDS = 1 << 20
BYTES_PER_RECORD = 32768 + 23  # meterproto.link.records: MAX_PAYLOAD + OVERHEAD
BASE_SECONDS = 60.0
# 4 records/s: far below any working link. The host takes >1000/s (bench), but the RP2040
# checks, whitens and stuffs every byte of an answer in Python: about 20 ms for an IEC
# record, 70 ms for a day of DLMS profile, and the emulated Pico of `make test-device`
# runs at a third of that speed.
SECONDS_PER_RECORD = 0.25
# Answers are stored together, in one transaction (one wait for the disk), up to this many
# records or bytes; then acknowledged. A cut before that re-sends them: none is lost.
STORE_RECORDS = 1024
STORE_BYTES = 256 * 1024


def session_limits(count):
    """(records, bytes, seconds) one sync may take from a probe that says it holds count."""
    records = count + max(MARGIN_RECORDS, count // 8)
    return records, records * BYTES_PER_RECORD, BASE_SECONDS + records * SECONDS_PER_RECORD


def _store(link, store, info, key, batch, spans, run_end, gap, stats):
    """Store batch in one transaction, then ACK the consecutive run it extends. Returns
    (key, run_end, gap) after it."""
    from irprobe.db import BadRecord, SeqConflict, StoreError
    from irprobe.probelink import LinkError, clean

    try:
        try:
            added, dup, conflicts = (
                store.add_records(key, batch) if batch else (0, 0, 0)  # committed
            )
        except SeqConflict:
            # Same number, different record: the probe's storage was erased and its
            # numbering restarted. Keep the old records; file the new ones apart.
            key = store.new_epoch(stats["device_id"])
            stats["new_epoch"] = key
            added, dup, conflicts = store.add_records(key, batch)
    except BadRecord as e:
        raise LinkError(
            "record from the probe refused: %s; nothing of this batch was "
            "stored or acknowledged" % e
        )
    except StoreError as e:
        raise LinkError("%s; nothing of this batch was acknowledged" % e)
    # Only now, committed, may the probe delete: and only the consecutive run, so a
    # record the probe skipped (quarantined, or a faulty probe) is never acked unseen.
    for first, last, lost in spans:
        if gap is None and first == run_end + 1:
            run_end = last
            if lost:
                stats["lost"] = stats.get("lost", 0) + last - first + 1
        elif gap is None:
            gap = (run_end + 1, first)
        if gap is not None and not lost:
            stats["unacked"] += 1
    if run_end > stats["acked"]:
        answer = link.ack(run_end)
        stats["probe_heap"] = answer.get("heap") if isinstance(answer, dict) else None
        store.note_sync(key, run_end, clean(info.get("firmware"), 32))
        stats["acked"] = run_end
    stats["pulled"] += len(batch)
    stats["added"] += added
    stats["duplicates"] += dup
    stats["conflicts"] += conflicts
    return key, run_end, gap


def sync(link, store, progress=None, max_bytes=None, set_clock=True, now=None, clock=None,
         store_every=STORE_RECORDS):
    """Pull everything from link (a ProbeLink) into store (irprobe.db.Store).

    Acks only the run of consecutive sequence numbers from the probe's own watermark that is
    committed to the store; records after a gap are stored but left on the probe. The whole
    session is bounded by records, bytes and time (session_limits). Answers are stored (and
    acked) together once store_every records or STORE_BYTES have come. progress(done, total)
    is called after each store. Returns a dict of figures.
    Raises LinkError / StoreError with a plain-words message.
    """
    from meterproto.link import channel as H
    from meterproto.errors import DecodeError

    from irprobe.packed_rows import RowReader

    from irprobe.db import MAX_ID
    from irprobe.probelink import LinkError, clean
    from irprobe.record_rows import RecordRows

    clock = clock or time.monotonic
    started = clock()
    info = link.info or link.hello()  # bounded by ProbeLink.call (irprobe.inbound)
    device = info.get("device_id")
    if (
        not isinstance(device, str)
        or not device
        or len(device) > MAX_ID
        or not device.isprintable()
    ):
        raise LinkError("the probe gave an unusable device id (%r)" % clean(device, 40))
    acked = info.get("acked") or 0
    count = info.get("count") or 0
    if not _seq_ok(acked) or not _seq_ok(count):
        raise LinkError(
            "the probe's status makes no sense (acked %s, count %s)"
            % (clean(acked, 20), clean(count, 20))
        )
    if count > MAX_PROBE_RECORDS:
        raise LinkError(
            "the probe says it holds %d records, more than a probe's flash can hold" % count
        )
    max_records, max_total, max_seconds = session_limits(count)
    clock_before = info.get("clock")
    if set_clock:
        link.set_clock(int(now if now is not None else time.time()))
    cursor = acked + 1
    run_end = acked  # the last seq of the consecutive run from the watermark we hold
    gap = None  # (first missing seq, next seq the probe sent) once the run broke
    key = store.current_key(device)
    stats = {
        "device_id": device,
        "pulled": 0,
        "added": 0,
        "duplicates": 0,
        "conflicts": 0,
        "batches": 0,
        "bytes": 0,
        "acked": acked,
        "unacked": 0,
        "gap": None,
        "probe_clock_was": clock_before,
    }
    mb = max_bytes or H.PULL_MAX
    if progress:
        progress(0, count)
    # Records of either version; keeps the schemas the probe sends. Packed readings come as
    # checked rows (irprobe.packed_rows), any other as a Record the store checks.
    reader = RowReader()
    batch = []  # pulled, not yet stored: RecordRows or (seq, time, reading, digest)
    spans = []  # (first, last, is a gap notice) in order: readings and gap notices
    held = 0  # bytes of the records in batch

    def flush(n_batch, n_spans):
        """Store the first n_batch records of batch (n_spans spans) and ACK."""
        nonlocal key, run_end, gap
        if n_spans:
            key, run_end, gap = _store(link, store, info, key, batch[:n_batch],
                                       spans[:n_spans], run_end, gap, stats)
            if progress:
                progress(stats["pulled"], max(count, stats["pulled"]))

    while True:
        if clock() - started > max_seconds:
            flush(len(batch), len(spans))  # what came in time is kept
            raise LinkError(
                "sync took longer than %d s for the %d records the probe holds; stopped "
                "(records up to %d are stored and acknowledged)" % (max_seconds, count, run_end)
            )
        raws = link.pull(cursor, mb, reader.last)
        n_batch, n_spans = len(batch), len(spans)
        for raw in raws:
            try:
                rec = reader.feed(raw)
            except DecodeError as e:
                flush(n_batch, n_spans)  # the answers before this one are good: kept
                raise LinkError(
                    "the probe sent a record that cannot be read (%s); nothing of it "
                    "was stored or acknowledged" % clean(e)
                )
            stats["bytes"] += len(raw)
            held += len(raw)
            if rec is None:
                continue  # a schema: the readings after it need it
            if rec.seq < cursor or (spans and rec.seq <= spans[-1][1]):
                flush(n_batch, n_spans)
                raise LinkError(
                    "the probe sent record %d out of order (expected %d or later)"
                    % (rec.seq, cursor)
                )
            if rec.gap_to is not None:
                # The probe names seqs it lost for good (damaged on its flash, or a cut
                # commit): the run may pass them, knowingly (docs/STORAGE.md).
                spans.append((rec.seq, rec.gap_to, True))
                continue
            spans.append((rec.seq, rec.seq, False))
            batch.append(rec if rec.__class__ is RecordRows
                         else (rec.seq, rec.time_s, rec.reading, rec.digest))
        more = len(spans) > n_spans  # an answer of only schemas: nothing more to come
        if more:
            if stats["pulled"] + len(batch) > max_records or stats["bytes"] > max_total:
                flush(n_batch, n_spans)  # the answers before this one were within bounds
                raise LinkError(
                    "the probe sends more than the %d records it said it holds; stopped after "
                    "%d (records up to %d are stored and acknowledged)"
                    % (count, stats["pulled"], run_end)
                )
            stats["batches"] += 1
            cursor = spans[-1][1] + 1
            if len(spans) < store_every and held < STORE_BYTES:
                continue  # one commit (and its wait for the disk) for several answers
        flush(len(batch), len(spans))
        batch, spans, held = [], [], 0
        if not more:
            break
    stats["gap"] = gap
    stats["stored_as"] = key
    stats["by_tables"] = reader.fast  # packed readings taken as rows (irprobe.packed_rows)
    return stats


def _count(n, word):
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


def run(args):
    from irprobe.cli import CommandError
    from irprobe.db import StoreError, command_store
    from irprobe.output import plain_text
    from irprobe.probelink import LinkError, open_link
    from irprobe.progress import Display, wanted

    if not args.timeout > 0:
        raise CommandError("--timeout is seconds to wait for each answer and must be above 0 "
                           "(got %s)" % args.timeout)
    # The port first: a sync that cannot reach the probe creates no database.
    link = open_link(args.port, args.timeout)
    try:
        with command_store(args.db) as store:
            try:
                with Display(wanted(), "sync") as shown:
                    shown.update("hello")

                    def progress(done, total):
                        shown.update("records", done, total)

                    stats = sync(link, store, progress, set_clock=not args.no_clock)
                link.bye()
            except (LinkError, StoreError) as e:
                raise CommandError("%s (already stored readings are safe; run sync again)"
                                   % e)
            counts = store.counts()
    finally:
        link.close()
    print(
        "probe %s: %s pulled, %d new, %d already stored; acknowledged up to %d; "
        "database holds %s of %s"
        % (
            plain_text(stats["device_id"]),
            _count(stats["pulled"], "record"),
            stats["added"],
            stats["duplicates"],
            stats["acked"],
            _count(counts["sessions"], "reading"),
            _count(counts["meters"], "meter"),
        )
    )
    from irprobe.cmd_take import heap_figures

    heap = heap_figures({"heap": stats.get("probe_heap")})
    if heap is not None and "free_min" in heap:
        print("probe heap: %d bytes free at the lowest point of this sync" % heap["free_min"],
              file=sys.stderr)
    if stats.get("lost"):
        print(
            "note: the probe reported %d records lost on its flash (damaged, or cut by a "
            "power loss); they cannot be recovered and were let go" % stats["lost"]
        )
    if stats["gap"]:
        first, then = stats["gap"]
        print(
            "warning: the probe skipped record %d and went on at %d (damaged on its flash, or "
            "a faulty probe); %d records after the gap are stored but left on the probe, "
            "not acknowledged" % (first, then, stats["unacked"])
        )
    if stats["conflicts"]:
        print(
            "warning: %d records came again with the same number and time but other content; "
            "the first copy stays the reading, the other is kept as a conflict in the database"
            % stats["conflicts"]
        )
    if stats.get("new_epoch"):
        print(
            "note: the probe numbers its records from the start again (was its storage "
            "erased?); its new records are kept apart as %s" % plain_text(stats["new_epoch"])
        )
    if args.broker:  # after the sync is reported: a broker problem loses none of it
        from irprobe.cmd_publish import publish_to_broker, report

        with command_store(args.db) as store:
            report(publish_to_broker(store, args))
    return 0

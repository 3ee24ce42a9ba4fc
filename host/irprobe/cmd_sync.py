"""irprobe sync: pull the probe's stored readings into the local database, then acknowledge.

Order per batch (docs/COMMAND-CHANNEL.md): PULL from the cursor -> check every record's CRC
-> store them keyed by (device id, seq) in one transaction -> COMMIT -> ACK. A cut anywhere
re-sends at most an unacked tail, which the database already holds: no loss, no duplicate.
"""
import sys
import time


def add_arguments(p):
    p.add_argument("--port", required=True, help="the probe's serial port")
    p.add_argument(
        "--db", help="readings database (default: ~/.local/share/irprobe/readings.sqlite)"
    )
    p.add_argument("--no-clock", action="store_true", help="do not set the probe's clock")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for each answer")


def _seq_ok(v):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 0xFFFFFFFF


def sync(link, store, progress=None, max_bytes=None, set_clock=True, now=None):
    """Pull everything from link (a ProbeLink) into store (irprobe.db.Store).

    progress(done, total) is called after each batch. Returns a dict of figures.
    Raises LinkError / BadRecord with a plain-words message.
    """
    from meterproto.link import channel as H
    from meterproto.errors import DecodeError
    from meterproto.link.records import decode_record

    from irprobe.db import MAX_ID, BadRecord, SeqConflict
    from irprobe.probelink import LinkError, clean

    info = link.info or link.hello()
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
    clock_before = info.get("clock")
    if set_clock:
        link.set_clock(int(now if now is not None else time.time()))
    cursor = acked + 1
    key = store.current_key(device)
    stats = {
        "device_id": device,
        "pulled": 0,
        "added": 0,
        "duplicates": 0,
        "batches": 0,
        "bytes": 0,
        "acked": acked,
        "probe_clock_was": clock_before,
    }
    mb = max_bytes or H.PULL_MAX
    if progress:
        progress(0, count)
    while True:
        raws = link.pull(cursor, mb)
        if not raws:
            break
        batch = []
        for raw in raws:
            try:
                rec = decode_record(raw)
            except DecodeError as e:
                raise LinkError(
                    "the probe sent a record that cannot be read (%s); nothing of it "
                    "was stored or acknowledged" % clean(e)
                )
            if rec.seq < cursor or (batch and rec.seq <= batch[-1][0]):
                raise LinkError(
                    "the probe sent record %d out of order (expected %d or later)"
                    % (rec.seq, cursor)
                )
            batch.append((rec.seq, rec.time_s, rec.reading, rec.digest))
            stats["bytes"] += len(raw)
        try:
            try:
                added, dup = store.add_records(key, batch)  # one transaction, committed
            except SeqConflict:
                # Same number, different record: the probe's storage was erased and its
                # numbering restarted. Keep the old records; file the new ones apart.
                key = store.new_epoch(device)
                stats["new_epoch"] = key
                added, dup = store.add_records(key, batch)
        except BadRecord as e:
            raise LinkError(
                "record from the probe refused: %s; nothing of this batch was "
                "stored or acknowledged" % e
            )
        last = batch[-1][0]
        answer = link.ack(last)  # only now may the probe delete
        stats["probe_heap"] = answer.get("heap") if isinstance(answer, dict) else None
        store.note_sync(key, last, clean(info.get("firmware"), 32))
        stats["pulled"] += len(batch)
        stats["added"] += added
        stats["duplicates"] += dup
        stats["batches"] += 1
        stats["acked"] = last
        cursor = last + 1
        if progress:
            progress(stats["pulled"], max(count, stats["pulled"]))
    stats["stored_as"] = key
    return stats


def run(args):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from irprobe.cli import CommandError
    from irprobe.db import BadRecord, open_store
    from irprobe.probelink import LinkError, open_link

    store = open_store(args.db)
    try:
        link = open_link(args.port, args.timeout)
        try:
            with Progress(
                TextColumn("syncing"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                transient=True,
                console=Console(stderr=True),
            ) as bar:
                task = bar.add_task("sync", total=None)

                def progress(done, total):
                    bar.update(task, completed=done, total=total)

                stats = sync(link, store, progress, set_clock=not args.no_clock)
            link.bye()
        except (LinkError, BadRecord) as e:
            raise CommandError("%s (already stored readings are safe; run sync again)" % e)
        finally:
            link.close()
        counts = store.counts()
    finally:
        store.close()
    print(
        "probe %s: %d records pulled, %d new, %d already stored; acknowledged up to %d; "
        "database holds %d readings of %d meters"
        % (
            stats["device_id"],
            stats["pulled"],
            stats["added"],
            stats["duplicates"],
            stats["acked"],
            counts["sessions"],
            counts["meters"],
        )
    )
    from irprobe.cmd_take import heap_figures

    heap = heap_figures({"heap": stats.get("probe_heap")})
    if heap is not None and "free_min" in heap:
        print("probe heap: %d bytes free at the lowest point of this sync" % heap["free_min"],
              file=sys.stderr)
    if stats.get("new_epoch"):
        print(
            "note: the probe numbers its records from the start again (was its storage "
            "erased?); its new records are kept apart as %s" % stats["new_epoch"]
        )
    return 0

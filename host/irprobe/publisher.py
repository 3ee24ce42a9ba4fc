# irprobe.publisher: stored readings -> an MQTT broker with Home Assistant discovery (host only).
# Each reading goes out once per broker: it is recorded in the `published` table right after its
# PUBACK, so a re-run (or a run cut short) sends only what was never acknowledged. Discovery
# configs are retained and re-sent only when their content changed (table published_configs).
import hashlib
import json
import time

from meterproto import hass

BATCH = 200  # readings fetched per query: memory stays flat however large the database is


def _pending(store, broker, after):
    """The next readings never acknowledged by this broker, oldest first."""
    return store.conn.execute(
        "SELECT s.id, s.device_id, s.seq, s.taken_at, s.reading, d.firmware FROM sessions s"
        " LEFT JOIN devices d ON d.device_id = s.device_id"
        " WHERE s.id > ? AND NOT EXISTS"
        " (SELECT 1 FROM published p WHERE p.broker = ? AND p.session = s.id)"
        " ORDER BY s.id LIMIT ?",
        (after, broker, BATCH),
    ).fetchall()


def _config_digests(store, broker):
    return dict(
        store.conn.execute(
            "SELECT topic, digest FROM published_configs WHERE broker = ?", (broker,)
        ).fetchall()
    )


def _mark(store, broker, sid):
    with store._tx() as c:
        c.execute(
            "INSERT OR IGNORE INTO published (broker, session, published_at) VALUES (?, ?, ?)",
            (broker, sid, int(time.time())),
        )


def _mark_config(store, broker, topic, digest):
    with store._tx() as c:
        c.execute("DELETE FROM published_configs WHERE broker = ? AND topic = ?", (broker, topic))
        c.execute(
            "INSERT INTO published_configs (broker, topic, digest, published_at)"
            " VALUES (?, ?, ?, ?)",
            (broker, topic, digest, int(time.time())),
        )


def probe_of(device_key):
    """'E6614103E7~2' (a restarted numbering, irprobe.db.new_epoch) -> the probe 'E6614103E7'."""
    return device_key.split("~", 1)[0]


def publish(store, conn, broker, prefix=hass.DISCOVERY_PREFIX, progress=None):
    """Publish every reading `broker` has not acknowledged yet through conn (irprobe.mqtt).

    Readings are sent in the order they were stored, so each meter's state topic ends on its
    newest reading. Returns {"readings", "configs", "already"}."""
    import sqlite3

    from irprobe.db import plain_error
    from irprobe.db_pg import PgError

    shared = type(store.conn).__module__ == "irprobe.db_pg"
    try:
        if shared:  # a fleet's database: one publisher per broker at a time, the others wait
            store.conn.execute("SELECT pg_advisory_lock(hashtext(?))", (broker,))
        try:
            return _publish(store, conn, broker, prefix, progress)
        finally:
            if shared:
                store.conn.execute("SELECT pg_advisory_unlock(hashtext(?))", (broker,))
    except (sqlite3.Error, PgError) as e:
        raise plain_error(e, store.path)


def _publish(store, conn, broker, prefix, progress):
    stats = {"readings": 0, "configs": 0}
    digests = _config_digests(store, broker)
    newest = {}
    after = 0
    while True:
        rows = _pending(store, broker, after)
        if not rows:
            break
        for sid, device, seq, taken_at, text, firmware in rows:
            after = sid
            reading = json.loads(text)
            probe = probe_of(device)
            for topic, cfg in hass.configs(reading, probe, firmware, prefix):
                payload = json.dumps(cfg, sort_keys=True)
                digest = hashlib.sha256(payload.encode()).hexdigest()[:32]
                if digests.get(topic) == digest:
                    continue
                conn.publish(topic, payload, retain=True)
                _mark_config(store, broker, topic, digest)
                digests[topic] = digest
                stats["configs"] += 1
            meter_id = (reading.get("meter") or {}).get("id") or "unknown"
            state = hass.state(reading, seq, taken_at)
            conn.publish(hass.state_topic(meter_id), json.dumps(state))
            _mark(store, broker, sid)  # only after PUBACK: an unacked reading goes again
            stats["readings"] += 1
            if taken_at is not None and taken_at >= newest.get(probe, -1):
                newest[probe] = taken_at
            if progress:
                progress(stats["readings"])
    for probe, taken_at in sorted(newest.items()):
        conn.publish(
            hass.probe_state_topic(probe),
            json.dumps({"time": hass.iso_utc(taken_at)}),
        )
    stats["already"] = store.conn.execute(
        "SELECT COUNT(*) FROM published WHERE broker = ?", (broker,)
    ).fetchone()[0] - stats["readings"]
    return stats

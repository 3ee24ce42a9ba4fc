# probe.read_job: one meter read through the reader app, from start to LED (device side):
# begin() builds the session (probe.session) and sends the first request; the app's loop
# steps it; finish() commits the reading to the record store once the session is over
# (no flash writes while it runs: a write stalls the CPU and the 32-byte UART FIFO overflows;
# docs/ARCHITECTURE.md, "Probe internals"), then the LED, display and app.last tell the end.
# Functions on the App (probe.app), loaded with the first read: not on the heap before.
import gc

from meterproto.compat import forget
from probe.heapmark import at as heap_at
from probe.heapmark import sample as heap_sample
from probe.led import ERROR, STORAGE_FULL, SUCCESS
from probe.settings import settings


def make_session(s):
    """The Machine for one read, from settings() (probe.session.make_session, loaded now)."""
    from probe.session import make_session as make

    return make(s)


def is_store_full(exc):
    # By name: probe.store is optional, and tests may use a stand-in store.
    return type(exc).__name__ == "StoreFull"


def begin(app, profile=None):
    """Start a meter session (the active meter profile, or the one named); False if one
    is already running or it cannot start (then app.last says why)."""
    if app.stepper is not None:
        return False
    now = app.hw.clock.ticks_ms()
    if app.store is not None and hasattr(app.store, "check_room"):
        try:
            app.store.check_room()  # a statvfs, no write: full -> say so, skip the read
        except Exception as e:
            if is_store_full(e):
                app._report(STORAGE_FULL, None, None, str(e))
            else:
                app._report(ERROR, None, None, "storage does not work: %s" % e)
            return False
    machine = echo = None
    heap_at("start")
    app.last = None  # the previous reading's objects are not needed any more
    # What only the USB answers and the sync use is loaded again after the read: its code
    # is not on the heap while the protocol modules are (they set the heap's low point).
    forget(("meterproto.link.jsonpieces", "meterproto.link.frameout", "probe.store_sync",
            "probe.store_schema"))
    app._free_memory()  # room for the protocol modules and, for a .py, their compiler
    for attempt in (1, 2):
        try:
            app.s = settings(app.config, profile)  # re-read: the host may have changed it
            machine = (app.session_factory or make_session)(app.s)
            if app.s["echo_filter"]:
                from meterproto.echo import EchoFilter

                echo = EchoFilter()
            break
        except MemoryError:
            machine = echo = None
            if attempt == 2:
                app._report(ERROR, None, None, "cannot start a read: not enough memory")
                return False
            app._free_memory(True)
        except Exception as e:  # a missing module, a bad setting in the meter profile
            app._report(ERROR, None, None, "cannot start a read: %s" % e)
            return False
    gc.collect()  # between sessions, never mid-frame
    app.echo = echo
    app.led.play("busy", now)
    app._show(["READING..."])
    try:
        from probe.session import Stepper, phase

        heap_at(lambda: phase(machine))
        app.stepper = Stepper(machine, app.hw.port, echo)  # sends the first request
    except MemoryError:
        heap_at(None)
        app.stepper = app.echo = machine = None
        app._free_memory(True)
        app._report(ERROR, None, None, "the read stopped: not enough memory")
        return False
    return True


def finish(app):
    st = app.stepper
    app.stepper = None
    app.reads += 1
    from probe.session import as_dict, classify

    outcome = classify(st, app.echo)
    m = st.machine
    reading = as_dict(m.result) if m.error is None else None
    seq = None
    message = str(m.error) if m.error is not None else "ok"
    digest = st.digest()
    st = m = app.echo = None  # the session's objects go before the commit
    heap_at("commit")
    # ... and so does the protocol code (tens of KB of bytecode in RAM on MicroPython 1.24):
    # the next read imports it again. The commit and the USB answer are written in small
    # pieces (records.write_record, link.frameout): the heap, fragmented by the
    # reading's many small objects, needs no large free piece for them.
    app._free_memory(True)
    heap_sample()  # the reading, before the commit
    if outcome == SUCCESS and app.store is None and app.store_error is not None:
        outcome, why = app.store_error
        message = "reading not stored: %s" % why
    elif outcome == SUCCESS and app.store is not None:
        outcome, seq, message = _commit(app, reading, digest)
    app._report(outcome, reading, seq, message)
    # Logging mode follows the settings this read used (the host may have changed them).
    if app.s["interval_s"] <= 0:
        app._next_interval = None
    elif app._next_interval is None:
        app._next_interval = app.hw.clock.ticks_ms() + app.s["interval_s"] * 1000
    app._free_memory()  # after the commit: room for the next read's modules
    heap_at("answer")


def _commit(app, reading, digest):
    """Store the reading (the session is over: flash writes are safe again);
    -> (outcome, seq, message)."""
    try:
        try:
            seq = app.store.commit(reading, app.hw.clock.time_s(), digest)
        except MemoryError:  # nothing was written: make room and try once more
            app._free_memory(True)
            seq = app.store.commit(reading, app.hw.clock.time_s(), digest)
    except Exception as e:  # StoreFull, or an OSError from the file system
        return (STORAGE_FULL if is_store_full(e) else ERROR), None, \
            "reading not stored: %s" % e
    heap_sample()
    return SUCCESS, seq, "ok"


def take(app):
    """Read the meter now (a host command); -> app.last when done.

    Runs to the end here: the host waits for the answer anyway. The LED keeps going.
    """
    if app.stepper is not None:
        return {"outcome": ERROR, "seq": None, "reading": None,
                "message": "a read is already running"}
    if not begin(app):
        return app.last
    clock = app.hw.clock
    try:
        while not app._step():
            app.led.tick(clock.ticks_ms())
    except KeyboardInterrupt:  # the host's Ctrl-C: the meter is left idle all the same
        st = app.stepper
        app.stepper = None
        heap_at(None)  # its closure holds the session
        if st is not None:
            from meterproto.errors import LocalProtocolError

            st.abort(LocalProtocolError("the read was stopped (Ctrl-C)"))
        raise
    app._finish()
    return app.last

# probe.doctor_job: the doctor through the reader app (device side): a long press, or the
# host's DOCTOR command, runs probe.doctor_run's ladder(s) in the app's stepper like a read;
# the verdict picks the LED pattern and the display text (docs/DOCTOR.md). Functions on the
# App (probe.app), loaded only when a press is held or the host asks: not on the heap before.
import gc

from meterproto.errors import LocalProtocolError
from probe.led import ERROR
from probe.settings import settings


def watch_press(app, now):
    """Long press: the press that started a read still held after LONG_PRESS_MS runs the
    doctor (a read still running is broken off and not stored)."""
    from probe.doctor_run import LONG_PRESS_MS, SETTLE_MS

    app.hw.button.poll(now)  # keeps the debounced state current; presses are ignored
    if not app.hw.button.pressed:
        app._held_since = None
    elif app.doctor is None and now - app._held_since >= LONG_PRESS_MS:
        app._held_since = None
        app.stepper = None
        # The meter may still be answering the read: the ladder waits for quiet first.
        begin(app, None, SETTLE_MS)


def begin(app, request=None, settle_ms=0):
    """Start the doctor (carrier off, then on, when the board has one); False if a read
    runs or the options are bad (then app.last says why)."""
    if app.stepper is not None:
        return False
    try:
        from probe import doctor_run

        app.s = settings(app.config)
        kw = doctor_run.options(app.s, request)
        kw["settle_ms"] = settle_ms
        app.doctor = doctor_run.DoctorRun(kw, getattr(app.hw, "carrier", None))
    except Exception as e:
        app._report(ERROR, None, None, "cannot start the doctor: %s" % e)
        return False
    app.led.play("busy", app.hw.clock.ticks_ms())
    app._show(["DOCTOR..."])
    _ladder(app)
    return True


def _ladder(app):
    from probe.session import Stepper

    gc.collect()
    # No echo filter: the doctor wants to see our own light come back.
    app.stepper = Stepper(app.doctor.next_machine(), app.hw.port, None)


def finish(app):
    st = app.stepper
    app.stepper = None
    d = app.doctor
    if not d.finished(st.machine):
        st = None
        _ladder(app)
        return
    app.doctor = None
    res = app.last_doctor = d.result
    outcome = d.led()
    app.last = {"outcome": outcome, "seq": None, "reading": None, "message": res["text"],
                 "doctor": res}
    app.led.play(outcome, app.hw.clock.ticks_ms())
    app._show(["DOCTOR", res["verdict"].upper(), res["text"][:40]])
    st = d = None
    app._free_memory()


def run(app, request=None):
    """The doctor for the host (USB DOCTOR command): runs to the end here and returns
    {"verdict", "text", "steps"[, "carrier": {"off": .., "on": ..}]}."""
    if app.stepper is not None:
        raise LocalProtocolError("a read is running: try again when it has finished")
    if not begin(app, request):
        raise LocalProtocolError(app.last["message"])
    clock = app.hw.clock
    while app.doctor is not None and app.stepper is not None:
        if app._step():
            app._finish()
        app.led.tick(clock.ticks_ms())
    if app.doctor is not None:
        app.doctor = None
        raise LocalProtocolError("the doctor was interrupted")
    return app.last_doctor

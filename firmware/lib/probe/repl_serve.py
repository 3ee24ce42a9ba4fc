# probe.repl_serve: the USB command server for a host that came in through the raw REPL
# (docs/COMMAND-CHANNEL.md: the host runs `import probe.repl_serve; probe.repl_serve.serve()`), and the way back to the reader app after it.
# Device side. The reader app must come back on its own: a soft reset in raw-REPL mode does not
# run main.py, and bytes the host sends to leave the raw REPL arrive while the server still
# reads, which swallows them.
import sys


def serve(idle_ms=30000):
    """The command server for a host on the raw REPL.

    The host falls back to it when no reader app answers (it interrupted main.py, or main.py
    never ran). When the host leaves (BYE, or idle_ms without a frame) the reader app carries
    on right here, so the probe is back to reading with its button whatever the host does
    next; only a raw Ctrl-C (KeyboardInterrupt) gives the REPL back.
    """
    from probe import usb

    srv = usb.current
    app = getattr(sys.modules.get("probe.main"), "running", None)
    if app is None and srv is None:
        app = _boot_app()  # main.py did not run (a soft reset in raw mode): start the reader
    if app is not None:
        _settle(app)
    if srv is None and app is not None:
        # The reader ran (main.py) and was stopped by Ctrl-C without ever hearing from the
        # host: serve its store, settings and meter port (TAKE, BRIDGE) all the same.
        inp, out = usb.stdio_streams()
        srv = usb.CommandServer(inp, out, app.store, app.config, app=app)
    if srv is None:
        from probe.config import Config
        from probe.fsys import Fsys
        from probe.store import Store

        fs = Fsys()
        store = Store(fs)
        store.recover()
        inp, out = usb.stdio_streams()
        srv = usb.CommandServer(inp, out, store, Config(fs).load())
    srv.serve(idle_ms)
    if app is not None:
        srv = None
        _resume(app)


def _boot_app():
    try:
        from probe import main as mainmod
        from probe.app import drop_modules
        from probe.boot import boot

        app = mainmod.running = boot()
        drop_modules(("probe.boot",))
        return app
    except Exception as e:  # no board file, a broken flash: serve the store alone
        print("irprobe: the reader app cannot start (%s)" % e)
        return None


def _settle(app):
    """Forget what the Ctrl-C broke off: a read or a doctor run cannot go on (the meter has
    given up on it by now), and the app was not inside its server."""
    app.stepper = None
    app.doctor = None
    app._in_server = False
    app.host_session = False


def _resume(app):
    """The reader's main loop again, as probe.main.main runs it."""
    from probe import usb

    _settle(app)
    try:
        app.run()
    except KeyboardInterrupt:
        print("irprobe: stopped (Ctrl-C); the REPL is free")
    finally:
        usb._kbd_intr(3)
        app.shutdown()

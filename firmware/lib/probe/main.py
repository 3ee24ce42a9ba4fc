# probe.main: the probe's main(), called by the board's /main.py: boot (probe.boot builds the
# app, then its code is dropped), then the app's loop until Ctrl-C (device side).
import gc

from probe.app import drop_modules

running = None  # the App main() built (kept after it stops, for the raw-REPL probe.repl_serve)


def main():
    """Start the reader on the device: board file -> hardware -> config, store, USB -> loop.

    Ctrl-C (mpremote sends it first) ends the loop cleanly and gives the REPL back, with
    Ctrl-C handling restored; any other fault is survived inside App.run().
    """
    global running
    app = None
    try:
        from probe.boot import boot

        app = boot()
        del boot
        running = app  # after Ctrl-C, probe.repl_serve.serve() (raw REPL) still reaches the reader
        drop_modules(("probe.boot",))  # only needed once: free its code
        gc.collect()
        app.run()
    except KeyboardInterrupt:
        print("irprobe: stopped (Ctrl-C); the REPL is free")
    finally:
        _kbd_intr(3)  # a host session may have switched it off
        if app is not None:
            app.shutdown()


def _kbd_intr(char):
    try:
        import micropython

        micropython.kbd_intr(char)
    except (ImportError, AttributeError):
        pass

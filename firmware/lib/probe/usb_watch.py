# probe.usb_watch: the USB command server (probe.usb) built only once the host sends something
# on the REPL serial, and forgotten again between host sessions, so its code (and
# meterproto.link) stays out of the heap while nobody talks to the probe (device side).
import gc
import sys

from probe.flashlog import describe, log
from probe.app import drop_modules


class UsbWatch:
    """Stands in for the app's server: builds it on the first input, drop() forgets it."""

    def __init__(self, build):
        self.build = build  # () -> probe.usb.CommandServer
        self.server = None
        self._poll = None
        self.off = False  # no select/stdin on this port: no USB channel (the reader goes on)

    def poll(self, now_ms):
        if self.server is None:
            if self.off:
                return False
            try:
                if not self._input_waiting():
                    return False
                gc.collect()
                self.server = self.build()
            except ImportError as e:
                self.off = True
                log("no USB command channel on this port (%s)" % describe(e), None, False)
                return False
        return self.server.poll(now_ms)

    def _input_waiting(self):
        if self._poll is None:
            import select

            self._poll = select.poll()
            self._poll.register(sys.stdin, select.POLLIN)
        return bool(self._poll.poll(0))

    def drop(self):
        """Forget the server between host sessions so its modules can be freed."""
        srv = self.server
        if srv is None:
            return
        if srv.link.session_open or srv._bridge is not None:
            return  # the host is in the middle of something: keep its session
        self.server = None
        usb = sys.modules.get("probe.usb")
        if usb is not None and usb.current is srv:
            usb.current = None
        drop_modules(("probe.usb", "meterproto.link.device", "meterproto.link.channel",
                      "meterproto.link.jsonpieces", "meterproto.link.frameout"))


def server_builder(app, store, config):
    """() -> the app's USB command server (for UsbWatch; a closure here, not in probe.boot,
    so it does not keep probe.boot alive)."""
    return lambda: _make_server(app, store, config)


def _make_server(app, store, config):
    from probe import usb

    inp, out = usb.stdio_streams()
    return usb.CommandServer(inp, out, store, config, app=app)

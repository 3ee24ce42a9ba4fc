# irprobe.sim.probe_sim: a whole simulated probe whose USB side is a pty (host only).
# The firmware's own reader app (probe.app) and USB command server (probe.usb) run on CPython
# with the fake hardware layer (probe.hal_fake); its meter port is a simulated-time line to a
# simulated meter (irprobe.sim.profiles). Records go to probe.store on a folder. So every host
# command (take, sync, config, bridge, devices' hello) talks to the very code the board runs.
# Simulated time is kept in step with real time while idle, so bridged sessions keep the
# meter's timing; a TAKE runs its session in simulated time (instant).
import os
import pty
import select
import shutil
import tempfile
import threading
import time
import tty


class _PtyIn:
    """Non-blocking reads from the pty master (what the host wrote)."""

    def __init__(self, fd):
        self.fd = fd

    def read(self):
        r, _, _ = select.select([self.fd], [], [], 0)
        if not r:
            return b""
        try:
            return os.read(self.fd, 4096)
        except OSError:
            return b""


class _PtyOut:
    """Writes to the pty master; gives up after a while when nobody reads (cable pulled)."""

    def __init__(self, fd, give_up_s=2.0):
        self.fd = fd
        self.give_up_s = give_up_s
        self.written = 0

    def write(self, data):
        view = memoryview(bytes(data))
        end = time.monotonic() + self.give_up_s
        while view and time.monotonic() < end:
            _, w, _ = select.select([], [self.fd], [], 0.05)
            if w:
                try:
                    n = os.write(self.fd, view[:4096])
                except BlockingIOError:
                    continue
                except OSError:
                    return
                self.written += n
                view = view[n:]


class ProbeSim:
    """A simulated probe. profile: a simulated meter name (irprobe simulate --list)."""

    def __init__(
        self, profile="iskra-mt174", root=None, device_id=None, prefill=0, time_s=None, faults=None
    ):
        from probe.app import App
        from probe.config import Config
        from probe.fsys import Fsys
        from probe.hal_fake import FakeHardware
        from probe.store import Store
        from probe.usb import CommandServer

        from irprobe.sim.profiles import get_profile, make_meter
        from irprobe.sim.vline import VirtualLine

        self.profile = get_profile(profile)  # KeyError with the known names
        self._own_root = root is None
        # Its records and config.json (the meter's password and keys) live here: private
        # (mkdtemp makes it 0700) and removed by close(), also on SIGTERM/SIGHUP (main).
        self.root = root or tempfile.mkdtemp(prefix="irprobe-sim-")
        os.makedirs(self.root, exist_ok=True)
        fs = Fsys(self.root)
        self.line = VirtualLine(make_meter(self.profile), faults=faults)
        self.hw = FakeHardware(self.line)
        self.hw.clock.time_s0 = int(time.time()) if time_s is None else time_s
        self.config = Config(fs).load()
        if not self.config.data["meters"]:
            mode = "auto" if self.profile.get("protocol") == "dlms" else "iec"
            self.config.apply(
                {"meters": [{"name": profile, "mode": mode}], "set": {"active": profile}}
            )
        self.store = Store(fs)
        self.store.recover()
        self.app = App(self.hw, self.config, self.store)
        self.mfd, self._sfd = pty.openpty()
        tty.setraw(self._sfd)  # the slave stays open: the "USB port" exists while we run
        os.set_blocking(self.mfd, False)
        self.port = os.ttyname(self._sfd)
        self.out = _PtyOut(self.mfd)
        self.server = CommandServer(
            _PtyIn(self.mfd),
            self.out,
            self.store,
            self.config,
            self.app,
            device_id=device_id or ("SIM-" + profile)[:32],
        )
        self.app.server = self.server
        if prefill:
            self.prefill(prefill)
        self._stop = threading.Event()
        self._thread = None
        self.error = None

    def move_to(self, profile):
        """Hold the probe to another simulated meter (the handheld walks to the next one).
        Time carries on: the new line starts at the old line's simulated time."""
        from irprobe.sim.profiles import get_profile, make_meter
        from irprobe.sim.vline import VirtualLine

        p = get_profile(profile)
        line = VirtualLine(make_meter(p), faults=self.line.faults)
        line.now = self.line.now
        self.profile = p
        self.line = line
        self.hw.port.line = line

    def prefill(self, n, reading=None):
        """Store n records as if n readings had been taken (benchmarks, sync tests)."""
        exp = self.profile.get("expected") or []
        base = reading or {
            "meter": {"id": "SIM%08d" % 1, "manufacturer": "SIM", "ident": "/SIM5"},
            "protocol": "iec62056-21",
            "mode": "C",
            "baud": 9600,
            "values": [{"obis": e["obis"], "value": e["value"], "unit": e["unit"]} for e in exp][
                :8
            ],
        }
        t = self.hw.clock.time_s() - 900 * n
        for i in range(n):
            self.store.commit(base, t + 900 * i, b"")

    # -- running ----------------------------------------------------------------------
    def step(self):
        """One loop turn: wait for the host a little, then one app tick (it polls USB)."""
        select.select([self.mfd], [], [], 0.004)
        self.app.tick()  # idle: sleeps 5 ms of simulated time, so sim time ~ real time

    def run(self, timeout_s=None):
        end = None if timeout_s is None else time.monotonic() + timeout_s
        try:
            while not self._stop.is_set() and (end is None or time.monotonic() < end):
                try:
                    self.step()
                except KeyboardInterrupt:
                    # A raw Ctrl-C from the host ends its session (probe.usb): carry on.
                    continue
        except Exception as e:  # keep the reason for tests and print it for users
            self.error = e
            raise

    def start(self):
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def close(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for fd in (self.mfd, self._sfd):
            try:
                os.close(fd)
            except OSError:
                pass
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

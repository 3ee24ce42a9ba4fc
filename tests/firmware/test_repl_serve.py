# probe.repl_serve: a host that came in through the raw REPL leaves the probe in its reader
# app: after BYE (or idle) the app runs on; a raw Ctrl-C gives the REPL back instead.
import sys
import types

import pytest

from meterproto.link import channel as H
from meterproto.link.host import HostSide
from probe import repl_serve, usb

from fw_helpers import Pipe


class App:
    def __init__(self):
        self.store = None
        self.config = None
        self.busy = False
        self.stepper = object()  # a read the Ctrl-C broke off
        self.doctor = None
        self._in_server = True
        self.host_session = True
        self.runs = 0
        self.shut = 0

    def run(self, until_ms=None):
        assert self.stepper is None and not self._in_server  # it starts clean
        self.runs += 1
        raise KeyboardInterrupt  # the user stops it again (else it would run for ever)

    def shutdown(self):
        self.shut += 1


@pytest.fixture
def setup(monkeypatch):
    kbd = []
    mod = types.ModuleType("micropython")
    mod.kbd_intr = kbd.append
    monkeypatch.setitem(sys.modules, "micropython", mod)
    mainmod = types.ModuleType("probe.main")
    mainmod.running = App()
    monkeypatch.setitem(sys.modules, "probe.main", mainmod)
    monkeypatch.setattr(usb, "current", None)
    inp, out = Pipe(), Pipe()
    monkeypatch.setattr(usb, "stdio_streams", lambda: (inp, out))
    return mainmod.running, inp, out, kbd


def test_after_bye_the_reader_app_runs_again(setup):
    app, inp, out, kbd = setup
    hs = HostSide(1 << 16)
    inp.write(hs.hello() + hs.bye() + b"\r\x02\x04")  # what a host on the raw REPL sends
    repl_serve.serve(idle_ms=2000)
    frames = H.FrameDecoder().feed(out.read())
    assert [f.type for f in frames] == [H.CMD_HELLO | 0x80, H.CMD_BYE | 0x80]
    assert app.runs == 1 and app.shut == 1 and kbd[-1] == 3


def test_a_host_that_goes_away_leaves_the_app_running(setup):
    app, inp, out, kbd = setup
    repl_serve.serve(idle_ms=20)  # nobody says anything
    assert app.runs == 1


def test_raw_ctrl_c_gives_the_repl_back(setup):
    app, inp, out, kbd = setup
    hs = HostSide(1 << 16)
    inp.write(hs.hello())
    inp_read = inp.read

    def read():
        data = inp_read()
        return data if data else b"\x03"  # then a raw Ctrl-C between frames

    inp.read = read
    with pytest.raises(KeyboardInterrupt):
        repl_serve.serve(idle_ms=2000)
    assert app.runs == 0

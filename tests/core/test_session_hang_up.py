# Every way a session ends leaves the meter idle: a DISC for HDLC, a B0 in IEC programming
# mode, also when the end comes from outside the protocol (a fault in our own code, no
# memory, the user's Ctrl-C): meterproto.machine.Machine.abort, meterproto.driver.run.
from meterproto.dlms.client import DlmsClient
from meterproto.driver import T_TX, Driver, run
from meterproto.errors import LocalProtocolError, Refused
from meterproto.hdlc import frame as hf
from meterproto.iec import msg as m
from meterproto.iec.client import IecClient
from meterproto.session.auto import AutoSession
from irprobe.sim import profiles
from irprobe.sim.vline import VirtualLine
from test_iec21_client import _Meter


class _Boom(RuntimeError):
    pass


def _dlms_fault_at(method, after):
    """A direct-HDLC read of dlms-lp96 where our code fails in `method` on its call number
    `after` (a stand-in for a bug or MemoryError); -> (what run raised, meter, bytes sent)."""
    orig = getattr(DlmsClient, method)
    calls = [0]

    def failing(self, *a):
        calls[0] += 1
        if calls[0] == after:
            raise _Boom("a fault in our code")
        return orig(self, *a)

    meter = profiles.make_meter("dlms-lp96")
    line = VirtualLine(meter)
    setattr(DlmsClient, method, failing)
    trace = []
    try:
        run(AutoSession(mode="hdlc"), line, trace=trace)
    except _Boom as e:
        raised = e
    else:
        raised = None
    finally:
        setattr(DlmsClient, method, orig)
    _drain(line)  # the meter takes what was sent last
    return raised, meter, b"".join(t[2] for t in trace if t[1] == T_TX)


def _drain(line):
    """Let the meter take what was sent last (and answer it, byte by byte)."""
    while line.read(line.now_ms() + 300):
        pass


def _disc():
    return hf.encode_frame(hf.server_address(1), hf.client_address(16), hf.ctl_u(hf.K_DISC))


def test_a_fault_in_our_code_mid_read_still_sends_disc():
    raised, meter, tx = _dlms_fault_at("_add_row", 5)  # in the middle of the load profile
    assert isinstance(raised, _Boom)  # the fault is not hidden...
    assert tx.endswith(_disc())  # ... and the meter got a DISC on its way out
    assert "HDLC disconnected" in meter.log, meter.log


def test_a_fault_while_associating_still_sends_disc():
    raised, meter, tx = _dlms_fault_at("_get", 1)  # the first GET after the AARE
    assert isinstance(raised, _Boom) and tx.endswith(_disc())
    assert "HDLC disconnected" in meter.log, meter.log


def test_ctrl_c_mid_read_sends_disc():
    meter = profiles.make_meter("dlms-lp96")
    line = VirtualLine(meter)
    orig = DlmsClient._add_row
    n = [0]

    def interrupted(self, *a):
        n[0] += 1
        if n[0] == 3:
            raise KeyboardInterrupt
        return orig(self, *a)

    DlmsClient._add_row = interrupted
    try:
        run(AutoSession(mode="hdlc"), line)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the Ctrl-C was swallowed")
    finally:
        DlmsClient._add_row = orig
    _drain(line)
    assert "HDLC disconnected" in meter.log, meter.log


def test_abort_from_the_probe_app_sends_disc_and_ends_the_session():
    # probe.app._step and probe.read_job.take call Driver.abort on a fault or a Ctrl-C
    meter = profiles.make_meter("dlms-lp96")
    line = VirtualLine(meter)
    s = AutoSession(mode="hdlc")
    d = Driver(s, line)
    for _ in range(3000):  # connected, associated, reading the object list
        if s.sub.state >= 3:
            break
        d.step()
    assert not s.done and "HDLC connected" in meter.log
    d.abort(LocalProtocolError("stopped by the user"))
    assert s.done and "stopped by the user" in str(s.error)
    _drain(line)
    assert "HDLC disconnected" in meter.log, meter.log
    d.abort(LocalProtocolError("again"))  # a second abort sends nothing more
    assert "again" in str(s.error)


def test_a_refused_password_ends_programming_mode_with_b0():
    meter = _Meter(password="secret", nak_wrong_password=True)
    line = VirtualLine(meter)
    try:
        run(IecClient(password="guess", commands=[("R1", "1.8.0()")]), line)
    except Refused as e:
        assert "refused P1" in str(e) and "wrong password" in str(e)
    else:
        raise AssertionError("expected Refused")
    _drain(line)
    assert meter.got[-1] == m.BREAK, meter.got[-3:]


def test_a_fault_in_programming_mode_ends_it_with_b0():
    meter = _Meter(password="00000000", registers={"1.8.0": "000123.4*kWh"})
    orig = IecClient._on_reply

    def failing(self, *a):
        raise _Boom("a fault in our code")

    IecClient._on_reply = failing
    line = VirtualLine(meter)
    try:
        run(IecClient(password="00000000", commands=[("R1", "1.8.0()")]), line)
    except _Boom:
        pass
    else:
        raise AssertionError("the fault was swallowed")
    finally:
        IecClient._on_reply = orig
    _drain(line)
    assert meter.got[-1] == m.BREAK, meter.got[-3:]


def test_a_readout_session_ends_without_b0():
    # mode C readout: no programming mode, so nothing to break off
    meter = _Meter()
    orig = IecClient._on_readout

    def failing(self, *a):
        raise _Boom("a fault in our code")

    IecClient._on_readout = failing
    line = VirtualLine(meter)
    try:
        run(IecClient(), line)
    except _Boom:
        pass
    finally:
        IecClient._on_readout = orig
    _drain(line)
    assert m.BREAK not in meter.got

# The doctor ladder against small scripted meters in simulated time: each kind of silence
# gets its own verdict. (The full fault table against the simulator is in test_doctor_faults.)
from meterproto.doctor.ladder import Doctor, classify, Step, snrm_frame, F_PARITY7, F_ECHO
from meterproto.driver import run
from meterproto.compat import unhexlify
from meterproto.line import FMT_7E1, FMT_8N1
from meterproto.machine import Machine
from irprobe.sim.vline import VirtualLine, Faults


class _IdentMeter(Machine):
    """Answers a sign-on with an identification; optionally only after a wake-up train or
    only to its own address. Enough to exercise the ladder without the full simulator."""

    def __init__(self, ident=b"/LGZ5\\2ZMD3104407.B32\r\n", needs_wakeup=False, address=None):
        Machine.__init__(self)
        self.ident = ident
        self.needs_wakeup = needs_wakeup
        self.address = address
        self.awake_until = -1
        self.buf = b""
        self.nuls = 0

    def start(self, now_ms):
        self._deadline = None

    def receive(self, data, now_ms):
        for b in data:
            if b == 0:
                self.nuls += 1
                if self.nuls >= 30:
                    self.awake_until = now_ms + 5000
                continue
            self.buf += bytes((b,))
        if self.buf.endswith(b"!\r\n"):
            req = self.buf[self.buf.rfind(b"/?"):]
            self.buf = b""
            addr = req[2:-3].decode()
            if self.needs_wakeup and now_ms > self.awake_until:
                return
            if self.address is not None and addr != self.address:
                return
            self._deadline = now_ms + 200

    def timeout(self, now_ms):
        self._send(self.ident, now_ms)
        self._deadline = None


def _doctor(meter, faults=None, **kw):
    kw.setdefault("readout_check", False)
    line = VirtualLine(meter, faults=faults)
    return run(Doctor(**kw), line)


def test_answering_meter_is_ok_with_mode_and_baud():
    r = _doctor(_IdentMeter())
    assert r["verdict"] == "ok", r
    assert "9600" in r["text"] and "mode E" in r["text"]


def test_unpowered_meter_is_silent_and_echo_only_with_crosstalk():
    r = _doctor(_IdentMeter(), Faults(unpowered=True))
    assert r["verdict"] == "silent", r
    r = _doctor(_IdentMeter(), Faults(unpowered=True, echo=True))
    assert r["verdict"] == "echo-only", r
    assert "powered" in r["text"]
    assert [s["step"] for s in r["steps"]][-1] == "SNRM 9600 8N1"


def test_sleeping_meter_needs_wakeup():
    r = _doctor(_IdentMeter(needs_wakeup=True))
    assert r["verdict"] == "needs-wakeup", r
    assert "--wakeup" in r["text"]


def test_meter_answering_only_its_address():
    r = _doctor(_IdentMeter(address="12345678"), address="12345678")
    assert r["verdict"] == "needs-address", r
    r = _doctor(_IdentMeter(address="12345678"))
    assert r["verdict"] == "silent" and "--address" in r["text"], r


def test_adapter_reading_8n1_is_wrong_framing():
    r = _doctor(_IdentMeter(), Faults(client_8n1=True))
    assert r["verdict"] == "wrong-framing", r
    assert "7 data bits" in r["text"]


def test_classify_seed_frames_as_echo_not_meter():
    s = Step("SNRM 9600 8N1", 9600, FMT_8N1, kind="hdlc")
    s.sent = unhexlify("7E A0 07 03 21 93 0F 01 7E")
    s.received = bytearray(unhexlify("7E A0 87 03 21 93 0F 81 7E"))
    classify(s)
    assert s.finding == F_ECHO and s.echo_bytes == 9
    assert snrm_frame() == s.sent


def test_classify_parity_in_bit7():
    s = Step("sign-on 300 7E1", 300, FMT_7E1)
    s.sent = b"/?!\r\n"
    from meterproto.line import even_parity_bit
    s.received = bytearray([(b | (even_parity_bit(b) << 7)) for b in b"/ISk5MT174-0001\r\n"])
    classify(s)
    assert s.finding == F_PARITY7, s.finding


def test_loopback_tells_crosstalk_from_a_clean_head():
    r = _doctor(_IdentMeter(), Faults(unpowered=True, echo=True), loopback=True)
    assert r["verdict"] == "echo-only" and "crosstalk" in r["text"], r
    r = _doctor(_IdentMeter(), Faults(unpowered=True), loopback=True)
    assert r["verdict"] == "silent" and "no crosstalk" in r["text"], r
    assert len(r["steps"]) == 1


def test_bad_options_fail_at_once_in_plain_words():
    from meterproto.errors import LocalProtocolError

    for kw in ({"address": "no!good"}, {"wakeup": "shout"}):
        try:
            Doctor(**kw)
        except LocalProtocolError as e:
            assert str(e)
        else:
            assert False, kw


def test_no_wakeup_and_no_hdlc_shorten_the_ladder():
    r = _doctor(_IdentMeter(), Faults(unpowered=True), wakeup=None, try_hdlc=False)
    assert [s["step"] for s in r["steps"]] == ["sign-on 300 7E1"]
    assert r["verdict"] == "silent"

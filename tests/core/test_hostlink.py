# hostlink: frames, both ends back to back, damage, absurd lengths, retries (both runtimes).
from irprobe.sim.rng import Rng
from meterproto.link import channel as H
from meterproto.link.device import DeviceSide, EscapeScanner
from meterproto.link.host import HostSide, Response
from meterproto.errors import ChecksumError, DecodeError
from meterproto.link.records import crc16, encode_record


class Handler:
    """A device handler that counts what it ran."""

    def __init__(self):
        self.calls = []
        self.records = []
        for s in range(1, 6):
            v = {"obis": "1-0:1.8.0*255", "value": "%06d.123" % s, "unit": "kWh"}
            reading = {"protocol": "iec62056-21", "values": [v]}
            self.records.append(encode_record(s, 1700000000 + s, reading, b""))

    def hello(self, args):
        self.calls.append("hello")
        return {"device_id": "DEV1", "proto": H.PROTO_VERSION}

    def status(self, args):
        self.calls.append("status")
        return {"count": len(self.records)}

    def take(self, args):
        self.calls.append("take")
        return {"protocol": "iec62056-21", "values": [], "n": len(self.calls)}

    def pull(self, args):
        self.calls.append("pull")
        out = b""
        for r in self.records:
            if len(out) + len(r) > args["max_bytes"] and out:
                break
            out += r
        return out

    def ack(self, args):
        self.calls.append("ack")
        if args["up_to_seq"] > 100:
            raise StoreErr()
        return {"acked": args["up_to_seq"]}

    def bridge(self, args):
        self.calls.append("bridge")
        return {"escape": "x"}

    def bye(self, args):
        return {}


class StoreErr(Exception):
    code = "store-full"

    def __str__(self):
        return "storage is full"


def _pair():
    return HostSide(), DeviceSide(Handler())


def _open(hs, dev):
    out = dev.receive(hs.hello())
    assert hs.receive(b"".join(out)).value["device_id"] == "DEV1"


def _expect(exc_type, fn, *args):
    try:
        fn(*args)
    except exc_type as e:
        return e
    raise AssertionError("%s not raised" % exc_type.__name__)


def test_crc16_check_value():
    assert crc16(b"123456789") == 0x29B1
    assert crc16(b"") == 0xFFFF


def test_frames_never_carry_control_bytes_and_decode_any_split():
    payload = bytes(range(256)) * 3
    f = H.encode_frame(0x85, 0x1234, payload)
    assert f[0] == H.SOF and f[-1] == H.EOF
    inner = f[1:-1]
    for b in inner:
        assert b >= 0x20 and b not in (H.SOF, H.EOF), b
    rng = Rng(7)
    for mode in range(12):
        d = H.FrameDecoder()
        got = []
        if mode == 0:
            got = d.feed(f)
        elif mode == 1:
            for i in range(len(f)):
                got += d.feed(f[i:i + 1])
        else:
            i = 0
            while i < len(f):
                n = 1 + rng.below(40)
                got += d.feed(f[i:i + n])
                i += n
        assert len(got) == 1, got
        assert got[0].type == 0x85 and got[0].seq == 0x1234 and got[0].payload == payload


def test_noise_between_frames_is_ignored_and_ctrl_c_is_seen():
    d = H.FrameDecoder()
    f = H.encode_frame(1, 2, b"{}")
    got = d.feed(b"MicroPython v1.27\r\n>>> " + f + b"hello\n" + f)
    assert [g.seq for g in got] == [2, 2]
    assert not d.ctrl_c
    d.feed(b"\x03")
    assert d.ctrl_c


def test_bad_crc_truncated_and_absurd_length_are_errors_then_recover():
    good = H.encode_frame(2, 9, b'{"a":1}')
    bad = bytearray(good)
    i = good.find(b"a")
    bad[i] ^= 0x02  # "a" -> "c": same length, wrong CRC
    d = H.FrameDecoder(100)
    got = d.feed(bytes(bad) + good)
    assert isinstance(got[0], ChecksumError) and got[1].seq == 9
    got = d.feed(good[:6] + good)  # a frame cut short by the next one
    assert isinstance(got[0], DecodeError) and got[1].seq == 9
    # length field says 200 (limit 100): rejected after the header, before the payload
    head = H.encode_frame(2, 9, b"x" * 200)[:12]
    got = d.feed(head)
    assert len(got) == 1 and isinstance(got[0], H.FrameTooLong), got
    got = d.feed(b"y" * 5000 + good)
    assert len(got) == 1 and got[0].seq == 9
    # a frame with no end is cut off at the limit, not buffered forever
    got = d.feed(bytes((H.SOF,)) + b"z" * 300)
    assert len(got) == 1 and isinstance(got[0], H.FrameTooLong)
    # length field and actual length disagree
    body = bytearray(good)
    got = d.feed(bytes(body[:-4]) + bytes(body[-1:]))
    assert len(got) == 1 and isinstance(got[0], DecodeError)


def test_back_to_back_commands_pull_and_errors():
    hs, dev = _pair()
    _expect(H.DeviceError, hs.receive, b"".join(dev.receive(hs.status())))  # no HELLO yet
    _open(hs, dev)
    r = hs.receive(b"".join(dev.receive(hs.pull(1, 200))))
    assert len(r.value) == 1  # one record is bigger than 200 bytes: still one whole record
    r = hs.receive(b"".join(dev.receive(hs.pull(1, 10000))))
    assert len(r.value) == 5 and r.value[0] == dev.handler.records[0]
    e = _expect(H.DeviceError, hs.receive, b"".join(dev.receive(hs.ack(1000))))
    assert e.code == "store-full" and "full" in e.message
    assert hs.receive(b"".join(dev.receive(hs.ack(3)))).value == {"acked": 3}
    e = _expect(H.DeviceError, hs.receive, b"".join(dev.receive(hs.set_clock(5))))
    assert e.code == H.E_UNSUPPORTED
    hs.request(0x42)
    answer = dev.receive(H.encode_frame(0x42, hs.pending[0], b"{}"))
    e = _expect(H.DeviceError, hs.receive, b"".join(answer))
    assert e.code == H.E_UNKNOWN
    f = H.encode_frame(H.CMD_ACK, 77, b"not json")
    hs.pending = (77, H.CMD_ACK | H.RESPONSE, f)
    e = _expect(H.DeviceError, hs.receive, b"".join(dev.receive(f)))
    assert e.code == H.E_BAD_REQUEST
    hs.receive(b"".join(dev.receive(hs.bye())))
    assert dev.closed and not dev.session_open


def test_damaged_request_gets_nak_and_retry_succeeds():
    hs, dev = _pair()
    assert dev.receive(b"~typed at a terminal\x7f") == []  # no session yet: no answer at all
    _open(hs, dev)
    f = bytearray(hs.take())
    f[10] ^= 0x04
    out = dev.receive(bytes(f))
    _expect(H.RetryNeeded, hs.receive, out[0])
    assert "take" not in dev.handler.calls
    r = hs.receive(b"".join(dev.receive(hs.retry())))
    assert r.value["protocol"] == "iec62056-21" and dev.handler.calls.count("take") == 1


def test_absurd_request_length_gets_too_long_answer():
    hs, dev = _pair()
    _open(hs, dev)
    out = dev.receive(H.encode_frame(H.CMD_STATUS, 5, b"{" + b" " * 5000 + b"}"))
    assert len(out) == 1
    fr = H.FrameDecoder().feed(out[0])[0]
    assert fr.type == H.T_ERROR and b"too-long" in fr.payload
    r = hs.receive(b"".join(dev.receive(hs.status())))  # the link still works after it
    assert r.value == {"count": 5}


def test_retry_after_lost_answer_does_not_run_twice():
    hs, dev = _pair()
    _open(hs, dev)
    f = hs.take()
    first = dev.receive(f)  # the answer is lost on the way
    again = dev.receive(hs.retry())
    assert again == first and dev.handler.calls.count("take") == 1
    assert hs.receive(again[0]).value["n"] == 2
    f2 = hs.take()  # a new request (new seq) runs again
    hs.receive(b"".join(dev.receive(f2)))
    assert dev.handler.calls.count("take") == 2
    # a late duplicate of an old answer is ignored, not taken for the pending one
    f3 = hs.status()
    assert hs.receive(first[0]) is None
    assert hs.receive(b"".join(dev.receive(f3))).value == {"count": 5}


def test_call_retries_over_a_lossy_link():
    hs, dev = _pair()
    _open(hs, dev)
    wire = []
    script = ["drop", "damage", "ok"]

    def write(data):
        out = dev.receive(data)
        what = script.pop(0)
        if what == "drop":
            return
        blob = b"".join(out)
        if what == "damage":
            blob = blob[:6] + bytes((blob[6] ^ 1,)) + blob[7:]
        wire.append(blob)

    def read():
        return wire.pop(0) if wire else b""

    r = hs.call(hs.take(), write, read)
    assert r.value["protocol"] == "iec62056-21"
    assert dev.handler.calls.count("take") == 1
    # a dead link gives up with a clear LinkError after the retries
    hs2 = HostSide()
    e = _expect(H.LinkError, hs2.call, hs2.status(), lambda d: None, lambda: b"", 2)
    assert "no usable answer" in str(e)


def test_bridge_hands_over_following_bytes_and_escape_splits():
    hs, dev = _pair()
    _open(hs, dev)
    out = dev.receive(hs.bridge(9600, "8N1") + b"/?!\r\n")
    assert dev.bridge == {"baud": 9600, "fmt": "8N1", "idle_ms": 0}
    assert dev.leftover == b"/?!\r\n"
    assert hs.receive(out[0]).value == {"escape": "x"}
    stream = b"\x01R1\x03" + H.ESCAPE + b"tail"
    for cut in range(len(stream) + 1):
        sc = EscapeScanner()
        a, found_a = sc.feed(stream[:cut])
        if found_a:
            b, rest = b"", sc.leftover + stream[cut:]
        else:
            b, found_b = sc.feed(stream[cut:])
            assert found_b, cut
            rest = sc.leftover
        assert a + b == b"\x01R1\x03" and rest == b"tail", cut
    sc = EscapeScanner()
    a, found = sc.feed(H.ESCAPE[:5])
    assert a == b"" and not found and sc.flush() == H.ESCAPE[:5]
    esc = hs.end_bridge()
    assert esc == H.ESCAPE
    end = dev.bridge_end_frame({"reason": "escape", "to_meter": 5, "from_meter": 0})
    assert dev.bridge is None
    r = hs.receive(b"\x7e\x06\x15meter junk" + end)
    assert r.value["reason"] == "escape"
    assert hs.receive(b"".join(dev.receive(hs.status()))).value == {"count": 5}

# HDLC link engines back to back (IEC 62056-46): client and server exchange
# real bytes, fed whole, byte by byte and at random split points, with faults on the line.
from irprobe.sim.rng import Rng
from meterproto.hdlc import frame as hf
from meterproto.compat import unhexlify
from meterproto.errors import NoAnswer, Refused
from meterproto.hdlc.link import EV_APDU, EV_CLOSED, EV_CONNECTED, EV_FAILED, HdlcClientLink
from irprobe.sim.hdlc_server import HdlcServerLink

MODES = (0, 1, 2)  # whole frames, byte by byte, random chunks


def big(n, seed):
    r = Rng(seed)
    return bytes(r.below(256) for _ in range(n))


class Net:
    """Moves frames between a client and a server link in simulated time.
    fault(direction, index, frame) may return the frame, a changed frame or None (lost)."""

    def __init__(self, cli, srv, app=None, mode=0, seed=1, fault=None, echo=False):
        self.cli = cli
        self.srv = srv
        self.app = app or (lambda req: b"\xc4" + req)
        self.mode = mode
        self.rng = Rng(seed)
        self.fault = fault
        self.echo = echo
        self.now = 0
        self.events = []
        self.server_events = []
        self.wire = {"c2s": [], "s2c": []}

    def _deliver(self, link, data):
        if self.mode == 0:
            link.receive(data, self.now)
            return
        i = 0
        while i < len(data):
            n = 1 if self.mode == 1 else 1 + self.rng.below(23)
            link.receive(data[i:i + n], self.now)
            i += n

    def _move(self, src, dst, direction):
        moved = False
        f = src.pop_output()
        while f is not None:
            moved = True
            log = self.wire[direction]
            log.append(f)
            if self.fault is not None:
                f = self.fault(direction, len(log) - 1, f)
            if f is not None:
                if self.echo and direction == "c2s":
                    self._deliver(self.cli, f)  # our own frame seen on RX (optical echo)
                self._deliver(dst, f)
            f = src.pop_output()
        return moved

    def _events(self):
        e = self.srv.next_event()
        while e is not None:
            self.server_events.append(e)
            if e[0] == EV_APDU:
                answer = self.app(e[1])
                if answer is not None:  # None: the application answers later
                    self.srv.send_apdu(answer, self.now)
            e = self.srv.next_event()
        e = self.cli.next_event()
        while e is not None:
            self.events.append(e)
            e = self.cli.next_event()

    def run(self, until, max_steps=3000):
        for _ in range(max_steps):
            a = self._move(self.cli, self.srv, "c2s")
            self._events()
            b = self._move(self.srv, self.cli, "s2c")
            self._events()
            if until(self):
                return
            if a or b:
                continue
            d = self.cli.deadline_ms()
            assert d is not None, "client waits with no deadline"
            assert d >= self.now
            self.now = d
            self.cli.timeout(self.now)
        raise AssertionError("link did not finish")

    def last(self, kind):
        for e in self.events:
            if e[0] == EV_FAILED:
                raise AssertionError("link failed: %r" % (e[1],))
        return self.events and self.events[-1][0] == kind

    def exchange(self, apdu):
        n = len(self.events)
        self.cli.send_apdu(apdu, self.now)
        self.run(lambda net: len(net.events) > n)
        e = self.events[n]
        assert e[0] == EV_APDU, e
        return e[1]


def connect(net):
    net.cli.connect(net.now)
    net.run(lambda n: bool(n.events))
    assert net.events[0][0] == EV_CONNECTED, net.events
    return net.events[0][1]


def close(net):
    net.cli.disconnect(net.now)
    net.run(lambda n: n.events[-1][0] in (EV_CLOSED, EV_FAILED))
    assert net.events[-1] == (EV_CLOSED,)
    assert net.server_events[-1] == (EV_CLOSED,)


def test_client_frames_match_vectors():
    v = _vectors()
    cli = HdlcClientLink(client_sap=16, server_upper=1)
    cli.connect(0)
    assert cli.pop_output() == v["snrm_plain"] and cli.pop_output() is None
    assert cli.deadline_ms() == 2000
    cli.receive(v["ua_plain"], 10)
    assert cli.next_event() == (EV_CONNECTED, hf.default_params())
    aarq = hf.decode_frame(v["aarq_1"]).info[3:]
    cli.send_apdu(aarq, 20)
    assert cli.pop_output() == v["aarq_1"]
    # An AARE cut in two: the client asks for the rest with RR N(R)=1.
    aare = hf.decode_frame(v["aare"]).info
    cli.receive(hf.encode_frame(b"\x21", b"\x03", hf.ctl_i(0, 1), aare[:20], True), 30)
    assert cli.pop_output() == v["rr_1"]
    cli.receive(hf.encode_frame(b"\x21", b"\x03", hf.ctl_i(1, 1), aare[20:]), 40)
    assert cli.next_event() == (EV_APDU, aare[3:])
    assert cli.pop_output() is None and cli.state == 2  # ready
    # The Part C GET frames: AARQ I(0,0), AARE I(0,1), then GET I(1,1).
    get = hf.decode_frame(v["get_attr2"]).info[3:]
    cli2 = HdlcClientLink()
    cli2.connect(0)
    cli2.receive(v["ua_plain"], 1)
    cli2.send_apdu(aarq, 2)
    cli2.receive(hf.encode_frame(b"\x21", b"\x03", hf.ctl_i(0, 1), aare), 3)
    assert cli2.pop_output() == v["snrm_plain"] and cli2.pop_output() == v["aarq_1"]
    assert cli2.pop_output() is None
    cli2.send_apdu(get, 4)
    assert cli2.pop_output() == v["get_attr2"]
    cli2.receive(v["get_response"], 5)
    assert cli2.next_event()[0] == EV_CONNECTED and cli2.next_event()[0] == EV_APDU
    assert cli2.next_event() == (EV_APDU, unhexlify("C4 01 C1 00 06 00 00 13 91"))
    cli2.send_apdu(hf.decode_frame(v["get_attr3"]).info[3:], 6)
    assert cli2.pop_output() == v["get_attr3"]
    cli2.receive(hf.encode_frame(b"\x21", b"\x03", hf.ctl_i(2, 3), hf.LLC_RESPONSE + b"\xc4"), 7)
    cli2.disconnect(8)
    assert cli2.pop_output() == v["disc"]
    cli2.receive(v["ua_plain"], 9)
    assert cli2.next_event()[0] == EV_APDU and cli2.next_event() == (EV_CLOSED,)


def test_client_two_byte_address_and_ua_parameters():
    v = _vectors()
    cli = HdlcClientLink(server_upper=1, server_lower=17)
    cli.connect(0)
    assert cli.pop_output() == v["snrm_1_17"]
    cli.receive(v["ua_params"], 5)
    ev = cli.next_event()
    assert ev[0] == EV_CONNECTED and ev[1]["max_info_rx"] == 154 and ev[1]["max_info_tx"] == 128
    cli.send_apdu(hf.decode_frame(v["aarq_1_17"]).info[3:], 6)
    assert cli.pop_output() == v["aarq_1_17"]
    cli.receive(v["aare"], 7)
    assert cli.next_event() == (EV_APDU, hf.decode_frame(v["aare"]).info[3:])


def test_server_frames_match_vectors():
    v = _vectors()
    srv = HdlcServerLink(1, 17, max_info_tx=154, max_info_rx=154)
    srv.receive(v["snrm_1_17"], 0)
    ua = hf.encode_params(128, 128, 1, 1)
    assert srv.pop_output() == hf.encode_frame(b"\x21", b"\x02\x23", 0x73, ua)
    # A client that offers 154 each way gets exactly the UA of the u9n test.
    srv = HdlcServerLink(1, 17, max_info_tx=154, max_info_rx=154)
    srv.receive(hf.encode_frame(b"\x02\x23", b"\x21", 0x93, hf.encode_params(154, 154, 1, 1)), 0)
    assert srv.pop_output() == v["ua_params"]
    want = {"max_info_tx": 154, "max_info_rx": 154, "window_tx": 1, "window_rx": 1}
    assert srv.next_event() == (EV_CONNECTED, want)
    srv.receive(v["aarq_1_17"], 1)
    ev = srv.next_event()
    assert ev == (EV_APDU, hf.decode_frame(v["aarq_1_17"]).info[3:])
    assert srv.pop_output() is None  # the poll waits for the application's answer
    srv.send_apdu(hf.decode_frame(v["aare"]).info[3:], 2)
    assert srv.pop_output() == v["aare"]
    # One-byte server 1: the GET response and the UA to DISC of Part C.
    srv = HdlcServerLink(1)
    for step in ("snrm_plain", "aarq_1"):
        srv.receive(v[step], 0)
    srv.pop_output()
    srv.send_apdu(b"\x61\x00", 1)
    srv.pop_output()
    srv.receive(v["get_attr2"], 2)
    assert srv.next_event()[0] == EV_CONNECTED and srv.next_event()[0] == EV_APDU
    assert srv.next_event() == (EV_APDU, hf.decode_frame(v["get_attr2"]).info[3:])
    srv.send_apdu(unhexlify("C4 01 C1 00 06 00 00 13 91"), 3)
    assert srv.pop_output() == v["get_response"]
    srv.receive(v["disc"], 4)
    assert srv.pop_output() == v["ua_plain"] and srv.next_event() == (EV_CLOSED,)
    # Disconnected: DISC and I frames get DM; frames for other addresses get nothing.
    srv.receive(v["disc"], 5)
    assert srv.pop_output() == v["dm"]
    srv.receive(v["get_attr2"], 6)
    assert srv.pop_output() == v["dm"]
    srv.receive(v["snrm_1_17"], 7)
    assert srv.pop_output() is None and srv.stats.ignored == 1


def test_segmentation_both_ways_windows_1_and_7():
    req = big(1000, 1)
    for win in (1, 7):
        for mode in MODES:
            cli = HdlcClientLink(window_tx=win, window_rx=win)
            srv = HdlcServerLink(window_tx=win, window_rx=win)
            net = Net(cli, srv, lambda r: big(1000, 2) + r[:5], mode, seed=win * 10 + mode)
            p = connect(net)
            assert p == {"max_info_tx": 128, "max_info_rx": 128,
                         "window_tx": win, "window_rx": win}
            got = net.exchange(req)
            assert got == big(1000, 2) + req[:5]
            assert net.server_events[1] == (EV_APDU, req)
            # 1003 bytes with LLC = 8 segments each way.
            i_c2s = [f for f in net.wire["c2s"] if hf.decode_frame(f).kind == hf.K_I]
            assert len(i_c2s) == 8
            assert max(len(hf.decode_frame(f).info) for f in i_c2s) == 128
            polls = [f for f in net.wire["c2s"] if hf.decode_frame(f).pf]
            assert len(polls) == (1 + 8 + 7 if win == 1 else 1 + 2 + 1)
            assert cli.stats.retransmits == 0 and srv.stats.retransmits == 0
            close(net)


def test_negotiation_takes_the_smaller_values():
    cli = HdlcClientLink(max_info_tx=512, max_info_rx=1024, window_tx=7, window_rx=7)
    srv = HdlcServerLink(max_info_tx=256, max_info_rx=300, window_tx=2, window_rx=3)
    net = Net(cli, srv)
    p = connect(net)
    assert p == {"max_info_tx": 300, "max_info_rx": 256, "window_tx": 3, "window_rx": 2}
    assert srv.params == {"max_info_tx": 256, "max_info_rx": 300, "window_tx": 2, "window_rx": 3}
    assert net.exchange(big(2000, 3)) == b"\xc4" + big(2000, 3)
    for f in net.wire["s2c"]:
        assert len(hf.decode_frame(f).info) <= 256
    for f in net.wire["c2s"]:
        assert len(hf.decode_frame(f).info) <= 300


def _corrupt(which_dir, which_index, hit):
    def fault(direction, index, frame):
        if direction == which_dir and index == which_index:
            hit.append(hf.decode_frame(frame).pf)
            b = bytearray(frame)
            b[len(b) - 5] ^= 0x20
            return bytes(b)
        return frame
    return fault


def _lose(which_dir, which_index, hit):
    def fault(direction, index, frame):
        if direction == which_dir and index == which_index:
            hit.append(hf.decode_frame(frame).pf)
            return None
        return frame
    return fault


def test_fcs_error_and_lost_frames_are_retransmitted():
    req = big(700, 4)
    for win in (1, 7):
        cases = []
        for d in ("c2s", "s2c"):
            for idx in (1, 3, 5):
                hit = []
                cases.append((_corrupt(d, idx, hit), True, hit))
                hit = []
                cases.append((_lose(d, idx, hit), False, hit))
        for k in range(len(cases)):
            fault, damaged, hit = cases[k]
            mode = k % 3
            cli = HdlcClientLink(window_tx=win, window_rx=win)
            srv = HdlcServerLink(window_tx=win, window_rx=win)
            net = Net(cli, srv, lambda r: big(900, 5), mode, seed=k, fault=fault)
            connect(net)
            assert net.exchange(req) == big(900, 5)
            assert net.server_events[1] == (EV_APDU, req)
            bad = net.cli.stats.bad_frames + net.srv.stats.bad_frames
            assert bad == (1 if damaged else 0), (win, k, bad)
            assert len(hit) == 1
            # A lost poll/final costs a reply timeout; a lost frame inside a window is seen
            # as a gap in N(S) when the final frame comes, and resent at once.
            assert (net.now >= 2000) == (hit[0] == 1), (win, k, net.now)
            assert net.cli.stats.retransmits + net.srv.stats.retransmits >= 1
            close(net)


def test_no_answer_fails_in_plain_words_after_bounded_retries():
    cli = HdlcClientLink(server_upper=1, server_lower=17, retries=2, reply_timeout_ms=1500)
    srv = HdlcServerLink(1, 16)  # the meter has another physical address
    net = Net(cli, srv)
    cli.connect(0)
    net.run(lambda n: bool(n.events))
    e = net.events[0]
    assert e[0] == EV_FAILED and isinstance(e[1], NoAnswer)
    assert str(e[1]) == ("no UA to the SNRM from server 1/17: wrong address, wrong baud "
                         "or not an HDLC meter")
    assert len(net.wire["c2s"]) == 3 and net.now == 4500
    assert cli.deadline_ms() is None and cli.pop_output() is None


def test_meter_that_stops_answering_mid_session():
    state = {"dead": False}

    def fault(direction, index, frame):
        return None if state["dead"] and direction == "s2c" else frame

    net = Net(HdlcClientLink(retries=3), HdlcServerLink(), fault=fault)
    connect(net)
    state["dead"] = True
    net.cli.send_apdu(b"\xc0\x01", net.now)
    net.run(lambda n: n.events[-1][0] == EV_FAILED)
    assert isinstance(net.events[-1][1], NoAnswer)
    assert "stopped answering" in str(net.events[-1][1])
    assert net.cli.stats.retransmits == 3


def test_dm_frmr_and_refusal():
    v = _vectors()
    cli = HdlcClientLink()
    cli.connect(0)
    cli.receive(v["dm"], 10)
    e = cli.next_event()
    assert e[0] == EV_FAILED and isinstance(e[1], Refused) and "DM" in str(e[1])
    cli = HdlcClientLink()
    cli.connect(0)
    cli.receive(v["ua_plain"], 1)
    cli.send_apdu(b"\xc0", 2)
    cli.receive(hf.encode_frame(b"\x21", b"\x03", hf.ctl_u(hf.K_FRMR), b"\x10\x00\x01"), 3)
    cli.next_event()
    e = cli.next_event()
    assert e[0] == EV_FAILED and "FRMR 10 00 01" in str(e[1])


def test_echo_and_foreign_frames_are_ignored():
    for mode in MODES:
        net = Net(HdlcClientLink(), HdlcServerLink(), mode=mode, seed=mode, echo=True)
        connect(net)
        assert net.exchange(big(300, 6)) == b"\xc4" + big(300, 6)
        assert net.cli.stats.ignored == len(net.wire["c2s"])
        assert net.cli.stats.retransmits == 0
        close(net)


def test_slow_application_answer_comes_at_the_next_poll():
    held = []
    net = Net(HdlcClientLink(reply_timeout_ms=1000), HdlcServerLink())
    connect(net)
    net.app = lambda req: held.append(req)  # noqa: E731 (store, answer later)
    net.cli.send_apdu(b"\xc0\x01\x02", net.now)
    net.run(lambda n: n.cli.stats.frames_tx >= 4)  # retried the I frame, then polled
    assert held == [b"\xc0\x01\x02"]
    net.srv.send_apdu(b"\xc4\x09", net.now)
    net.run(lambda n: n.events[-1][0] == EV_APDU)
    assert net.events[-1] == (EV_APDU, b"\xc4\x09")


def test_links_survive_random_and_mutated_bytes():
    v = _vectors()
    frames = [v[k] for k in sorted(v)]
    rng = Rng(99)
    cli = HdlcClientLink()
    srv = HdlcServerLink()
    net = Net(cli, srv)
    connect(net)
    for i in range(300):
        b = bytearray(frames[i % len(frames)])
        for _ in range(rng.below(3)):
            b[rng.below(len(b))] = rng.below(256)
        if i % 5 == 0:
            b = bytearray(rng.below(256) for _ in range(rng.below(40)))
        cli.receive(bytes(b), net.now)
        srv.receive(bytes(b), net.now)
        while cli.pop_output() is not None or srv.pop_output() is not None:
            pass
        while cli.next_event() is not None or srv.next_event() is not None:
            pass
    assert cli.stats.bad_frames > 0 and srv.stats.bad_frames > 0


_VEC = {}


def _vectors():
    if not _VEC:
        from test_hdlc_frame import load_vectors

        _VEC.update(load_vectors())
    return _VEC


def test_server_inactivity_timeout_then_client_sees_dm():
    net = Net(HdlcClientLink(), HdlcServerLink(inactivity_timeout_ms=120000))
    connect(net)
    assert net.srv.deadline_ms() == 120000 + 0
    net.srv.timeout(120000)
    assert net.server_events[-1] != (EV_CLOSED,)
    assert net.srv.next_event() == (EV_CLOSED,) and net.srv.deadline_ms() is None
    net.now = 130000
    net.cli.send_apdu(b"\xc0\x01", net.now)
    net.run(lambda n: n.events[-1][0] == EV_FAILED)
    e = net.events[-1][1]
    assert isinstance(e, Refused) and "dropped the link" in str(e)


def test_reply_deadline_follows_the_line():
    v = _vectors()
    cli = HdlcClientLink(server_lower=17, reply_timeout_ms=1000, inter_frame_timeout_ms=300)
    cli.connect(0)
    cli.pop_output()
    cli.sent_until(250)  # 9 bytes take 300 ms at 300 baud
    assert cli.deadline_ms() == 1250
    cli.receive(v["ua_params_2byte"][:20], 1200)  # a UA is arriving: let it finish
    assert cli.deadline_ms() == 1500
    cli.timeout(1499)  # early calls are ignored
    assert cli.pop_output() is None
    cli.receive(v["ua_params_2byte"][20:], 1450)
    assert cli.next_event() == (EV_CONNECTED, {"max_info_tx": 128, "max_info_rx": 512,
                                               "window_tx": 1, "window_rx": 1})
    assert cli.deadline_ms() is None


def test_damaged_answers_to_snrm_are_named():
    v = _vectors()
    cli = HdlcClientLink(retries=1)
    cli.connect(0)
    bad = bytearray(v["ua_plain"])
    bad[6] ^= 0x40
    for t in (2000, 4000):
        cli.receive(bytes(bad), t - 100)
        cli.timeout(t)
    e = cli.next_event()
    assert e[0] == EV_FAILED and "were damaged (2 bad frames)" in str(e[1])
    assert cli.stats.frames_tx == 2 and cli.stats.bad_frames == 2


def test_rnr_makes_the_client_poll_later():
    v = _vectors()
    cli = HdlcClientLink(reply_timeout_ms=1000)
    cli.connect(0)
    cli.receive(v["ua_plain"], 1)
    cli.next_event()
    cli.send_apdu(b"\xc0\x01", 10)
    while cli.pop_output() is not None:
        pass
    cli.receive(hf.encode_frame(b"\x21", b"\x03", hf.ctl_rnr(1)), 20)
    assert cli.pop_output() is None and cli.deadline_ms() == 1020
    cli.timeout(1020)
    assert cli.pop_output() == hf.encode_frame(b"\x03", b"\x21", 0x11)  # RR N(R)=0, poll
    cli.receive(hf.encode_frame(b"\x21", b"\x03", hf.ctl_i(0, 1), hf.LLC_RESPONSE + b"\xc4"), 30)
    assert cli.next_event() == (EV_APDU, b"\xc4")


def test_api_misuse_is_a_local_error():
    from meterproto.errors import LocalProtocolError

    cli = HdlcClientLink()
    for call in (lambda: cli.send_apdu(b"\xc0", 0), lambda: HdlcClientLink(window_tx=8),
                 lambda: HdlcClientLink(server_upper=200, server_lower=1, addr_size=2),
                 lambda: HdlcServerLink().send_apdu(b"x", 0)):
        try:
            call()
        except LocalProtocolError:
            pass
        else:
            raise AssertionError("misuse accepted")
    cli.disconnect(0)
    assert cli.next_event() == (EV_CLOSED,)
    four = HdlcClientLink(server_upper=1, server_lower=2836)
    four.connect(0)
    assert hf.decode_frame(four.pop_output()).dst == unhexlify("00 02 2C 29")


def test_noisy_line_random_faults_all_windows():
    # 5% of frames lost and 5% damaged, each way; every exchange must still come through.
    for seed in range(1, 22):
        rng = Rng(seed * 7919 + 12345)

        def fault(direction, index, frame):
            x = rng.below(100)
            if x < 5:
                return None
            if x < 10:
                b = bytearray(frame)
                b[rng.below(len(b))] ^= 1 << rng.below(8)
                return bytes(b)
            return frame

        win = 1 + seed % 7
        cli = HdlcClientLink(window_tx=win, window_rx=win, retries=5)
        srv = HdlcServerLink(window_tx=win, window_rx=win, max_info_tx=64 + seed, max_info_rx=200)
        net = Net(cli, srv, lambda r: big(len(r) * 2 + seed, seed), seed % 3, seed, fault)
        connect(net)
        for k in range(2):
            req = big(50 + rng.below(900), seed + k)
            assert net.exchange(req) == big(len(req) * 2 + seed, seed), (seed, k)
            assert net.server_events[-1] == (EV_APDU, req)
        close(net)


def test_addresses_end_to_end_and_lls_client():
    v = _vectors()
    for lower, size in ((None, None), (17, None), (17, 4), (2836, None)):
        cli = HdlcClientLink(client_sap=1, server_upper=1, server_lower=lower, addr_size=size)
        net = Net(cli, HdlcServerLink(1, lower))
        connect(net)
        assert len(hf.decode_frame(net.wire["s2c"][0]).src) == len(cli.server)
        assert net.exchange(b"\xc0\x01\xc1") == b"\xc4\xc0\x01\xc1"
        assert net.srv.client_sap == 1
        close(net)
    cli = HdlcClientLink(client_sap=17)
    cli.connect(0)
    cli.receive(hf.encode_frame(b"\x23", b"\x03", 0x73), 1)
    cli.pop_output()
    cli.send_apdu(hf.decode_frame(v["aarq_lls"]).info[3:], 2)
    assert cli.pop_output() == v["aarq_lls"]


def test_llc_bytes_at_a_segment_start_are_data():
    # Only the first segment carries the LLC header: E6 E6 00 / E6 E7 00 later on is data.
    req = bytes(13) + hf.LLC_REQUEST + b"abc"
    resp = bytes(13) + hf.LLC_RESPONSE + b"xyz"
    for mode in MODES:
        cli = HdlcClientLink(max_info_tx=16, max_info_rx=16)
        net = Net(cli, HdlcServerLink(), lambda r: resp, mode, seed=mode)
        assert connect(net)["max_info_tx"] == 16
        assert net.exchange(req) == resp
        assert net.server_events[-1] == (EV_APDU, req)
        # SNRM, I, I, RR one way; UA, RR, I, I the other.
        assert len(net.wire["c2s"]) == 4 and len(net.wire["s2c"]) == 4

# irprobe.sim.hdlc_server: the meter (secondary station) side of the DLMS HDLC link, sans-I/O
# (core; the meter simulator runs it). IEC 62056-46 (LLC and MAC sublayers): answer SNRM with
# UA and our limits, reassemble segmented requests, answer every poll (P) with frames ending in F.
#
# Same style as hdlc_link: receive(data, now) / timeout(now) / deadline_ms(); pop_output()
# gives frames to write; next_event() gives (EV_CONNECTED, params), (EV_APDU, request apdu
# without LLC), (EV_CLOSED,). The application answers with send_apdu(apdu, now): if the
# client's poll is still waiting the answer goes out at once, otherwise at the next poll.
from meterproto.compat import const
from meterproto.errors import DecodeError, LocalProtocolError
from meterproto.hdlc import frame as hf
# The event constants are shared with the client link (and re-exported from here).
from meterproto.hdlc.link import EV_APDU, EV_CLOSED, EV_CONNECTED
from meterproto.hdlc.link import LinkQueues, LinkStats, split_info

S_NDM = const(0)  # normal disconnected mode: answers DM
S_NRM = const(1)  # normal response mode: connected to one client
STATE_NAMES = ("disconnected", "connected")


class HdlcServerLink(LinkQueues):
    def __init__(self, server_upper=1, server_lower=None, max_info_tx=128, max_info_rx=128,
                 window_tx=1, window_rx=1, accept_upper_only=False, inactivity_timeout_ms=None,
                 max_apdu=65535, window_bytes=4):
        self.upper = server_upper
        self.lower = server_lower
        self.accept_upper_only = accept_upper_only
        self.limits = {"max_info_tx": max_info_tx, "max_info_rx": max_info_rx,
                       "window_tx": window_tx, "window_rx": window_rx}
        self.window_bytes = window_bytes
        self.params = hf.default_params()
        self.inactivity_timeout_ms = inactivity_timeout_ms
        self.max_apdu = max_apdu
        self.reader = hf.FrameReader()
        self.stats = LinkStats()
        self.state = S_NDM
        self.client = None  # address byte of the connected client
        self.client_sap = None
        self._me = None  # our address exactly as the client wrote it
        self._out = []
        self._events = []
        self._deadline = None
        self._reset_sequence()

    def _reset_sequence(self):
        self._va = 0
        self._txq = []
        self._sent = 0
        self._vr = 0
        self._rx = bytearray()
        self._rx_started = False  # the first segment (with the LLC header) is in
        self._rx_dropped = False
        self._poll_owed = False  # a request ended with P and its answer is not ready yet

    # -- application side ---------------------------------------------------------------
    def send_apdu(self, apdu, now_ms):
        if self.state != S_NRM:
            raise LocalProtocolError("send_apdu() on a disconnected server link")
        segs = split_info(hf.LLC_RESPONSE + bytes(apdu), self.params["max_info_tx"])
        for i in range(len(segs)):
            self._txq.append((segs[i], i < len(segs) - 1))
        if self._poll_owed:
            self._poll_owed = False
            self._respond(now_ms)

    def timeout(self, now_ms):
        # Inactivity timeout (the meter's own setting): drop the link without a word.
        if self._deadline is not None and now_ms >= self._deadline and self.state == S_NRM:
            self._disconnect()

    def receive(self, data, now_ms):
        for f in self.reader.feed(data):
            self._on_frame(f, now_ms)
        self.stats.bad_frames = self.reader.bad_frames

    # -- frames in -----------------------------------------------------------------------
    def _for_me(self, dst):
        try:
            up, low = hf.address_value(dst)
        except DecodeError:
            return False
        if up != self.upper:
            return False
        if low is None:
            return self.lower is None or self.accept_upper_only
        return low == self.lower

    def _on_frame(self, f, now_ms):
        if not self._for_me(f.dst) or len(f.src) != 1:
            self.stats.ignored += 1  # meters stay silent to other addresses (B.3)
            return
        if self.state == S_NRM and f.src != self.client and f.kind != hf.K_SNRM:
            self.stats.ignored += 1  # another client while we are connected
            return
        self.stats.frames_rx += 1
        if self.inactivity_timeout_ms is not None:
            self._deadline = now_ms + self.inactivity_timeout_ms
        k = f.kind
        if k == hf.K_SNRM:
            self._on_snrm(f, now_ms)
        elif k == hf.K_DISC:
            if self.state == S_NRM:
                self._emit(f.src, f.dst, hf.ctl_u(hf.K_UA), b"", False)
                self._disconnect()
            else:
                self._emit(f.src, f.dst, hf.ctl_u(hf.K_DM), b"", False)
        elif self.state != S_NRM:
            if f.pf and k in (hf.K_I, hf.K_RR, hf.K_RNR):
                self._emit(f.src, f.dst, hf.ctl_u(hf.K_DM), b"", False)
        elif f.nr is not None:
            self._on_numbered(f, now_ms)

    def _on_snrm(self, f, now_ms):
        try:
            c = hf.parse_params(f.info)
        except DecodeError:
            self.stats.bad_frames += 1
            return
        lim = self.limits
        # Our view: we transmit no more than the client receives, and so on (B.5).
        self.params = {
            "max_info_tx": min(lim["max_info_tx"], c["max_info_rx"]),
            "max_info_rx": min(lim["max_info_rx"], c["max_info_tx"]),
            "window_tx": min(lim["window_tx"], c["window_rx"]),
            "window_rx": min(lim["window_rx"], c["window_tx"]),
        }
        p = self.params
        self._reset_sequence()
        self.state = S_NRM
        self.client = f.src
        self.client_sap = f.src[0] >> 1
        self._me = f.dst
        ua = hf.encode_params(p["max_info_tx"], p["max_info_rx"], p["window_tx"], p["window_rx"],
                              self.window_bytes)
        self._emit(f.src, f.dst, hf.ctl_u(hf.K_UA), ua, False)
        self._events.append((EV_CONNECTED, dict(p)))

    def _on_numbered(self, f, now_ms):
        self._ack(f.nr)
        done = False
        if f.kind == hf.K_I and f.ns == self._vr:
            self._vr = (self._vr + 1) & 7
            done = self._accept(f)
        if not f.pf:
            return
        if done:
            self._poll_owed = True  # answer when the application has one (send_apdu)
        elif f.kind == hf.K_RNR:
            self._poll_owed = False
            self._emit(self.client, self._me, hf.ctl_rr(self._vr), b"", False)
        else:
            self._respond(now_ms)

    def _ack(self, nr):
        n = (nr - self._va) & 7
        if n == 0 or n > self._sent:
            return
        self._txq[0:n] = []
        self._sent -= n
        self._va = nr

    def _accept(self, f):
        """Add one segment; True when it completed a request."""
        info = f.info
        if not self._rx_started and info[:3] == hf.LLC_REQUEST:
            info = info[3:]  # B.6: only the first segment carries the LLC header
        self._rx_started = True
        if len(self._rx) + len(info) > self.max_apdu:
            self._rx = bytearray()
            self._rx_dropped = True  # too long for us: swallow the rest, answer nothing
        elif not self._rx_dropped:
            self._rx.extend(info)
        if f.segmented:
            return False
        dropped = self._rx_dropped
        apdu = bytes(self._rx)
        self._rx = bytearray()
        self._rx_started = False
        self._rx_dropped = False
        if dropped:
            return False
        self._poll_owed = False
        self._events.append((EV_APDU, apdu))
        return True

    # -- frames out -----------------------------------------------------------------------
    def _emit(self, dst, src, control, info, segmented):
        self._out.append(hf.encode_frame(dst, src, control, info, segmented))
        self.stats.frames_tx += 1

    def _respond(self, now_ms):
        # Everything the client has not acknowledged goes (again) from its N(R): go-back-N.
        self._poll_owed = False  # this poll is answered; later answers wait for the next one
        if not self._txq:
            self._emit(self.client, self._me, hf.ctl_rr(self._vr), b"", False)
            return
        for ctl, info, seg in self._window():
            self._emit(self.client, self._me, ctl, info, seg)

    def _disconnect(self):
        self.state = S_NDM
        self.client = None
        self._deadline = None
        self._reset_sequence()
        self._events.append((EV_CLOSED,))

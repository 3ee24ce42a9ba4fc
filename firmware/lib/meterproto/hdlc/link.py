# meterproto.hdlc.link: the client (primary station) side of the DLMS HDLC link, sans-I/O (core).
# IEC 62056-46 (LLC and MAC sublayers): normal response mode, SNRM/UA parameters, I frames
# with N(S)/N(R) and poll/final, RR polling for segments, go-back-N recovery, DISC.
#
# Not a Machine: a DLMS session machine owns one link and moves bytes and events:
#   link.connect(now) / send_apdu(apdu, now) / disconnect(now)   requests
#   link.receive(data, now) / link.timeout(now) / link.deadline_ms()   line and clock
#   link.pop_output() -> one frame to write, or None;  link.next_event() -> event or None
# Events: (EV_CONNECTED, params), (EV_APDU, apdu without LLC), (EV_CLOSED,), (EV_FAILED, exc).
# Poll/final discipline: we send a window of frames, P on the last; the meter's turn ends with
# F. N(R) of the meter's frames acknowledges ours; what is not acknowledged is sent again from
# N(R) (go-back-N), so one rule covers both "next window" and "retransmit".
from meterproto.compat import const, hexlify
from meterproto.errors import DecodeError, LocalProtocolError, NoAnswer, Refused
from meterproto.hdlc import frame as hf

EV_CONNECTED = const(1)
EV_APDU = const(2)
EV_CLOSED = const(3)
EV_FAILED = const(4)
EVENT_NAMES = ("", "connected", "apdu", "closed", "failed")

S_IDLE = const(0)
S_CONNECTING = const(1)
S_READY = const(2)  # connected, nothing outstanding
S_WAIT = const(3)  # connected, our poll is out, waiting for the meter's final frame
S_DISCONNECTING = const(4)
S_CLOSED = const(5)
S_FAILED = const(6)
STATE_NAMES = ("idle", "connecting", "ready", "waiting", "disconnecting", "closed", "failed")


def split_info(data, size):
    """Cut an LLC+APDU into information fields of at most `size` bytes (B.1:
    every field but the last goes out with the segmentation bit set)."""
    out = []
    for i in range(0, len(data), size):
        out.append(data[i:i + size])
    return out or [b""]


class LinkStats:
    """Counters of one link; attributes, or stats["name"] for the same value."""

    def __init__(self):
        self.frames_tx = 0
        self.frames_rx = 0
        self.retransmits = 0
        self.bad_frames = 0
        self.ignored = 0  # well-formed frames for another address (or our own echo)
        self.repeated_llc = 0  # answers that opened with the LLC header twice

    def __getitem__(self, key):
        return getattr(self, key)


class LinkQueues:
    """What both ends of a link (this client, the meter of irprobe.sim.hdlc_server) hand their
    driver: frames to write, events for the session, the deadline (subclasses fill _out and
    _events)."""

    def pop_output(self):
        """The next frame to write, or None."""
        if self._out:
            return self._out.pop(0)
        return None

    def next_event(self):
        """The next event tuple, or None."""
        if self._events:
            return self._events.pop(0)
        return None

    def deadline_ms(self):
        return self._deadline

    def _window(self):
        """(control, info, segmented) of the I frames of the next window: the queued segments
        from V(A) on, at most window_tx, P/F on the last (62056-46 6.4.4.4.3.4). Frames sent
        before and not yet acknowledged count as retransmissions."""
        n = min(self.params["window_tx"], len(self._txq))
        self.stats.retransmits += min(n, self._sent)
        if n > self._sent:
            self._sent = n
        out = []
        for i in range(n):
            info, seg = self._txq[i]
            out.append((hf.ctl_i((self._va + i) & 7, self._vr, i == n - 1), info, seg))
        return out


class HdlcClientLink(LinkQueues):
    def __init__(self, client_sap=16, server_upper=1, server_lower=None, addr_size=None,
                 max_info_tx=128, max_info_rx=128, window_tx=1, window_rx=1,
                 retries=3, reply_timeout_ms=2000, inter_frame_timeout_ms=500, max_apdu=65535,
                 live_retries=8):
        self.client = hf.client_address(client_sap)
        self.server = hf.server_address(server_upper, server_lower, addr_size)
        self.server_name = hf.address_text(self.server)
        if not (1 <= window_tx <= 7 and 1 <= window_rx <= 7):
            raise LocalProtocolError("HDLC windows are 1..7 frames")
        if not (16 <= max_info_tx <= hf.MAX_INFO and 16 <= max_info_rx <= hf.MAX_INFO):
            raise LocalProtocolError("maximum information length must be 16..2030 bytes")
        self.proposal = {"max_info_tx": max_info_tx, "max_info_rx": max_info_rx,
                         "window_tx": window_tx, "window_rx": window_rx}
        self.params = hf.default_params()
        self.retries = retries
        # Tries without progress while the meter keeps answering (frames in, whole or
        # damaged): a 1 KB frame at a byte error rate of 1e-3 arrives whole about 1 time in
        # 3, so a live meter gets more polls than a silent one, still a bounded number.
        self.live_retries = live_retries if live_retries > retries else retries
        self.reply_timeout_ms = reply_timeout_ms
        self.inter_frame_timeout_ms = inter_frame_timeout_ms
        self.max_apdu = max_apdu
        self.reader = hf.FrameReader()
        self.stats = LinkStats()
        self.state = S_IDLE
        self.error = None
        self.close_note = None
        self._out = []
        self._events = []
        self._deadline = None
        self._tries = 0
        self._heard = 0  # frames in (whole or damaged) when _tries was last set to 0
        self._reset_sequence()

    def _reset_sequence(self):
        self._va = 0  # N(S) of the oldest frame the meter has not acknowledged (= _txq[0])
        self._txq = []  # (info, segmented) not yet acknowledged
        self._sent = 0  # how many of _txq have gone out at least once
        self._vr = 0  # N(S) we expect next from the meter
        self._rx = bytearray()
        self._rx_started = False  # the first segment of the reply (with the LLC) is in
        self._rx_more = False  # the last accepted I frame had the segmentation bit
        self._gap = False  # an out-of-sequence I frame arrived in this turn
        self._progress = False
        self._awaiting = False  # a request is out and its response is not complete

    # -- requests ------------------------------------------------------------------------
    def connect(self, now_ms):
        """Queue the SNRM; parameters are sent only when they differ from the defaults."""
        if self.state not in (S_IDLE, S_CLOSED):
            raise LocalProtocolError("connect() on a link that is %s" % STATE_NAMES[self.state])
        self.state = S_CONNECTING
        self._fresh()
        self.reader.reset()
        self._send_snrm(now_ms)

    def send_apdu(self, apdu, now_ms):
        """Queue one APDU (LLC header added), cut to the negotiated length, sent by window."""
        if self.state != S_READY:
            raise LocalProtocolError("send_apdu() while the link is %s" % STATE_NAMES[self.state])
        data = hf.LLC_REQUEST + bytes(apdu)
        segs = split_info(data, self.params["max_info_tx"])
        for i in range(len(segs)):
            self._txq.append((segs[i], i < len(segs) - 1))
        self._awaiting = True
        self._fresh()
        self._send_window(now_ms)

    def disconnect(self, now_ms):
        if self.state in (S_CONNECTING, S_READY, S_WAIT):
            self.state = S_DISCONNECTING
            self._fresh()
            self._send_u(hf.K_DISC, now_ms)
        elif self.state in (S_IDLE, S_CLOSED):
            self.state = S_CLOSED
            self._events.append((EV_CLOSED,))

    # -- driver side (pop_output, next_event, deadline_ms: LinkQueues) ------------------------
    def sent_until(self, end_ms):
        """The caller says when the frames popped so far leave the line; the reply timeout
        counts from there (a 140-byte frame takes 470 ms at 300 baud)."""
        if self._deadline is not None and end_ms + self.reply_timeout_ms > self._deadline:
            self._deadline = end_ms + self.reply_timeout_ms

    def receive(self, data, now_ms):
        frames = self.reader.feed(data)
        self.stats.bad_frames = self.reader.bad_frames
        for f in frames:
            if self.state in (S_FAILED, S_CLOSED, S_IDLE):
                break
            self._on_frame(f, now_ms)
        if self._deadline is not None and self.reader.in_frame():
            # A frame is on its way: allow it to finish rather than retrying over it.
            t = now_ms + self.inter_frame_timeout_ms
            if t > self._deadline:
                self._deadline = t

    def timeout(self, now_ms):
        if self._deadline is None or now_ms < self._deadline:
            return
        self.reader.reset()  # a stalled fragment would spoil the next frame
        self._tries += 1
        st = self.state
        if self._tries > self._limit():
            if st == S_CONNECTING:
                if self.reader.bad_frames:
                    why = ("answers to the SNRM from server %s were damaged (%d bad frames): "
                           "check the head position and the baud rate"
                           % (self.server_name, self.reader.bad_frames))
                else:
                    why = ("no UA to the SNRM from server %s: wrong address, wrong baud "
                           "or not an HDLC meter" % self.server_name)
                self._fail(NoAnswer(why))
            elif st == S_DISCONNECTING:
                self.close_note = "the meter did not confirm the disconnect"
                self._closed()
            else:
                self._fail(NoAnswer("server %s stopped answering (%d tries, %d damaged frames)"
                                    % (self.server_name, self._tries, self.reader.bad_frames)))
            return
        if st == S_CONNECTING:
            self._send_snrm(now_ms)
        elif st == S_DISCONNECTING:
            self._send_u(hf.K_DISC, now_ms)
        elif st == S_WAIT:
            if self._sent and not (self._gap or self._rx_more):
                self._send_window(now_ms)  # go-back-N: all unacknowledged frames again
            else:
                self._poll(now_ms)

    def _fresh(self):
        self._tries = 0
        self._heard = self.reader.bad_frames + self.stats.frames_rx

    def _limit(self):
        """How many tries without progress before giving up (see live_retries)."""
        if self.state == S_WAIT and self.reader.bad_frames + self.stats.frames_rx > self._heard:
            return self.live_retries
        return self.retries

    # -- frames in -----------------------------------------------------------------------
    def _on_frame(self, f, now_ms):
        if f.dst != self.client or f.src != self.server:
            self.stats.ignored += 1  # another station's frame, or our own echo
            return
        self.stats.frames_rx += 1
        k = f.kind
        st = self.state
        if st == S_CONNECTING:
            if k == hf.K_UA:
                self._connected(f)
            elif k == hf.K_DM:
                self._fail(Refused("server %s answered the SNRM with DM: it refuses a connection "
                                   "now (busy with another client?)" % self.server_name))
            return
        if st == S_DISCONNECTING:
            if k == hf.K_UA or k == hf.K_DM:
                self._closed()
            return
        if k == hf.K_DM:
            self._fail(Refused("server %s dropped the link (DM), e.g. after its inactivity "
                               "timeout" % self.server_name))
            return
        if k == hf.K_FRMR:
            self._fail(Refused("server %s rejected one of our frames (FRMR %s)"
                               % (self.server_name, hexlify(f.info))))
            return
        if st != S_WAIT or f.nr is None:
            return  # late duplicates after we moved on, UA/UI: nothing to do
        self._ack(f.nr)
        if k == hf.K_I:
            if f.ns == self._vr:
                self._vr = (self._vr + 1) & 7
                self._progress = True
                self._accept(f)
                if self.state != S_WAIT:
                    return
            else:
                self._gap = True
        if f.pf:
            self._turn_end(now_ms)
        else:
            self._deadline = now_ms + self.reply_timeout_ms

    def _ack(self, nr):
        n = (nr - self._va) & 7
        if n == 0 or n > self._sent:
            return  # nothing new, or an N(R) for frames never sent: ignore it
        self._txq[0:n] = []
        self._sent -= n
        self._va = nr
        self._progress = True

    def _accept(self, f):
        info = f.info
        if not self._rx_started and info[:3] == hf.LLC_RESPONSE:
            info = info[3:]  # B.6: only the first segment carries the LLC header
            if info[:3] == hf.LLC_RESPONSE:
                # the header twice (gurux-dlms 1.0.203's server does on its error path); no
                # xDLMS APDU starts with E6, so the second one is a header too
                info = info[3:]
                self.stats.repeated_llc += 1
        if len(self._rx) + len(info) > self.max_apdu:
            self._fail(DecodeError("the meter's reply is longer than %d bytes" % self.max_apdu))
            return
        self._rx_more = f.segmented
        if not f.segmented and not self._rx:
            apdu = info  # one frame, one APDU: no copy (heap on the probe)
        else:
            self._rx.extend(info)
        self._rx_started = True
        if not f.segmented:
            if self._rx:
                # Hand the reassembled buffer over instead of copying it.
                apdu = self._rx
            self._rx = bytearray()
            self._rx_started = False
            self._awaiting = False
            self._events.append((EV_APDU, apdu))

    def _turn_end(self, now_ms):
        # The meter's turn is over (F bit); decide what goes out next.
        if self._progress:
            self._fresh()
        elif self._gap or self._rx_more or self._txq:
            # We would send again at once: count it, or a meter that keeps rejecting the
            # same frame would keep us busy for ever.
            self._tries += 1
            if self._tries > self._limit():
                self._fail(NoAnswer("server %s answers but makes no progress (%d polls)"
                                    % (self.server_name, self._tries)))
                return
        if self._gap or self._rx_more:
            self._poll(now_ms)  # RR(N(R)): the next segment, or a resend from N(R)
        elif self._txq:
            self._send_window(now_ms)
        elif self._awaiting:
            # Acknowledged but no answer yet (RR/RNR): poll again after the reply time
            # (the timeout counts the try).
            self._gap = False
            self._progress = False
            self._deadline = now_ms + self.reply_timeout_ms
        else:
            self.state = S_READY
            self._deadline = None

    def _connected(self, f):
        try:
            ua = hf.parse_params(f.info)
        except DecodeError as e:
            self._fail(DecodeError("server %s sent a UA with unreadable parameters: %s"
                                   % (self.server_name, e)))
            return
        p = self.proposal
        # The UA is the meter's view (B.5): we may send what it receives and accept what it sends.
        self.params = {
            "max_info_tx": min(p["max_info_tx"], ua["max_info_rx"]),
            "max_info_rx": ua["max_info_tx"],
            "window_tx": min(p["window_tx"], ua["window_rx"]),
            "window_rx": ua["window_tx"],
        }
        self._reset_sequence()
        self._fresh()
        self.state = S_READY
        self._deadline = None
        self._events.append((EV_CONNECTED, dict(self.params)))

    def _closed(self):
        self.state = S_CLOSED
        self._deadline = None
        self._events.append((EV_CLOSED,))

    def _fail(self, exc):
        self.state = S_FAILED
        self.error = exc
        self._deadline = None
        self._out = []
        self._events.append((EV_FAILED, exc))

    # -- frames out -----------------------------------------------------------------------
    def _emit(self, control, info, segmented, now_ms):
        self._out.append(hf.encode_frame(self.server, self.client, control, info, segmented))
        self.stats.frames_tx += 1
        self._deadline = now_ms + self.reply_timeout_ms

    def _send_u(self, kind, now_ms, info=b""):
        self._emit(hf.ctl_u(kind), info, False, now_ms)

    def _send_snrm(self, now_ms):
        p = self.proposal
        info = b""
        if p != hf.default_params():
            info = hf.encode_params(p["max_info_tx"], p["max_info_rx"],
                                    p["window_tx"], p["window_rx"])
        self._send_u(hf.K_SNRM, now_ms, info)

    def _start_turn(self):
        self.state = S_WAIT
        self._gap = False
        self._progress = False

    def _poll(self, now_ms):
        self._start_turn()
        self._emit(hf.ctl_rr(self._vr), b"", False, now_ms)

    def _send_window(self, now_ms):
        self._start_turn()
        for ctl, info, seg in self._window():
            self._emit(ctl, info, seg, now_ms)

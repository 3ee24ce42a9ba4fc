# meterproto.iec.push: the receive-only side of IEC 62056-21 protocol mode D (clause 6.4.4)
# and its DSMR/P1 descendants (CRC-16/ARC after `!`), core. The meter pushes; we only listen.
#
# Theory of operation: one state (listen) with one deadline (the listening window). A
# telegram is either `/ident CR LF STX block ETX BCC` (IEC mode D) or `/ident CR LF CR LF
# lines ! [CCCC] CR LF` (P1). A damaged telegram cannot be repeated on request, so we wait
# for the next one (up to NAK_MAX damaged ones). meterproto.iec.client.IecClient(push=True)
# runs this machine for its callers.
from meterproto.compat import const
from meterproto.errors import ChecksumError, DecodeError, NoAnswer
from meterproto.line import FMT_7E1, fmt_name
from meterproto.machine import Machine
from meterproto.iec import msg
from meterproto.iec import data as dat

DAMAGED_MAX = const(3)  # damaged telegrams tolerated before giving up

_S_LISTEN = const(0)
NAMES = ("listen",)

_E_TIMEOUT = const(0)
_E_IDENT = const(1)
_E_BLOCK = const(2)
_E_LINE = const(3)
EVENT_NAMES = ("timeout", "identification", "data block", "line")

_TABLE = {
    _S_LISTEN: {_E_TIMEOUT: "_no_telegram", _E_IDENT: "_on_ident", _E_BLOCK: "_on_block",
                _E_LINE: "_on_line"},
}
_KINDS = {msg.M_IDENT: _E_IDENT, msg.M_DATA: _E_BLOCK, msg.M_LINE: _E_LINE}


class IecListener(Machine):
    """Listens at baud/fmt for one good pushed telegram; result is a Reading with mode D."""

    def __init__(self, baud=2400, fmt=FMT_7E1, listen_ms=15000, max_len=32768):
        Machine.__init__(self, baud, fmt)
        self.listen_ms = listen_ms
        self.framer = msg.Framer(max_len)
        self.ident = None
        self.notes = []
        self.state = _S_LISTEN
        self._raw = bytearray()  # bytes since the last '/', exactly as received (for the CRC)
        self._telegram = None
        self._damaged = 0

    def start(self, now_ms):
        self._set_line(self.baud, self.fmt)
        self._deadline = now_ms + self.listen_ms

    def receive(self, data, now_ms):
        if self.done:
            return
        self.bytes_rx += len(data)
        self._collect(data)
        for m in self.framer.feed(data):
            ev = _KINDS.get(m.kind)
            if ev is not None:
                self._event(ev, m, now_ms)
            if self.done:
                return

    def timeout(self, now_ms):
        if not self.done:
            self._event(_E_TIMEOUT, None, now_ms)

    def _event(self, ev, m, now):
        name = _TABLE[self.state].get(ev)
        if name is not None:
            getattr(self, name)(m, now)

    def _collect(self, data):
        # The P1 CRC covers every byte from '/' to '!', blank lines included, which the
        # framer does not keep: so the raw telegram is cut here, beside the framer.
        raw = self._raw
        raw.extend(data)
        i = raw.find(b"/")
        if i < 0 or len(raw) > self.framer.max_len:
            self._raw = bytearray()
            return
        j = raw.find(b"!", i)
        if j < 0 or raw.find(b"\x02", i, j) >= 0:
            return  # not complete yet, or an IEC block (the framer checks its BCC)
        k = raw.find(b"\n", j)
        if k < 0:
            return
        self._telegram = bytes(raw[i:k + 1])
        self._raw = bytearray(raw[k + 1:])

    def _on_ident(self, m, now):
        try:
            self.ident = msg.parse_identification(m.body)
        except DecodeError:
            self.ident = None

    def _on_line(self, m, now):
        telegram = self._telegram
        if telegram is None or not m.body.startswith(b"!"):
            return
        self._telegram = None
        try:
            ident, sets, crc_ok = dat.parse_p1(telegram)
        except DecodeError as e:
            self.notes.append(e.args[0])
            return
        if crc_ok is False:
            self._damaged_one("the telegram's CRC did not match")
            return
        if crc_ok is None:
            self.notes.append("the telegram has no CRC: it could not be checked")
        self._done(sets, ident)

    def _on_block(self, m, now):
        if m.damaged():
            self._damaged_one("the data block's BCC or a character's parity did not match")
            return
        try:
            sets = dat.parse_block(m.body)
        except DecodeError as e:
            self.notes.append(e.args[0])
            return
        self._done(sets, None)

    def _damaged_one(self, what):
        self._damaged += 1
        if self._damaged > DAMAGED_MAX:
            self._fail(ChecksumError("%s %d times: the light path is disturbed; hold the head "
                                     "steady and shade it" % (what, self._damaged)))
        else:
            self.notes.append(what + "; waiting for the next telegram")

    def _done(self, sets, ident_text):
        r = dat.build_reading(sets, self.ident, "D", self.baud)
        if self.ident is None and ident_text:
            r.ident = ident_text
            r.meter_id = r.meter_id or ident_text
        r.notes = list(self.notes)
        self._finish(r)

    def _no_telegram(self, m, now):
        self._fail(NoAnswer("no telegram within %d s at %d baud %s: does this meter push data "
                            "on its own (mode D / P1), and is its data request line enabled?"
                            % (self.listen_ms // 1000, self.baud, fmt_name(self.fmt))))

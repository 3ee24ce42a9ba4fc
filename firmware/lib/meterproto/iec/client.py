# meterproto.iec.client: the HHU side of an IEC 62056-21 session (clause 6.4), core.
# Sign-on, identification, modes A/B/C readout, the mode E offer handed to HDLC, and
# programming mode (P0/P1, R1/R5/W1, partial blocks, P.01 load profiles, B0). Mode D (push,
# no sign-on) is meterproto.iec.push.IecListener, run from here when push=True.
#
# Theory of operation. One session = one IecClient (a meterproto.machine.Machine). Framed
# messages from meterproto.iec.msg.Framer become events; _TABLE maps (state, event) to a
# handler, and only handlers change state. Events a state does not list are ignored (our
# own echo, stray lines). Every state has a deadline: the meter's reaction window (1500 ms,
# clause 6.3.14 tr), the inter-character limit (1500 ms, ta) while a message is coming in,
# our own reaction before every answer (200 ms, 20 ms for a lower-case FLAG letter), a
# wake-up pause, the break leaving the line, or the quiet time before a retry. After the
# option select the line is switched by an A_SET_LINE action, which the driver carries out
# once the ACK has left.
# A failed baud switch is retried from the sign-on one rate lower (max-baud step-down).
# Damage: a block with a wrong BCC, a parity error (when the port hands us the parity bit,
# iec21_msg.PARITY_AUTO) or text no meter sends (iec21_data.block_fault) is NAKed; after
# NAK_MAX repeats the readout starts again from the sign-on, once the line has gone quiet.
from meterproto.compat import const
from meterproto.errors import (ChecksumError, DecodeError, LocalProtocolError, NoAnswer,
                               Refused)
from meterproto.line import FMT_7E1, FMT_8N1, fmt_name
from meterproto.machine import Machine
from meterproto.reading import Reading
from meterproto.iec import data as dat
from meterproto.iec import msg
from meterproto.iec.wakeup import nul_train, wakeup_plan

T_REPLY = const(1500)  # the longest the meter may take to start answering (tr max)
T_CHAR = const(1500)  # the longest gap inside one message (ta)
T_IDLE = const(2000)  # silence before a new sign-on: the meter has given up by then
T_QUIET_MAX = const(30000)  # the longest we wait for a meter that keeps talking to fall silent
NAK_MAX = const(3)  # repeats we ask for before a bad BCC is final

_S_WAKE = const(0)
_S_IDENT = const(1)
_S_REACT = const(2)
_S_READOUT = const(3)
_S_P0 = const(4)
_S_REPLY = const(5)
_S_CLOSE = const(6)
_S_PAUSE = const(7)
NAMES = ("wake-up", "wait identification", "reaction", "wait data", "wait P0",
         "wait reply", "closing", "pause before retry")

_E_TIMEOUT = const(0)
_E_IDENT = const(1)
_E_DATA = const(2)
_E_PARTIAL = const(3)
_E_BAD_BCC = const(4)
_E_COMMAND = const(5)
_E_ACK = const(6)
_E_NAK = const(7)
_E_LINE = const(8)
_E_GARBAGE = const(9)
EVENT_NAMES = ("timeout", "identification", "data", "partial block", "bad BCC", "command",
               "ACK", "NAK", "line", "garbage")

# (state, event) -> handler method name. The handler sets the next state.
_TABLE = {
    _S_WAKE: {_E_TIMEOUT: "_sign_on"},
    _S_IDENT: {_E_TIMEOUT: "_no_ident", _E_IDENT: "_on_ident", _E_DATA: "_on_readout",
               _E_BAD_BCC: "_on_bad_bcc", _E_GARBAGE: "_on_garbage"},
    _S_REACT: {_E_TIMEOUT: "_reacted"},
    _S_READOUT: {_E_TIMEOUT: "_no_data", _E_DATA: "_on_readout", _E_PARTIAL: "_on_partial",
                 _E_BAD_BCC: "_on_bad_bcc", _E_GARBAGE: "_on_garbage",
                 _E_COMMAND: "_on_meter_command"},
    _S_P0: {_E_TIMEOUT: "_no_data", _E_COMMAND: "_on_meter_command", _E_DATA: "_on_readout",
            _E_BAD_BCC: "_on_bad_bcc", _E_GARBAGE: "_on_garbage"},
    _S_REPLY: {_E_TIMEOUT: "_no_reply", _E_DATA: "_on_reply", _E_PARTIAL: "_on_partial",
               _E_ACK: "_on_ack", _E_NAK: "_on_nak", _E_BAD_BCC: "_on_bad_bcc",
               _E_COMMAND: "_on_meter_command"},
    _S_CLOSE: {_E_TIMEOUT: "_closed"},
    _S_PAUSE: {_E_TIMEOUT: "_begin"},
}

# States whose deadline is our own wait, not the meter's: incoming noise must not move it.
_OWN_WAITS = (_S_WAKE, _S_REACT, _S_CLOSE, _S_PAUSE)


def _lower_baud(baud):
    prev = 300
    for b in msg.BAUD_C:
        if b >= baud:
            return prev
        prev = b
    return prev


class IecClient(Machine):
    """One IEC 62056-21 session from the HHU side; run it with meterproto.driver.run."""

    def __init__(self, address="", max_baud=19200, wakeup=None, password=None, commands=None,
                 load_profile=None, mode_e=False, reaction_ms=None, retries=2, program=False,
                 stay_300=False, push=False, push_baud=2400, push_fmt=FMT_7E1,
                 listen_ms=15000, max_len=32768, parity=msg.PARITY_AUTO):
        Machine.__init__(self, 300, FMT_7E1)
        msg.sign_on(address)  # validates the address now, not mid-session
        msg.char_for_baud(max_baud)
        if reaction_ms is not None and not 0 <= reaction_ms <= 1500:
            raise LocalProtocolError("reaction time %r ms is outside 0-1500 ms (tr)" % reaction_ms)
        if load_profile is not None and len(load_profile) != 2:
            raise LocalProtocolError("load_profile is a (start, end) pair of meter time stamps")
        self.address = address
        self.max_baud = max_baud
        self.wakeup = wakeup_plan(wakeup)
        self.password = password
        self.commands = []
        for c in commands or ():
            if len(c) != 2 or len(c[0]) != 2:
                raise LocalProtocolError("a command is a pair like ('R1', '1.8.0()'), got %r"
                                         % (c,))
            if c[0] != "B0":  # the break always ends the session on its own
                self.commands.append((c[0], c[1] or ""))
        self.load_profile = load_profile
        self.program = bool(program or password is not None or self.commands or load_profile)
        self._programming = False  # option 1 sent and no B0 yet: programming mode
        self.mode_e = mode_e
        self.reaction_ms = reaction_ms
        self.retries = retries
        self.stay_300 = stay_300
        # Mode D has no sign-on: a separate receive-only machine does it, driven from here
        # (loaded only then: a mode C read keeps its RAM).
        self._listener = None
        if push:
            from meterproto.iec.push import IecListener

            self._listener = IecListener(push_baud, push_fmt, listen_ms, max_len)
        # parity: does bit 7 of what the port hands us carry the 7E1 parity bit (see
        # meterproto.iec.msg.PARITY_AUTO)? When it does, every character is checked.
        self.framer = msg.Framer(max_len, parity=parity)
        self.ident = None
        self.operand = None  # P0 operand from the meter (serial number or seed)
        self.handover = None  # (baud, fmt) after a mode E switch
        self.retries_used = 0
        self.notes = []
        self.state = _S_IDENT
        self._wait = None
        self._cap = max_baud
        self._switched = 0  # baud we switched to in this attempt (0: still at 300)
        self._last_tx = b""
        self._then = None  # what to do once our reaction time has passed
        self._back = _S_IDENT  # the state a NAK/ACK returns to
        self._naks = 0
        self._why = ""  # what was wrong with the last damaged message (for the note)
        self._suspect = None  # a block refused for its content, accepted if sent again as is
        self._quiet_until = 0  # latest end of the pause before a retry
        self._sent = 0  # times the current command was sent
        self._todo = []
        self._cur = None
        self._blocks = []
        self._ok_cmds = 0  # commands (not passwords) the meter carried out
        self._acked = False  # the meter sent a lone ACK to the current read
        self.reading = None

    # -- inputs --------------------------------------------------------------------------
    def start(self, now_ms):
        if self._listener is not None:
            self._listener.start(now_ms)
            self._mirror()
            return
        self._begin(None, now_ms)

    def receive(self, data, now_ms):
        if self.done:
            return
        if self._listener is not None:
            self._listener.receive(data, now_ms)
            self._mirror()
            return
        self.bytes_rx += len(data)
        for m in self.framer.feed(data):
            if m.raw == self._last_tx or m.kind == msg.M_REQUEST:
                continue  # our own transmission seen by our receiver (echo)
            self._event(self._kind(m), m, now_ms)
            if self.done:
                return
        if self.state == _S_PAUSE and data:
            # The meter is still talking (a readout we gave up on): a sign-on now would be
            # lost in it, so the pause lasts until the line has been quiet for T_IDLE.
            t = now_ms + T_IDLE
            if t > self._quiet_until:
                t = self._quiet_until
            if t > self._wait:
                self._wait = t
        if self.framer.busy() and self.state not in _OWN_WAITS:
            self._deadline = now_ms + T_CHAR  # a message is coming in: inter-character limit
        else:
            self._deadline = self._wait

    def timeout(self, now_ms):
        if self._listener is not None:
            self._listener.timeout(now_ms)
            self._mirror()
        elif not self.done:
            self._event(_E_TIMEOUT, None, now_ms)

    def _mirror(self):
        # Mode D: show the listener's actions, deadline and outcome as our own.
        li = self._listener
        done = self._relay(li)
        self.bytes_rx = li.bytes_rx
        self.ident = li.ident
        self.notes = li.notes
        if done:
            self.done, self.result, self.error = True, li.result, li.error
            self._deadline = None

    # -- plumbing --------------------------------------------------------------------------
    def _kind(self, m):
        k = m.kind
        if k == msg.M_DATA:
            if m.damaged():
                self._why = "wrong BCC" if m.bcc_ok is False else "parity error"
                return _E_BAD_BCC
            fault = dat.block_fault(m.body)
            if fault is not None:
                if m.body != self._suspect:
                    # Damage the BCC cannot see (two equal flips, two equal characters lost)
                    # often leaves text no meter sends: ask again. Sent twice the same, it
                    # is how this meter writes it.
                    self._suspect = m.body
                    self._why = fault
                    return _E_BAD_BCC
                self._note("the meter sent %s twice the same: taken as sent" % fault)
            self._suspect = None
            return _E_PARTIAL if m.partial() else _E_DATA
        if k == msg.M_COMMAND:
            if m.damaged():
                self._why = "wrong BCC" if m.bcc_ok is False else "parity error"
                return _E_BAD_BCC
            return _E_COMMAND
        return {msg.M_IDENT: _E_IDENT, msg.M_ACK: _E_ACK, msg.M_NAK: _E_NAK,
                msg.M_LINE: _E_LINE, msg.M_GARBAGE: _E_GARBAGE}.get(k, _E_LINE)

    def _event(self, ev, m, now):
        name = _TABLE[self.state].get(ev)
        if name is not None:
            getattr(self, name)(m, now)

    def _arm(self, at):
        self._wait = at
        self._deadline = at

    def _tx(self, data, now):
        self._last_tx = data
        if data == msg.BREAK:
            self._programming = False
        return self._send(data, now)

    def _hang_up(self, now_ms):
        """In programming mode, the break (B0, IEC 62056-21 6.3.3): the meter leaves it at
        once instead of after its inactivity time-out."""
        if self._programming:
            self._tx(msg.BREAK, now_ms)

    def _fail(self, exc):
        self._hang_up(self._tx_end)  # e.g. a refused password: leave programming mode
        Machine._fail(self, exc)

    def _line_text(self):
        return "%d baud %s" % (self.baud, fmt_name(self.fmt))

    # -- sign-on and identification ----------------------------------------------------------
    def _begin(self, m, now):
        self.framer.reset()
        self._switched = 0
        self._naks = 0
        if self.baud != 300 or self.fmt != FMT_7E1 or not self.bytes_tx:
            self._set_line(300, FMT_7E1)
        if self.wakeup is not None:
            n, pause, baud = self.wakeup
            if baud != 300:
                self._set_line(baud, FMT_7E1)
            end = self._tx(nul_train(n), now)
            if baud != 300:
                self._set_line(300, FMT_7E1)
            self.state = _S_WAKE
            self._arm(end + pause)
            return
        self._sign_on(None, now)

    def _sign_on(self, m, now):
        end = self._tx(msg.sign_on(self.address), now)
        self.state = _S_IDENT
        self._arm(end + T_REPLY)

    def _no_ident(self, m, now):
        if self.framer.busy():
            err = NoAnswer("the identification stopped half-way (more than 1.5 s between two "
                           "characters) at 300 baud 7E1: is the head held steady?")
        else:
            err = NoAnswer("no identification within 1.5 s after the sign-on at 300 baud 7E1: "
                           "is the meter powered and the head on its optical port? (Or still "
                           "in HDLC from a broken-off DLMS read: --mode auto closes it.)")
        self._retry(err, now, False)

    def _on_ident(self, m, now):
        if m.parity_ok is False:
            self._retry(DecodeError("the identification arrived with a parity error"), now,
                        False)
            return
        try:
            ident = msg.parse_identification(m.body)
        except DecodeError as e:
            self._retry(e, now, False)
            return
        self.ident = ident
        if self.framer.high_bytes:
            self._note("bytes arrived with bit 7 set: the port reads 7E1 data as 8N1")
        mode = ident.mode
        if mode in ("A", "B"):
            if self.program:
                self._fail(Refused("the meter works in protocol mode %s, which has no "
                                   "programming mode" % mode))
                return
            if mode == "B":
                # Mode B: both sides switch to the letter's rate with no acknowledgement.
                self._set_line(ident.max_baud or 300, FMT_7E1)
                self._switched = self.baud if self.baud != 300 else 0
            self.state = _S_READOUT
            self._arm(now + T_REPLY)
            return
        self._react(now, "_option_select")  # mode C/E: option select after our reaction

    def _react(self, now, then):
        # The reaction time tr applies in both directions (clause 6.3.14): we answer no
        # sooner than 200 ms (20 ms for a lower-case third FLAG letter) after the meter's
        # last character, or after reaction_ms when configured.
        if self.reaction_ms is not None:
            wait = self.reaction_ms
        else:
            wait = self.ident.reaction_ms() if self.ident is not None else 200
        self._then = then
        self._back = self.state
        self.state = _S_REACT
        # now is floored to the ms: +1 keeps the wait at or above the minimum.
        self._arm(now + wait + 1)

    def _reacted(self, m, now):
        getattr(self, self._then)(now)

    def _pick_baud(self):
        ident = self.ident
        if self.stay_300:
            return 300
        if ident.max_baud is None:
            self._note("the meter gave the reserved baud character %r; staying at 300 baud"
                       % ident.baud_char)
            return 300
        return ident.max_baud if ident.max_baud < self._cap else self._cap

    def _option_select(self, now):
        baud = self._pick_baud()
        z = msg.char_for_baud(baud)
        if self.mode_e and self.ident.mode_e:
            # Mode E: HDLC at Z, 8N1; the DLMS machine continues on this line (clause 6.4.5).
            self._tx(msg.option_select("2", z, "2"), now)
            self._set_line(baud, FMT_8N1)
            self.handover = (baud, FMT_8N1)
            r = self._new_reading("E")
            self._close_reading(r)
            self._finish(r)
            return
        if self.mode_e:
            self._note("the meter does not offer mode E (no \\2): reading it in mode C")
        end = self._tx(msg.option_select("0", z, "1" if self.program else "0"), now)
        self._programming = self.program  # until the B0: every end sends one (_hang_up)
        if baud != 300:
            self._set_line(baud, FMT_7E1)
            self._switched = baud
        self.state = _S_P0 if self.program else _S_READOUT
        self._arm(end + T_REPLY)

    # -- readout --------------------------------------------------------------------------------
    def _new_reading(self, mode):
        ident = self.ident
        r = Reading("iec62056-21", mode=mode, baud=self.baud)
        if ident is not None:
            r.manufacturer = ident.manufacturer
            r.ident = ident.ident()
        return r

    def _block_sets(self, m):
        # (data sets, error text or None) of this block joined to the partial blocks before
        # it (clause 6.3.7); (None, None) once a block that cannot be parsed ended the session.
        self._naks = 0
        blocks = self._blocks + [m.body]
        self._blocks = []
        try:
            sets = dat.parse_block(b"".join(blocks))
        except DecodeError as e:
            self._fail(e)
            return None, None
        return sets, dat.error_reply(sets)

    def _on_readout(self, m, now):
        sets, err = self._block_sets(m)
        if sets is None:
            return
        if err is not None:
            self._fail(Refused("the meter answered the readout with (%s)" % err))
            return
        if self.ident is None:
            self._note("the meter sent its data without an identification first")
        elif self.program:
            self._note("the meter sent a readout instead of entering programming mode")
        mode = "C"
        if self.ident is not None and self.ident.mode in ("A", "B"):
            mode = self.ident.mode
        r = dat.build_reading(sets, self.ident, mode, self.baud)
        r.notes = list(self.notes)
        self._finish(r)

    def _close_reading(self, r):
        mid = dat.meter_id(r.values)
        if mid is None and self.ident is not None:
            mid = self.ident.text
        r.meter_id = mid
        r.notes = list(self.notes)

    def _on_partial(self, m, now):
        # Partial block (EOT): keep it and ACK for the next one (clause 6.3.7).
        self._naks = 0
        self._blocks.append(m.body)
        if len(self._blocks) > 4096:
            self._fail(DecodeError("more than 4096 partial blocks: the meter does not stop"))
            return
        self._react(now, "_send_ack")

    def _send_ack(self, now):
        self.state = self._back
        self._arm(self._tx(b"\x06", now) + T_REPLY)

    def _send_nak(self, now):
        self.state = self._back
        self._arm(self._tx(b"\x15", now) + T_REPLY)

    def _on_bad_bcc(self, m, now):
        self._naks += 1
        if self._naks > NAK_MAX:
            err = ChecksumError("the data arrived damaged %d times in a row (%s): the light "
                                "path is disturbed; hold the head steady and shade it"
                                % (self._naks, self._why))
            if self.state == _S_REPLY:
                self._fail(err)  # programming: a new sign-on would repeat the commands
            else:
                self._retry(err, now, False)  # readout: start again from the sign-on
            return
        self._note("%s, asked the meter to repeat (NAK)" % self._why)
        self._react(now, "_send_nak")

    def _on_garbage(self, m, now):
        self._retry(DecodeError("unreadable bytes at %s" % self._line_text()), now, True)

    def _no_data(self, m, now):
        if self.framer.busy():
            what = "the data stopped half-way (more than 1.5 s between two characters)"
        else:
            what = "no data within 1.5 s"
        if self._switched:
            what += (" after switching to %d baud: the meter may not support that rate"
                     % self._switched)
        self._retry(NoAnswer(what), now, True)

    def _retry(self, err, now, step_down):
        if self.retries_used >= self.retries:
            self._fail(err)
            return
        self.retries_used += 1
        if step_down and self._switched:
            self._cap = _lower_baud(self._switched)
            self._note("%s; retrying at %d baud" % (err.args[0], self._cap))
        else:
            self._note("%s; retrying" % err.args[0])
        self._blocks = []
        self._suspect = None
        self._set_line(300, FMT_7E1)
        self.state = _S_PAUSE
        self._quiet_until = now + T_QUIET_MAX
        self._arm(self.tx_end_ms() + T_IDLE if self.tx_end_ms() > now else now + T_IDLE)

    def _note(self, text):
        self.notes.append(text)

    # -- programming mode ---------------------------------------------------------------------
    def _on_meter_command(self, m, now):
        cd, data = msg.split_command(m.body)
        if cd == "B0":
            after = (" after %s" % self._cur[0]) if self._cur else ""
            hint = ": wrong password?" if self._cur and self._cur[0][0] == "P" else ""
            self._programming = False  # it has left programming mode itself
            self._fail(Refused("the meter ended the session (break)%s%s" % (after, hint)))
            return
        if self.state != _S_P0 or cd != "P0":
            return  # P0 again, or a command we do not expect: ignore it
        self._naks = 0
        self.operand = data
        self.reading = self._new_reading("C")
        todo = []
        if self.password is not None:
            todo.append(("P1", "(" + self.password + ")"))
        todo.extend(self.commands)
        if self.load_profile is not None:
            todo.append(("R5", "P.01(%s;%s)" % (self.load_profile[0], self.load_profile[1])))
        self._todo = todo
        self._react(now, "_next_command")

    def _next_command(self, now):
        self._blocks = []
        if not self._todo:
            end = self._tx(msg.BREAK, now)
            self._cur = None
            self.state = _S_CLOSE
            self._arm(end)
            return
        self._cur = self._todo.pop(0)
        self._sent = 0
        self._acked = False
        self._send_cur(now)

    def _send_cur(self, now):
        cd, data = self._cur
        self._sent += 1
        end = self._tx(msg.command(cd[0], cd[1], data), now)
        self.state = _S_REPLY
        self._arm(end + T_REPLY)

    def _on_ack(self, m, now):
        if self._cur[0][0] == "R":
            self._acked = True  # a read is answered with data; some meters (EMH) only ACK
            return
        if self._cur[0][0] != "P":
            self._ok_cmds += 1
        self._react(now, "_next_command")

    def _on_nak(self, m, now):
        if self._sent <= NAK_MAX:
            self._react(now, "_send_cur")
            return
        cd, data = self._cur
        hint = ": wrong password?" if cd == "P1" else ""
        self._fail(Refused("the meter refused %s %s %d times (NAK)%s" % (cd, data, self._sent,
                                                                         hint)))

    def _on_reply(self, m, now):
        cd, data = self._cur
        sets, err = self._block_sets(m)
        if sets is None:
            return
        if err is not None:
            if cd[0] == "P":
                self._fail(Refused("the meter answered the password with (%s)" % err))
                return
            self._note("%s %s: the meter answered (%s)" % (cd, data, err))
        elif data.startswith("P."):
            r = self.reading
            r.profiles = (r.profiles or []) + dat.parse_profile(sets)
            self._ok_cmds += 1
        else:
            asked = data[:data.find("(")] if "(" in data else data
            for ds in sets:
                if not ds.address and ds.groups:
                    ds.address = asked  # R1 answers often carry no address: it is the asked one
                v = dat.to_value(ds)
                if v is not None:
                    self.reading.add(v)
            self._ok_cmds += 1
        self._react(now, "_next_command")

    def _no_reply(self, m, now):
        cd, data = self._cur
        if self.framer.busy():
            err = NoAnswer("the answer to %s %s stopped half-way" % (cd, data))
        else:
            err = NoAnswer("no answer to %s %s within 1.5 s" % (cd, data))
        if self._acked:
            err = NoAnswer("the meter acknowledged %s %s but sent no data: some meters (EMH) "
                           "answer reads only through R5" % (cd, data))
        self._tx(msg.BREAK, now)
        self._fail(err)

    def _closed(self, m, now):
        r = self.reading
        if self._ok_cmds == 0 and (self.commands or self.load_profile):
            self._fail(Refused("the meter refused every command: " + "; ".join(self.notes)))
            return
        if self.operand:
            self._note("P0 operand from the meter: %s" % self.operand)
        self._close_reading(r)
        self._finish(r)

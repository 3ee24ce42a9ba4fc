# irprobe.sim.iec_meter: a simulated IEC 62056-21 meter, the meter side of the Machine contract
# (host simulator, core subset: runs on MicroPython too). Modes A-D (clause 6.4.2-6.4.5),
# programming mode (6.4.5.3: P0/P1, R1/R5, W1, B0, partial blocks), battery wake-up (6.4.7).
# Written from the standard on purpose, independent of the client in meterproto.iec.
from meterproto.bcc import bcc
from meterproto.compat import const
from meterproto.line import FMT_7E1, FMT_8N1
from meterproto.machine import Machine, A_SET_LINE
from irprobe.sim.iec_text import (SOH, STX, ETX, EOT, ACK, NAK, frame, render_set,
                                  render_block, text7, load_profile_lines)

_ASLEEP = const(0)      # battery meter: waiting for a wake-up train (6.4.7)
_IDLE = const(1)        # 300 baud 7E1, waiting for `/?...!CR LF`
_ANSWER = const(2)      # request heard, identification due after tr
_WAIT_ACK = const(3)    # identification sent, option select due within 1500 ms
_SWITCH = const(4)      # option select heard, new rate and first message due after tr
_MODE_B = const(5)      # mode B: identification sent, data due at the new rate after tr
_PROG = const(6)        # programming mode, waiting for a command
_PROG_REPLY = const(7)  # command heard, answer due after tr
_BLOCKS = const(8)      # partial block sent, waiting for ACK (next) or NAK (repeat)
_PUSH = const(9)        # mode D: pushing on a period
_HANDOVER = const(10)   # mode E: an inner machine (HDLC server) owns the line
_AFTER = const(11)      # readout sent: a NAK within ta asks for it again (6.4.5.2)
NAMES = ("asleep", "idle", "answer", "wait-ack", "switch", "mode-b", "prog", "prog-reply",
         "blocks", "push", "handover", "after-readout")
REPEATS_MAX = const(3)

# Timing of the standard (clause 6.3.14, 6.4.7): ta = inter-character / answer window,
# wake-up train of 2.1-2.3 s then a 1.5-1.7 s pause; tt = programming inactivity.
TA_MS = const(1500)
WAKE_TRAIN_MIN_MS = const(2000)
WAKE_PAUSE_MIN_MS = const(1400)
WAKE_WINDOW_MS = const(4000)
TT_MS = const(60000)
# mode E: the HDLC side ends the session itself (DISC, or its inactivity timeout); this is
# only a backstop for an inner machine that never ends
HANDOVER_IDLE_MS = const(180000)

BAUD_C = (300, 600, 1200, 2400, 4800, 9600, 19200)  # Z = '0'..'6' (modes C and E)
BAUD_B = (600, 1200, 2400, 4800, 9600, 19200)       # Z = 'A'..'F' (mode B)


class IecMeter(Machine):
    """Meter side of an IEC 62056-21 session, driven by a profile dict (see profiles.py).

    mode_e_factory: optional callable returning a Machine (an HDLC server) that takes over
    the line after `ACK 2 Z 2`; without it the meter ignores the mode E request.
    """

    def __init__(self, profile, mode_e_factory=None):
        p = profile
        self.p = p
        self.mode = p.get("mode", "C")
        start_baud = p.get("push_baud", 2400) if self.mode == "D" else 300
        Machine.__init__(self, start_baud, FMT_7E1)
        self.reaction = p.get("reaction_ms", 200)
        self.mode_e_factory = mode_e_factory
        self.state = _IDLE
        self._rx = bytearray()
        self._last_rx = 0
        self._next = None       # what _answer_due sends when the reaction time is over
        self._blocks = None     # partial blocks of the current R5 answer
        self._block_i = 0
        self._authorised = False
        self._store = {}        # W1 writes
        self._inner = None
        self._train_start = None
        self._train_last = 0
        self._repeats = 0
        self._bcc_faults = p.get("corrupt_bcc", 0)  # test knob: this many bad BCCs first
        self.log = []           # (ms, event) for tests and the simulator's trace
        self.sessions = 0
        self.values = {}
        for line in p.get("data") or ():
            for ds in line:
                self.values[ds["address"]] = ds

    # -- the Machine contract -------------------------------------------------------------
    def start(self, now_ms):
        if self.mode == "D":
            self.state = _PUSH
            self._deadline = now_ms + self.p.get("push_first_ms", 500)
        else:
            self._go_idle(now_ms, False)

    def next_action(self):
        if self._inner is not None and not self._actions:
            act = self._inner.next_action()
            if act is not None:
                if act[0] == A_SET_LINE:
                    self.baud, self.fmt = act[1], act[2]
                return act
        return Machine.next_action(self)

    def deadline_ms(self):
        if self._inner is not None:
            d = self._inner.deadline_ms()
            idle = self._last_rx + HANDOVER_IDLE_MS
            return idle if d is None or idle < d else d
        return Machine.deadline_ms(self)

    def receive(self, data, now_ms):
        if self._inner is not None:
            self._last_rx = now_ms
            self._inner.receive(data, now_ms)
            self._inner_check(now_ms)
            return
        handler = _ON_RECEIVE.get(self.state)
        if handler is not None:  # other states are busy answering (no full duplex here)
            getattr(self, handler)(data, now_ms)

    def timeout(self, now_ms):
        if self._inner is not None:
            if now_ms >= self._last_rx + HANDOVER_IDLE_MS:
                self._note(now_ms, "mode E session over (silence)")
                self._inner = None
                self._go_idle(now_ms, True)
                return
            self._inner.timeout(now_ms)
            self._inner_check(now_ms)
            return
        getattr(self, _ON_TIMEOUT[self.state])(now_ms)

    # -- inputs by state (the tables _ON_RECEIVE and _ON_TIMEOUT below) ---------------------
    def _r_train(self, data, now_ms):
        # asleep: every byte is part of the wake-up train until a pause (6.4.7)
        if self._train_start is None or now_ms - self._train_last >= WAKE_PAUSE_MIN_MS:
            self._train_start = now_ms
        self._train_last = now_ms
        self._deadline = now_ms + WAKE_PAUSE_MIN_MS

    def _t_train(self, now_ms):
        if self._train_start is not None and \
                self._train_last - self._train_start >= WAKE_TRAIN_MIN_MS - 100:
            self._note(now_ms, "woken up")
            self.state = _IDLE
            self._rx = bytearray()
            self._deadline = now_ms + WAKE_WINDOW_MS
        else:
            self._deadline = None
        self._train_start = None

    def _r_after(self, data, now_ms):
        if NAK in data or (NAK | 0x80) in data:
            self._repeats += 1
            if self._repeats <= REPEATS_MAX:
                self._note(now_ms, "NAK: readout repeated")
                self._after(now_ms, _SWITCH, ("readout", self.baud))

    def _collect(self, data, now_ms):
        if self._rx and now_ms - self._last_rx > TA_MS:
            self._rx = bytearray()  # a gap over ta ends a broken message (6.3.14)
        for b in data:
            self._rx.append(b & 0x7F)
        self._last_rx = now_ms

    def _r_signon(self, data, now_ms):
        self._collect(data, now_ms)
        self._scan_signon(now_ms)

    def _r_command(self, data, now_ms):
        self._collect(data, now_ms)
        self._scan_command(now_ms)

    def _t_idle(self, now_ms):
        self._go_idle(now_ms, True)

    def _t_no_option(self, now_ms):
        self._note(now_ms, "no option select within 1500 ms")
        self._go_idle(now_ms, True)

    def _t_inactive(self, now_ms):
        self._note(now_ms, "programming mode inactivity")
        self._go_idle(now_ms, True)

    def _t_push(self, now_ms):
        self.sessions += 1
        end = self._send(self._ident() + self._data_message(), now_ms)
        self._deadline = end + self.p.get("push_gap_ms", 1000)

    # -- helpers ----------------------------------------------------------------------------
    def _note(self, now_ms, text):
        self.log.append((now_ms, text))

    def _go_idle(self, now_ms, line_back):
        """End of a session: back to 300 baud 7E1 (after TX drains) and wait."""
        if line_back and (self.baud != 300 or self.fmt != FMT_7E1):
            self._set_line(300, FMT_7E1)
        self._rx = bytearray()
        self._blocks = None
        self._authorised = False
        self._repeats = 0
        if self.p.get("wakeup"):
            self.state = _ASLEEP
            self._train_start = None
        else:
            self.state = _IDLE
        self._deadline = None

    def _after(self, now_ms, state, what):
        self.state = state
        self._next = what
        self._rx = bytearray()
        self._deadline = now_ms + self.reaction

    def _ident(self):
        p = self.p
        s = "/" + p["manufacturer"] + p["baud_char"]
        for w in p.get("enhanced") or ():
            s += "\\" + w
        return (s + p["ident_text"] + "\r\n").encode()

    def _data_message(self):
        out = frame(STX, render_block(self.p["data"]))
        if self._bcc_faults > 0:
            self._bcc_faults -= 1
            out = out[:-1] + bytes((out[-1] ^ 1,))
        return out

    def _readout(self, end):
        """After a data message: wait ta for a NAK, then back to idle (6.4.5.2)."""
        self.state = _AFTER
        self._deadline = end + TA_MS

    # -- sign-on (6.3.1-6.3.3) ----------------------------------------------------------------
    def _scan_signon(self, now_ms):
        rx = self._rx
        if self.state == _WAIT_ACK:
            i = rx.find(b"\x06")
            if i >= 0 and len(rx) >= i + 6:
                msg = bytes(rx[i:i + 6])
                self._rx = bytearray()
                if msg[4:6] == b"\r\n":
                    self._option(msg[1:4].decode(), now_ms)
                    return
        i = rx.find(b"/?")
        if i < 0:
            if len(rx) > 64:
                self._rx = rx[len(rx) - 1:]  # keep a possible '/'
            if self.state == _IDLE and self._deadline is None and rx:
                self._deadline = now_ms + TA_MS  # drop a half message after ta
            return
        j = rx.find(b"!\r\n", i)
        if j < 0:
            if len(rx) - i > 40:
                self._rx = bytearray()
            else:
                self._deadline = now_ms + TA_MS if self.state == _IDLE else self._deadline
            return
        address = bytes(rx[i + 2:j]).decode()
        self._rx = bytearray()
        mine = self.p.get("address") or ""
        if address and address != mine:
            self._note(now_ms, "request for address %r ignored" % address)
            self._go_idle(now_ms, False)
            return
        self._note(now_ms, "request")
        self._after(now_ms, _ANSWER, "ident")

    def _option(self, vzy, now_ms):
        v, z, y = vzy[0], vzy[1], vzy[2]
        baud = None
        if "0" <= z <= "6":
            baud = BAUD_C[ord(z) - 48]
        if baud is None or baud > self.p["max_baud"]:
            self._note(now_ms, "option select %r: rate not offered, ignored" % vzy)
            self._go_idle(now_ms, True)
            return
        if v == "2" and y == "2":
            if not self.p.get("mode_e") or self.mode_e_factory is None:
                self._note(now_ms, "mode E requested: not simulated, ignored")
                self._go_idle(now_ms, True)
                return
            kind = "hdlc"
        elif y == "1":
            kind = "prog"
        elif y == "0" or y == "6":
            kind = "readout"
        else:
            self._note(now_ms, "option select %r not supported, ignored" % vzy)
            self._go_idle(now_ms, True)
            return
        # Both sides change rate once the ACK has left the line (6.4.5.2); our TX is idle
        # now, so the switch is immediate and the answer follows after tr at the new rate.
        self._set_line(baud, FMT_8N1 if kind == "hdlc" else FMT_7E1)
        self._after(now_ms, _SWITCH, (kind, baud))

    def _answer_due(self, now_ms):
        what = self._next
        self._deadline = None
        if what == "ident":
            end = self._send(self._ident(), now_ms)
            self.sessions += 1
            if self.mode == "A":
                self._repeats = 0
                self._readout(self._send(self._data_message(), end))
            elif self.mode == "B":
                # mode B: both sides switch right after the identification (6.4.3)
                self._set_line(BAUD_B[ord(self.p["baud_char"]) - 65], FMT_7E1)
                self.state = _MODE_B
                self._next = ("readout", self.baud)
                self._deadline = end + self.reaction
            else:
                self.state = _WAIT_ACK
                self._deadline = end + TA_MS
            return
        if self.state == _PROG_REPLY:
            self._prog_answer(what, now_ms)
            return
        kind, baud = what
        if kind == "hdlc":
            self.state = _HANDOVER
            self._last_rx = now_ms
            self._inner = self.mode_e_factory()
            self._inner.start(now_ms)
            self._inner_check(now_ms)
            return
        if kind == "readout":
            if self._repeats == 0:
                self._note(now_ms, "readout at %d" % baud)
            self._readout(self._send(self._data_message(), now_ms))
        else:  # programming mode opens with the password operand P0 (6.4.5.3)
            self._send(frame(SOH, "P0\x02(" + (self.p.get("p0_operand") or "") + ")"), now_ms)
            self._authorised = not self.p.get("password")
            self.state = _PROG
            self._deadline = now_ms + TT_MS

    def _inner_check(self, now_ms):
        inner = self._inner
        if inner.done:
            self._relay(inner)  # what it still wants sent goes out before we let go of it
            self._inner = None
            self._go_idle(now_ms, True)

    # -- programming mode (6.4.5.3) -----------------------------------------------------------
    def _scan_command(self, now_ms):
        rx = self._rx
        if self.state == _BLOCKS and rx and rx[0] in (ACK, NAK):
            b = rx[0]
            self._rx = rx[1:]
            if b == NAK:
                self._note(now_ms, "NAK: block repeated")
            else:
                self._block_i += 1
            self._after(now_ms, _PROG_REPLY, ("block",))
            return
        i = rx.find(b"\x01")
        if i < 0:
            self._rx = bytearray()
            return
        j = i + 1
        while j < len(rx) and rx[j] != ETX and rx[j] != EOT:
            j += 1
        if j + 1 >= len(rx):
            self._deadline = now_ms + TT_MS
            return  # not complete yet (receive() drops it after a gap over ta)
        msg = bytes(rx[i:j + 2])
        self._rx = bytearray()
        if bcc(msg, 1, len(msg) - 1) != msg[-1]:
            self._note(now_ms, "command BCC wrong: NAK")
            self._after(now_ms, _PROG_REPLY, ("nak",))
            return
        body = text7(msg[1:-2])
        cd = body[0:2]
        k = body.find("\x02")
        data = body[k + 1:] if k >= 0 else ""
        self._note(now_ms, "command " + cd)
        if cd == "B0":
            self._go_idle(now_ms, True)
            return
        self._after(now_ms, _PROG_REPLY, ("cmd", cd, data))

    def _split_set(self, data):
        """'1.8.0(operand)' -> (address, operand)."""
        k = data.find("(")
        if k < 0:
            return data, ""
        e = data.rfind(")")
        return data[:k], data[k + 1:e if e > k else len(data)]

    def _prog_answer(self, what, now_ms):
        self.state = _PROG
        self._deadline = now_ms + TT_MS
        if what[0] == "nak":
            self._send(bytes((NAK,)), now_ms)
            return
        if what[0] == "block":
            self._send_block(now_ms)
            return
        cd, data = what[1], what[2]
        if cd == "P1":
            pw = self._split_set(data)[1]
            if self.p.get("password") and pw != self.p["password"]:
                # wrong password: the meter signs off (a break) rather than NAK, which
                # would only make the HHU repeat the same wrong password
                self._note(now_ms, "wrong password: break")
                end = self._send(frame(SOH, "B0"), now_ms)
                self._go_idle(end, True)
                return
            self._authorised = True
            self._send(bytes((ACK,)), now_ms)
            return
        if not self._authorised:
            self._send(frame(STX, "(ERROR)"), now_ms)
            return
        addr, operand = self._split_set(data)
        if cd == "R1" or cd == "R2":
            ds = self.values.get(addr)
            if addr in self._store:
                self._send(frame(STX, addr + "(" + self._store[addr] + ")"), now_ms)
            elif ds is None:
                self._send(frame(STX, "(ERROR)"), now_ms)
            else:
                self._send(frame(STX, render_set(ds)), now_ms)
        elif cd == "R5" and addr == "P.01" and self.p.get("load_profile"):
            self._blocks = self._profile_blocks(operand)
            self._block_i = 0
            self._send_block(now_ms)
        elif cd == "W1" and addr in (self.p.get("writable") or ()):
            self._store[addr] = operand
            self._send(bytes((ACK,)), now_ms)
        else:
            self._send(frame(STX, "(ERROR)"), now_ms)

    def _send_block(self, now_ms):
        blocks = self._blocks
        i = self._block_i
        if blocks is None or i >= len(blocks):
            self.state = _PROG
            return
        last = i == len(blocks) - 1
        self._send(frame(STX, blocks[i], ETX if last else EOT), now_ms)
        if last:
            self._blocks = None
            self.state = _PROG
        else:
            self.state = _BLOCKS

    def _profile_blocks(self, operand):
        """The P.01 answer for `start;end` as partial blocks of a few lines each."""
        k = operand.find(";")
        start = operand[:k] if k >= 0 else operand
        end = operand[k + 1:] if k >= 0 else ""
        lines = load_profile_lines(self.p["load_profile"], start, end)
        if not lines:
            return ["P.01(ERROR)\r\n"]
        n = self.p.get("block_lines", 4)
        out = []
        for i in range(0, len(lines), n):
            out.append("".join([s + "\r\n" for s in lines[i:i + n]]))
        return out


# state -> handler of received bytes; states not listed ignore what they hear
_ON_RECEIVE = {_ASLEEP: "_r_train", _IDLE: "_r_signon", _WAIT_ACK: "_r_signon",
               _AFTER: "_r_after", _PROG: "_r_command", _BLOCKS: "_r_command"}
# state -> handler of the deadline
_ON_TIMEOUT = {_ASLEEP: "_t_train", _IDLE: "_t_idle", _ANSWER: "_answer_due",
               _WAIT_ACK: "_t_no_option", _SWITCH: "_answer_due", _MODE_B: "_answer_due",
               _PROG: "_t_inactive", _PROG_REPLY: "_answer_due", _BLOCKS: "_t_inactive",
               _PUSH: "_t_push", _AFTER: "_t_idle"}

# irprobe.sim.dlms_meter: a simulated DLMS/COSEM meter, the meter side of a session (host
# sim, core subset). Opens with IEC 62056-21 mode E (clause 6.4.5: `\2` in the identification,
# ACK 2 Z 2, then HDLC at Z baud 8N1) or speaks HDLC directly at 9600 8N1 (IEC 62056-46);
# answers AARQ, GET normal/next/with-list, selective access and RLRQ (IEC 62056-5-3), in the
# plain or the ciphered context (security suite 0, 9.2.7; answers in the request's form).
from meterproto.compat import const, unhexlify
from meterproto.line import FMT_7E1, FMT_8N1
from meterproto.machine import Machine
from meterproto.errors import ProtocolError
from meterproto.dlms import axdr
from meterproto.dlms.acse import CONTEXT_LN, CONTEXT_LN_CIPHERED
from meterproto.obis import from_bytes
from irprobe.sim import acse_server as acse
from irprobe.sim import get_server as get
from irprobe.sim import hdlc_server
from irprobe.sim.dlms_model import CosemModel, ASSOCIATION_LN

_IEC_WAIT = const(0)  # mode E: waiting for the sign-on request at 300 baud
_IEC_IDENT = const(1)  # identification queued after the reaction time
_IEC_ACK = const(2)  # waiting for the acknowledgement/option select message
_HDLC = const(3)
NAMES = ("iec-wait", "iec-ident", "iec-ack", "hdlc")

_BAUD_CHARS = "0123456"
_BAUDS = (300, 600, 1200, 2400, 4800, 9600, 19200)
_REACTION_MS = const(200)  # IEC 62056-21 6.3.14: tr between 200 ms and 1500 ms
_BLOCK_TRANSFER_GET = const(0x1000)  # conformance bit 11
_MULTIPLE_REFERENCES = const(0x0200)  # conformance bit 14
# HDLC setup (class 23) inactivity_time_out default: 120 s (IEC 62056-46 6.4.4.4.3.4); the
# meter drops the link after that long without a frame for it
INACTIVITY_MS = const(120000)


class DlmsMeter(Machine):
    """A meter-side Machine serving one profile of irprobe.sim.dlms_profiles."""

    def __init__(self, profile, reply_ms=5, one_session=False):
        """one_session: the meter's IEC side owns the line (irprobe.sim.iec_meter): this
        machine is done once its HDLC link has closed (DISC or inactivity timeout)."""
        self.p = profile
        self.one_session = one_session
        self._closing = False  # the link closed: back to IEC mode once the UA has left
        if profile.get("opening") == "e":
            Machine.__init__(self, 300, FMT_7E1)
            self.state = _IEC_WAIT
        else:
            Machine.__init__(self, profile.get("baud", 9600), FMT_8N1)
            self.state = _HDLC
        self.model = CosemModel(profile)
        self.reply_ms = reply_ms  # the meter's reaction time before each HDLC frame it sends
        self._held = []  # (due_ms, frame): answers waiting for the reaction time
        self.link = None
        self.buf = b""
        self.log = []  # plain-words trace of what the meter did, for tests
        self.requests = 0
        self.ciphered_requests = 0  # deciphered xDLMS requests (after the AARQ)
        self.ciphered_forms = {}  # "glo" / "ded" / "general" -> how many requests came so
        # Security suite 0 (IEC 62056-5-3 9.2.7): keys and system title are profile data; the
        # counters outlive associations, as in a real meter.
        self.cipher = None
        if profile.get("ek"):
            from irprobe.sim.hls_server import ServerCipher
            self.cipher = ServerCipher(unhexlify(profile["system_title"]),
                                       unhexlify(profile["ek"]), unhexlify(profile["ak"]),
                                       profile.get("invocation_counter", 1))
        self._reset_association()

    def _reset_association(self):
        self.associated = False
        self.hls_pending = False
        self.conformance = 0
        self.client_pdu = 0xFFFF
        self.blocks = None  # (invoke_id, [raw chunks], index of the next block to send)
        self.hls = None
        self.ciphered = False  # this association runs in the ciphered context
        if self.cipher is not None:
            self.cipher.close()

    # -- Machine inputs ------------------------------------------------------------------
    def start(self, now_ms):
        if self.state == _HDLC:
            self._open_link()
        self._deadline = None

    def receive(self, data, now_ms):
        if self.state == _HDLC:
            self.link.receive(data, now_ms)
            self._pump(now_ms)
            return
        self.buf += data
        if len(self.buf) > 256:
            self.buf = self.buf[-64:]
        i = self.buf.find(b"/?")
        if self.state in (_IEC_WAIT, _IEC_ACK) and i >= 0 and self.buf.find(b"!\r\n", i) > 0:
            # A sign-on, also in place of the option select: the HHU has started again
            # (its retry after a damaged identification), so the meter does too (6.4.5).
            if self.state == _IEC_ACK:
                self.log.append("sign-on again: identification repeated")
            self.buf = b""
            self.state = _IEC_IDENT
            self._deadline = now_ms + _REACTION_MS
        elif self.state == _IEC_ACK and self.buf.endswith(b"\r\n"):
            msg = self.buf
            self.buf = b""
            i = msg.find(b"\x06")
            if i >= 0 and len(msg) - i == 6 and msg[i + 1:i + 2] == b"2":
                z = chr(msg[i + 2])
                self.log.append("mode E acknowledged at baud char " + z)
                baud = _BAUDS[_BAUD_CHARS.index(z)] if z in _BAUD_CHARS else 300
                self._set_line(baud, FMT_8N1)
                self.state = _HDLC
                self._open_link()
            else:
                self.log.append("unsupported option select %r" % msg)
                self.state = _IEC_WAIT

    def timeout(self, now_ms):
        if self.state == _IEC_IDENT:
            ident = self.p["ident"].encode()
            self._send(ident + b"\r\n", now_ms)
            self.state = _IEC_ACK
            self._deadline = None
            return
        if self.state == _HDLC:
            self._release(now_ms)
            self.link.timeout(now_ms)
            self._pump(now_ms)
            return
        self._deadline = None

    # -- HDLC ----------------------------------------------------------------------------
    def _open_link(self):
        p = self.p
        self.link = hdlc_server.HdlcServerLink(
            server_upper=p["server_upper"], server_lower=p["server_lower"],
            max_info_tx=p["max_info_tx"], max_info_rx=p["max_info_rx"],
            window_tx=p["window_tx"], window_rx=p["window_rx"],
            inactivity_timeout_ms=p.get("inactivity_ms", INACTIVITY_MS))

    def _pump(self, now_ms):
        link = self.link
        while True:
            ev = link.next_event()
            if ev is None:
                break
            kind = ev[0]
            if kind == hdlc_server.EV_APDU:
                self.requests += 1
                reply = self._answer(ev[1])
                if reply is not None:
                    link.send_apdu(reply, now_ms + self.reply_ms)
            elif kind == hdlc_server.EV_CONNECTED:
                self.log.append("HDLC connected")
                self._reset_association()
            elif kind == hdlc_server.EV_CLOSED:
                self.log.append("HDLC disconnected")
                self._reset_association()
                self._closing = self.one_session or self.p.get("opening") == "e"
        while True:
            out = link.pop_output()
            if out is None:
                break
            self._held.append((now_ms + self.reply_ms, out))
        self._release(now_ms)

    def _release(self, now_ms):
        # Frames leave once the reaction time has passed; the deadline is the next of them
        # or the link's own (its inactivity timeout).
        held = self._held
        while held and held[0][0] <= now_ms:
            self._send(held.pop(0)[1], now_ms)
        if self._closing and not held:
            self._back_to_iec(now_ms)
            return
        d = self.link.deadline_ms()
        if held and (d is None or held[0][0] < d):
            d = held[0][0]
        self._deadline = d

    def _back_to_iec(self, now_ms):
        """Mode E is over with the HDLC link (IEC 62056-21 6.4.5.4 / 62056-46): the meter
        listens for a sign-on at 300 baud 7E1 again."""
        self._closing = False
        self.log.append("back to IEC mode")
        if self.one_session:
            self._finish(None)
            return
        self._set_line(300, FMT_7E1)
        self.state = _IEC_WAIT
        self.buf = b""
        self._deadline = None

    # -- application layer ---------------------------------------------------------------
    def _answer(self, apdu):
        from meterproto.dlms.cipher import is_ciphered
        if is_ciphered(apdu):
            return self._ciphered(apdu)
        if self.ciphered and apdu[:1] not in (b"\x60", b"\x62"):
            self.log.append("plain request refused in a ciphered association")
            return get.build_exception(1, 2)
        return self._answer_plain(apdu)

    def _ciphered(self, apdu):
        """Decipher, answer, and cipher the answer in the form the request came in."""
        from meterproto.errors import ChecksumError, DecodeError, Refused
        c = self.cipher
        if not self.ciphered:
            return get.build_exception(1, 2)  # no ciphered association: service not allowed
        try:
            plain, form, sc = c.unwrap(apdu)
        except Refused:
            self.log.append("replayed invocation counter refused")
            return get.build_exception(1, 5, c.peer_ic + 1)  # invocation-counter-error
        except (ChecksumError, DecodeError) as e:
            self.log.append("request does not decipher: %s" % e)
            return get.build_exception(1, 4)  # deciphering-error
        self.ciphered_requests += 1
        self.ciphered_forms[form] = self.ciphered_forms.get(form, 0) + 1
        reply = self._answer_plain(plain)
        if reply is None:
            return None
        c.sc = sc
        return c.wrap(reply, form)

    def _answer_plain(self, apdu):
        tag = apdu[0] if apdu else 0
        try:
            if tag == 0x60:
                return self._aarq(apdu)
            if tag == 0xC3 and self.hls_pending:
                return self._hls_reply(apdu)
            if tag == 0x62:
                self.log.append("released")
                self._reset_association()
                return acse.build_rlre(0)
            if not self.associated:
                # IEC 62056-5-3 exception-response: service not allowed before association.
                return get.build_exception(1, 2)
            if tag == 0xC0:
                return self._get(apdu)
        except Exception as e:  # a malformed request gets an exception-response, not a crash
            self.log.append("bad request: %s" % e)
            return get.build_exception(1, 3)
        return get.build_exception(1, 2)

    def _aarq(self, apdu):
        p = self.p
        q = acse.parse_aarq(apdu)
        auth = p.get("auth", "lowest")
        want = {"lowest": 0, "low": 1, "hls-gmac": 5}[auth]
        if q.context not in (CONTEXT_LN, CONTEXT_LN_CIPHERED):
            return acse.build_aare(1, 2, context=q.context or 1)
        if p.get("ciphered") and q.context != CONTEXT_LN_CIPHERED:
            self.log.append("AARQ without ciphering refused")
            return acse.build_aare(1, 2)  # application context name not supported
        if q.context == CONTEXT_LN_CIPHERED:
            if self.cipher is None:
                return acse.build_aare(1, 2)
            try:
                q.initiate = self.cipher.open(q)
            except (ProtocolError, IndexError) as e:  # wrong keys, replayed counter, bad shape
                self.log.append("ciphered AARQ refused: %s" % e)
                return acse.build_aare(1, 1, context=q.context, initiate_error=0)
            self.ciphered = True
        if q.mechanism != want:
            self.log.append("AARQ with mechanism %d refused" % q.mechanism)
            return acse.build_aare(1, 14 if q.mechanism == 0 else 11)
        if want == 1 and (q.secret or b"") != p["password"].encode():
            self.log.append("wrong password")
            return acse.build_aare(1, 13)
        if q.initiate is None or q.initiate.kind not in ("request", "ciphered"):
            return acse.build_aare(1, 1)
        if want == 5:
            return self._hls_aarq(q)
        self.conformance = q.conformance & p["conformance"]
        self.client_pdu = q.max_pdu or 0xFFFF
        self.associated = True
        how = ""
        if self.ciphered:
            how = ", ciphered" + (", dedicated key" if self.cipher.dedicated_key else "")
        self.log.append("associated (mechanism %d%s)" % (want, how))
        if self.ciphered:
            return acse.build_aare(0, 0, context=q.context, system_title=self.cipher.system_title,
                                   user_info=self._initiate_response())
        return acse.build_aare(0, 0, self.conformance, p["max_pdu"])

    def _initiate_response(self):
        # IEC 62056-5-3 9.2.7.2: the InitiateResponse goes back as glo-initiate-response.
        plain = acse.build_initiate_response(self.conformance, self.p["max_pdu"])
        return self.cipher.wrap(plain, "glo")

    def _hls_aarq(self, q):
        from irprobe.sim.hls_server import HlsServer
        p = self.p
        if not q.secret or not q.system_title:
            return acse.build_aare(1, 13)
        self.hls = HlsServer(unhexlify(p["system_title"]), unhexlify(p["ek"]), unhexlify(p["ak"]))
        self.conformance = q.conformance & p["conformance"]
        self.client_pdu = q.max_pdu or 0xFFFF
        self.hls_pending = True
        if self.ciphered:
            return self.hls.aare(q, self.conformance, p["max_pdu"], q.context,
                                 self._initiate_response())
        return self.hls.aare(q, self.conformance, p["max_pdu"])

    def _hls_reply(self, apdu):
        # in the ciphered context f(CtoS) carries the counter of the ciphered ACTION answer
        ok, reply = self.hls.answer(apdu, self.cipher.ic if self.ciphered else None)
        self.hls_pending = False
        self.associated = ok
        self.log.append("HLS-GMAC " + ("passed" if ok else "failed"))
        return reply

    def _overhead(self):
        # a ciphered answer must still fit the PDU: tag, length, SC, IC, 12-byte tag, and the
        # system title of general-glo-ciphering
        return 32 if self.ciphered else 0

    def _pdu_limit(self):
        lim = self.p["max_pdu"]
        return lim if lim < self.client_pdu else self.client_pdu

    def _get(self, apdu):
        req = get.parse_get_request(apdu)
        iid = req.invoke_id
        hp = req.high_priority
        if req.kind == "next":
            return self._next_block(iid, req.block_no, hp)
        self.blocks = None
        if req.kind == "list":
            if not self.conformance & _MULTIPLE_REFERENCES:
                return get.build_exception(1, 1)
            results = []
            for item in req.items:
                ok, data = self._one(item)
                results.append(data)
            reply = get.build_get_response_list(iid, results, hp)
        else:
            ok, data = self._one(req.items[0])
            if ok:
                reply = get.build_get_response_normal(iid, data, hp)
            else:
                reply = get.build_get_response_error(iid, data, hp)
        if len(reply) <= self._pdu_limit() - self._overhead():
            return reply
        if not self.conformance & _BLOCK_TRANSFER_GET:
            return get.build_get_response_error(iid, 2, hp)  # temporary failure: too long
        # IEC 62056-5-3 9.3.7: the raw data of the blocks is the encoded Data (normal) or the
        # encoded list of results (with-list), cut to fit the negotiated PDU size.
        raw = reply[3:] if req.kind == "list" else reply[4:]
        room = self._pdu_limit() - 12 - self._overhead()
        chunks = [raw[i:i + room] for i in range(0, len(raw), room)]
        self.blocks = [iid, chunks, 0]
        return self._next_block(iid, 0, hp)

    def _next_block(self, iid, acked, hp=True):
        # Block n + 1 answers GET-request-next acknowledging block n (the first is block 1).
        b = self.blocks
        if b is None or acked != b[2]:
            self.blocks = None
            return get.build_get_response_block(iid, True, acked + 1, 16 if b is None else 19, hp)
        chunk = b[1][b[2]]
        b[2] += 1
        last = b[2] == len(b[1])
        if last:
            self.blocks = None
        return get.build_get_response_block(iid, last, b[2], chunk, hp)

    def _one(self, item):
        """One attribute descriptor with optional access selection -> (ok, data or DAR)."""
        obis = from_bytes(item.obis)
        if obis == ASSOCIATION_LN and item.class_id == 15 and item.attr == 2:
            self.log.append("object list read")
        params = None
        if item.selector is not None:
            try:
                params = axdr.decode_whole(item.params)
            except Exception:
                return False, 250
        return self.model.get(item.class_id, obis, item.attr, item.selector, params)


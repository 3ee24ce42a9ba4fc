# meterproto.dlms.client: a DLMS/COSEM client session over HDLC (core, both runtimes).
# IEC 62056-46 link (SNRM/UA, DISC) via hdlc_link, IEC 62056-5-3 xDLMS (AARQ/AARE, GET
# normal/next/with-list, selective access) and IEC 62056-6-2 classes 1, 3, 4, 7, 8, 15.
# Plan: association view first, then every readable attribute in as few GETs as the meter's
# conformance allows (GET-with-list), then each load profile by range, then DISC.
# RAM (the RP2040 heap): array values are decoded as their blocks arrive (axdr_stream), rows
# and object_list entries kept as A-XDR bytes until they are done, small receive PDUs; the
# association's code (acse, hls) and the reading's (get, cosem) are not loaded together on
# the probe (release_modules).
from meterproto.compat import MICROPYTHON, const, forget
from meterproto.errors import NoAnswer, Refused, ProtocolError, DecodeError, LocalProtocolError
from meterproto.line import FMT_8N1
from meterproto.machine import Machine
from meterproto.dlms import axdr
from meterproto.hdlc import link as hdlc_link
from meterproto.dlms.client_profile import CLOCK, ProfileReader  # noqa: F401 (CLOCK: API)
from meterproto.obis import to_bytes
from meterproto.reading import ID_OBIS, Reading, Value

_CONNECT = const(0)
_ASSOCIATE = const(1)
_HLS = const(2)
_OBJECTS = const(3)
_ATTRS = const(4)
_PROFILE = const(5)
_RELEASE = const(6)
_DISC = const(7)
NAMES = ("connect", "associate", "hls", "object-list", "attributes", "profile", "release",
         "disconnect")

ASSOCIATION_LN = "0-0:40.0.0*255"
_MULTIPLE_REFERENCES = const(0x0200)  # conformance bit 14 (IEC 62056-5-3 8.4)
# What we read per class: value attributes plus what is needed to interpret them.
_READ = {1: (2,), 3: (2, 3), 4: (2, 3, 5), 8: (2,), 7: (3,)}
# client-max-receive-pdu-size (IEC 62056-5-3 9.4.2, in the xDLMS InitiateRequest): the meter
# sends longer answers in blocks of at most this size, and every block is held whole a few
# times over (HDLC reassembly, ciphering), so it bounds the largest piece of heap a read
# needs. 512 bytes keeps that small on the RP2040 and costs one GET-next per 500 bytes.
_MAX_PDU = const(512)
_MECHANISMS = {"lowest": 0, "none": 0, "low": 1, "lls": 1, "hls-gmac": 5, "hls": 5}
# Needed to associate only (AARQ/AARE, IEC 62056-5-3 9.3.2; HLS pass 3/4): let go once associated, when
# release_modules says so (MicroPython: their bytecode is heap the rest of the read needs).
ASSOCIATION_MODULES = ("meterproto.dlms.acse", "meterproto.dlms.initiate", "meterproto.dlms.hls")
# The ciphered context: let go with the DISC (an HDLC frame, never ciphered), before the
# reading's last texts are made.
CIPHER_MODULES = ("meterproto.dlms.cipher", "meterproto.dlms.security", "meterproto.dlms.aes_gcm")
# GET requests and block streams: nothing is read after the DISC, and the reading's texts
# (rows, association view) set the heap's low point then (issue 12).
READING_MODULES = ("meterproto.dlms.get", "meterproto.dlms.axdr_stream")


class DlmsClient(ProfileReader, Machine):
    """Reads a whole meter: association view, registers, clock, data objects, load profiles.

    checkpoint: {profile obis: "YYYY-MM-DD HH:MM:SS"} of the last row already stored; the
    profile is read from there on and rows up to it are dropped. self.checkpoint is kept up
    to date while rows arrive, so a session that breaks off can be resumed with it.

    Security suite 0 (IEC 62056-5-3 9.2.7): with ek and ak the association is ciphered
    (context 3, glo-initiate-request, then glo-/ded- requests); security=0x30 (default),
    0x10 or 0x20, or 0 for HLS-GMAC in the plain context; invocation_counter is our first
    counter (the meter refuses one it has seen); dedicated_key selects ded- ciphering;
    system_title defaults to "IRPROBE1". self.counters: (our next invocation counter, the
    meter's last) once the session is over (self.cipher holds them while it runs).

    max_pdu: the largest APDU we take (client-max-receive-pdu-size); longer answers come in
    blocks of at most this size. Small blocks keep the heap the session needs small.
    """

    def __init__(self, client_sap=16, server_upper=1, server_lower=None, auth="lowest",
                 password=None, system_title=None, ek=None, ak=None, baud=9600, fmt=FMT_8N1,
                 set_line=True, mode="HDLC", profiles=True, profile_from=None, profile_to=None,
                 checkpoint=None, release="disc", max_list=24, max_info=2030, window=7,
                 link=None, security=None, invocation_counter=1, dedicated_key=None,
                 max_pdu=_MAX_PDU, referencing="auto", server_addr_size=None,
                 profile_entries=None, capture_times="auto", release_modules=MICROPYTHON):
        Machine.__init__(self, baud, fmt)
        if auth not in _MECHANISMS:
            raise LocalProtocolError("unknown authentication %r (use lowest, low or hls-gmac)" % (auth,))
        self.mechanism = _MECHANISMS[auth]
        if self.mechanism == 1 and not password:
            raise LocalProtocolError("low-level security (auth low) needs a password")
        if referencing not in ("auto", "ln", "sn"):
            raise LocalProtocolError("referencing is auto, ln or sn, not %r" % (referencing,))
        # IEC 62056-5-3 8.3: logical names first; a meter that only knows short names says
        # so in its AARE (application context 2), and then we associate again with SN
        self.referencing = referencing
        self.sn = None
        if referencing == "sn":
            self._use_sn()
        if release not in ("disc", "rlrq"):
            raise LocalProtocolError("release is 'disc' or 'rlrq', not %r" % (release,))
        self.client_sap = client_sap
        self.server_upper = server_upper
        self.server_lower = server_lower
        self.password = password
        self.ek = ek
        self.ak = ak
        # Ciphered context (security suite 0) whenever keys are given, unless security=0:
        # HLS meters almost always want it (IDIS management client: HLS-GMAC + ciphering).
        if security is None:
            security = 0x30 if ek and ak else 0
        self.cipher = None
        if security:
            from meterproto.dlms.cipher import ClientCipher
            self.cipher = ClientCipher(system_title, ek, ak, security, invocation_counter,
                                       dedicated_key)
            system_title = self.cipher.system_title
        elif dedicated_key is not None:
            raise LocalProtocolError("a dedicated key needs ciphering (security 0x10/0x20/0x30)")
        self.system_title = system_title
        self.set_line_first = set_line
        self.want_profiles = profiles
        self.profile_from = profile_from
        self.profile_to = profile_to
        # (first, last) entry, 1-based, last 0 = to the end: selective access by entry
        # (IEC 62056-6-2 4.3.6 entry_descriptor) instead of by range
        self.profile_entries = profile_entries
        self.capture_times = capture_times
        self.checkpoint = dict(checkpoint or {})
        self.release = release
        self.max_list = max_list
        self.max_pdu = max_pdu
        self.release_modules = release_modules
        self.counters = None
        self.link = link or hdlc_link.HdlcClientLink(
            client_sap=client_sap, server_upper=server_upper, server_lower=server_lower,
            addr_size=server_addr_size, max_info_tx=max_info, max_info_rx=max_info, window_tx=window, window_rx=window)
        self.state = _CONNECT
        self.reading = Reading("dlms", mode=mode, baud=baud)
        self.partial = self.reading  # what was read so far, also after a failure
        self.round_trips = 0
        self.apdus = 0
        self.conformance = 0
        self.server_pdu = 0xFFFF
        # association view: each object_list entry kept as its A-XDR bytes (a tenth of the
        # room of decoded dicts), turned into reading.objects when the session ends
        self._entries = []
        self._value_objs = []  # (class, obis) of the objects whose value is read
        self._vals = {}  # (obis, attr) -> encoded Data bytes, or an int data-access-result
        self._queue = []  # (class, obis, attr) still to read
        self._batch = None  # items of the GET in flight
        self._raw = None  # block transfer of a GET-with-list: the bytes so far
        self._stream = None  # block transfer of an array value: its ArrayStream
        self._profiles = []  # obis of the class 7 objects still to read
        self._profile = None  # the profile in flight
        self._cols = None  # its columns: (scaler or None, is the clock)
        self._listed = False  # the profile is in reading.profiles already
        self._iid = 1
        self._iid_now = 1
        self._relabelled = 0  # data blocks the meter labelled with-list (C4 03)
        self._go_on = None  # what to send next once an answer is handled (see _pump)
        self._aare_in = None  # the AARE whose HLS challenge is answered next
        self._plain = None  # a request to cipher and send (see _pump)

    # -- Machine inputs ------------------------------------------------------------------
    def start(self, now_ms):
        if self.set_line_first:
            self._set_line(self.baud, self.fmt)
        self.link.connect(now_ms)
        self._pump(now_ms)

    def receive(self, data, now_ms):
        self.bytes_rx += len(data)
        self.link.receive(data, now_ms)
        self._pump(now_ms)

    def timeout(self, now_ms):
        self.link.timeout(now_ms)
        self._pump(now_ms)

    def _pump(self, now_ms):
        link = self.link
        while not self.done:
            ev = link.next_event()
            if ev is None:
                break
            try:
                if ev[0] == hdlc_link.EV_APDU:  # the common event, handled one frame higher
                    self.apdus += 1
                    apdu = ev[1]
                    ev = None
                    c = self.cipher
                    if c is not None and self.state not in (_ASSOCIATE, _RELEASE):
                        # deciphered here, frames higher (response() says why not)
                        apdu = c.unwrap(apdu)[0] if c.ciphered(apdu) else c.response(apdu)
                    self._apdu(apdu, now_ms)
                    apdu = None
                else:
                    self._event(ev, now_ms)
                go_on = self._go_on
                if go_on is not None:
                    # The next request is made from here, not from inside the answer's
                    # handling: frames less on the rp2 port's 8 KB C stack, where the
                    # probe's app already holds a dozen ('maximum recursion depth' in mode E
                    # and in the ciphering of HLS-GMAC requests).
                    self._go_on = None
                    go_on(now_ms)
                plain = self._plain
                if plain is not None:  # ciphered here too, not down where it was asked for
                    self._plain = None
                    c = self.cipher
                    self.link.send_apdu(c.wrap(plain, c.form), now_ms)
            except ProtocolError as e:
                self._stop(e, now_ms)
            except (IndexError, KeyError, TypeError, ValueError) as e:
                # an answer of the right type but the wrong shape, e.g. a row that is no
                # structure: say so in words rather than crash the session
                self._stop(DecodeError("the meter's answer in step '%s' does not have the "
                                       "expected shape (%s)" % (NAMES[self.state], e)), now_ms)
        end = None
        while True:
            out = link.pop_output()
            if out is None:
                break
            end = self._send(out, now_ms)
        if end is not None:
            self.round_trips += 1  # one turn of ours; the meter answers each turn
            link.sent_until(end)
        if not self.done:
            self._deadline = link.deadline_ms()
            if self._deadline is None and self.state == _DISC:
                self._end()

    def _event(self, ev, now_ms):
        kind = ev[0]
        if kind == hdlc_link.EV_CONNECTED:
            self.reading.notes.append("HDLC connected: %s" % _params_text(ev[1]))
            self._go_on = self._associate
        elif kind == hdlc_link.EV_CLOSED:
            if self.state == _DISC:
                self._end()
            else:
                raise Refused("the meter closed the HDLC connection (%s)" % NAMES[self.state])
        elif kind == hdlc_link.EV_FAILED:
            self._fail_link(ev[1], now_ms)

    def _fail_link(self, exc, now_ms):
        if self.state == _DISC:
            self._end()  # the reading is complete; a lost UA to DISC does not spoil it
            return
        if self.state != _CONNECT:
            # the meter stopped answering mid-session: a DISC all the same, in case it still
            # hears us (its answers may be what is lost), so it does not stay in HDLC
            self._hang_up(now_ms)
        if self.state == _CONNECT and isinstance(exc, NoAnswer):
            exc = NoAnswer(
                "no answer to SNRM (HDLC connect) from server %s at %d baud: check the "
                "client/server addresses (client 16 public, server 1 or 1/17; some meters use "
                "client 1, 17 or a lower address from the serial number) and that the meter "
                "speaks HDLC on this port" % (self._server_text(), self.baud))
        self._fail(exc)

    def _hang_up(self, now_ms):
        """A DISC (IEC 62056-46 6.4.4.3.3), whatever the link machine's state: the meter
        leaves HDLC (or answers DM if it never entered it)."""
        from meterproto.hdlc import frame as hf
        self._send(hf.encode_frame(self.link.server, hf.client_address(self.client_sap),
                                   hf.ctl_u(hf.K_DISC)), now_ms)

    def _stop(self, exc, now_ms):
        """A protocol error after connecting: say why, and still close the link politely."""
        if self.state != _DISC:
            try:
                self.link.disconnect(now_ms)
            except ProtocolError:
                pass
        self._fail(exc)

    def _use_sn(self):
        from meterproto.dlms.sn_session import ShortNames
        self.sn = ShortNames()

    def _server_text(self):
        if self.server_lower is None:
            return "%d" % self.server_upper
        return "%d/%d" % (self.server_upper, self.server_lower)

    # -- association -----------------------------------------------------------------------
    def _associate(self, now_ms):
        from meterproto.dlms import acse

        self.state = _ASSOCIATE
        c = self.cipher
        pdu = self.max_pdu
        ui = c.initiate_request(max_pdu=pdu) if c is not None else None
        if self.mechanism == 5:
            from meterproto.dlms import hls as dlms_hls
            self._hls = dlms_hls.HlsClient(self.system_title, self.ek, self.ak)
            aarq = self._hls.aarq(max_pdu=pdu, user_info=ui)
        elif c is not None:
            aarq = acse.build_aarq(self.mechanism, self.password, ciphered=True,
                                   system_title=c.system_title, user_info=ui)
        elif self.sn is not None:
            from meterproto.dlms.sn_session import CONFORMANCE
            aarq = acse.build_aarq(self.mechanism, self.password, max_pdu=pdu, sn=True,
                                   conformance=CONFORMANCE)
        else:
            aarq = acse.build_aarq(self.mechanism, self.password, max_pdu=pdu)
        self.link.send_apdu(aarq, now_ms)

    def _request(self, apdu, now_ms):
        """Every xDLMS request goes out ciphered in a ciphered association (glo-/ded-)."""
        if self.cipher is not None:
            self._plain = apdu  # _pump ciphers it (c.request), a few C stack frames higher
            return
        self.link.send_apdu(apdu, now_ms)

    def _reply_to_challenge(self, now_ms):
        """HLS pass 3 (IEC 62056-5-3 9.2.7.4): f(StoC) to the meter."""
        aare = self._aare_in
        self._aare_in = None
        ic = self.cipher.ic if self.cipher is not None else None
        self._request(self._hls.reply_to_challenge(aare, ic), now_ms)

    def _aare(self, aare):
        if self.cipher is None:
            return aare.check()
        self.cipher.accept_aare(aare)
        try:
            return aare.check()
        except Refused as e:
            raise Refused("%s - with ciphering this usually means a wrong authentication or "
                          "encryption key, or an invocation counter the meter has already seen "
                          "(start above it)" % e)

    def _short_names_instead(self, aare, now_ms):
        """An AARE that names the SN context (2): read with short names, associating again
        if it refused our LN AARQ (IEC 62056-5-3 8.3). True when associating again."""
        if self.referencing != "auto" or self.cipher is not None or self.mechanism > 1:
            return False
        self._use_sn()
        if aare.accepted:
            return False  # it took our AARQ but works with short names: read that way
        self.reading.notes.append("the meter refused logical names and offers short names "
                                  "(application context 2): associating again with SN")
        self._associate(now_ms)
        return True

    def _apdu(self, apdu, now_ms):
        st = self.state  # ciphered answers come deciphered (_pump)
        if st == _DISC:
            return  # a late answer after our DISC: the reading is complete
        if st == _ASSOCIATE:
            from meterproto.dlms import acse

            aare = acse.parse_aare(apdu)
            if aare.context == acse.CONTEXT_SN and self.sn is None and \
                    self._short_names_instead(aare, now_ms):
                return
            aare = self._aare(aare)
            self.conformance = aare.conformance or 0
            self.server_pdu = aare.max_pdu or 0xFFFF
            if self.mechanism == 5:
                self.state = _HLS
                self._aare_in = aare
                self._go_on = self._reply_to_challenge
                return
            self._go_on = self._read_object_list
        elif st == _HLS:
            self._hls.check_server(apdu)
            self._go_on = self._read_object_list
        elif st == _RELEASE:
            self._disconnect(now_ms)
        elif apdu[:1] == b"\xd8":
            from meterproto.dlms.dar import parse_exception
            raise parse_exception(apdu).error()
        else:
            self._get_response(apdu, now_ms)

    # -- GET machinery ----------------------------------------------------------------------
    def _next_iid(self):
        self._iid = (self._iid % 15) + 1
        return self._iid

    def _get(self, items, now_ms):
        """items: [(class, obis, attr)] or one (class, obis, attr, selector, params)."""
        from meterproto.dlms import get

        self._batch = items
        self._raw = None
        self._stream = None
        iid = self._next_iid()
        self._iid_now = iid
        if self.sn is not None:
            self._request(self.sn.request(items), now_ms)
            return
        if len(items) == 1:
            it = items[0]
            apdu = get.build_get_normal(iid, it[0], to_bytes(it[1]), it[2],
                                        it[3] if len(it) > 3 else None,
                                        it[4] if len(it) > 4 else b"")
        else:
            apdu = get.build_get_with_list(iid, [(it[0], to_bytes(it[1]), it[2]) for it in items])
        self._iid_now = iid
        self._request(apdu, now_ms)

    def _quirk_notes(self):
        """What the meter sent that we read although it is not as the standard has it."""
        notes = self.reading.notes
        n = getattr(getattr(self.link, "stats", None), "repeated_llc", 0)
        if n:
            notes.append("the meter sent the LLC header twice in %d answer(s): read anyway" % n)
        n = getattr(getattr(self.link, "reader", None), "carried", 0)
        if n:
            notes.append("%d HDLC frame(s) came with a length field short of its carry "
                         "(0xA8 0x06 for 262 bytes): read by their FCS" % n)
        if self._relabelled:
            notes.append("the meter labelled %d data block(s) GET-with-list (C4 03): read as "
                         "blocks" % self._relabelled)

    def _get_response(self, apdu, now_ms):
        from meterproto.dlms import get

        try:
            r = self._decode(apdu)
        except DecodeError as e:
            if len(self._batch) > 1 and self._raw is not None and self.state == _ATTRS:
                # A GET-with-list answer the meter could not carry on in blocks (gurux-dlms
                # 1.0.203 sends an empty frame for the second block): read those attributes
                # one per request instead, from here on.
                self.reading.notes.append("the meter broke off a GET-with-list answer in "
                                          "blocks (%s): reading one attribute per request" % e)
                self._queue = list(self._batch) + self._queue
                self.max_list = 1
                self._raw = None
                self._go_on = self._next
                return
            raise
        if r.relabelled:
            self._relabelled += 1
        single = len(self._batch) == 1
        if r.kind == "block":
            # IEC 62056-5-3 9.4.6.3: the value comes in raw-data blocks. An array value (object
            # list, profile buffer) is decoded element by element as blocks arrive, keeping
            # only the undecoded tail, so memory stays flat however long the transfer is.
            if r.error is not None:
                it = self._batch[0]
                raise Refused(_dar_text(r.error, it[1], it[2]))
            if single and self.state in (_OBJECTS, _PROFILE):
                self._elements(r.apdu, r.raw_pos, r.last)
            else:
                if self._raw is None:
                    self._raw = bytearray()
                self._raw += r.raw
            if not r.last:
                if self.sn is not None:
                    from meterproto.dlms.sn_session import next_block
                    self._request(next_block(r.block_no), now_ms)
                else:
                    self._request(get.build_get_next(self._iid_now, r.block_no), now_ms)
                return
            raw = self._raw
            self._raw = None
            if single:
                # None when already decoded element by element
                results = [bytes(raw) if raw is not None else None]
            else:
                if self.sn is not None:
                    from meterproto.dlms.sn_session import response
                    r = response(b"\x0c" + raw, len(self._batch))
                else:
                    r = get.parse_get_response(b"\xc4\x03" + bytes((apdu[2],)) + raw)
                results = r.items
        elif r.kind == "list":
            results = r.items
        else:
            results = [r.error if r.error is not None else r.data]
        if len(results) != len(self._batch):
            raise DecodeError("the meter answered %d of %d requested attributes"
                              % (len(results), len(self._batch)))
        res = results[0]
        if self.state == _OBJECTS:
            if isinstance(res, int):
                raise Refused(_dar_text(res, ASSOCIATION_LN, 2))
            if res is not None:
                self._elements(res, 0, True)
            self._object_list()
        elif self.state == _PROFILE:
            if isinstance(res, int):
                self.reading.notes.append(_dar_text(res, self._profile["obis"], 2))
            elif res is not None:
                self._elements(res, 0, True)
            self._profile_done()
        else:
            for it, res in zip(self._batch, results):
                self._vals[(it[1], it[2])] = res  # encoded Data, or an int DAR
        self._go_on = self._next

    def _elements(self, buf, pos, last):
        """The bytes buf[pos:] of the array value in flight (object list or profile buffer):
        each element is handed on as soon as it has arrived (axdr_stream)."""
        from meterproto.dlms.axdr_stream import ArrayStream

        st = self._stream
        if st is None:
            if self.state == _PROFILE:
                st = ArrayStream("a profile buffer", True, self._add_row, self._reserve)
            else:
                st = ArrayStream("the association object_list", False, self._add_object)
            self._stream = st
        st.feed(buf, pos, last)
        if last:
            self._stream = None

    def _add_object(self, v, buf, start, end):
        """One object_list entry (IEC 62056-6-2 4.4.3 class 15 attribute 2): plan its reads."""
        o = self._parse_entry(v)
        self._entries.append(buf[start:end])
        cid, obis = o["class_id"], o["obis"]
        for a in _READ.get(cid, ()):
            if cid == 4 and a == 5 and not self._capture_time():
                self.reading.notes.append(
                    "capture time of %s not read: this meter takes one attribute per request "
                    "(capture_times=True reads it)" % obis)
                continue
            if _readable(o, a):
                self._queue.append((cid, obis, a))
        if cid in (1, 3, 4, 8):
            self._value_objs.append((cid, obis))
        if cid == 7 and _readable(o, 2):
            self._profiles.append(obis)

    def _capture_time(self):
        """Read class 4 capture_time (attribute 5)? It rides along for free in a GET-with-list;
        one GET of its own per register otherwise, a round trip no other client spends."""
        if self.capture_times == "auto":
            return bool(self.conformance & _MULTIPLE_REFERENCES)
        return bool(self.capture_times)

    def _parse_entry(self, v):
        """One association object_list entry (LN: class 15, SN: class 12 with base names)."""
        from meterproto.dlms import cosem

        if self.sn is None:
            return cosem.parse_object_list([v])[0]
        from meterproto.dlms.sn import parse_object_list_sn
        o = parse_object_list_sn([v])[0]
        self.sn.learn(o)
        o["attributes"] = []  # the SN object list gives no access rights: try, see the DAR
        return o

    def _decode(self, apdu):
        from meterproto.dlms import get

        if self.sn is not None:
            from meterproto.dlms.sn_session import response
            return response(apdu, len(self._batch))
        return get.parse_get_response(apdu)

    def _scaler_unit(self, obis):
        from meterproto.dlms import cosem

        raw = self._vals.get((obis, 3))
        if not isinstance(raw, bytes):
            return None
        try:
            return cosem.parse_scaler_unit(raw)
        except DecodeError:
            return None

    # -- the reading plan -------------------------------------------------------------------------
    def _read_object_list(self, now_ms):
        if self.release_modules:  # associated: the AARQ/AARE code is not needed any more
            self._hls = None
            forget(ASSOCIATION_MODULES)
        # ... and what reads the meter is loaded only now, one module at a time (no import
        # nests in another, for the C stack), into the room the association code left
        from meterproto.dlms import get  # noqa: F401
        from meterproto.dlms import cosem  # noqa: F401
        from meterproto.dlms import axdr_stream  # noqa: F401

        self.state = _OBJECTS
        self._get([(15, ASSOCIATION_LN, 2)], now_ms)

    def _object_list(self):
        self.state = _ATTRS

    def _publish_objects(self):
        """reading.objects as dicts (the JSON reading format), from the kept entries."""
        entries = self._entries
        self._entries = []
        self._vals = {}  # the attributes read are in the reading by now
        if entries and self.reading.objects is None:
            objs = []
            for i in range(len(entries)):
                objs.append(self._parse_entry(axdr.decode(entries[i])[0]))
                entries[i] = None  # let the bytes go as their dict takes the room
            self.reading.objects = objs

    def _next(self, now_ms):
        if self.state == _ATTRS and self._queue:
            n = self.max_list if self.conformance & _MULTIPLE_REFERENCES else 1
            # A request must fit the meter's PDU: 10 bytes per descriptor plus the header.
            # Ciphering adds up to 20 bytes (tag, length, SC, IC, 12-byte tag).
            room = (self.server_pdu - (28 if self.cipher is not None else 8)) // 10
            if n > room:
                n = room if room > 0 else 1
            batch = self._queue[:n]
            self._queue = self._queue[n:]
            self._get(batch, now_ms)
            return
        if self.state == _ATTRS:
            self._values()
            self.state = _PROFILE
        if self.state == _PROFILE and self.want_profiles and self._profiles:
            self._start_profile(self._profiles.pop(0), now_ms)
            return
        self._close(now_ms)

    def _close(self, now_ms):
        if self.release == "rlrq":
            from meterproto.dlms import acse

            self.state = _RELEASE
            self.link.send_apdu(acse.build_rlrq(0), now_ms)
            return
        self._disconnect(now_ms)

    def _disconnect(self, now_ms):
        self.state = _DISC
        c = self.cipher
        if c is not None:
            self.counters = (c.ic, c.peer_ic)
            if self.release_modules:  # nothing more is ciphered: its code can go
                self.cipher = c = None
                forget(CIPHER_MODULES)
        if self.release_modules:
            self._stream = None
            forget(READING_MODULES)
        self.link.disconnect(now_ms)

    def _fail(self, exc):
        # what was read so far becomes the partial reading, in the reading format
        try:
            self._row_texts()
        except (ProtocolError, IndexError, TypeError, ValueError):
            self._profile["rows"][:] = [r for r in self._profile["rows"] if not isinstance(r, bytes)]
        self._publish_objects()
        Machine._fail(self, exc)

    def _end(self):
        self._publish_objects()
        self._quirk_notes()
        self.reading.notes.append("%d round trips, %d bytes sent, %d received" % (
            self.round_trips, self.bytes_tx, self.bytes_rx))
        self._finish(self.reading)

    # -- values -------------------------------------------------------------------------------
    def _values(self):
        from meterproto.dlms import cosem

        r = self.reading
        for cid, obis in self._value_objs:
            raw = self._vals.get((obis, 2))
            if raw is None:
                continue
            if isinstance(raw, int):
                r.notes.append(_dar_text(raw, obis, 2))
                continue
            unit = None
            text = None
            if cid in (3, 4):
                su = self._scaler_unit(obis)
                v = axdr.decode_whole(raw)
                if su is not None and isinstance(v, int) and not isinstance(v, bool):
                    text = cosem.apply_scaler(v, su[0])
                    unit = cosem.unit_text(su[1])
            if text is None:
                text = cosem.value_text(axdr.decode_whole(raw, True))
            val = Value(obis, text, unit)
            if cid == 4:
                ct = self._vals.get((obis, 5))
                if isinstance(ct, bytes):
                    val.time = cosem.value_text(axdr.decode_whole(ct, True))
            r.add(val)
        for obis in ID_OBIS:
            v = r.get(obis)
            if v is not None and r.meter_id is None:
                r.meter_id = v.value
        # keep only what the profiles still need: capture objects and register scalers
        keep = {}
        for k in self._vals:
            if k[1] == 3:
                keep[k] = self._vals[k]
        self._vals = keep

def _dar_text(dar, obis, attr):
    """Plain words for a data-access-result: which object, what the code means, what to do."""
    from meterproto.dlms.dar import DAR_ADVICE, dar_text
    text = "meter refused %s attribute %d: %s" % (obis, attr, dar_text(dar))
    if dar in DAR_ADVICE:
        text += " - " + DAR_ADVICE[dar]
    return text


def _readable(o, attr):
    from meterproto.dlms import cosem

    if not o["attributes"]:
        return True  # no access rights given: try, the meter answers with a DAR if not
    return cosem.readable(o, attr)


def _params_text(params):
    if not params:
        return "default parameters"
    keys = ("max_info_tx", "max_info_rx", "window_tx", "window_rx")
    return ", ".join("%s %s" % (k, params[k]) for k in keys if k in params)

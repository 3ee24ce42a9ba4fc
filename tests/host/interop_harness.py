# Interop harness (host tests only): runs a meter Machine on a pty in real time, records the
# transcript, and drives third-party DLMS clients (dlms-cosem, Gurux) against it; also serves
# a meter from Gurux's own server classes to our client. The peers are test dependencies,
# used through their public API only.
import os
import pty
import select
import threading
import time
import tty

from meterproto.machine import A_SEND

C2M = ">"  # client to meter
M2C = "<"  # meter to client


class PtyMeter:
    """A meter-side Machine on a pty: clients open .path like a serial port."""

    def __init__(self, machine):
        self.machine = machine
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        tty.setraw(self.master)
        self.path = os.ttyname(self.slave)
        self.transcript = []  # (seconds, direction, bytes)
        self._stop = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop = True
        self._thread.join(2)
        os.close(self.master)
        os.close(self.slave)

    def _ms(self):
        return int((time.monotonic() - self._t0) * 1000)

    def _log(self, direction, data):
        with self._lock:
            t = time.monotonic() - self._t0
            if self.transcript and self.transcript[-1][1] == direction:
                t0, d, old = self.transcript[-1]
                self.transcript[-1] = (t0, d, old + data)
            else:
                self.transcript.append((t, direction, data))

    def _flush(self):
        while True:
            act = self.machine.next_action()
            if act is None:
                return
            if act[0] == A_SEND:  # a pty has no baud rate: line changes need no action
                self._log(M2C, act[1])
                os.write(self.master, act[1])

    def _loop(self):
        m = self.machine
        m.start(self._ms())
        self._flush()
        while not self._stop:
            d = m.deadline_ms()
            wait = 0.05
            if d is not None:
                wait = max(0.0, min(wait, (d - self._ms()) / 1000.0))
            r, _, _ = select.select([self.master], [], [], wait)
            if r:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    return
                if data:
                    self._log(C2M, data)
                    m.receive(data, self._ms())
            d = m.deadline_ms()
            if d is not None and self._ms() >= d:
                m.timeout(self._ms())
            self._flush()


def transcript_stats(transcript):
    """Round trips and bytes of a captured pty transcript.

    A round trip is one client turn answered by the meter: the number of times the line turns
    from client-to-meter to meter-to-client. bytes_tx: client to meter; bytes_rx: back.
    """
    rt = 0
    tx = rx = 0
    last = None
    for _t, direction, data in transcript:
        if direction == C2M:
            tx += len(data)
        else:
            rx += len(data)
            if last == C2M:
                rt += 1
        last = direction
    return {"round_trips": rt, "bytes_tx": tx, "bytes_rx": rx}


# -- the full read every peer does: object list, registers with scaler/unit, clock, data
# objects and one day of the load profile (the bench compares round trips and bytes) -------

LP = "1-0:99.1.0*255"
DAY = ("2026-11-24 00:05:00", "2026-11-25 00:05:00")


def _quiet_structlog():
    try:
        import logging
        import structlog
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    except Exception:  # structlog is only dlms-cosem's logger; quiet is a nicety
        pass


def read_with_dlms_cosem(path, client_sap=16, server=1, password=None, server_lower=None,
                         keys=None):
    """dlms-cosem 25.1.0 client: -> {"values": {obis: (raw int or bytes, scaler, unit)},
    "objects": [obis...], "rows": [[...]]}. Uses only its public client API.

    keys: {"ek": bytes, "ak": bytes, "system_title": bytes, "hls": bool} for security suite 0
    global ciphering (authenticated and encrypted, general-glo-ciphering), HLS-GMAC if "hls"."""
    from datetime import datetime
    from dlms_cosem import cosem, enumerations as en, utils
    from dlms_cosem.client import DlmsClient
    from dlms_cosem.cosem.capture_object import CaptureObject
    from dlms_cosem.cosem.selective_access import RangeDescriptor
    from dlms_cosem.io import HdlcTransport, SerialIO
    from dlms_cosem.security import (HighLevelSecurityGmacAuthentication,
                                     LowLevelSecurityAuthentication, NoSecurityAuthentication)

    _quiet_structlog()
    io = SerialIO(port_name=path, baud_rate=9600, timeout=3)
    transport = HdlcTransport(client_logical_address=client_sap, server_logical_address=server,
                              server_physical_address=server_lower, io=io)
    auth = (LowLevelSecurityAuthentication(secret=password.encode()) if password
            else NoSecurityAuthentication())
    if keys:
        if keys.get("hls"):
            auth = HighLevelSecurityGmacAuthentication()
        client = DlmsClient(transport=transport, authentication=auth,
                            encryption_key=keys["ek"], authentication_key=keys["ak"],
                            client_system_title=keys["system_title"])
    else:
        client = DlmsClient(transport=transport, authentication=auth)

    def attr(cid, obis, a):
        o = [int(x) for x in obis.replace("-", ".").replace(":", ".").replace("*", ".").split(".")]
        return cosem.CosemAttribute(interface=en.CosemInterface(cid),
                                    instance=cosem.Obis(*o), attribute=a)

    out = {"values": {}, "objects": [], "rows": []}
    with client.session() as s:
        objs = utils.parse_as_dlms_data(s.get(attr(15, "0-0:40.0.0*255", 2)))
        plan = []
        for o in objs:
            cid, ln = o[0], bytes(o[2])
            text = "%d-%d:%d.%d.%d*%d" % tuple(ln)
            out["objects"].append(text)
            plan.append((cid, text))
        for cid, text in plan:
            if cid in (3, 4):
                v = utils.parse_as_dlms_data(s.get(attr(cid, text, 2)))
                su = utils.parse_as_dlms_data(s.get(attr(cid, text, 3)))
                out["values"][text] = (v, su[0], su[1])
            elif cid in (1, 8):
                out["values"][text] = (utils.parse_as_dlms_data(s.get(attr(cid, text, 2))), 0, None)
        clock = CaptureObject(cosem_attribute=attr(8, "0-0:1.0.0*255", 2), data_index=0)
        rd = RangeDescriptor(restricting_object=clock,
                             from_value=datetime.fromisoformat(DAY[0]),
                             to_value=datetime.fromisoformat(DAY[1]))
        out["rows"] = utils.parse_as_dlms_data(s.get(attr(7, LP, 2), access_descriptor=rd))
    return out


class _GuruxLine:
    """Frames in, frames out for a Gurux client over a serial port (its usual loop)."""

    def __init__(self, client, port):
        self.client = client
        self.port = port

    def exchange(self, frame, reply=None):
        from gurux_dlms import GXByteBuffer, GXReplyData
        reply = reply or GXReplyData()
        self.port.write(bytes(frame))
        rd = GXByteBuffer()
        notify = GXReplyData()
        deadline = time.monotonic() + 5
        while not self.client.getData(rd, reply, notify):
            chunk = self.port.read(max(1, self.port.in_waiting))
            if not chunk and time.monotonic() > deadline:
                raise TimeoutError("Gurux client: no complete answer from the meter")
            rd.set(chunk)
        return reply

    def read_block(self, frames):
        """Every frame of a request, then RR/GET-next until the whole answer is in."""
        from gurux_dlms import GXReplyData
        reply = GXReplyData()
        for f in frames if isinstance(frames, list) else [frames]:
            self.exchange(f, reply)
            while reply.isMoreData():
                self.exchange(self.client.receiverReady(reply), reply)
        return reply


def read_with_gurux(path, client_sap=16, server=1, password=None, server_lower=None,
                    use_list=True, keys=None):
    """Gurux gurux-dlms 1.0.203 client -> same shape as read_with_dlms_cosem().
    keys: as for read_with_dlms_cosem (GXDLMSSecureClient, authentication and encryption)."""
    from datetime import datetime
    import serial
    from gurux_dlms import GXDLMSClient, GXDateTime
    from gurux_dlms.enums import Authentication, Conformance, InterfaceType, ObjectType, Security
    from gurux_dlms.secure import GXDLMSSecureClient

    auth = Authentication.LOW if password else Authentication.NONE
    if server_lower is not None:
        server = GXDLMSClient.getServerAddress(server, server_lower)
    if keys:
        auth = Authentication.HIGH_GMAC if keys.get("hls") else auth
        client = GXDLMSSecureClient(True, client_sap, server, auth, password, InterfaceType.HDLC)
        client.ciphering.security = Security.AUTHENTICATION_ENCRYPTION
        client.ciphering.systemTitle = bytearray(keys["system_title"])
        client.ciphering.blockCipherKey = bytearray(keys["ek"])
        client.ciphering.authenticationKey = bytearray(keys["ak"])
    else:
        client = GXDLMSClient(True, client_sap, server, auth, password, InterfaceType.HDLC)
    port = serial.Serial(path, 9600, timeout=0.2)
    line = _GuruxLine(client, port)
    out = {"values": {}, "objects": [], "rows": []}
    try:
        client.parseUAResponse(line.exchange(client.snrmRequest()).data)
        client.parseAareResponse(line.read_block(client.aarqRequest()).data)
        if keys and keys.get("hls"):  # HLS pass 3/4: reply_to_HLS_authentication
            reply = line.read_block(client.getApplicationAssociationRequest())
            client.parseApplicationAssociationResponse(reply.data)
        objects = client.parseObjects(line.read_block(client.getObjectsRequest()).data, True)
        out["objects"] = [o.logicalName for o in objects]
        regs = [o for o in objects if o.objectType in (ObjectType.REGISTER, ObjectType.EXTENDED_REGISTER)]
        simple = [o for o in objects if o.objectType in (ObjectType.DATA, ObjectType.CLOCK)]
        pairs = [(o, 3) for o in regs] + [(o, 2) for o in regs] + [(o, 2) for o in simple]
        if use_list and client.negotiatedConformance & Conformance.MULTIPLE_REFERENCES:
            done = 0
            for frames in client.readList(pairs):  # Gurux sends at most 10 per request
                got = line.read_block(frames).value  # the results in request order
                for (o, a), v in zip(pairs[done:], got):
                    client.updateValue(o, a, v)
                done += len(got)
        else:
            for o, a in pairs:
                client.updateValue(o, a, line.read_block(client.read(o, a)[0]).value)
        for o in regs:
            out["values"][_ln(o.logicalName)] = (o.value, o.scaler, int(o.unit))
        for o in simple:
            v = o.value if o.objectType == ObjectType.DATA else o.time
            out["values"][_ln(o.logicalName)] = (v, 0, None)
        pg = [o for o in objects if o.objectType == ObjectType.PROFILE_GENERIC][0]
        client.updateValue(pg, 3, line.read_block(client.read(pg, 3)[0]).value)
        reply = line.read_block(client.readRowsByRange(pg, GXDateTime(datetime.fromisoformat(DAY[0])),
                                                        GXDateTime(datetime.fromisoformat(DAY[1]))))
        client.updateValue(pg, 2, reply.value)
        out["rows"] = pg.buffer
        line.read_block(client.releaseRequest())
        line.exchange(client.disconnectRequest())
    finally:
        port.close()
    return out


def _ln(dotted):
    p = dotted.split(".")
    return "%s-%s:%s.%s.%s*%s" % tuple(p)


def read_with_irprobe(path, profile=None, **options):
    """Our own client over the same pty, real time -> meterproto.reading.Reading."""
    from meterproto.dlms.client import DlmsClient
    from meterproto.driver import run

    p = profile or {}
    opts = {"client_sap": p.get("client_sap", 16), "server_upper": p.get("server_upper", 1),
            "server_lower": p.get("server_lower"), "auth": p.get("auth", "lowest"),
            "password": p.get("password")}
    opts.update(options)
    port = PtyPort(path)
    try:
        client = DlmsClient(**opts)
        return run(client, port), client
    finally:
        port.close()


class PtyPort:
    """The driver's port contract on a pty, real time. A pty has no baud rate or parity, so
    set_line() only records them (pyserial's termios changes fail on some pty settings)."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self._t0 = time.monotonic()
        self.baud, self.fmt = 300, 0

    def now_ms(self):
        return int((time.monotonic() - self._t0) * 1000)

    def write(self, data):
        os.write(self.fd, data)

    def drain(self):
        pass

    def set_line(self, baud, fmt):
        self.baud, self.fmt = baud, fmt

    def read(self, deadline_ms):
        left = (deadline_ms - self.now_ms()) / 1000.0
        r, _, _ = select.select([self.fd], [], [], max(0.0, left))
        return os.read(self.fd, 4096) if r else b""

    def close(self):
        os.close(self.fd)


PEERS = ("irprobe", "dlms-cosem", "gurux")


def peer_runs(profile_name="dlms-lp96", peers=PEERS):
    """The same full read (object list, every register with scaler/unit, clock, data objects,
    one day of the 15-minute profile) by each client against our simulator on a pty ->
    {peer: {"round_trips", "bytes_tx", "bytes_rx"}} from the captured transcripts."""
    from irprobe.sim.dlms_profiles import PROFILES, make_meter

    p = PROFILES[profile_name]
    out = {}
    for peer in peers:
        with PtyMeter(make_meter(p)) as pm:
            if peer == "irprobe":
                read_with_irprobe(pm.path, p, profile_from=DAY[0], profile_to=DAY[1])
            elif peer == "dlms-cosem":
                read_with_dlms_cosem(pm.path, p["client_sap"], p["server_upper"], p["password"],
                                     p["server_lower"])
            else:
                read_with_gurux(pm.path, p["client_sap"], p["server_upper"], p["password"],
                                p["server_lower"])
            time.sleep(0.05)  # let the meter's last frame land in the transcript
            out[peer] = transcript_stats(pm.transcript)
    return out


# -- a meter served by Gurux's own server classes (gurux-dlms 1.0.203) -----------------------
# GXDLMSServer does not serve as shipped; each workaround below is the smallest that lets it
# answer, and docs/INTEROP.md lists them:
#  W1 HDLC: its SNRM handler reads attributes its own HDLC settings object does not have, so
#     the link layer is ours (irprobe.sim.hdlc_server); Gurux gets the APDUs in its WRAPPER
#     interface (8-byte header), which needs no SNRM.
#  W2 GXServerReply lacks setReply() and getConnectionInfo(), which handleRequest() calls.
#  W3 initialize() appends the object collection itself to the association's object_list
#     (TypeError): we fill the association's object_list ourselves.
#  W4 GET-normal calls server.notifyRead() and onPostRead() without arguments, and reads
#     ValueEventArgs.isSkipMaxPduSize / getRowEndIndex(), which do not exist: supplied here.
#  W5 the profile range filter compares naive and aware datetimes (and a datetime with 0):
#     the bridge asks Gurux for the whole buffer and applies the range descriptor itself.
#  W6 its RLRE has a wrong length byte: the bridge answers RLRQ with a well-formed RLRE.

def _gurux_server_class():
    from gurux_dlms import GXDLMSServer
    from gurux_dlms.enums import AccessMode, InterfaceType, MethodAccessMode, SourceDiagnostic
    from gurux_dlms.ValueEventArgs import ValueEventArgs

    if not hasattr(ValueEventArgs, "isSkipMaxPduSize"):  # W4
        ValueEventArgs.isSkipMaxPduSize = False
        ValueEventArgs.getRowEndIndex = lambda self: self.rowEndIndex
        ValueEventArgs.getRowBeginIndex = lambda self: self.rowBeginIndex

    class GuruxServer(GXDLMSServer):
        def __init__(self, objects):
            from gurux_dlms.objects import GXDLMSAssociationLogicalName
            GXDLMSServer.__init__(self, True, InterfaceType.WRAPPER)
            ln = GXDLMSAssociationLogicalName()
            for o in [ln] + list(objects):
                self.items.append(o)
                ln.objectList.append(o)  # W3
            self.initialize()

        # the callbacks GXDLMSServer leaves to the application
        def onPreRead(self, args): pass
        def onPostRead(self, args=None): pass  # noqa: E301  W4: called with no arguments
        def notifyRead(self, *args): pass  # noqa: E301  W4: called, never defined
        def onPreWrite(self, args): pass  # noqa: E301
        def onPostWrite(self, args): pass  # noqa: E301
        def onPreAction(self, args): pass  # noqa: E301
        def onPostAction(self, args): pass  # noqa: E301
        def onPreGet(self, args): pass  # noqa: E301
        def onPostGet(self, args): pass  # noqa: E301
        def onConnected(self, info): pass  # noqa: E301
        def onDisconnected(self, info): pass  # noqa: E301
        def onInvalidConnection(self, info): pass  # noqa: E301
        def onValidateAuthentication(self, auth, password): return SourceDiagnostic.NONE  # noqa: E301,E704
        def onFindObject(self, object_type, sn, ln): return None  # noqa: E301,E704
        def isTarget(self, server, client): return True  # noqa: E301,E704
        def onGetAttributeAccess(self, arg): return AccessMode.READ  # noqa: E301,E704
        def onGetMethodAccess(self, arg): return MethodAccessMode.NO_ACCESS  # noqa: E301,E704

    return GuruxServer


GURUX_METER = {
    "serial": "71000001",
    # Gurux keeps the scaler as a multiplier (10 = scaler 1); 1000 would go out as scaler 2
    # (floor(log(1000, 10)) = 2 in floating point), so the spec avoids it.
    "registers": [("1.0.1.8.0.255", 12345678, 10, 30, "123456780", "Wh"),
                  ("1.0.32.7.0.255", 2301, 0.1, 35, "230.1", "V"),
                  ("1.0.31.7.0.255", 523, 0.01, 33, "5.23", "A")],
    "clock": "2026-11-25 00:05:00",
    "first": "2026-11-24 00:15:00",
    "entries": 96,
}


def gurux_objects(spec=GURUX_METER):
    """The Gurux object model of a small meter: serial, registers, clock, 15-minute profile."""
    from datetime import datetime, timedelta
    from gurux_dlms import GXDateTime
    from gurux_dlms.objects import GXDLMSCaptureObject, GXDLMSProfileGeneric

    from gurux_meter import base_objects

    serial, regs, clock = base_objects(spec, datetime.fromisoformat(spec["clock"]))
    pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
    pg.captureObjects.append((clock, GXDLMSCaptureObject(2, 0)))
    pg.captureObjects.append((regs[0], GXDLMSCaptureObject(2, 0)))
    pg.capturePeriod = 900
    t = datetime.fromisoformat(spec["first"])
    for i in range(spec["entries"]):
        pg.buffer.append([GXDateTime(t + timedelta(minutes=15 * i)), 12300000 + 100 * i])
    pg.entriesInUse = pg.profileEntries = spec["entries"]
    return [serial] + regs + [clock, pg]


def gurux_rows(spec=GURUX_METER):
    """The profile rows a client must get from the Gurux meter, as our text."""
    from datetime import datetime, timedelta
    t = datetime.fromisoformat(spec["first"])
    # the energy column is 1.0.1.8.0.255, scaler 1: the raw count times ten
    return [[(t + timedelta(minutes=15 * i)).strftime("%Y-%m-%d %H:%M:%S"),
             str(12300000 + 100 * i) + "0"] for i in range(spec["entries"])]


def make_gurux_meter(spec=GURUX_METER, server_upper=1, server_lower=None):
    """A meter-side Machine: our HDLC server link carrying APDUs to a Gurux GXDLMSServer."""
    from meterproto.line import FMT_8N1
    from meterproto.machine import Machine
    from irprobe.sim import acse_server, get_server
    from meterproto.dlms import get as apdu_get
    from meterproto.dlms import axdr
    from irprobe.sim import axdr_encode, hdlc_server
    from meterproto.obis import from_bytes
    from gurux_dlms import GXServerReply

    class Reply(GXServerReply):  # W2
        def setReply(self, value):
            self.reply = value

        def getConnectionInfo(self):
            from gurux_dlms.GXDLMSConnectionEventArgs import GXDLMSConnectionEventArgs
            return GXDLMSConnectionEventArgs()

    server = _gurux_server_class()(gurux_objects(spec))

    class GuruxMeter(Machine):
        def __init__(self):
            Machine.__init__(self, 9600, FMT_8N1)
            self.link = hdlc_server.HdlcServerLink(server_upper, server_lower)  # W1
            self.log = []

        def start(self, now_ms):
            self._deadline = None

        def timeout(self, now_ms):
            self._deadline = None

        def receive(self, data, now_ms):
            self.link.receive(data, now_ms)
            while True:
                ev = self.link.next_event()
                if ev is None:
                    break
                if ev[0] == hdlc_server.EV_APDU:
                    self.link.send_apdu(self._answer(ev[1]), now_ms)
            while True:
                out = self.link.pop_output()
                if out is None:
                    break
                self._send(out, now_ms)

        def _gurux(self, apdu):
            sap = self.link.client_sap or 16
            frame = bytes((0, 1, 0, sap, 0, 1)) + len(apdu).to_bytes(2, "big") + apdu
            sr = Reply(frame)
            server.handleRequest(sr)
            return bytes(sr.reply)[8:] if sr.reply else get_server.build_exception(2, 2)

        def _answer(self, apdu):
            self.log.append(apdu[:2].hex())
            if apdu[:1] == b"\x62":  # W6
                self._gurux(apdu)
                return acse_server.build_rlre(0)
            if apdu[:2] == b"\xc0\x01":
                req = get_server.parse_get_request(apdu)
                d = req.items[0]
                if d.selector == 1 and d.class_id == 7 and d.attr == 2:  # W5
                    whole = self._gurux(apdu_get.build_get_normal(req.invoke_id, 7, d.obis, 2))
                    r = apdu_get.parse_get_response(whole)
                    if r.error is not None or r.kind != "normal":
                        return whole
                    lo, hi = axdr.decode_whole(d.params)[1:3]
                    rows = axdr.decode_whole(r.data, True)[1]
                    keep = [row for row in rows if lo[:8] <= row[1][0][1][:8] <= hi[:8]]
                    self.log.append("range %s: %d of %d rows" % (from_bytes(d.obis), len(keep), len(rows)))
                    return get_server.build_get_response_normal(
                        req.invoke_id, axdr_encode.encode_typed((axdr.ARRAY, keep)))
            return self._gurux(apdu)

    return GuruxMeter()

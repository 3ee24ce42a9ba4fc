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


def read_with_dlms_cosem(path, client_sap=16, server=1, password=None):
    """dlms-cosem 25.1.0 client: -> {"values": {obis: (raw int or bytes, scaler, unit)},
    "objects": [obis...], "rows": [[...]]}. Uses only its public client API."""
    from datetime import datetime
    from dlms_cosem import cosem, enumerations as en, utils
    from dlms_cosem.client import DlmsClient
    from dlms_cosem.cosem.capture_object import CaptureObject
    from dlms_cosem.cosem.selective_access import RangeDescriptor
    from dlms_cosem.io import HdlcTransport, SerialIO
    from dlms_cosem.security import LowLevelSecurityAuthentication, NoSecurityAuthentication

    _quiet_structlog()
    io = SerialIO(port_name=path, baud_rate=9600, timeout=3)
    transport = HdlcTransport(client_logical_address=client_sap, server_logical_address=server,
                              io=io)
    auth = (LowLevelSecurityAuthentication(secret=password.encode()) if password
            else NoSecurityAuthentication())
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


def read_with_gurux(path, client_sap=16, server=1, password=None, use_list=True):
    """Gurux gurux-dlms 1.0.203 client -> same shape as read_with_dlms_cosem()."""
    import serial
    from gurux_dlms import GXDLMSClient, GXDateTime
    from gurux_dlms.enums import Authentication, InterfaceType, ObjectType

    auth = Authentication.LOW if password else Authentication.NONE
    client = GXDLMSClient(True, client_sap, server, auth, password, InterfaceType.HDLC)
    port = serial.Serial(path, 9600, timeout=0.2)
    line = _GuruxLine(client, port)
    out = {"values": {}, "objects": [], "rows": []}
    try:
        client.parseUAResponse(line.exchange(client.snrmRequest()).data)
        client.parseAareResponse(line.read_block(client.aarqRequest()).data)
        objects = client.parseObjects(line.read_block(client.getObjectsRequest()).data, True)
        out["objects"] = [o.logicalName for o in objects]
        regs = [o for o in objects if o.objectType in (ObjectType.REGISTER, ObjectType.EXTENDED_REGISTER)]
        simple = [o for o in objects if o.objectType in (ObjectType.DATA, ObjectType.CLOCK)]
        pairs = [(o, 3) for o in regs] + [(o, 2) for o in regs] + [(o, 2) for o in simple]
        if use_list:
            for frames in client.readList(pairs):
                reply = line.read_block(frames)
                values = []
                client.updateValues(pairs[:0], values)  # nothing: the values come below
                # Gurux returns the list results in reply.value, in request order
                got = reply.value
                for (o, a), v in zip(pairs[len(out.setdefault("_done", [])):], got):
                    client.updateValue(o, a, v)
                    out["_done"].append((o, a))
        else:
            for o, a in pairs:
                client.updateValue(o, a, line.read_block(client.read(o, a)[0]).value)
        out.pop("_done", None)
        for o in regs:
            out["values"][_ln(o.logicalName)] = (o.value, o.scaler, int(o.unit))
        for o in simple:
            out["values"][_ln(o.logicalName)] = (o.value if o.objectType == ObjectType.DATA else o.time, 0, None)
        pg = [o for o in objects if o.objectType == ObjectType.PROFILE_GENERIC][0]
        client.updateValue(pg, 3, line.read_block(client.read(pg, 3)[0]).value)
        from datetime import datetime
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
    from meterproto.dlms_client import DlmsClient
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
                read_with_dlms_cosem(pm.path, p["client_sap"], p["server_upper"], p["password"])
            else:
                read_with_gurux(pm.path, p["client_sap"], p["server_upper"], p["password"])
            time.sleep(0.05)  # let the meter's last frame land in the transcript
            out[peer] = transcript_stats(pm.transcript)
    return out

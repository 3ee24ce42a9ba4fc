# A meter served entirely by gurux-dlms 1.0.203's server classes (host tests only): Gurux's
# own HDLC link layer (SNRM/UA negotiation, segmentation, RR), its xDLMS server (AARQ, GET,
# READ, block transfer, selective access) and its object model, with logical or short names.
# Used through the public API; gurux-dlms is a test dependency, none of its code is copied.
# GXDLMSServer does not serve as shipped: each G-numbered patch below is the smallest that
# lets it answer, and docs/INTEROP.md lists them. What it then sends is left as it is, quirks
# included (the matrix in test_interop_matrix.py shows how our client copes).
from datetime import datetime, timedelta, timezone

from meterproto.line import FMT_8N1
from meterproto.machine import Machine

SPEC = {
    "serial": "71000001",
    "password": "12345678",
    # (logical name, raw value, Gurux multiplier, unit enum, our text, our unit)
    "registers": [("1.0.1.8.0.255", 12345678, 10, 30, "123456780", "Wh"),
                  ("1.0.32.7.0.255", 2301, 0.1, 35, "230.1", "V"),
                  ("1.0.31.7.0.255", 523, 0.01, 33, "5.23", "A")],
    "clock": "2026-11-25 00:05:00",
    # 48 rows, 30 minutes apart: clock, 1.8.0 and 32.7.0 columns
    "first": "2026-11-24 00:30:00",
    "period_min": 30,
    "entries": 48,
}

_patched = False


def _patch():
    """G1-G7: the smallest patches that let gurux-dlms 1.0.203's server answer at all."""
    global _patched
    if _patched:
        return
    _patched = True
    from gurux_dlms.GXDLMSLongTransaction import GXDLMSLongTransaction
    from gurux_dlms.GXDLMSSettings import GXDLMSSettings
    from gurux_dlms.GXHdlcSettings import GXHdlcSettings
    from gurux_dlms.ValueEventArgs import ValueEventArgs

    # G1 SNRM: handleSnrmRequest calls GXHdlcSettings.update(), which does not exist (only
    # _update): start from the defaults of IEC 62056-46 (128 bytes, window 1) as it intends.
    GXHdlcSettings.update = lambda self, other: GXHdlcSettings.__init__(self)
    # G2 GET: GXDLMSSettings lacks getMaxPduSize() and setConnected(), which the GET and
    # ACTION handlers call, and gbtWndowSize (sic), read on every GET-next.
    GXDLMSSettings.getMaxPduSize = lambda self: self.maxPduSize
    GXDLMSSettings.setConnected = lambda self, v: setattr(self, "connected", v)
    GXDLMSSettings.gbtWndowSize = property(lambda self: self.gbtWindowSize)
    # G3 long GET: GXDLMSLongTransaction lacks setData(), called between blocks
    def set_data(self, bb):
        self.data.clear()
        self.data.set(bb)
    GXDLMSLongTransaction.setData = set_data
    # G11 the READ (short names) handler calls server.transaction() where the GET handlers
    # read server.transaction: a transaction answers both ways (with GuruxServer.transaction)
    GXDLMSLongTransaction.__call__ = lambda self: self
    # G4 GET-normal reads ValueEventArgs.isSkipMaxPduSize / getRowEndIndex(), which do not exist
    # G9 the range filter tests `tm >= start >= 0`, a datetime against 0, a TypeError
    # whatever the times: the filter (from <= time <= to, both ends included) is done here,
    # the rows are still encoded by Gurux's own getData()
    from gurux_dlms.objects import GXDLMSProfileGeneric
    original = GXDLMSProfileGeneric._GXDLMSProfileGeneric__getProfileGenericData

    def profile_data(self, settings, e):
        if e.selector != 1 or e.parameters is None:
            return original(self, settings, e)
        lo, hi = _range_times(e.parameters)
        table = [r for r in self.buffer if lo <= r[0].value.replace(tzinfo=None) <= hi]
        return self.getData(settings, e, table, None)
    GXDLMSProfileGeneric._GXDLMSProfileGeneric__getProfileGenericData = profile_data
    # G10 short names: initialize() calls setShortName(), which the objects do not have
    from gurux_dlms.objects import GXDLMSObject
    if not hasattr(GXDLMSObject, "setShortName"):
        GXDLMSObject.setShortName = lambda self, sn: setattr(self, "shortName", sn)
    # G12 the SN association's getValue() ends with e.error = read-write-denied whatever it
    # read: its object list (attribute 2) could never be read
    from gurux_dlms.enums import ErrorCode
    from gurux_dlms.objects import GXDLMSAssociationShortName
    sn_value = GXDLMSAssociationShortName.getValue

    def association_value(self, settings, e):
        v = sn_value(self, settings, e)
        if e.index in (1, 2, 3):
            e.error = ErrorCode.OK
        return v
    GXDLMSAssociationShortName.getValue = association_value
    # (unconditionally: interop_harness sets a plain False, which SN cannot call)
    ValueEventArgs.isSkipMaxPduSize = _No()  # read as a flag (LN) and called (SN)
    ValueEventArgs.getRowEndIndex = lambda self: self.rowEndIndex
    ValueEventArgs.getRowBeginIndex = lambda self: self.rowBeginIndex


class _No:
    """False both as a value and when called."""

    def __bool__(self):
        return False

    def __call__(self):
        return False


class _NoTransaction(_No):
    def __call__(self):
        return None


_NONE = _NoTransaction()


def _range_times(params):
    """(from, to) of a range descriptor as Gurux hands it over (the date-times as 12 octets)."""
    def dt(b):
        b = bytes(b)
        return datetime(int.from_bytes(b[0:2], "big"), b[2], b[3], b[5], b[6], b[7])
    return dt(params[1]), dt(params[2])


def _server_class(ln):
    from gurux_dlms import GXDLMSServer
    from gurux_dlms.enums import AccessMode, InterfaceType, MethodAccessMode, SourceDiagnostic
    from gurux_dlms.objects import (GXDLMSAssociationLogicalName, GXDLMSAssociationShortName,
                                    GXDLMSHdlcSetup)

    class Setup(GXDLMSHdlcSetup):
        """G5 the UA is built from attributes the HDLC setup object does not have
        (maxInfoTX, windowSizeTX, ...): they are the negotiated values. G6 the window the
        client proposes is never capped (the comparisons test the info length): cap it."""

        def __init__(self, settings):
            GXDLMSHdlcSetup.__init__(self)
            self._s = settings

        def _cap(self, name, cap):
            v = min(getattr(self._s.hdlc, name), cap)
            setattr(self._s.hdlc, name, v)
            return v

        maxInfoTX = property(lambda self: self._s.hdlc.maxInfoTX)
        maxInfoRX = property(lambda self: self._s.hdlc.maxInfoRX)
        windowSizeTX = property(lambda self: self._cap("windowSizeTX", self.windowSizeReceive))
        windowSizeRX = property(lambda self: self._cap("windowSizeRX", self.windowSizeTransmit))

    class GuruxServer(GXDLMSServer):
        def __init__(self, objects, password, max_info, window, max_pdu):
            GXDLMSServer.__init__(self, ln, InterfaceType.HDLC)
            assoc = GXDLMSAssociationLogicalName() if ln else GXDLMSAssociationShortName()
            for o in [assoc] + list(objects):
                self.items.append(o)
                assoc.objectList.append(o)  # G7 initialize() appends the list as one item
            self.password = password
            self.hdlc = Setup(self.settings)
            self.hdlc.maximumInfoLengthReceive = self.hdlc.maximumInfoLengthTransmit = max_info
            self.hdlc.windowSizeReceive = self.hdlc.windowSizeTransmit = window
            self.hdlc.inactivityTimeout = 0  # its timer subtracts datetimes from ints
            self.settings.maxServerPDUSize = max_pdu
            self.initialize()

        # G3 the GET handlers store the transaction with one target, then iterate it
        def getTransaction(self):
            return self._transaction

        def setTransaction(self, t):
            if t is not None and not isinstance(t.targets, (list, type(None))):
                t.targets = [t.targets]
            self._transaction = t

        # G11: no transaction is None as a value and None when called
        transaction = property(lambda self: self._transaction or _NONE, setTransaction)

        # the callbacks GXDLMSServer leaves to the application
        def onPreRead(self, args): pass  # noqa: E301,E704
        def onPostRead(self, args=None): pass  # noqa: E301,E704  G4 called with no arguments
        def notifyRead(self, *args): pass  # noqa: E301,E704  G4 called, never defined
        def onPreWrite(self, args): pass  # noqa: E301,E704
        def onPostWrite(self, args): pass  # noqa: E301,E704
        def onPreAction(self, args): pass  # noqa: E301,E704
        def onPostAction(self, args): pass  # noqa: E301,E704
        def onPreGet(self, args): pass  # noqa: E301,E704
        def onPostGet(self, args): pass  # noqa: E301,E704
        def onConnected(self, info): pass  # noqa: E301,E704
        def onDisconnected(self, info): pass  # noqa: E301,E704
        def onInvalidConnection(self, info): pass  # noqa: E301,E704
        def onFindObject(self, object_type, sn, ln): return None  # noqa: E301,E704
        def isTarget(self, server, client): return True  # noqa: E301,E704
        def onGetAttributeAccess(self, arg): return AccessMode.READ  # noqa: E301,E704
        def onGetMethodAccess(self, arg): return MethodAccessMode.NO_ACCESS  # noqa: E301,E704

        def onValidateAuthentication(self, auth, password):
            if int(auth) == 1 and bytes(password or b"") != self.password.encode():
                return SourceDiagnostic.AUTHENTICATION_FAILURE
            return SourceDiagnostic.NONE

    return GuruxServer


def base_objects(spec, clock_time):
    """The serial number (0.0.96.1.0.255), the registers of spec["registers"] and the clock,
    as Gurux objects: the part every Gurux-served test meter shares."""
    from gurux_dlms import GXDateTime
    from gurux_dlms.enums import DataType, Unit
    from gurux_dlms.objects import GXDLMSClock, GXDLMSData, GXDLMSRegister

    serial = GXDLMSData("0.0.96.1.0.255")
    serial.value = spec["serial"]
    serial.setDataType(2, DataType.STRING)
    regs = []
    for ln, value, scaler, unit, _text, _u in spec["registers"]:
        r = GXDLMSRegister(ln)
        r.value, r.scaler, r.unit = value, scaler, Unit(unit)
        r.setDataType(2, DataType.UINT32)
        regs.append(r)
    clock = GXDLMSClock("0.0.1.0.0.255")
    clock.time = GXDateTime(clock_time)
    return serial, regs, clock


def objects(spec=SPEC):
    """The Gurux object model: serial, logical device name, registers, clock, a 30-minute
    profile (clock, 1.8.0, 32.7.0)."""
    from gurux_dlms import GXDateTime
    from gurux_dlms.objects import GXDLMSCaptureObject, GXDLMSProfileGeneric

    serial, regs, clock = base_objects(spec, _aware(spec["clock"]))
    pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
    for o in (clock, regs[0], regs[1]):
        pg.captureObjects.append((o, GXDLMSCaptureObject(2, 0)))
    pg.capturePeriod = spec["period_min"] * 60
    for i, (t, energy, volts) in enumerate(_rows_raw(spec)):
        pg.buffer.append([GXDateTime(t), energy, volts])
    pg.entriesInUse = pg.profileEntries = spec["entries"]
    return [serial] + regs + [clock, pg]


def _aware(text):
    # the range filter compares the buffer's times with the request's, which Gurux decodes
    # as aware datetimes: aware times in the buffer keep the comparison possible
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def _rows_raw(spec):
    t = _aware(spec["first"])
    step = timedelta(minutes=spec["period_min"])
    return [(t + step * i, 12300000 + 100 * i, 2290 + i % 20) for i in range(spec["entries"])]


def rows(spec=SPEC):
    """The profile rows as our client must render them (scaled by the registers' scalers)."""
    return [[t.strftime("%Y-%m-%d %H:%M:%S"), str(e) + "0", "%d.%d" % divmod(v, 10)]
            for t, e, v in _rows_raw(spec)]


class GuruxHdlcMeter(Machine):
    """A meter-side Machine: every byte goes to Gurux's GXDLMSServer (HDLC interface) and
    every frame it returns goes back on the line. ln=False serves short names."""

    def __init__(self, spec=SPEC, ln=True, max_info=128, window=1, max_pdu=1024):
        from gurux_dlms import GXServerReply
        _patch()
        Machine.__init__(self, 9600, FMT_8N1)
        self.server = _server_class(ln)(objects(spec), spec["password"], max_info, window,
                                        max_pdu)
        self.errors = []  # exceptions inside Gurux (it answers them with an error frame)
        self.frames_in = 0
        self._rx = b""

        class Reply(GXServerReply):
            # G8 GXServerReply lacks setReply() and getConnectionInfo(), which
            # handleRequest() calls
            def setReply(self, value):
                self.reply = value

            def getConnectionInfo(self):
                from gurux_dlms.GXDLMSConnectionEventArgs import GXDLMSConnectionEventArgs
                return GXDLMSConnectionEventArgs()

        self._reply = Reply

    def start(self, now_ms):
        self._deadline = None

    def timeout(self, now_ms):
        self._deadline = None

    def receive(self, data, now_ms):
        # a meter's UART hands its stack one frame at a time; GXDLMSServer drops whatever
        # follows the first frame of a chunk, so cut the chunk into frames (B.1 length field)
        self._rx += data
        while True:
            while self._rx[:1] == b"\x7e" and self._rx[1:2] == b"\x7e":
                self._rx = self._rx[1:]
            if len(self._rx) < 3:
                return
            n = ((self._rx[1] & 0x07) << 8 | self._rx[2]) + 2
            if len(self._rx) < n:
                return
            frame, self._rx = self._rx[:n], self._rx[n:]
            self.frames_in += 1
            self._frame(frame, now_ms)

    def _frame(self, frame, now_ms):
        from gurux_dlms import GXDLMSServer
        sr = self._reply(bytes(frame))
        handle = GXDLMSServer.handleCommand
        errors = self.errors

        def recorded(server, *args):
            try:
                return handle(server, *args)
            except Exception as e:  # what Gurux answers with an error frame; kept to assert on
                errors.append("%s: %s" % (type(e).__name__, e))
                raise
        GXDLMSServer.handleCommand = recorded
        try:
            self.server.handleRequest(sr)
        except Exception as e:
            errors.append("%s: %s" % (type(e).__name__, e))
            return
        finally:
            GXDLMSServer.handleCommand = handle
        reply = getattr(sr, "reply", None)
        if reply:
            self._send(bytes(reply), now_ms)

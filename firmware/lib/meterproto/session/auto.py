# meterproto.session.auto: one reading session that finds out how the meter talks (core).
# IEC 62056-21 sign-on first (clause 6.3); a `\2` in the identification means mode E
# (clause 6.4.5): ACK 2 Z 2, then HDLC/DLMS at Z baud 8N1 in the same session; otherwise
# the mode C readout. No identification at all: direct HDLC at 9600 8N1 (IEC 62056-46),
# as many IDIS meters speak on the optical port. Sub-machines run one after the other.
from meterproto.compat import MICROPYTHON, const, forget
from meterproto.errors import LocalProtocolError, NoAnswer
from meterproto.line import FMT_8N1
from meterproto.machine import Machine

MODES = ("auto", "iec", "e", "hdlc")
_IEC = const(0)
_DLMS = const(1)
_FIND = const(2)  # server_upper "auto": meterproto.hdlc.discover finds the address first
# What the DLMS client imports, one by one (meterproto.dlms: the C stack).
from meterproto.dlms import CIPHER_MODULES, DLMS_MODULES  # noqa: E402
# What the IEC stage loads; let go before DLMS is imported (the two clients do not fit the
# RP2040's heap together: MicroPython 1.24 holds a module's bytecode in RAM).
IEC_MODULES = ("meterproto.iec.client", "meterproto.iec.msg", "meterproto.iec.data",
               "meterproto.iec.wakeup", "meterproto.iec")


class AutoSession(Machine):
    """mode: "auto" (IEC sign-on, mode E if offered, else mode C, direct HDLC if silent),
    "iec" (mode C/readout only), "e" (mode E, no HDLC fallback), "hdlc" (direct HDLC).
    server_upper="auto": the HDLC server address is found first (the usual ones, and 4-byte
    ones from address, the meter's serial); the reading's notes say which one answered.
    release_modules: at the handover to DLMS the IEC modules are dropped from sys.modules
    (default on MicroPython), so the DLMS client is loaded into the room they held."""

    def __init__(self, mode="auto", address="", password=None, client_sap=16, server_upper=1,
                 server_lower=None, auth=None, system_title=None, ek=None, ak=None,
                 max_baud=19200, wakeup=None, hdlc_baud=9600, iec_retries=1,
                 release_modules=MICROPYTHON, **dlms_options):
        Machine.__init__(self)
        if mode not in MODES:
            raise LocalProtocolError("unknown mode %r (use auto, iec, e or hdlc)" % mode)
        self.mode = mode
        self.address = address
        self.max_baud = max_baud
        self.wakeup = wakeup
        self.hdlc_baud = hdlc_baud
        self.iec_retries = iec_retries
        if auth is None:
            auth = "hls-gmac" if ak else ("low" if password else "lowest")
        self._dlms_opts = dict(dlms_options)
        self._dlms_opts.update({"client_sap": client_sap, "server_upper": server_upper,
                          "server_lower": server_lower, "auth": auth, "password": password,
                          "system_title": system_title, "ek": ek, "ak": ak,
                          "release_modules": release_modules})
        self.find = server_upper == "auto"
        if self.find:
            self._dlms_opts["server_upper"] = 1
        self.found = None  # what meterproto.hdlc.discover found
        self.sub = None
        self.stage = None
        self.iec = None  # the IEC client while it runs
        self.ident = None  # (manufacturer, identification text) the IEC stage saw
        self.release_modules = release_modules
        self.notes = []  # plain words: what was tried, in order
        self._pending = None  # (baud, set_line, mode) of the DLMS start waiting for timeout()

    @property
    def dlms(self):
        """The DLMS client of this session, once it has started (None before or without)."""
        sub = self.sub
        return sub if sub is not None and self.stage == _DLMS else None

    @property
    def checkpoint(self):
        """Profile checkpoints to resume an interrupted DLMS profile read (see DlmsClient)."""
        d = self.dlms
        return dict(d.checkpoint) if d is not None else dict(self._dlms_opts.get("checkpoint") or {})

    # -- Machine inputs: everything goes to the current sub-machine ------------------------
    def start(self, now_ms):
        if self.mode == "hdlc":
            self.notes.append("direct HDLC at %d baud 8N1 (no IEC sign-on)" % self.hdlc_baud)
            self._start_dlms(now_ms, self.hdlc_baud, True, "HDLC")
        else:
            from meterproto.iec.client import IecClient
            self.iec = IecClient(address=self.address, max_baud=self.max_baud, wakeup=self.wakeup,
                                 mode_e=self.mode != "iec", retries=self.iec_retries)
            self.notes.append("IEC 62056-21 sign-on at 300 baud 7E1")
            self._run(_IEC, self.iec, now_ms)

    def receive(self, data, now_ms):
        self.bytes_rx += len(data)
        if self._pending is not None:
            self._start_pending(now_ms)
        self.sub.receive(data, now_ms)
        self._after(now_ms)

    def timeout(self, now_ms):
        p = self._pending
        if p is not None:  # the handover, started from the driver's own frame
            self._pending = None
            self._start_dlms(now_ms, p[0], p[1], p[2])
            return
        self.sub.timeout(now_ms)
        self._after(now_ms)

    # -- plumbing --------------------------------------------------------------------------------
    def _run(self, stage, machine, now_ms):
        self.stage = stage
        self.sub = machine
        machine.start(now_ms)
        self._after(now_ms)

    def _after(self, now_ms):
        if not self._relay(self.sub):
            return
        if self.stage == _IEC:
            self._iec_done(now_ms)
        elif self.stage == _FIND:
            self._find_done(now_ms)
        else:
            self._dlms_done()

    def _later(self, now_ms, baud, set_line, mode):
        """Start DLMS on the next timeout() (due now), not here: here is deep inside the
        IEC client's receive(), and importing and starting the DLMS client there took the
        rp2 port's small C stack past its limit in mode E ('maximum recursion depth')."""
        self._pending = (baud, set_line, mode)
        self._deadline = now_ms
        self._let_go()

    def _let_go(self):
        """The finished sub-machine goes (its counts and end of transmission are kept), and
        with the IEC client its modules: nothing of them is needed for DLMS."""
        sub = self.sub
        if sub is None:
            return
        self.bytes_tx += sub.bytes_tx
        if sub.tx_end_ms() > self._tx_end:
            self._tx_end = sub.tx_end_ms()
        iec = self.iec
        if iec is not None and iec.ident is not None:
            self.ident = (iec.ident.manufacturer, iec.ident.ident())
        self.sub = self.iec = iec = sub = None
        if self.release_modules:
            forget(IEC_MODULES)
            import gc

            gc.collect()  # between two stages, not mid-frame: the line is quiet now

    def _start_pending(self, now_ms):
        baud, set_line, mode = self._pending
        self._pending = None
        self._start_dlms(now_ms, baud, set_line, mode)

    def _start_dlms(self, now_ms, baud, set_line, mode):
        if self.find and self.found is None:
            from meterproto.hdlc.discover import Discover
            self._then = (baud, mode)
            finder = Discover(client_sap=self._dlms_opts["client_sap"], serial=self.address,
                              baud=baud, set_line=set_line, disconnect=False)
            self._run(_FIND, finder, self._tx_end if self._tx_end > now_ms else now_ms)
            return
        o = self._dlms_opts
        for name in DLMS_MODULES + (CIPHER_MODULES if o["ak"] or o["ek"] else ()):
            __import__(name)
        from meterproto.dlms.client import DlmsClient
        client = DlmsClient(baud=baud, fmt=FMT_8N1, set_line=set_line, mode=mode, **self._dlms_opts)
        # the ACK must have left before HDLC timing starts
        self._run(_DLMS, client, self._tx_end if self._tx_end > now_ms else now_ms)

    def _find_done(self, now_ms):
        sub = self.sub
        if sub.error is not None:
            self._fail(sub.error)
            return
        f = sub.result
        self.found = f
        self._dlms_opts["server_upper"] = f["server_upper"]
        self._dlms_opts["server_lower"] = f["server_lower"]
        self._dlms_opts["server_addr_size"] = f["size"]
        self.notes.append("server address %s (%d-byte) answered, after %d tried: next time "
                          "use --server %s%s" % (f["server"], f["size"], f["tried"], f["server"],
                                                 _size_flag(f)))
        baud, mode = self._then
        self._later(now_ms, baud, False, mode)

    def _iec_done(self, now_ms):
        iec = self.iec
        if iec.error is not None:
            if self.mode == "auto" and iec.ident is None and isinstance(iec.error, NoAnswer):
                # said as what happened, not as a fault: a direct-HDLC meter is read next
                self.notes.append("no answer to the IEC sign-on at 300 baud 7E1, so direct "
                                  "HDLC at %d baud 8N1" % self.hdlc_baud)
                self._later(now_ms, self.hdlc_baud, True, "HDLC")
                return
            self._fail(iec.error)
            return
        if iec.handover is not None:
            baud, fmt = iec.handover
            self.notes.append("meter offered mode E: HDLC at %d baud 8N1 after ACK 2 Z 2" % baud)
            self._later(now_ms, baud, False, "E")
            return
        if self.mode == "e":
            self.notes.append("mode E was asked for, but the meter does not offer it (no \\2 in "
                              "its identification): read in mode C instead")
        self._end(iec.result)

    def _dlms_done(self):
        sub = self.sub
        if sub.error is not None:
            self._fail(sub.error)
            return
        r = sub.result
        if self.ident is not None:
            r.manufacturer, r.ident = self.ident
        self._end(r)

    def _hang_up(self, now_ms):
        sub = self.sub
        if sub is not None and not sub.done:
            sub._hang_up(now_ms)
            self._relay(sub)

    def _end(self, reading):
        self.bytes_tx += self.sub.bytes_tx
        reading.notes = self.notes + reading.notes
        self._finish(reading)

    def _fail(self, exc):
        self.bytes_tx += self.sub.bytes_tx
        Machine._fail(self, exc)


def _size_flag(found):
    """--server-size when the address size is not the one --server implies (IEC 62056-46 addressing)."""
    lower = found["server_lower"]
    implied = 1 if lower is None else (2 if found["server_upper"] < 128 and lower < 128 else 4)
    return "" if found["size"] == implied else " --server-size %d" % found["size"]

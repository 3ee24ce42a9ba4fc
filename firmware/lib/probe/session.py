# probe.session: one meter read as the reader app runs it (device side): the Machine for the
# chosen mode (imported lazily, so an IEC read never loads the DLMS stack), and the driver
# loop stepped in short slices so the app can serve USB and the LED meanwhile.
# Loaded for a read only; probe.app drops it with the protocol modules when memory is short.
from meterproto.driver import Driver
from meterproto.errors import LocalProtocolError, NoAnswer
from probe.led import ECHO_ONLY, ERROR, NO_ANSWER, SUCCESS

# probe.config.MODES (auto, iec, e, hdlc), plus the older spellings a config file may hold.
_AUTO_MODES = {"auto": "auto", "dlms": "auto", "iec-e": "e", "e": "e", "hdlc": "hdlc"}


def _hex(text):
    if not text:
        return None
    from meterproto.compat import unhexlify

    return unhexlify(text)


def make_session(s):
    """The Machine for one read, from settings(). Imported lazily: a missing protocol module
    only disables that mode."""
    mode = s["mode"]
    if mode in ("iec", "iec-c"):
        from meterproto.iec.client import IecClient

        return IecClient(address=s["address"] or "", max_baud=s["max_baud"],
                         wakeup=s["wakeup"], password=s["password"])
    if mode in _AUTO_MODES:
        kw = {}
        if s["client"] is not None:
            kw["client_sap"] = s["client"]
        server = s["server"]
        if server is not None:
            if server > 0x3FFF:
                kw["server_upper"] = server >> 16
                kw["server_lower"] = server & 0xFFFF
            else:
                kw["server_upper"] = server
        if s.get("auth"):
            kw["auth"] = s["auth"]  # as set; otherwise the session picks by the secrets given
        keys = s["keys"] or {}
        for k in ("ek", "ak", "system_title"):
            if keys.get(k):
                kw[k] = _hex(keys[k])
        from probe.heapmark import CODE_CIPHER, CODE_DLMS, max_pdu

        # The APDU size the probe asks for follows its free heap once the DLMS code (and the
        # ciphering's) is loaded (probe.heapmark).
        code = CODE_DLMS + (CODE_CIPHER if keys.get("ek") or keys.get("ak") else 0)
        if _AUTO_MODES[mode] == "hdlc":
            return _direct_hdlc(s, kw, max_pdu(code=code))
        from meterproto.session.auto import AutoSession

        return AutoSession(mode=_AUTO_MODES[mode], address=s["address"] or "",
                           max_baud=s["max_baud"], password=s["password"],
                           wakeup=s["wakeup"], max_pdu=max_pdu(code=code), **kw)
    raise LocalProtocolError("unknown meter mode %r (use auto, iec, e or hdlc)" % (mode,))


def _direct_hdlc(s, kw, pdu):
    """Direct HDLC (IEC 62056-46, no IEC sign-on): the DLMS client itself, without
    meterproto.session.auto around it: its code would be heap the read needs (issue 12).
    The client's modules are imported one by one first (meterproto.dlms: the C stack)."""
    from meterproto.dlms import CIPHER_MODULES, DLMS_MODULES

    for name in DLMS_MODULES + (CIPHER_MODULES if kw.get("ek") or kw.get("ak") else ()):
        __import__(name)
    from meterproto.dlms.client import DlmsClient
    from meterproto.line import FMT_8N1

    if "auth" not in kw:  # as meterproto.session.auto picks it
        kw["auth"] = "hls-gmac" if kw.get("ak") else ("low" if s["password"] else "lowest")
    c = DlmsClient(baud=9600, fmt=FMT_8N1, set_line=True, mode="HDLC", password=s["password"],
                   max_pdu=pdu, **kw)
    c.reading.notes.append("direct HDLC at 9600 baud 8N1 (no IEC sign-on)")
    return c


class Stepper(Driver):
    """The driver loop (meterproto.driver.Driver) for the app: step(slice_ms) between its
    other jobs. Hashes the received bytes as they come (the record digest,
    meterproto.link.records exchange_digest) instead of keeping them: a long readout must
    not cost its size in RAM."""

    def __init__(self, machine, port, echo=None, trace=None):
        import hashlib

        self._hash = hashlib.sha256()  # everything received, echo included, as it came
        Driver.__init__(self, machine, port, echo, trace)

    def received(self, data):
        self._hash.update(data)

    def digest(self):
        """= meterproto.link.records.exchange_digest(every byte received)."""
        from meterproto.link.records import DIGEST_LEN

        return self._hash.digest()[:DIGEST_LEN]


def phase(machine):
    """A short name of what the session is doing (probe.heapmark.at): the running
    sub-machine and its state, e.g. "DlmsClient 5" (meterproto.dlms.client, _PROFILE)."""
    sub = getattr(machine, "sub", None) or machine
    return "%s %s" % (type(sub).__name__, getattr(sub, "state", ""))


def classify(stepper, echo):
    """Outcome name for a finished session (store errors are handled by the caller)."""
    m = stepper.machine
    if m.error is None:
        return SUCCESS
    if isinstance(m.error, NoAnswer) and stepper.meter_bytes == 0:
        if echo is not None and echo.echo_bytes > 0:
            return ECHO_ONLY  # our own light came back, the meter said nothing
        if not stepper.rx_bytes:
            return NO_ANSWER
    return ERROR


def as_dict(result):
    if result is None or isinstance(result, dict):
        return result
    if hasattr(result, "to_dict"):
        return result.to_dict()
    reading = getattr(result, "reading", None)  # e.g. an AutoSession result object
    if reading is not None:
        return as_dict(reading)
    return None

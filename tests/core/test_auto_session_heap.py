# Mode E on the RP2040 ran out of heap at the handover ('memory allocation failed'): the IEC
# client and its modules (35 KB of bytecode in RAM on MicroPython 1.24) were still resident
# when the DLMS client (45 KB) was imported. Now the session lets go of both first.
import sys

from meterproto.driver import run
from meterproto.dlms.client import DlmsClient
from meterproto.session.auto import IEC_MODULES, AutoSession
from irprobe.sim import profiles
from irprobe.sim.vline import VirtualLine


def _snapshot():
    """The IEC modules as loaded now, to put back after the test (other tests hold their
    classes)."""
    import meterproto.iec.client  # noqa: F401
    import meterproto.iec.data  # noqa: F401
    import meterproto.iec.msg  # noqa: F401

    return {n: sys.modules[n] for n in IEC_MODULES if n in sys.modules}


def _restore(saved):
    for name, mod in saved.items():
        sys.modules[name] = mod
    pkg = saved.get("meterproto.iec")
    for name, mod in saved.items():
        if pkg is not None and name.startswith("meterproto.iec."):
            setattr(pkg, name[len("meterproto.iec."):], mod)
    setattr(sys.modules["meterproto"], "iec", pkg)


def _mode_e(release):
    saved = _snapshot()
    seen = []
    st = DlmsClient.start

    def dlms_start(self, now_ms):
        s = session[0]
        seen.append(([n for n in sys.modules if n.startswith("meterproto.iec")],
                     s.iec, s.sub is self))
        st(self, now_ms)

    session = [AutoSession(mode="e", release_modules=release)]
    DlmsClient.start = dlms_start
    try:
        r = run(session[0], VirtualLine(profiles.make_meter("lgz-zmd")))
    finally:
        DlmsClient.start = st
        _restore(saved)
    return r, seen


def test_mode_e_drops_the_iec_client_and_its_modules_before_dlms():
    r, seen = _mode_e(True)
    assert r.protocol == "dlms" and r.mode == "E"
    assert len(r.values) > 3
    mods, iec, sub = seen[0]
    assert mods == [], mods  # no IEC module resident while the DLMS client runs
    assert iec is None and sub  # nor the IEC client itself: the DLMS client is all it holds
    # what the IEC stage said about the meter is kept as text
    assert r.manufacturer == "LGZ" and r.ident.startswith("LGZ")


def test_without_release_the_modules_stay_and_the_reading_is_the_same():
    a, seen = _mode_e(False)
    assert seen[0][0]  # the IEC modules were still loaded: the figure above is the change
    b, _ = _mode_e(True)
    assert [(v.obis, v.value, v.unit) for v in a.values] == \
        [(v.obis, v.value, v.unit) for v in b.values]
    assert (a.manufacturer, a.ident) == (b.manufacturer, b.ident)
    assert a.notes[:2] == b.notes[:2]


def _hdlc_read(profile, **kw):
    """Direct HDLC read with release_modules=True; -> (reading, modules seen at the object
    list request)."""
    import meterproto.dlms.acse  # noqa: F401
    import meterproto.dlms.hls  # noqa: F401
    from meterproto.dlms.client import ASSOCIATION_MODULES

    saved = {n: sys.modules[n] for n in ASSOCIATION_MODULES}
    seen = []
    rol = DlmsClient._read_object_list

    def read_object_list(self, now_ms):
        rol(self, now_ms)
        seen.append([n for n in ASSOCIATION_MODULES if n in sys.modules])

    DlmsClient._read_object_list = read_object_list
    try:
        r = run(AutoSession(mode="hdlc", release_modules=True, **kw),
                VirtualLine(profiles.make_meter(profile)))
    finally:
        DlmsClient._read_object_list = rol
        for n, m in saved.items():
            sys.modules[n] = m
        for n, m in saved.items():
            setattr(sys.modules["meterproto.dlms"], n.rsplit(".", 1)[1], m)
    return r, seen


def test_the_association_code_goes_once_associated():
    r, seen = _hdlc_read("dlms-lp96")
    assert seen == [[]]  # AARQ/AARE modules not resident while the meter is read
    assert sum(len(p["rows"]) for p in r.profiles) == 96 and len(r.values) > 3


def test_the_hls_code_goes_once_associated_and_the_ciphering_stays():
    from meterproto.compat import unhexlify
    from irprobe.sim.dlms_profiles import PROFILES

    p = PROFILES["dlms-hls"]
    r, seen = _hdlc_read("dlms-hls", client_sap=p["client_sap"], auth="hls-gmac",
                         system_title=b"IRPROBE1", ek=unhexlify(p["ek"]),
                         ak=unhexlify(p["ak"]))
    assert seen == [[]]  # neither ACSE nor the HLS pass 3/4 while the meter is read
    assert len(r.values) > 3 and r.profiles  # ... and the ciphered reads went on


def test_the_ciphering_code_goes_with_the_disc():
    from meterproto.compat import unhexlify
    from meterproto.dlms.client import CIPHER_MODULES
    from irprobe.sim.dlms_profiles import PROFILES

    import meterproto.dlms.cipher  # noqa: F401
    saved = {n: sys.modules[n] for n in CIPHER_MODULES}
    p = PROFILES["dlms-hls"]
    seen = []
    disc = DlmsClient._disconnect

    def disconnect(self, now_ms):
        disc(self, now_ms)
        seen.append(([n for n in CIPHER_MODULES if n in sys.modules], self.cipher))

    DlmsClient._disconnect = disconnect
    try:
        c = DlmsClient(client_sap=p["client_sap"], auth="hls-gmac", system_title=b"IRPROBE1",
                       ek=unhexlify(p["ek"]), ak=unhexlify(p["ak"]), release_modules=True)
        r = run(c, VirtualLine(profiles.make_meter("dlms-hls")))
    finally:
        DlmsClient._disconnect = disc
        for n, m in saved.items():
            sys.modules[n] = m
            setattr(sys.modules["meterproto.dlms"], n.rsplit(".", 1)[1], m)
    assert seen == [([], None)]  # neither the ciphering's modules nor its object after DISC
    assert len(r.values) > 3 and r.profiles  # the reading is whole
    assert c.counters[0] > 5 and c.counters[1] > 5  # the counters outlive the cipher


def test_the_get_and_stream_code_goes_with_the_disc():
    # Nothing is read after the DISC: the GET and block-stream code is let go before the
    # reading's texts are made (they set the heap's low point of a direct-HDLC read, issue 12).
    from meterproto.dlms.client import READING_MODULES

    import meterproto.dlms.axdr_stream  # noqa: F401
    import meterproto.dlms.get  # noqa: F401
    saved = {n: sys.modules[n] for n in READING_MODULES}
    seen = []
    disc = DlmsClient._disconnect

    def disconnect(self, now_ms):
        disc(self, now_ms)
        seen.append(([n for n in READING_MODULES if n in sys.modules], self._stream))

    DlmsClient._disconnect = disconnect
    try:
        c = DlmsClient(client_sap=16, release_modules=True)
        r = run(c, VirtualLine(profiles.make_meter("dlms-lp96")))
    finally:
        DlmsClient._disconnect = disc
        for n, m in saved.items():
            sys.modules[n] = m
            setattr(sys.modules["meterproto.dlms"], n.rsplit(".", 1)[1], m)
    assert seen == [([], None)]
    assert sum(len(p["rows"]) for p in r.profiles) == 96 and len(r.values) > 3


def test_the_reading_code_is_not_loaded_beside_the_association_code():
    from meterproto.compat import forget

    reading = ("meterproto.dlms.get", "meterproto.dlms.cosem", "meterproto.dlms.axdr_stream")
    import meterproto.dlms.axdr_stream  # noqa: F401
    import meterproto.dlms.cosem  # noqa: F401
    import meterproto.dlms.get  # noqa: F401
    saved = {n: sys.modules[n] for n in reading}
    seen = []
    assoc = DlmsClient._associate

    def associate(self, now_ms):
        assoc(self, now_ms)
        seen.append([n for n in reading if n in sys.modules])

    forget(reading)
    DlmsClient._associate = associate
    try:
        r, after = _hdlc_read("dlms-lp96")
    finally:
        DlmsClient._associate = assoc
        for n, m in saved.items():
            sys.modules[n] = m
            setattr(sys.modules["meterproto.dlms"], n.rsplit(".", 1)[1], m)
    assert seen == [[]]  # associating: no GET or COSEM code yet
    assert after == [[]]  # reading: no association code any more
    assert sum(len(p["rows"]) for p in r.profiles) == 96

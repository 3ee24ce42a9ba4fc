# Our DLMS client against our DLMS meter simulator, back to back on the virtual line in
# simulated time, for every DLMS profile (both runtimes).
from meterproto.driver import run
from meterproto.errors import NoAnswer, Refused
from meterproto.line import FMT_7E1, FMT_8N1
from meterproto.dlms.client import DlmsClient
from meterproto.session.auto import AutoSession
from irprobe.sim.vline import VirtualLine, Faults
from irprobe.sim.dlms_profiles import PROFILES, make_meter, expected_rows

LP = "1-0:99.1.0*255"


def _client(p, **kw):
    opts = {"client_sap": p["client_sap"], "server_upper": p["server_upper"],
            "server_lower": p["server_lower"], "auth": p["auth"], "password": p["password"]}
    if p.get("ek"):
        from meterproto.compat import unhexlify
        opts["system_title"] = b"IRPROBE1"
        opts["ek"] = unhexlify(p["ek"])
        opts["ak"] = unhexlify(p["ak"])
    opts.update(kw)
    return DlmsClient(**opts)


def _read(name, faults=None, profile=None, **kw):
    p = profile or PROFILES[name]
    meter = make_meter(p)
    client = _client(p, **kw)
    if p["opening"] == "e":
        session = AutoSession(mode="auto", client_sap=p["client_sap"], server_upper=p["server_upper"],
                              server_lower=p["server_lower"], password=p["password"])
        line = VirtualLine(meter, baud=300, fmt=FMT_7E1, faults=faults)
        return run(session, line), session, meter
    line = VirtualLine(meter, baud=9600, fmt=FMT_8N1, faults=faults)
    return run(client, line), client, meter


def _check_reading(name, r):
    p = PROFILES[name]
    exp = p["expected"]
    assert r.protocol == "dlms"
    assert r.meter_id == exp["meter_id"], (name, r.meter_id)
    got = {}
    for v in r.values:
        got[v.obis] = (v.value, v.unit)
    for e in exp["values"]:
        assert got.get(e["obis"]) == (e["value"], e["unit"]), (name, e, got.get(e["obis"]))
    # the association view: every object with its class, and access rights
    objs = {}
    for o in r.objects:
        objs[o["obis"]] = o
    assert len(objs) == len(p["objects"]) + 1, len(objs)
    for o in p["objects"]:
        assert objs[o["obis"]]["class_id"] == o["class"], o["obis"]
    assert objs["0-0:40.0.0*255"]["class_id"] == 15
    lp_rights = [a for a in objs[LP]["attributes"] if a["id"] == 2][0]
    assert lp_rights["access"] == 1 and lp_rights["selectors"] == [1, 2]
    # load profile: capture objects and every row, scaled like the register it captures
    lp = [x for x in r.profiles if x["obis"] == LP][0]
    assert [c["obis"] for c in lp["capture_objects"]] == ["0-0:1.0.0*255", "0-0:96.10.1*255", "1-0:1.8.0*255"]
    assert lp["rows"] == expected_rows(p), (name, lp["rows"][:2], expected_rows(p)[:2])
    assert len(lp["rows"]) == exp["profile_rows"]


def test_direct_hdlc_meter_whole_reading():
    r, c, meter = _read("dlms-direct")
    _check_reading("dlms-direct", r)
    assert r.mode == "HDLC" and r.baud == 9600
    assert "object list read" in meter.log


def test_every_dlms_profile_reads_back_to_back():
    for name in PROFILES:
        r, c, meter = _read(name)
        _check_reading(name, r)


def test_mode_e_in_one_session_from_300_baud():
    r, session, meter = _read("dlms-mode-e")
    _check_reading("dlms-mode-e", r)
    assert r.mode == "E" and r.baud == 9600
    assert r.manufacturer == "SIM"
    assert "mode E acknowledged at baud char 5" in meter.log
    assert [n for n in r.notes if "mode E" in n], r.notes


def test_auto_falls_back_to_direct_hdlc_when_no_identification():
    p = PROFILES["dlms-direct"]
    meter = make_meter(p)
    line = VirtualLine(meter, baud=300, fmt=FMT_7E1)
    session = AutoSession(mode="auto")
    r = run(session, line)
    _check_reading("dlms-direct", r)
    assert r.mode == "HDLC"
    assert [n for n in r.notes if "so direct HDLC" in n], r.notes
    assert not [n for n in r.notes if "no IEC identification" in n or "powered" in n], r.notes


def test_password_meter_refuses_a_wrong_password_in_plain_words():
    p = PROFILES["dlms-password"]
    line = VirtualLine(make_meter(p), baud=9600, fmt=FMT_8N1)
    try:
        run(_client(p, password="WRONG"), line)
    except Refused as e:
        assert "authentication failure" in str(e), str(e)
    else:
        raise AssertionError("a wrong password must be refused")


def test_wrong_server_address_says_what_to_check():
    p = PROFILES["dlms-mode-e"]  # answers only to server 1/17
    meter = make_meter(dict(p, opening="hdlc"))
    line = VirtualLine(meter, baud=9600, fmt=FMT_8N1)
    try:
        run(_client(p, server_lower=None), line)
    except NoAnswer as e:
        assert "no answer to SNRM" in str(e) and "client 16" in str(e), str(e)
    else:
        raise AssertionError("expected NoAnswer")


def test_data_access_error_becomes_a_note_not_a_crash():
    p = dict(PROFILES["dlms-direct"])
    p["objects"] = p["objects"] + [{"obis": "0-0:96.99.9*255", "class": 1, "value": None}]
    meter = make_meter(p)
    line = VirtualLine(meter, baud=9600, fmt=FMT_8N1)
    r = run(_client(p), line)
    assert r.get("0-0:96.99.9*255") is None
    assert [n for n in r.notes if "0-0:96.99.9*255" in n and "object-unavailable" in n], r.notes
    assert r.get("1-0:1.8.0*255").value == "12345678"


def test_interrupted_profile_read_resumes_from_checkpoint():
    name = "dlms-lp96"
    p = PROFILES[name]
    full = expected_rows(p)
    # How many bytes the meter sends for a whole session; stop it 600 bytes before the end,
    # which is inside the last of the three blocks of the 96-row profile (PDU 1024 bytes):
    # rows of whole blocks count, so the checkpoint moves with each block.
    _, _, meter = _read(name)
    first = _client(p)
    line = VirtualLine(make_meter(p), baud=9600, fmt=FMT_8N1,
                       faults=Faults(stop_after=meter.bytes_tx - 600))
    try:
        run(first, line)
    except NoAnswer:
        pass
    else:
        raise AssertionError("the silent meter must end the session")
    part = [x for x in first.partial.profiles if x["obis"] == LP][0]["rows"]
    assert 0 < len(part) < len(full), len(part)
    assert part == full[:len(part)]
    assert first.checkpoint[LP] == part[-1][0]
    second = _client(p, checkpoint=first.checkpoint)
    r = run(second, VirtualLine(make_meter(p), baud=9600, fmt=FMT_8N1))
    rest = [x for x in r.profiles if x["obis"] == LP][0]["rows"]
    assert part + rest == full, (len(part), len(rest))


def test_round_trips_with_list_beat_one_get_per_attribute():
    _, direct, _ = _read("dlms-direct")
    _, small, _ = _read("dlms-small")  # same objects, no multiple references, small PDU
    # SNRM, AARQ, object list, a few GET-with-list, the profile, DISC, plus segment polls.
    assert direct.round_trips <= 20, direct.round_trips
    assert small.round_trips > direct.round_trips + 10, (small.round_trips, direct.round_trips)


def test_profile_by_explicit_range_and_large_windows():
    r, c, _ = _read("dlms-large", profile_from="2026-11-24 06:00:00",
                    profile_to="2026-11-24 07:00:00")
    # 2030/7 proposed, 1024/7 granted: the whole reading in a handful of turns
    assert "max_info_tx 1024, max_info_rx 1024, window_tx 7, window_rx 7" in r.notes[0], r.notes
    assert c.round_trips <= 8, c.round_trips
    rows = [x for x in r.profiles if x["obis"] == LP][0]["rows"]
    assert [row[0] for row in rows] == ["2026-11-24 06:00:00", "2026-11-24 06:15:00",
                                        "2026-11-24 06:30:00", "2026-11-24 06:45:00",
                                        "2026-11-24 07:00:00"], rows


def test_hls_gmac_meter_passes_with_the_keys_and_refuses_a_wrong_key():
    from meterproto.compat import unhexlify
    r, c, meter = _read("dlms-hls")
    _check_reading("dlms-hls", r)
    assert "HLS-GMAC passed" in meter.log
    p = PROFILES["dlms-hls"]
    line = VirtualLine(make_meter(p), baud=9600, fmt=FMT_8N1)
    try:
        run(_client(p, ak=unhexlify("00" * 16)), line)
    except Refused as e:
        assert "wrong authentication or encryption key" in str(e), str(e)
    else:
        raise AssertionError("a wrong key must be refused")


def test_auto_session_with_an_iec_meter_that_offers_mode_e():
    from irprobe.sim import profiles as iec_profiles
    meter = iec_profiles.make_meter("lgz-zmd")  # mode C meter whose HDLC side is dlms-direct
    r = run(AutoSession(mode="auto"), VirtualLine(meter, baud=300, fmt=FMT_7E1))
    assert r.protocol == "dlms" and r.mode == "E" and r.baud == 9600, (r.protocol, r.mode)
    assert r.manufacturer == "LGZ"
    assert r.get("1-0:32.7.0*255").value == "230.1"


def test_auto_session_reads_mode_c_when_mode_e_is_not_offered():
    from irprobe.sim import profiles as iec_profiles
    for name, mode in (("iskra-mt174", "auto"), ("lgz-zmd", "iec")):
        meter = iec_profiles.make_meter(name)
        r = run(AutoSession(mode=mode), VirtualLine(meter, baud=300, fmt=FMT_7E1))
        assert r.protocol == "iec62056-21" and r.mode == "C", (name, r.protocol, r.mode)
        assert r.values, name


def test_auto_session_hdlc_mode_skips_the_sign_on():
    p = PROFILES["dlms-large"]
    line = VirtualLine(make_meter(p), baud=300, fmt=FMT_7E1)
    session = AutoSession(mode="hdlc", server_lower=p["server_lower"])
    r = run(session, line)
    assert r.mode == "HDLC" and r.get("1-0:1.8.0*255").value == "12345678"
    assert r.notes[0].startswith("direct HDLC at 9600 baud"), r.notes


def test_a_malformed_answer_ends_in_plain_words_and_a_disc():
    from irprobe.sim.dlms_meter import DlmsMeter
    from meterproto.errors import DecodeError

    class Broken(DlmsMeter):
        def _answer(self, apdu):
            if apdu[:2] == b"\xc0\x01":  # the object list comes back as a number
                return b"\xc4\x01\xc1\x00\x11\x05"
            return DlmsMeter._answer(self, apdu)

    meter = Broken(PROFILES["dlms-direct"])
    line = VirtualLine(meter, baud=9600, fmt=FMT_8N1)
    try:
        run(_client(PROFILES["dlms-direct"]), line)
    except DecodeError as e:
        assert "object_list" in str(e), str(e)
    else:
        raise AssertionError("expected DecodeError")
    line.drain()  # let our last frame reach the meter
    assert meter.log[-1] == "HDLC disconnected"  # we still closed the link


def test_damaged_bytes_on_the_line_are_repaired_by_the_link():
    r, c, _ = _read("dlms-direct", faults=Faults(byte_error_ppm=2000, seed=7))
    _check_reading("dlms-direct", r)
    assert c.link.stats.bad_frames > 0, "the fault injection must have damaged frames"


def test_simulator_entry_descriptor_unknown_objects_and_rlrq():
    from meterproto.dlms import axdr
    from irprobe.sim.dlms_model import CosemModel
    p = PROFILES["dlms-lp96"]
    model = CosemModel(p)
    ok, data = model.get(7, LP, 2, 2, (3, 5, 1, 0))  # entries 3..5, all columns
    rows = axdr.decode_whole(data)
    assert ok and len(rows) == 3 and rows[0][2] == int(expected_rows(p)[2][2])
    assert model.get(3, "1-0:99.99.9*255", 2) == (False, 4)  # object-undefined
    assert model.get(1, "1-0:1.8.0*255", 2) == (False, 9)  # object-class-inconsistent
    r, c, meter = _read("dlms-password", release="rlrq", profiles=False)
    assert "released" in meter.log and r.profiles is None
    import json
    d = json.loads(json.dumps(r.to_dict()))
    assert d["meter"]["id"] == "70000003" and d["objects"][0]["obis"] == "0-0:40.0.0*255"


def test_auto_session_mode_e_profile_read_resumes_from_its_checkpoint():
    p = dict(PROFILES["dlms-mode-e"], max_pdu=256)  # the profile comes in several blocks
    full = expected_rows(p)
    whole = AutoSession(mode="e", server_lower=17)
    run(whole, VirtualLine(make_meter(p), baud=300, fmt=FMT_7E1))
    meter_bytes = whole.dlms.bytes_rx
    first = AutoSession(mode="e", server_lower=17)
    line = VirtualLine(make_meter(p), baud=300, fmt=FMT_7E1,
                       faults=Faults(stop_after=meter_bytes - 300))
    try:
        run(first, line)
    except NoAnswer:
        pass
    else:
        raise AssertionError("the silent meter must end the session")
    part = first.dlms.partial.profiles[0]["rows"]
    assert 0 < len(part) < len(full) and first.checkpoint[LP] == part[-1][0]
    second = AutoSession(mode="e", server_lower=17, checkpoint=first.checkpoint)
    r = run(second, VirtualLine(make_meter(p), baud=300, fmt=FMT_7E1))
    assert r.mode == "E"
    assert part + r.profiles[0]["rows"] == full, (len(part), first.checkpoint)


# -- security suite 0: the ciphered context (IEC 62056-5-3 9.2.7) -----------------------------

def _traced(name, meter=None, **kw):
    """-> (reading, client, meter, bytes the meter sent)."""
    from meterproto.driver import T_RX
    p = PROFILES[name]
    meter = meter or make_meter(p)
    client = _client(p, **kw)
    trace = []
    r = run(client, VirtualLine(meter, baud=9600, fmt=FMT_8N1), trace=trace)
    rx = b"".join(t[2] for t in trace if t[1] == T_RX)
    return r, client, meter, rx


def test_ciphered_meter_is_read_with_glo_requests_and_nothing_readable_on_the_wire():
    r, c, meter, rx = _traced("dlms-ciphered")
    _check_reading("dlms-ciphered", r)
    assert "associated (mechanism 0, ciphered)" in meter.log, meter.log
    # one counter per ciphered APDU, both ways: AARQ + every GET, AARE + every answer
    ic, peer_ic = c.counters  # (ours next, the meter's last) after the session
    assert meter.cipher.peer_ic == ic - 1 and ic - 1 == c.apdus, (
        meter.cipher.peer_ic, ic, c.apdus)
    assert peer_ic == meter.cipher.ic - 1 == 0x2A + c.apdus - 1
    assert b"70000008" not in rx  # the serial number travels encrypted
    assert meter.ciphered_forms == {"glo": c.apdus - 1}, meter.ciphered_forms
    assert b"\xcc" in rx and c.round_trips > 5


def test_security_control_authentication_only_and_encryption_only():
    for sc, clear in ((0x10, True), (0x20, False)):
        r, c, meter, rx = _traced("dlms-ciphered", security=sc)
        _check_reading("dlms-ciphered", r)
        assert (b"70000008" in rx) == clear, sc  # 0x10 signs the plain text, 0x20 hides it


def test_dedicated_key_and_general_glo_ciphering():
    from meterproto.compat import unhexlify
    r, c, meter, rx = _traced("dlms-ciphered", dedicated_key=unhexlify("11" * 16))
    _check_reading("dlms-ciphered", r)
    assert "associated (mechanism 0, ciphered, dedicated key)" in meter.log, meter.log
    assert b"\xd4" in rx and list(meter.ciphered_forms) == ["ded"], meter.ciphered_forms
    p = PROFILES["dlms-ciphered"]
    client = _client(p)
    client.cipher.form = "general"  # general-glo-ciphering (0xDB) with our system title
    meter = make_meter(p)
    r = run(client, VirtualLine(meter, baud=9600, fmt=FMT_8N1))
    _check_reading("dlms-ciphered", r)
    assert list(meter.ciphered_forms) == ["general"], meter.ciphered_forms


def test_hls_gmac_with_ciphering_refuses_wrong_keys_in_plain_words():
    from meterproto.compat import unhexlify
    r, c, meter, rx = _traced("dlms-hls")
    _check_reading("dlms-hls", r)
    assert "HLS-GMAC passed" in meter.log and b"70000004" not in rx
    p = PROFILES["dlms-hls"]
    for wrong in ({"ak": unhexlify("00" * 16)}, {"ek": unhexlify("0F" * 16)}):
        try:
            run(_client(p, **wrong), VirtualLine(make_meter(p), baud=9600, fmt=FMT_8N1))
        except Refused as e:
            assert "wrong authentication or encryption key" in str(e), str(e)
        else:
            raise AssertionError("a wrong key must be refused")


def test_ciphered_meter_refuses_a_client_without_keys():
    p = PROFILES["dlms-ciphered"]
    line = VirtualLine(make_meter(p), baud=9600, fmt=FMT_8N1)
    try:
        run(DlmsClient(client_sap=p["client_sap"]), line)
    except Refused as e:
        assert "application context not supported" in str(e), str(e)
    else:
        raise AssertionError("a plain AARQ must be refused")


def _meter_with(answer):
    """A dlms-ciphered meter whose ciphered GET answers pass through answer(meter, bytes)."""
    from irprobe.sim.dlms_meter import DlmsMeter

    class Tampering(DlmsMeter):
        def _ciphered(self, apdu):
            reply = DlmsMeter._ciphered(self, apdu)
            if reply is not None and reply[:1] == b"\xcc":
                reply = answer(self, reply)
            return reply

    return Tampering(PROFILES["dlms-ciphered"])


def test_an_answer_under_another_key_is_refused_in_plain_words():
    from meterproto.errors import ChecksumError

    def flip(meter, reply):  # one bit of the authentication tag
        return reply[:-1] + bytes((reply[-1] ^ 1,))

    try:
        _traced("dlms-ciphered", meter=_meter_with(flip))
    except ChecksumError as e:
        assert "does not authenticate with this key" in str(e), str(e)
        assert "wrong authentication or encryption key" in str(e), str(e)
    else:
        raise AssertionError("a damaged tag must be refused")


def test_a_replayed_answer_is_refused():
    seen = []

    def replay(meter, reply):  # the second answer is the first one again, same counter
        seen.append(reply)
        return seen[0]

    meter = _meter_with(replay)
    try:
        _traced("dlms-ciphered", meter=meter)
    except Refused as e:
        assert "invocation counter did not increase" in str(e), str(e)
    else:
        raise AssertionError("a replayed answer must be refused")
    assert len(seen) == 2


def test_the_meter_refuses_an_invocation_counter_it_has_seen():
    p = PROFILES["dlms-ciphered"]
    meter = make_meter(p)
    _, first, _, _ = _traced("dlms-ciphered", meter=meter)
    try:
        _traced("dlms-ciphered", meter=meter)  # starts again at counter 1
    except Refused as e:
        assert "invocation counter the meter has already seen" in str(e), str(e)
    else:
        raise AssertionError("a reused invocation counter must be refused")
    assert [x for x in meter.log if "did not increase" in x], meter.log
    r, c, _, _ = _traced("dlms-ciphered", meter=meter, invocation_counter=first.counters[0])
    _check_reading("dlms-ciphered", r)


def test_ciphered_session_with_the_pure_python_aes_fallback():
    # The AES/GCM of last resort (no cryptography, no cryptolib): still a whole session.
    from meterproto.dlms import security
    saved = security.BACKEND
    security.BACKEND = "pure"
    try:
        r, c, meter, rx = _traced("dlms-hls")
    finally:
        security.BACKEND = saved
    _check_reading("dlms-hls", r)
    assert "HLS-GMAC passed" in meter.log


def test_hls_gmac_without_the_ciphered_context_where_the_meter_allows_it():
    p = dict(PROFILES["dlms-hls"], ciphered=False)
    meter = make_meter(p)
    r = run(_client(p, security=0), VirtualLine(meter, baud=9600, fmt=FMT_8N1))
    _check_reading("dlms-hls", r)
    assert "HLS-GMAC passed" in meter.log and meter.ciphered_requests == 0
    try:  # the real dlms-hls meter insists on ciphering
        run(_client(p, security=0), VirtualLine(make_meter("dlms-hls"), baud=9600, fmt=FMT_8N1))
    except Refused as e:
        assert "application context not supported" in str(e), str(e)
    else:
        raise AssertionError("HLS without ciphering must be refused by dlms-hls")

# xDLMS APDU codecs: the vectors of tests/vectors/hdlc/frames.txt and IEC 62056-5-3 byte for byte, both
# directions (client and meter simulator), clear refusals, and garbage-only-DecodeError.
from irprobe.sim.rng import Rng
from irprobe.sim import acse_server
from meterproto.dlms import acse_text
from meterproto.dlms import acse as apdu_acse
from meterproto.dlms import get as apdu_get
from meterproto.dlms import initiate as apdu_initiate
from meterproto.dlms import dar
from irprobe.sim import get_server
from meterproto.dlms import axdr, sn
from irprobe.sim import axdr_encode
from meterproto.dlms import cosem
from meterproto.compat import unhexlify
from meterproto.errors import DecodeError, LocalProtocolError, Refused
from core_checks import raises

AARQ_LOWEST = "60 1D A1 09 06 07 60 85 74 05 08 01 01 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 1E 1D FF FF"
AARQ_LLS = ("60 36 A1 09 06 07 60 85 74 05 08 01 01 8A 02 07 80 8B 07 60 85 74 05 08 02 01 AC 0A 80 08"
            " 30 30 30 30 30 30 30 30 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 1E 1D FF FF")
AARE_OK = ("61 29 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 00 A3 05 A1 03 02 01 00 BE 10 04 0E 08"
           " 00 06 5F 1F 04 00 00 1E 1D 04 C8 00 07")
GET_180 = "C0 01 C1 00 03 01 00 01 08 00 FF 02 00"
GET_180_SU = "C0 01 C1 00 03 01 00 01 08 00 FF 03 00"
GET_IC = "C0 01 C1 00 01 00 00 2B 01 00 FF 02 00"
GET_NEXT = "C0 02 C1 00 00 00 01"
GET_LIST = "C0 03 C1 02 00 01 00 00 2A 00 00 FF 02 00 00 08 00 00 01 00 00 FF 02 00"
GET_RANGE = ("C0 01 C1 00 07 01 00 63 01 00 FF 02 01 01 02 04 02 04 12 00 08 09 06 00 00 01 00 00 FF"
             " 0F 02 12 00 00 09 0C 07 E6 01 01 00 00 00 00 FF 80 00 00 09 0C 07 E6 01 02 00 00 00 00"
             " FF 80 00 00 01 00")


def test_aarq_vectors_lowest_and_lls():
    assert apdu_acse.build_aarq() == unhexlify(AARQ_LOWEST)
    assert apdu_acse.build_aarq(mechanism=1, password=b"00000000") == unhexlify(AARQ_LLS)
    assert apdu_acse.build_aarq(mechanism=1, password="00000000") == unhexlify(AARQ_LLS)
    raises(LocalProtocolError, apdu_acse.build_aarq, 1)  # LLS without a password
    raises(LocalProtocolError, apdu_acse.build_aarq, 5, None, 0x1E1D, 0xFFFF, False, b"short")


def test_aarq_parsed_by_the_meter_side():
    q = acse_server.parse_aarq(unhexlify(AARQ_LLS))
    assert q.context == apdu_acse.CONTEXT_LN and not q.ciphered and not q.sn
    assert q.mechanism == 1 and q.secret == b"00000000"
    assert q.conformance == 0x001E1D and q.max_pdu == 0xFFFF and q.initiate.version == 6
    q = acse_server.parse_aarq(unhexlify(AARQ_LOWEST))
    assert q.mechanism == 0 and q.secret is None and q.system_title is None
    st = bytes(range(1, 9))
    hls = apdu_acse.build_aarq(mechanism=5, system_title=st, challenge=b"K56iVagY", dedicated_key=bytes(16))
    q = acse_server.parse_aarq(hls)
    assert q.mechanism == 5 and q.secret == b"K56iVagY" and q.system_title == st
    assert q.initiate.dedicated_key == bytes(16) and q.conformance == 0x001E1D
    q_sn = acse_server.parse_aarq(apdu_acse.build_aarq(sn=True, conformance=0x1C03, max_pdu=0x200))
    assert q_sn.sn and q_sn.conformance == 0x1C03 and q_sn.max_pdu == 0x200
    # ciphered context carries an already ciphered initiate request in user-information
    c = acse_server.parse_aarq(apdu_acse.build_aarq(ciphered=True, system_title=st, user_info=b"\x21\x05\x30\x00\x00\x00\x01"))
    assert c.ciphered and c.initiate.kind == "ciphered" and c.user_info[0] == 0x21
    raises(LocalProtocolError, apdu_acse.build_aarq, 0, None, 0x1E1D, 0xFFFF, True, st)


def test_aare_accepted_vector_both_ways():
    assert acse_server.build_aare(conformance=0x001E1D, max_pdu=0x04C8) == unhexlify(AARE_OK)
    r = apdu_acse.parse_aare(unhexlify(AARE_OK))
    assert r.accepted and r.result == 0 and r.diagnostic == 0
    assert r.conformance == 0x001E1D and r.max_pdu == 0x04C8 and r.initiate.vaa == 7
    assert r.check() is r
    names = acse_text.conformance_names(r.conformance)
    assert names == ["block-transfer-with-get-or-read", "block-transfer-with-set-or-write",
                     "block-transfer-with-action", "multiple-references", "get", "set",
                     "selective-access", "action"]


def test_aare_rejections_are_plain_refusals():
    r = apdu_acse.parse_aare(acse_server.build_aare(result=1, diagnostic=13))
    assert not r.accepted and r.initiate is None
    e = raises(Refused, r.check)
    assert "authentication failure (wrong password or key)" in str(e) and "rejected (permanent)" in str(e)
    r = apdu_acse.parse_aare(acse_server.build_aare(result=1, diagnostic=1, initiate_error=2))
    assert r.initiate.kind == "error" and r.initiate.error == 2
    assert "incompatible conformance" in str(raises(Refused, r.check))
    r = apdu_acse.parse_aare(acse_server.build_aare(result=2, diagnostic=2, provider=True))
    assert r.provider and "no common ACSE version" in r.diagnostic_text


def test_aare_hls_fields():
    st = b"MMM\x00\x00\xbcaN"
    raw = acse_server.build_aare(mechanism=5, system_title=st, challenge=b"P6wRJ21F", context=apdu_acse.CONTEXT_LN_CIPHERED,
                          user_info=b"\x28\x05\x30\x01\x23\x45\x67")
    r = apdu_acse.parse_aare(raw)
    assert r.server_system_title == st and r.challenge == b"P6wRJ21F" and r.mechanism == 5
    assert r.context == 3 and r.initiate.kind == "ciphered"


def test_release_and_exception():
    assert apdu_acse.build_rlrq() == unhexlify("62 03 80 01 00")
    assert acse_server.parse_rlrq(unhexlify("62 03 80 01 00")).reason == 0
    rlre = acse_server.build_rlre(0, acse_server.build_initiate_response(0x1E1D, 0x4C8))
    assert rlre[:6] == unhexlify("63 15 80 01 00 BE")  # the MEM600 shape
    r = acse_server.parse_rlre(rlre)
    assert r.reason == 0 and r.initiate.max_pdu == 0x4C8
    assert get_server.build_exception(1, 1) == unhexlify("D8 01 01")
    x = dar.parse_exception(unhexlify("D8 01 01"))
    assert "service-not-allowed" in x.text and "does not support" in x.text
    x = dar.parse_exception(get_server.build_exception(1, 5, 77))
    assert x.invocation_counter == 77 and "77" in x.text
    # an exception where a GET response was expected becomes a Refused, not a decode error
    assert "exception" in str(raises(Refused, apdu_get.parse_get_response, unhexlify("D8 02 01")))


def test_get_request_vectors_both_ways():
    assert apdu_get.build_get_normal(1, 3, "1-0:1.8.0*255", 2) == unhexlify(GET_180)
    assert apdu_get.build_get_normal(1, 3, bytes((1, 0, 1, 8, 0, 255)), 3) == unhexlify(GET_180_SU)
    assert apdu_get.build_get_normal(1, 1, "0.0.43.1.0.255", 2) == unhexlify(GET_IC)
    assert apdu_get.build_get_next(1, 1) == unhexlify(GET_NEXT)
    assert apdu_get.build_get_with_list(1, [(1, "0-0:42.0.0*255", 2), (8, "0-0:1.0.0*255", 2)]) == unhexlify(GET_LIST)
    q = get_server.parse_get_request(unhexlify(GET_180))
    assert q.kind == "normal" and q.invoke_id == 1 and q.high_priority
    d = q.descriptor
    assert (d.class_id, d.obis_text, d.attr, d.selector) == (3, "1-0:1.8.0*255", 2, None)
    q = get_server.parse_get_request(unhexlify(GET_NEXT))
    assert q.kind == "next" and q.block_no == 1
    q = get_server.parse_get_request(unhexlify(GET_LIST))
    assert q.kind == "list" and [(i.class_id, i.obis_text, i.attr) for i in q.items] == [
        (1, "0-0:42.0.0*255", 2), (8, "0-0:1.0.0*255", 2)]
    raises(LocalProtocolError, apdu_get.build_get_normal, 16, 3, "1-0:1.8.0*255", 2)


def test_selective_access_range_vector():
    frm = cosem.encode_datetime(2022, 1, 1, 0, 0, 0, dow=0, status=0)
    to = cosem.encode_datetime(2022, 1, 2, 0, 0, 0, dow=0, status=0)
    params = cosem.range_descriptor(frm, to)
    raw = apdu_get.build_get_normal(1, 7, "1-0:99.1.0*255", 2, 1, params)
    assert raw == unhexlify(GET_RANGE)
    q = get_server.parse_get_request(raw)
    d = q.descriptor
    assert d.selector == 1 and d.params == params and d.obis_text == "1-0:99.1.0*255"
    restricting, f, t, cols = axdr.decode_whole(d.params)
    assert restricting == (8, bytes((0, 0, 1, 0, 0, 255)), 2, 0) and cols == []
    assert cosem.DateTime(f).text == "2022-01-01 00:00:00" and cosem.DateTime(t).deviation is None
    ent = apdu_get.build_get_normal(2, 7, "1-0:99.1.0*255", 2, 2, cosem.entry_descriptor(1, 10))
    e = get_server.parse_get_request(ent).descriptor
    assert e.selector == 2 and axdr.decode_whole(e.params) == (1, 10, 1, 0)


def test_get_responses_both_ways():
    ok = unhexlify("C4 01 C1 00 06 00 00 13 91")
    assert get_server.build_get_response_normal(1, axdr_encode.enc_uint32(5009)) == ok
    r = apdu_get.parse_get_response(ok)
    assert r.kind == "normal" and r.invoke_id == 1 and r.error is None
    assert axdr.decode_whole(r.data) == 5009 and r.check() is r
    err = unhexlify("C4 01 C1 01 01")
    assert get_server.build_get_response_error(1, 1) == err
    r = apdu_get.parse_get_response(err)
    assert r.error == 1 and r.data is None
    e = raises(dar.AccessRefused, r.check, "1-0:1.8.0*255", 2)
    assert e.dar == 1 and "hardware-fault (1)" in str(e)
    e = dar.dar_error(3, "1-0:1.8.0*255", 2)
    assert isinstance(e, Refused)
    assert str(e) == ("meter refused 1-0:1.8.0*255 attribute 2: read-write-denied (3) \u2014 "
                      "this client/password may not read it")
    assert "object-undefined (4)" in str(dar.dar_error(4)) and "unknown result (77)" in str(dar.dar_error(77))


def test_block_responses():
    payload = bytes(range(256)) * 5
    raw = payload[:0x049E]
    blk = get_server.build_get_response_block(1, False, 1, raw)
    assert blk[:12] == unhexlify("C4 02 C1 00 00 00 00 01 00 82 04 9E")  # the u9n header
    r = apdu_get.parse_get_response(blk)
    assert (r.kind, r.last, r.block_no, r.raw) == ("block", False, 1, raw)
    last = apdu_get.parse_get_response(get_server.build_get_response_block(1, True, 2, b"\x01\x02"))
    assert last.last and last.block_no == 2 and last.raw == b"\x01\x02"
    bad = apdu_get.parse_get_response(get_server.build_get_response_block(1, True, 3, 19))
    assert bad.error == 19 and "block number" in str(raises(Refused, bad.check))
    raises(DecodeError, apdu_get.parse_get_response, blk[:-1])


def test_list_responses():
    results = [axdr_encode.enc_visible("ISK1030775213859"), 4, axdr_encode.enc_octets(bytes(12))]
    raw = get_server.build_get_response_list(1, results)
    assert raw[:4] == unhexlify("C4 03 C1 03")
    r = apdu_get.parse_get_response(raw)
    assert r.kind == "list" and r.items == results
    raises(DecodeError, apdu_get.parse_get_response, raw + b"\x00")


def test_sn_read_both_ways():
    req = sn.build_read_request([0xFA08, (0x6230, 1, cosem.entry_descriptor(1, 2))])
    assert req[:5] == unhexlify("05 02 02 FA 08")
    items = sn.parse_read_request(req)
    assert items[0] == (0xFA08, None, b"") and items[1][0] == 0x6230 and items[1][1] == 1
    assert axdr.decode_whole(items[1][2]) == (1, 2, 1, 0)
    resp = sn.build_read_response([axdr_encode.enc_uint32(5009), 3])
    assert resp == unhexlify("0C 02 00 06 00 00 13 91 01 03")
    assert sn.parse_read_response(resp) == [axdr_encode.enc_uint32(5009), 3]
    blk = sn.parse_read_response(unhexlify("0C 01 02 00 00 01 03 AA BB CC"))
    assert blk == [("block", False, 1, b"\xaa\xbb\xcc")]
    assert sn.sn_attribute(0xFA00, 2) == 0xFA08


def test_decoders_fed_whole_only_accept_the_whole_apdu():
    # APDUs arrive whole from the link layer; every cut or extra byte is a DecodeError.
    for hexs, fn in ((GET_180, get_server.parse_get_request), (GET_LIST, get_server.parse_get_request),
                     (GET_RANGE, get_server.parse_get_request), ("C4 01 C1 00 06 00 00 13 91", apdu_get.parse_get_response),
                     (AARE_OK, apdu_acse.parse_aare), (AARQ_LLS, acse_server.parse_aarq)):
        raw = unhexlify(hexs)
        fn(raw)
        for cut in range(len(raw)):
            raises(DecodeError, fn, raw[:cut])
        raises(DecodeError, fn, raw + b"\x00")


def _fuzz(fn, buf):
    try:
        fn(buf)
    except DecodeError:
        pass
    except Refused:
        pass  # exception-response APDUs inside the noise are a legitimate answer


def test_random_and_mutated_apdus_only_defined_errors():
    rng = Rng(77)
    seeds = [unhexlify(x) for x in (AARQ_LOWEST, AARQ_LLS, AARE_OK, GET_180, GET_NEXT, GET_LIST, GET_RANGE,
                                     "C4 01 C1 00 06 00 00 13 91", "C4 02 C1 01 00 00 00 02 00 02 01 02",
                                     "C4 03 C1 02 00 11 05 01 03", "0C 02 00 06 00 00 13 91 01 03",
                                     "05 02 02 FA 08 04 62 30 02 00", "62 03 80 01 00", "D8 01 05 00 00 00 07")]
    parsers = (acse_server.parse_aarq, apdu_acse.parse_aare, get_server.parse_get_request, apdu_get.parse_get_response,
               acse_server.parse_rlrq, acse_server.parse_rlre, dar.parse_exception, sn.parse_read_request,
               sn.parse_read_response, apdu_initiate.parse_initiate)
    for i in range(400):
        buf = bytearray(seeds[rng.below(len(seeds))])
        for _ in range(1 + rng.below(3)):
            buf[rng.below(len(buf))] = rng.below(256)
        if rng.below(3) == 0:
            buf = buf[:rng.below(len(buf) + 1)]
        for fn in parsers:
            _fuzz(fn, bytes(buf))
    for i in range(300):
        n = rng.below(20)
        buf = bytes(rng.below(256) for _ in range(n))
        lead = (0x60, 0x61, 0x62, 0x63, 0xC0, 0xC4, 0xD8, 0x05, 0x0C, 0x01, 0x08)[rng.below(11)]
        for fn in parsers:
            _fuzz(fn, bytes((lead,)) + buf)

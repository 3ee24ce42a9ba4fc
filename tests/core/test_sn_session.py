# Short names for the DLMS client (meterproto.dlms.sn_session): READ requests from the
# client's (class, obis, attr) plan, and READ answers in the shape of GET answers.
from meterproto.dlms import sn_session
from meterproto.errors import DecodeError


def _names():
    n = sn_session.ShortNames()
    n.learn({"base_name": 0xA0, "class_id": 3, "version": 0, "obis": "1-0:1.8.0*255"})
    n.learn({"base_name": 0x138, "class_id": 7, "version": 1, "obis": "1-0:99.1.0*255"})
    return n


def test_attributes_map_to_base_plus_eight_per_attribute():
    n = _names()
    assert n.name(3, "1-0:1.8.0*255", 2) == 0xA8
    assert n.name(3, "1-0:1.8.0*255", 3) == 0xB0
    assert n.name(15, "0-0:40.0.0*255", 2) == 0xFA08  # the SN association's object list
    try:
        n.name(3, "1-0:2.8.0*255", 2)
    except DecodeError as e:
        assert "1-0:2.8.0*255" in str(e)
    else:
        raise AssertionError("an object without a base name was read")


def test_read_request_with_list_and_parameterized_access():
    n = _names()
    assert n.request([(3, "1-0:1.8.0*255", 2), (3, "1-0:1.8.0*255", 3)]) == \
        bytes.fromhex("0502" "0200a8" "0200b0")
    assert n.request([(7, "1-0:99.1.0*255", 2, 1, b"\x01\x00")]) == \
        bytes.fromhex("0501" "040140" "01" "0100")
    assert sn_session.next_block(2) == bytes.fromhex("05010500" "02")


def test_read_answers_as_get_answers():
    r = sn_session.response(bytes.fromhex("0c0100" "060000012c"), 1)
    assert r.kind == "normal" and r.data == bytes.fromhex("060000012c") and r.error is None
    r = sn_session.response(bytes.fromhex("0c010103"), 1)
    assert r.kind == "normal" and r.error == 3
    r = sn_session.response(bytes.fromhex("0c02" "00" "1101" "0104"), 2)
    assert r.kind == "list" and r.items == [bytes.fromhex("1101"), 4]
    r = sn_session.response(bytes.fromhex("0c01" "02" "00" "0001" "03" "010203"), 1)
    assert r.kind == "block" and not r.last and r.block_no == 1
    assert r.raw == bytes.fromhex("010203")
    try:
        sn_session.response(bytes.fromhex("c401c100" "1101"), 1)
    except DecodeError as e:
        assert "a GET response" in str(e) and "C4 01" in str(e)
    else:
        raise AssertionError("a GET answer taken for a READ answer")

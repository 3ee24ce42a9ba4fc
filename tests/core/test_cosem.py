# COSEM model helpers: exact scaling, units, date-time, object_list, capture objects,
# selective-access descriptors (both runtimes).
from irprobe.sim.rng import Rng
from meterproto.dlms import axdr
from irprobe.sim import axdr_encode
from meterproto.dlms import cosem, cosem_text, sn
from meterproto.compat import unhexlify
from meterproto.errors import DecodeError, LocalProtocolError
from core_checks import raises


def test_apply_scaler_is_exact_text():
    cases = [((58276, -3), "58.276"), ((12, 2), "1200"), ((-5, -3), "-0.005"), ((58270, -3), "58.270"),
             ((0, -2), "0.00"), ((-1200, -2), "-12.00"), ((7, 0), "7"), ((123, -1), "12.3"),
             ((0, 3), "0"), ((18446744073709551615, -3), "18446744073709551.615"), ((-1, 0), "-1")]
    for (v, s), want in cases:
        assert cosem.apply_scaler(v, s) == want, (v, s)
    raises(LocalProtocolError, cosem.apply_scaler, "12", 1)
    assert cosem.shift_decimal("58.276", -3) == "0.058276"
    assert cosem.shift_decimal("-0.5", 1) == "-5"
    assert cosem.shift_decimal("-0.00", 1) == "0.0"


def test_scaler_unit_and_units():
    # IEC 62056-6-2 register, worked example: 58276 Wh, scaler 0 -> 58.276 kWh
    su = cosem.parse_scaler_unit(unhexlify("02 02 0F 00 16 1E"))
    assert su == (0, 30)
    assert cosem_text.scaled_reading(58276, su[0], su[1]) == ("58.276", "kWh")
    assert cosem_text.scaled_reading(58276, 0, 30, kilo=False) == ("58276", "Wh")
    assert cosem_text.scaled_reading(2301, -1, 35) == ("230.1", "V")
    assert cosem.parse_scaler_unit((0xFE, 33)) == (-2, 33)
    assert cosem.unit_text(255) == "" and cosem.unit_text(44) == "Hz" and cosem.unit_text(200) == "unit 200"
    raises(DecodeError, cosem.parse_scaler_unit, unhexlify("02 01 0F 00"))
    assert cosem_text.class_name(7) == "profile generic" and cosem_text.class_name(999) == "class 999"


def test_datetime_decode_and_encode():
    # AM550 push 2021-11-02 21:51, CET winter: deviation -60 = FF C4 (IEC 62056-6-2 date-time deviation)
    d = cosem.decode_datetime(unhexlify("07 E5 0B 02 02 15 33 00 FF FF C4 00"))
    assert d.text == "2021-11-02 21:51:00" and d.deviation == -60 and d.status == 0 and not d.dst
    assert d.iso == "2021-11-02T21:51:00+01:00" and d.weekday == 2
    assert d.to_dict() == {"time": "2021-11-02 21:51:00", "deviation": -60, "status": 0, "dst": False}
    raw = cosem.encode_datetime(2022, 1, 1, 0, 0, 0)
    assert raw == unhexlify("07 E6 01 01 FF 00 00 00 FF 80 00 FF")
    assert cosem.DateTime(raw).text == "2022-01-01 00:00:00" and cosem.DateTime(raw).deviation is None
    dst = cosem.DateTime(cosem.encode_datetime(2022, 7, 1, 12, 30, 5, 25, deviation=-120, status=0x80))
    assert dst.dst and dst.text == "2022-07-01 12:30:05.25" and dst.iso.endswith("+02:00")
    assert cosem.DateTime(unhexlify("FF FF FF FF FF 17 FF FF FF 80 00 FF")).text == "****-**-** 23:**:**"
    raises(DecodeError, cosem.decode_datetime, bytes(11))
    raises(LocalProtocolError, cosem.encode_datetime, 2022, 300)


OBJECT_LIST = axdr_encode.enc_array([
    axdr_encode.enc_struct([axdr_encode.enc_uint16(3), axdr_encode.enc_uint8(0), axdr_encode.enc_octets(bytes((1, 0, 1, 8, 0, 255))),
                     axdr_encode.enc_struct([
                         axdr_encode.enc_array([
                             axdr_encode.enc_struct([axdr_encode.enc_int8(1), axdr_encode.enc_enum(1), axdr_encode.enc_null()]),
                             axdr_encode.enc_struct([axdr_encode.enc_int8(2), axdr_encode.enc_enum(1), axdr_encode.enc_null()]),
                             axdr_encode.enc_struct([axdr_encode.enc_int8(3), axdr_encode.enc_enum(0), axdr_encode.enc_null()])]),
                         axdr_encode.enc_array([axdr_encode.enc_struct([axdr_encode.enc_int8(1), axdr_encode.enc_bool(False)])])])]),
    axdr_encode.enc_struct([axdr_encode.enc_uint16(7), axdr_encode.enc_uint8(1), axdr_encode.enc_octets(bytes((1, 0, 99, 1, 0, 255))),
                     axdr_encode.enc_struct([
                         axdr_encode.enc_array([
                             axdr_encode.enc_struct([axdr_encode.enc_int8(2), axdr_encode.enc_enum(1),
                                              axdr_encode.enc_array([axdr_encode.enc_int8(1), axdr_encode.enc_int8(2)])])]),
                         axdr_encode.enc_array([])])]),
])


def test_object_list_parsing():
    objs = cosem.parse_object_list(OBJECT_LIST)
    assert objs[0] == {"obis": "1-0:1.8.0*255", "class_id": 3, "version": 0,
                       "attributes": [{"id": 1, "access": 1, "selectors": None},
                                      {"id": 2, "access": 1, "selectors": None},
                                      {"id": 3, "access": 0, "selectors": None}],
                       "methods": [{"id": 1, "access": 0}]}
    assert objs[1]["attributes"][0]["selectors"] == [1, 2] and objs[1]["methods"] == []
    assert cosem.readable(objs[0], 2) and not cosem.readable(objs[0], 3) and not cosem.readable(objs[0], 9)
    # already decoded values work too
    assert cosem.parse_object_list(axdr.decode_whole(OBJECT_LIST)) == objs
    raises(DecodeError, cosem.parse_object_list, axdr_encode.enc_uint8(1))
    raises(DecodeError, cosem.parse_object_list, axdr_encode.enc_array([axdr_encode.enc_struct([axdr_encode.enc_uint8(1)])]))
    sn_list = axdr_encode.enc_array([axdr_encode.enc_struct([axdr_encode.enc_int16(-1536), axdr_encode.enc_uint16(12), axdr_encode.enc_uint8(0),
                                          axdr_encode.enc_octets(bytes((0, 0, 40, 0, 0, 255)))])])
    assert sn.parse_object_list_sn(sn_list) == [{"base_name": 0xFA00, "class_id": 12, "version": 0,
                                               "obis": "0-0:40.0.0*255"}]


def test_capture_objects_and_descriptors():
    co = axdr_encode.enc_array([cosem.capture_object(8, "0-0:1.0.0*255", 2, 0),
                         cosem.capture_object(3, "1-0:1.8.0*255", 2, 0)])
    assert cosem.parse_capture_objects(co) == [
        {"class_id": 8, "obis": "0-0:1.0.0*255", "attr": 2, "data_index": 0},
        {"class_id": 3, "obis": "1-0:1.8.0*255", "attr": 2, "data_index": 0}]
    assert cosem.capture_object(8, "0-0:1.0.0*255", 2) == unhexlify("02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00")
    assert cosem.entry_descriptor(1, 0) == unhexlify("02 04 06 00 00 00 01 06 00 00 00 00 12 00 01 12 00 00")
    f = cosem.DateTime(cosem.encode_datetime(2022, 1, 1, 0, 0, 0))
    rd = cosem.range_descriptor(f, f.raw, selected=[cosem.capture_object(3, "1-0:1.8.0*255", 2)])
    v = axdr.decode_whole(rd)
    assert v[1] == f.raw and v[3][0][1] == bytes((1, 0, 1, 8, 0, 255))
    raises(LocalProtocolError, cosem.range_descriptor, b"x", f)
    raises(DecodeError, cosem.parse_capture_objects, axdr_encode.enc_array([axdr_encode.enc_uint8(1)]))


def test_value_text():
    t = axdr.decode_whole
    assert cosem.value_text(t(axdr_encode.enc_visible("ISK123"), True)) == "ISK123"
    assert cosem.value_text(t(axdr_encode.enc_octets(b"\x01\x02"), True)) == "0102"
    assert cosem.value_text(t(axdr_encode.enc_octets(unhexlify("07 E5 0B 02 02 15 33 00 FF FF C4 00")), True)) == "2021-11-02 21:51:00"
    assert cosem.value_text(t(unhexlify("02 02 0F FE 16 1B"), True)) == "[-2, 27]"
    assert cosem.value_text(t(unhexlify("04 0A A0 C0"), True)) == "1010000011"
    assert cosem.value_text(t(unhexlify("17 3F C0 00 00"), True)) == "1.5"
    assert cosem.value_text((axdr.BOOLEAN, True)) == "true" and cosem.value_text((axdr.NULL, None)) == ""


def test_parsers_survive_random_values():
    rng = Rng(99)
    base = bytearray(OBJECT_LIST)
    for _ in range(300):
        buf = bytearray(base)
        for _ in range(1 + rng.below(3)):
            buf[rng.below(len(buf))] = rng.below(256)
        for fn in (cosem.parse_object_list, cosem.parse_capture_objects, sn.parse_object_list_sn,
                   cosem.parse_scaler_unit):
            try:
                fn(bytes(buf))
            except DecodeError:
                pass

# Home Assistant discovery/state payloads (meterproto.hass); runs on CPython and MicroPython.
import json

from meterproto import hass

READING = {
    "meter": {"id": "12345678", "manufacturer": None, "ident": "/ISK5MT174-0001"},
    "protocol": "iec62056-21",
    "values": [
        {"obis": "1-0:1.8.0*255", "value": "001234.567", "unit": "kWh"},
        {"obis": "1.8.1", "value": "000100.100", "unit": "kWh"},
        {"obis": "3.8.0", "value": "0000042.0", "unit": "kvarh"},
        {"obis": "1.7.0", "value": "00.512", "unit": "kW"},
        {"obis": "32.7.0", "value": "230.1", "unit": "V"},
        {"obis": "31.7.0", "value": "1.25", "unit": "A"},
        {"obis": "14.7.0", "value": "50.00", "unit": "Hz"},
        {"obis": "0.9.1", "value": "17:03:31", "unit": None},
        {"obis": "bad'obis", "value": "1", "unit": "kWh"},
        {"obis": "a b", "value": "1", "unit": "kWh"},
        {"obis": "x}}{{", "value": "1", "unit": "kWh"},
        {"obis": "F.F", "value": "00000000", "unit": None},
    ],
}


def _by_name(cfgs):
    return {p["value_template"].split("'")[1] if "'" in p["value_template"] else p["name"]:
            (t, p) for t, p in cfgs}


def test_one_sensor_per_register_with_kind_and_unit():
    cfgs = _by_name(hass.configs(READING, "E6614103E7", "0.1.0"))
    t, p = cfgs["1-0:1.8.0*255"]
    assert t == "homeassistant/sensor/irprobe_meter_12345678_1_0_1_8_0_255/1_0_1_8_0_255/config"
    assert p["device_class"] == "energy"
    assert p["state_class"] == "total_increasing"
    assert p["unit_of_measurement"] == "kWh"
    assert p["qos"] == 1
    assert cfgs["3.8.0"][1]["device_class"] == "reactive_energy"
    assert cfgs["3.8.0"][1]["unit_of_measurement"] == "kvarh"
    assert cfgs["3.8.0"][1]["state_class"] == "total_increasing"
    assert cfgs["1.7.0"][1]["device_class"] == "power"
    assert cfgs["1.7.0"][1]["state_class"] == "measurement"
    assert cfgs["32.7.0"][1]["device_class"] == "voltage"
    assert cfgs["31.7.0"][1]["device_class"] == "current"
    assert cfgs["14.7.0"][1]["unit_of_measurement"] == "Hz"
    # a register without a unit is a plain text sensor: no class HA would try to chart
    p = cfgs["0.9.1"][1]
    assert "device_class" not in p and "state_class" not in p and "unit_of_measurement" not in p
    # an OBIS text that could break the value template is left out
    assert "bad'obis" not in cfgs
    assert "a b" not in cfgs and "x}}{{" not in cfgs
    assert "F.F" in cfgs  # an IEC error register: a text sensor
    # probe device + 9 registers
    assert len(cfgs) == 10


def test_meter_device_linked_to_probe():
    cfgs = hass.configs(READING, "E6614103E7", "0.1.0")
    probe = cfgs[0][1]["device"]
    assert probe["identifiers"] == ["irprobe_probe_e6614103e7"]
    assert probe["sw_version"] == "0.1.0"
    dev = cfgs[1][1]["device"]
    assert dev["serial_number"] == "12345678"
    assert dev["manufacturer"] == "ISK"  # FLAG code of the identification
    assert dev["model"] == "/ISK5MT174-0001"
    assert dev["via_device"] == probe["identifiers"][0]
    # every register sensor of one meter shares one device and one state topic
    assert len(set(p["state_topic"] for _, p in cfgs[1:])) == 1
    assert len(set(p["unique_id"] for _, p in cfgs)) == len(cfgs)


def test_state_keeps_decimal_text_exactly():
    s = hass.state(READING, 7, 1764003811)
    assert s["1-0:1.8.0*255"] == "001234.567"
    assert s["3.8.0"] == "0000042.0"
    assert s["seq"] == 7
    assert s["time"] == "2025-11-24T17:03:31+00:00"
    again = json.loads(json.dumps(s))
    assert again["1-0:1.8.0*255"] == "001234.567"
    # the template of each sensor names a key the state holds
    for _, p in hass.configs(READING, "p")[1:]:
        key = p["value_template"].split("'")[1]
        assert key in s


def test_iso_utc_calendar():
    assert hass.iso_utc(0) == "1970-01-01T00:00:00+00:00"
    assert hass.iso_utc(951782400) == "2000-02-29T00:00:00+00:00"
    assert hass.iso_utc(4102444799) == "2099-12-31T23:59:59+00:00"


def test_friendly_names():
    assert hass.name_of("1-0:1.8.0*255") == "Energy import (1-0:1.8.0*255)"
    assert hass.name_of("1.8.2") == "Energy import tariff 2 (1.8.2)"
    assert hass.name_of("32.7.0") == "Voltage L1 (32.7.0)"
    assert hass.name_of("0.9.1") == "0.9.1"
    assert hass.name_of("C.1.0") == "C.1.0"


def test_manufacturer_prefers_reading():
    assert hass.manufacturer_of({"manufacturer": "Landis+Gyr", "ident": "/LGZ5"}) == "Landis+Gyr"
    assert hass.manufacturer_of({"ident": "x"}) is None
    assert hass.register_kind("1.8.0", "KWH")[0] == "kWh"
    assert hass.register_kind("1.9.0", "kWh")[2] == "total"

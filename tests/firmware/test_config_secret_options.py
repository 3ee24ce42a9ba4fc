# The Pico W logger's Wi-Fi and MQTT passwords are options, and write-only like meter passwords
# (probe.config.SECRET_OPTIONS): the host only ever sees "***", and "***" keeps the stored value.
from irprobe.sim.simflash import SimFlash
from probe.config import MASK, Config


def test_wifi_and_mqtt_passwords_are_write_only():
    fs = SimFlash()
    c = Config(fs).load()
    shown = c.apply({"set": {"options": {"interval_s": 300, "wifi_ssid": "home",
                                         "wifi_password": "wifi-secret",
                                         "mqtt_host": "192.0.2.10", "mqtt_user": "probe",
                                         "mqtt_password": "mqtt-secret"}}})
    o = shown["options"]
    assert o["wifi_password"] == MASK and o["mqtt_password"] == MASK
    assert o["wifi_ssid"] == "home" and o["interval_s"] == 300
    assert "secret" not in repr(shown)
    # Saved for real; reloading still masks them for the host, keeps them for the uplink.
    again = Config(fs).load()
    assert again.data["options"]["wifi_password"] == "wifi-secret"
    assert "secret" not in repr(again.masked())
    # The host echoes back what it saw: "***" keeps the secret, a new value replaces it.
    again.apply({"set": {"options": {"wifi_password": MASK, "mqtt_password": "new-one"}}})
    assert again.data["options"]["wifi_password"] == "wifi-secret"
    assert again.data["options"]["mqtt_password"] == "new-one"
    again.apply({"set": {"options": {"mqtt_password": ""}}})
    assert again.data["options"].get("mqtt_password") is None
    assert again.masked()["options"].get("mqtt_password") is None


def test_secret_option_too_long_refused():
    import pytest
    from probe.config_rules import ConfigError

    c = Config(SimFlash()).load()
    with pytest.raises(ConfigError, match="wifi_password must be text of at most 64"):
        c.apply({"set": {"options": {"wifi_password": "x" * 65}}})
    assert c.data["options"] == {}


def test_the_config_rules_are_let_go_after_a_change_on_the_probe():
    # On MicroPython the rules' code is heap the next read needs (issue 12): a change loads
    # them, and they go again, also when the change is refused. CPython keeps them (the host
    # shares their ConfigError class).
    import sys

    from meterproto import compat

    saved = sys.modules.get("probe.config_rules")
    was = compat.MICROPYTHON
    compat.MICROPYTHON = True
    try:
        c = Config(SimFlash()).load()
        c.apply({"set": {"options": {"interval_s": 600}}})
        assert "probe.config_rules" not in sys.modules
        assert c.data["options"]["interval_s"] == 600
        try:
            c.apply({"set": {"options": {"interval_s": -1}}})
        except ValueError:
            pass
        assert "probe.config_rules" not in sys.modules
        assert c.data["options"]["interval_s"] == 600
    finally:
        compat.MICROPYTHON = was
        if saved is not None:
            sys.modules["probe.config_rules"] = saved
            import probe

            probe.config_rules = saved

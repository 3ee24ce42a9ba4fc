# `irprobe read` removes our own echo by default (issue 4 part 1) and --no-echo-filter turns
# that off; checked at the seam where the command hands the session to the driver.
import pytest

from irprobe import cli


class _Port:
    def __init__(self, name, time_scale=1.0):
        self.name = name

    def close(self):
        pass


class _Reading:
    def to_dict(self):
        return {"meter": {}, "protocol": "iec62056-21", "values": []}


@pytest.mark.parametrize("extra,want_filter", [((), True), (("--no-echo-filter",), False)])
def test_read_passes_an_echo_filter_unless_told_not_to(monkeypatch, capsys, extra, want_filter):
    import irprobe.serialport
    import meterproto.driver
    from meterproto.echo import EchoFilter

    seen = {}

    def fake_run(machine, port, echo=None, trace=None):
        seen["echo"] = echo
        return _Reading()

    monkeypatch.setattr(irprobe.serialport, "SerialPort", _Port)
    monkeypatch.setattr(meterproto.driver, "run", fake_run)
    rc = cli.main(["read", "--port", "/dev/null-head", "--mode", "iec", "--json", *extra])
    assert rc == 0
    if want_filter:
        assert isinstance(seen["echo"], EchoFilter) and seen["echo"].enabled
    else:
        assert seen["echo"] is None

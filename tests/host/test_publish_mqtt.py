# irprobe publish / sync --publish against a real MQTT broker (tests/host/servers.py): retained
# Home Assistant discovery, exact decimal values, QoS 1, once per broker, TLS with client certs.
import json

import pytest
from irprobe import cli
from irprobe.db import Store
from servers import Listener

READING = {
    "meter": {"id": "73910422", "manufacturer": None, "ident": "/ISK5MT174-0001"},
    "protocol": "iec62056-21",
    "mode": "C",
    "baud": 9600,
    "values": [
        {"obis": "1.8.0", "value": "001234.567", "unit": "kWh"},
        {"obis": "2.8.0", "value": "000010.000", "unit": "kWh"},
        {"obis": "1.7.0", "value": "00.512", "unit": "kW"},
        {"obis": "32.7.0", "value": "230.1", "unit": "V"},
    ],
}


def _reading(kwh):
    r = json.loads(json.dumps(READING))
    r["values"][0]["value"] = kwh
    return r


def _db(tmp_path, n=3, first=1):
    path = str(tmp_path / "r.sqlite")
    with Store(path) as s:
        s.add_records(
            "E6614103E7",
            [(seq, 1764003811 + 60 * seq, _reading("%010.3f" % (1234.5 + seq)), None)
             for seq in range(first, first + n)],
        )
    return path


@pytest.fixture
def listener(mqtt_broker):
    lis = Listener(mqtt_broker, "irprobe/#")
    yield lis
    lis.close()


def test_publish_once_with_retained_discovery(mqtt_broker, listener, tmp_path, capsys):
    db = _db(tmp_path)
    assert cli.main(["publish", "--db", db, "--broker", mqtt_broker.url,
                     "--discovery-prefix", "t1"]) == 0
    assert "published 3 readings and 5 discovery configs" in capsys.readouterr().out
    assert listener.wait_for(lambda: len(listener.messages("irprobe/73910422/")) == 3)
    states = [json.loads(p) for _, p, _ in listener.messages("irprobe/73910422/state")]
    assert [s["seq"] for s in states] == [1, 2, 3]  # oldest first: HA ends on the newest
    assert states[0]["1.8.0"] == "001235.500"  # the meter's text, leading zeros and all
    assert states[2]["32.7.0"] == "230.1"
    # A client arriving later gets the discovery configs from the broker (retained).
    late = Listener(mqtt_broker, "t1/#")
    try:
        assert late.wait_for(lambda: len(set(t for t, _, _ in late.messages())) == 5)
        cfgs = {t: json.loads(p) for t, p, retained in late.messages() if retained}
    finally:
        late.close()
    assert len(cfgs) == 5
    energy = [c for c in cfgs.values() if c.get("name") == "Energy import (1.8.0)"][0]
    assert energy["device_class"] == "energy" and energy["state_class"] == "total_increasing"
    assert energy["unit_of_measurement"] == "kWh"
    assert energy["device"]["serial_number"] == "73910422"
    assert energy["device"]["manufacturer"] == "ISK"
    assert energy["device"]["via_device"] == "irprobe_probe_e6614103e7"
    assert energy["state_topic"] == "irprobe/73910422/state"
    probe = [c for c in cfgs.values() if c["device"]["identifiers"] == ["irprobe_probe_e6614103e7"]]
    assert probe and probe[0]["device_class"] == "timestamp"

    # Again: nothing is new, nothing goes out.
    before = len(listener.messages())
    assert cli.main(["publish", "--db", db, "--broker", mqtt_broker.url,
                     "--discovery-prefix", "t1"]) == 0
    assert "published 0 readings and 0 discovery configs; 3 readings were already" in (
        capsys.readouterr().out
    )
    with Store(db) as s:
        s.add_records("E6614103E7", [(4, 1764004100, _reading("001300.000"), None)])
    assert cli.main(["publish", "--db", db, "--broker", mqtt_broker.url,
                     "--discovery-prefix", "t1"]) == 0
    assert "published 1 readings and 0 discovery configs" in capsys.readouterr().out
    assert listener.wait_for(lambda: len(listener.messages()) == before + 2)
    new = [json.loads(p) for _, p, _ in listener.messages()[before:]]
    assert new[0] == {"seq": 4, "time": "2025-11-24T17:08:20+00:00", "1.8.0": "001300.000",
                      "2.8.0": "000010.000", "1.7.0": "00.512", "32.7.0": "230.1"}
    assert new[1] == {"time": "2025-11-24T17:08:20+00:00"}  # the probe's last reading
    with Store(db) as s:
        n = s.conn.execute("SELECT COUNT(*) FROM published").fetchone()[0]
    assert n == 4


def test_tls_with_client_certificate(mqtt_broker, listener, tmp_path, capsys):
    db = _db(tmp_path, 1)
    pki = mqtt_broker.pki
    args = ["publish", "--db", db, "--broker", mqtt_broker.tls_url, "--ca", pki["ca_pem"],
            "--discovery-prefix", "t2"]
    # A certificate from another CA: the broker refuses the handshake; nothing is recorded.
    assert cli.main(args + ["--cert", pki["rogue_pem"], "--key", pki["rogue_key"]]) == 2
    err = capsys.readouterr().err
    assert "irprobe publish:" in err and "Traceback" not in err
    with Store(db) as s:
        assert s.conn.execute("SELECT COUNT(*) FROM published").fetchone()[0] == 0
    assert cli.main(args + ["--cert", pki["client_pem"], "--key", pki["client_key"]]) == 0
    assert "published 1 readings" in capsys.readouterr().out
    assert listener.wait_for(lambda: listener.messages("irprobe/73910422/state"))


def test_tls_untrusted_broker_and_bad_password(mqtt_broker, tmp_path, capsys):
    db = _db(tmp_path, 1)
    assert cli.main(["publish", "--db", db, "--broker", mqtt_broker.tls_url]) == 2
    assert "certificate" in capsys.readouterr().err
    bad = mqtt_broker.url.replace(":s3cret-pw@", ":wrong@")
    assert cli.main(["publish", "--db", db, "--broker", bad]) == 2
    err = capsys.readouterr().err
    assert "user name or password" in err or "not authorised" in err
    assert cli.main(["publish", "--db", db, "--broker", "http://x"]) == 2
    assert "not a broker address" in capsys.readouterr().err
    assert cli.main(["publish", "--db", db, "--broker", "mqtt://127.0.0.1:1"]) == 2
    assert "cannot reach the broker" in capsys.readouterr().err
    assert cli.main(["publish", "--db", db, "--broker", mqtt_broker.url,
                     "--discovery-prefix", "ha/#"]) == 2
    assert "cannot be an MQTT topic prefix" in capsys.readouterr().err


def test_password_from_environment(mqtt_broker, tmp_path, capsys, monkeypatch):
    db = _db(tmp_path, 1)
    monkeypatch.setenv("IRPROBE_MQTT_PASSWORD", "s3cret-pw")
    url = "mqtt://irprobe@127.0.0.1:%d" % mqtt_broker.port
    assert cli.main(["publish", "--db", db, "--broker", url, "--discovery-prefix", "t3"]) == 0
    assert "published 1 readings" in capsys.readouterr().out


def test_sync_then_publish(mqtt_broker, listener, tmp_path, capsys):
    from irprobe.sim.probe_sim import ProbeSim

    db = str(tmp_path / "r.sqlite")
    with ProbeSim("iskra-mt174", root=str(tmp_path / "probe")) as sim:
        sim.prefill(2)
        assert cli.main(["sync", "--port", sim.port, "--db", db,
                         "--publish", mqtt_broker.url, "--discovery-prefix", "t4"]) == 0
    out = capsys.readouterr().out
    assert "2 records pulled, 2 new" in out
    assert "published 2 readings" in out
    with Store(db) as s:
        assert s.conn.execute("SELECT COUNT(*) FROM published").fetchone()[0] == 2

# pytest on CPython: make the core (firmware/lib), the host package and the test helpers
# importable exactly as the board and the MicroPython runner see them.
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in (os.path.join(ROOT, "tests", "core"), os.path.join(ROOT, "host"), os.path.join(ROOT, "firmware", "lib")):
    if p not in sys.path:
        sys.path.insert(0, p)


# Session-scoped real servers (tests/host/servers.py): started once per test process, stopped at
# the end. A test that needs one is skipped, saying why, only where the server cannot be had.
import pytest  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests", "host"))  # servers.py, fake_board.py


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory):
    try:
        import amqtt  # noqa: F401
        import paho.mqtt  # noqa: F401
    except ImportError as e:
        pytest.skip("no MQTT broker here: %s (make venv installs amqtt and paho-mqtt)" % e)
    from servers import Broker

    b = Broker(str(tmp_path_factory.mktemp("broker"))).start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def pg_uri(tmp_path_factory):
    try:
        import pgserver  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as e:
        pytest.skip("no PostgreSQL server here: %s (make venv installs pgserver)" % e)
    from servers import start_postgres, stop_postgres

    srv, uri, folder = start_postgres()
    yield uri
    stop_postgres(srv, folder)


@pytest.fixture
def pg_db(pg_uri, request):
    """A fresh, empty database on the session's PostgreSQL server: its postgresql:// URL."""
    import re

    import psycopg

    name = "t_" + re.sub(r"[^a-z0-9]", "_", request.node.name.lower())[:40]
    with psycopg.connect(pg_uri, autocommit=True) as c:
        c.execute('DROP DATABASE IF EXISTS "%s"' % name)
        c.execute('CREATE DATABASE "%s"' % name)
    return re.sub(r"/postgres\?", "/%s?" % name, pg_uri, count=1)

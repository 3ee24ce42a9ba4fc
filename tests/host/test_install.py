# install against a simulated board: the MicroPython unix port behind a pty speaking the raw
# REPL (tests/host/fake_board.py). Covers compile, copy, SHA-256 verify, stale twins, the
# version refusals and the board that says nothing.
import hashlib
import subprocess
import sys
import os

import pytest
from fake_board import FakeBoard
from irprobe import cli, installer

FW = installer.firmware_dir()


def test_board_file_and_carrier():
    import json

    cfg = json.loads(installer.board_file("pico", carrier=True))
    assert cfg["carrier"]["enabled"] is True
    assert json.loads(installer.board_file("pico"))["carrier"]["enabled"] is False
    with pytest.raises(installer.InstallError, match="known boards: .*pico"):
        installer.board_file("nosuchboard")
    with pytest.raises(installer.InstallError, match="letters, digits"):
        installer.board_file("../../etc/passwd")


def test_check_board_rules():
    assert installer.check_board(("micropython", (1, 29, 0), 0xB06), (6, 3)) == "1.29.0"
    with pytest.raises(installer.InstallError, match="1.22.2; irprobe needs 1.24.0"):
        installer.check_board(("micropython", (1, 22, 2), 0x206), (6, 3))
    with pytest.raises(installer.InstallError, match="v6.2 but our mpy-cross makes v6.3"):
        installer.check_board(("micropython", (1, 30, 0), 0x206), (6, 3))
    with pytest.raises(installer.InstallError, match="runs circuitpython"):
        installer.check_board(("circuitpython", (9, 2, 0), 0x506), (6, 3))
    # --source skips the .mpy comparison
    assert installer.check_board(("micropython", (1, 30, 0), 0x206), None) == "1.30.0"


def test_build_compiles_with_pinned_mpy_cross(tmp_path):
    files = installer.build(FW, str(tmp_path))
    devs = [d for _, d in files]
    assert "/lib/meterproto/link/records.mpy" in devs
    assert not any(d.endswith(".py") and d.startswith("/lib/") for d in devs)
    for local, dev in files:
        if dev.endswith(".mpy"):
            assert open(local, "rb").read(2) == b"M\x06"
    assert installer.mpy_cross_version() == (6, 3)


def _tree_hashes(root):
    out = {}
    for d, _, fs in os.walk(root):
        for f in fs:
            p = os.path.join(d, f)
            out["/" + os.path.relpath(p, root)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


def snapshot(tmp_path):
    """Other work may change firmware/ while we run: install from a frozen copy."""
    import shutil

    dst = str(tmp_path / "fw")
    shutil.copytree(FW, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def test_install_copies_and_verifies(tmp_path):
    fw = snapshot(tmp_path)
    root = tmp_path / "flash"
    root.mkdir()
    # A stale .py from an earlier --source install would shadow the new .mpy.
    (root / "lib" / "meterproto" / "link").mkdir(parents=True)
    (root / "lib" / "meterproto" / "link" / "records.py").write_text("raise ImportError('stale')\n")
    # Left over from the flat layout before the core moved into packages, and a user's file.
    (root / "lib" / "meterproto" / "iec21_client.mpy").write_bytes(b"M\x06old")
    (root / "lib" / "meterproto" / "gone").mkdir()
    (root / "lib" / "meterproto" / "gone" / "x.mpy").write_bytes(b"M\x06old")
    (root / "lib" / "mine.py").write_text("X = 1\n")
    logs = []
    built = installer.build(fw, str(tmp_path / "b"))
    with FakeBoard(root) as b:
        res = installer.install(b.port, "pico", carrier=True, log=logs.append, src=fw)
        assert res["copied"] == res["files"] and res["micropython"].startswith("1.")
        assert not (root / "lib" / "meterproto" / "link" / "records.py").exists()
        assert "removed stale /lib/meterproto/link/records.py" in logs
        assert not (root / "lib" / "meterproto" / "iec21_client.mpy").exists()
        assert not (root / "lib" / "meterproto" / "gone").exists()
        assert (root / "lib" / "mine.py").exists()  # not in our folders: not ours to remove
        assert "removed 2 file(s) left over from an older version" in logs
        have = _tree_hashes(root)
        for local, dev in built:
            assert have[dev] == hashlib.sha256(open(local, "rb").read()).hexdigest(), dev
        assert b'"enabled": true' in (root / "board.json").read_bytes()
        # Second run: everything already matches, nothing is copied.
        res2 = installer.install(b.port, "pico", carrier=True, log=logs.append, built=built)
        assert res2["copied"] == 0
        assert b.resets >= 2


def test_install_source_mode_then_raw_repl_channel(tmp_path, capsys):
    root = tmp_path / "flash"
    root.mkdir()
    with FakeBoard(root) as b:
        installer.install(
            b.port, "xiao_rp2040", source=True, log=lambda m: None, src=snapshot(tmp_path)
        )
        assert (root / "lib" / "meterproto" / "link" / "records.py").exists()
        assert not (root / "lib" / "meterproto" / "link" / "records.mpy").exists()
        # No reader app runs on the unix port: sync reaches the installed command server
        # through the raw REPL (path B), and restarts the board afterwards.
        resets = b.resets
        assert cli.main(["sync", "--port", b.port, "--db", str(tmp_path / "r.sqlite")]) == 0
        assert "0 records pulled" in capsys.readouterr().out
        assert b.resets > resets
        # The probe's store lives on the board's own filesystem.
        assert (root / "data").is_dir()


def test_version_mismatch_refused_before_copying(tmp_path, capsys):
    root = tmp_path / "flash"
    root.mkdir()
    with FakeBoard(root, implementation=("micropython", (1, 22, 2), 0x206)) as b:
        rc = cli.main(["install", "--board", "pico", "--port", b.port])
    err = capsys.readouterr().err
    assert rc == 2
    assert "the board runs MicroPython 1.22.2; irprobe needs 1.24.0 or later" in err
    assert os.listdir(root) == []
    with FakeBoard(root, implementation=("micropython", (1, 30, 0), 0x206)) as b:
        rc = cli.main(["install", "--board", "pico", "--port", b.port])
    assert rc == 2 and "loads .mpy v6.2 but our mpy-cross makes v6.3" in capsys.readouterr().err
    assert os.listdir(root) == []


@pytest.mark.parametrize("mode", ["silent", "garbage"])
def test_no_micropython(tmp_path, capsys, mode):
    with FakeBoard(tmp_path, mode=mode) as b:
        rc = cli.main(["install", "--board", "pico", "--port", b.port, "--timeout", "0.5"])
    err = capsys.readouterr().err
    assert rc == 2
    assert (
        "no MicroPython answered on %s: is it flashed? hold BOOTSEL and use --uf2" % b.port in err
    )


def test_missing_port(tmp_path, capsys):
    rc = cli.main(["install", "--board", "pico", "--port", str(tmp_path / "ttyACM9")])
    assert rc == 2 and "cannot open" in capsys.readouterr().err


def test_mip_install_offline_from_package_json(tmp_path):
    """`mpremote mip install firmware/package.json` (offline, local files) onto the simulated
    board: every listed file lands byte for byte, and the firmware imports on the board."""
    import json
    import subprocess
    import sys

    fw = snapshot(tmp_path)
    manifest = json.load(open(os.path.join(fw, "package.json")))
    assert manifest["urls"] and "version" in manifest
    root = tmp_path / "flash"
    root.mkdir()
    mpremote = os.path.join(os.path.dirname(sys.executable), "mpremote")
    with FakeBoard(root) as b:
        r = subprocess.run(
            [
                mpremote,
                "connect",
                b.port,
                "mip",
                "install",
                "--target",
                "/",
                os.path.join(fw, "package.json"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        for dest, src in manifest["urls"]:
            local = open(os.path.join(fw, src), "rb").read()
            assert (root / dest).read_bytes() == local, dest
        t = installer.connect(b.port)
        try:
            installer.verify_imports(t)  # raises InstallError if the board cannot import them
        finally:
            t.close()


def test_pico_w_gets_pinned_umqtt_simple(tmp_path):
    """--board pico_w installs micropython-lib's umqtt.simple from its pinned release
    (requirements/micropython.txt, SHA-256 checked), compiled, and it imports on the board."""
    from irprobe import mpylib

    try:
        src = mpylib.module_source("umqtt.simple")
    except mpylib.LibError as e:
        pytest.skip("the pinned umqtt.simple release cannot be had here: %s" % e)
    assert b"class MQTTClient" in src
    root = tmp_path / "flash"
    root.mkdir()
    fw = snapshot(tmp_path)
    built = installer.build(fw, str(tmp_path / "b"))
    with FakeBoard(root) as b:
        res = installer.install(b.port, "pico_w", log=lambda m: None, built=built)
        assert res["files"] == len(built) + 2  # + umqtt/simple.mpy + board.json
        mpy = root / "lib" / "umqtt" / "simple.mpy"
        assert mpy.read_bytes()[:1] == b"M"  # a compiled .mpy, not the source
        assert not (root / "lib" / "umqtt" / "simple.py").exists()
    out = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "micropython"), "-c",
         "import sys; sys.path.insert(0, %r)\nfrom umqtt.simple import MQTTClient\n"
         "print(MQTTClient.__name__)" % str(root / "lib")],
        capture_output=True, text=True, timeout=30,
    )
    assert out.stdout.strip() == "MQTTClient", out.stderr


def test_tampered_micropython_lib_release_refused(tmp_path, monkeypatch):
    from irprobe import mpylib

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    table = mpylib.pins()
    _, _, filename, _ = table["umqtt.simple"]
    os.makedirs(mpylib.cache_dir())
    with open(os.path.join(mpylib.cache_dir(), filename), "wb") as f:
        f.write(b"not the release")
    # A damaged cache is not trusted: it is fetched again, or refused if it cannot be.
    monkeypatch.setattr(mpylib, "_get", lambda url, accept=None: (b"evil", "application/x-tar"))
    monkeypatch.setattr(mpylib, "_file_url", lambda package, filename: "x")
    with pytest.raises(installer.InstallError, match="does not match its pinned SHA-256"):
        installer.build_libs(["umqtt.simple"], str(tmp_path / "out"))

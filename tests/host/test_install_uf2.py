# install --uf2: the UF2 checks (RP2040 family, block structure, size) and the copy onto a
# folder that stands in for the RPI-RP2 drive, then the firmware install onto the board that
# "comes back" (the simulated MicroPython board on a pty).
import os
import struct

import pytest
from fake_board import FakeBoard
from irprobe import cli, uf2

INFO = "UF2 Bootloader v3.0\r\nModel: Raspberry Pi RP2\r\nBoard-ID: RPI-RP2\r\n"


def drive(tmp_path, name="RPI-RP2"):
    d = tmp_path / name
    d.mkdir()
    (d / "INFO_UF2.TXT").write_text(INFO)
    (d / "INDEX.HTM").write_text("<html></html>")
    return d


def test_check_accepts_a_good_image():
    img = uf2.make(os.urandom(256 * 40 + 17))
    info = uf2.check(img)
    assert info == {
        "blocks": 41,
        "payload": 256 * 40 + 17,
        "start": 0x10000000,
        "end": 0x10000000 + 256 * 40 + 17,
    }


def _block(img, i):
    return bytearray(img[i * 512 : (i + 1) * 512])


@pytest.mark.parametrize(
    "mutate,msg",
    [
        (lambda img: b"", "empty"),
        (lambda img: img[:-100], "not a whole number of 512-byte"),
        (lambda img: img[:-512], "holds 3 of its 4 blocks"),
        (lambda img: b"\0" * 4 + img[4:], "no UF2 magic"),
        (
            lambda img: uf2.make(b"x" * 1000, family=0xADA52840),
            r"for another chip \(family id 0xADA52840\)",
        ),
        (lambda img: uf2.make(b"x" * 1000, base=0x20000000), "outside the RP2040's flash"),
        (lambda img: img[:512] + img[:512] + img[1024:], "appears twice"),
        (lambda img: img + img[:512], "appears twice"),
    ],
)
def test_check_refuses_bad_images(mutate, msg):
    img = uf2.make(b"y" * 1000)
    with pytest.raises(uf2.UF2Error, match=msg):
        uf2.check(mutate(img))


def test_check_refuses_absurd_payload_size():
    img = bytearray(uf2.make(b"z" * 300))
    struct.pack_into("<I", img, 16, 5000)  # payloadSize of block 0
    with pytest.raises(uf2.UF2Error, match="payload of 5000 bytes"):
        uf2.check(bytes(img))


def test_find_drives(tmp_path):
    good = drive(tmp_path)
    other = tmp_path / "USBSTICK"
    other.mkdir()
    (other / "INFO_UF2.TXT").write_text("Board-ID: SAMD21\n")
    assert uf2.find_drives([str(good), str(other), str(tmp_path / "missing")]) == [str(good)]


def test_flash_refuses_non_bootsel_drive(tmp_path):
    f = tmp_path / "mp.uf2"
    f.write_bytes(uf2.make(b"a" * 600))
    (tmp_path / "notadrive").mkdir()
    with pytest.raises(uf2.UF2Error, match="not an RPI-RP2 boot drive"):
        uf2.flash(str(f), str(tmp_path / "notadrive"))


def test_cli_bad_uf2_is_not_copied(tmp_path, capsys):
    d = drive(tmp_path)
    f = tmp_path / "circuitpython.uf2"
    f.write_bytes(uf2.make(b"b" * 2000, family=0xE48BFF59))
    rc = cli.main(
        ["install", "--board", "pico", "--uf2", str(f), "--drive", str(d), "--port", "/dev/null"]
    )
    assert rc == 2
    assert "for another chip" in capsys.readouterr().err
    assert sorted(os.listdir(d)) == ["INDEX.HTM", "INFO_UF2.TXT"]


def test_cli_flashes_then_installs(tmp_path, capsys):
    d = drive(tmp_path)
    payload = os.urandom(256 * 30)
    f = tmp_path / "micropython-rp2.uf2"
    f.write_bytes(uf2.make(payload))
    root = tmp_path / "flash"
    root.mkdir()
    with FakeBoard(root) as b:
        rc = cli.main(
            [
                "install",
                "--board",
                "pico",
                "--uf2",
                str(f),
                "--drive",
                str(d),
                "--port",
                b.port,
                "--wait",
                "5",
                "--timeout",
                "2",
            ]
        )
    err = capsys.readouterr().err
    # The UF2 landed on the drive whole.
    assert (d / "micropython-rp2.uf2").read_bytes() == f.read_bytes()
    assert "flashed micropython-rp2.uf2 (30 blocks, 7680 bytes at 0x10000000)" in err
    # Then the firmware went onto the board, verified by SHA-256.
    assert "all verified by SHA-256" in err
    assert (root / "board.json").exists() and (root / "main.py").exists()
    # The unix-port stand-in cannot run the reader app (no machine module): the command
    # server still answers through the raw REPL, and the command says exactly that.
    from meterproto import __version__

    assert rc == 2
    assert (
        "the firmware's command server answers (firmware v%s, device unknown), but the "
        "reader app did not start on its own" % __version__
    ) in err


def test_cli_no_drive(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(uf2, "find_drives", lambda candidates=None: [])
    f = tmp_path / "x.uf2"
    f.write_bytes(uf2.make(b"c" * 10))
    assert cli.main(["install", "--board", "pico", "--uf2", str(f)]) == 2
    assert "hold BOOTSEL while plugging the board in" in capsys.readouterr().err

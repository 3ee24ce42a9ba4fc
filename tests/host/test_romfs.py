# irprobe.romfs: the installer's ROMFS choice (MicroPython 1.25+ boards with a partition) and
# its fallback to .mpy files, with a fake transport; the emulated 1.24.1 Pico of
# `make test-device` covers the fallback on a real firmware.
from irprobe import romfs


class FakeTransport:
    def __init__(self, answer):
        self.answer = answer
        self.sent = []

    def exec(self, code):
        self.sent.append(code)
        return self.answer


def _files(tmp_path, sizes):
    out = []
    for i, n in enumerate(sizes):
        p = tmp_path / ("m%d.mpy" % i)
        p.write_bytes(b"x" * n)
        out.append((str(p), "/lib/meterproto/m%d.mpy" % i))
    out.append((str(tmp_path / "main.py"), "/main.py"))
    out.append((b"{}", "/board.json"))
    return out


def test_partition_is_asked_with_vfs_rom_ioctl_and_parsed():
    t = FakeTransport(b"(1, 262144)\r\n")
    assert romfs.partition(t) == (1, 262144)
    assert "vfs.rom_ioctl(1)" in t.sent[0] and "rom_ioctl(2, 0)" in t.sent[0]
    assert romfs.partition(FakeTransport(b"(0, 0)\r\n")) == (0, 0)  # 1.24, or no partition
    assert romfs.partition(FakeTransport(b"Traceback ...")) == (0, 0)
    assert romfs.partition(FakeTransport(b"(-1, True)")) == (0, 0)


def test_romfs_only_where_the_library_fits(tmp_path):
    files = _files(tmp_path, [3000, 5000])
    assert romfs.choose(files, (1, 8000 + romfs.MARGIN)) == "romfs"
    assert romfs.choose(files, (1, 8000)) == "files"  # too small
    assert romfs.choose(files, (0, 0)) == "files"  # no partition: .mpy files
    lib = romfs.library(files)
    assert [d for _, d in lib] == ["/lib/meterproto/m0.mpy", "/lib/meterproto/m1.mpy"]
    folder = romfs.stage(lib, str(tmp_path / "img"))
    assert (tmp_path / "img" / "lib" / "meterproto" / "m1.mpy").stat().st_size == 5000


def test_install_falls_back_to_files_without_romfs(tmp_path):
    from irprobe import installer

    files = _files(tmp_path, [100])
    logs = []
    got, t = installer._romfs_first(FakeTransport(b"(0, 0)"), "PORT", files, str(tmp_path),
                                    5, logs.append)
    assert got == files and "copying .mpy files" in logs[0]

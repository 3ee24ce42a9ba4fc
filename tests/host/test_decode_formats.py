# irprobe decode reads captures in the forms serial monitors save them, needs CR LF nowhere,
# says "not a capture" (exit 2, with the offset) for anything else, and never puts a control
# byte on the terminal.
import os
import subprocess
import sys

from irprobe.capture import NotACapture, parse
from irprobe.sim.iec_text import STX, frame

SNRM = bytes.fromhex("7EA0070321930F017E")
UA = bytes.fromhex("7EA00721037301407E")


def _cli(*args, stdin=None):
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "irprobe", "decode", *args],
                          capture_output=True, env=env, timeout=60, input=stdin)


def test_serial_monitor_forms_give_the_same_exchange():
    forms = [
        "> 7E A0 07 03 21 93 0F 01 7E\n< 7E A0 07 21 03 73 01 40 7E\n",
        "TX: 7EA0070321930F017E\nRX: 7EA00721037301407E\n",
        "[12:00:01.234] TX: 7e a0 07 03 21 93 0f 01 7e\n[12:00:01.301] RX: 7e a0 07 21 03 73 01 "
        "40 7e\n",
        "2026-11-25 12:00:01.234 -> 7E:A0:07:03:21:93:0F:01:7E\n2026-11-25 12:00:01.301 <- "
        "7E:A0:07:21:03:73:01:40:7E\n",
        "12:00:01 sent 0x7E,0xA0,0x07,0x03,0x21,0x93,0x0F,0x01,0x7E\n12:00:02 received "
        "0x7E,0xA0,0x07,0x21,0x03,0x73,0x01,0x40,0x7E\n",
        "1.234 >> 7E A0 07 03 21 93 0F 01 7E\n1.301 << 7E A0 07 21 03 73 01 40 7E\n",
    ]
    for text in forms:
        assert parse(text.encode()) == [(">", SNRM), ("<", UA)], text


def test_hex_dumps_are_received_bytes():
    data = UA + b"/ISk5MT174-0001\r\n"
    hd = ("00000000  7e a0 07 21 03 73 01 40  7e 2f 49 53 6b 35 4d 54  |~..!.s.@~/ISk5MT|\n"
          "00000010  31 37 34 2d 30 30 30 31  0d 0a                    |174-0001..|\n")
    xxd = ("00000000: 7ea0 0721 0373 0140 7e2f 4953 6b35 4d54  ~..!.s.@~/ISk5MT\n"
           "00000010: 3137 342d 3030 3031 0d0a                174-0001..\n")
    for text in (hd, xxd):
        got = parse(text.encode())
        assert b"".join(b for _, b in got) == data and {d for d, _ in got} == {"<"}


def test_natural_text_capture_needs_no_cr_lf_markers(tmp_path):
    f = tmp_path / "natural.txt"
    f.write_text("# first contact\n> /?!\n< /LGZ5\\2ZMD3104407.B32\n> <ACK>050\n")
    r = _cli(str(f), "--json")
    assert r.returncode == 0, r.stderr
    import json

    d = json.loads(r.stdout)
    kinds = [x["kind"] for x in d["frames"]]
    assert kinds == ["sign-on", "identification", "option"], kinds
    assert d["findings"] and {x["code"] for x in d["findings"]} == {"mode-e-unused"}
    assert d["frames"][1]["text"].startswith("identification LGZ5\\2ZMD3104407.B32")


def test_a_readout_copied_from_a_terminal_is_received_text(tmp_path):
    f = tmp_path / "readout.txt"
    f.write_text("/ISk5MT174-0001\n0.0.0(12345678)\n1.8.0(001234.567*kWh)\n!\n")
    r = _cli(str(f), "--json")
    assert r.returncode == 0, r.stderr
    import json

    d = json.loads(r.stdout)
    assert [(v["obis"], v["value"]) for v in d["values"]][-1] == ("1-0:1.8.0*255",
                                                                  "001234.567")


def test_raw_bytes_of_a_readout_decode(tmp_path):
    f = tmp_path / "raw.bin"
    f.write_bytes(b"/ISk5MT174-0001\r\n" + frame(STX, "1.8.0(001234.567*kWh)\r\n!\r\n"))
    r = _cli(str(f))
    assert r.returncode == 0, r.stderr
    assert b"BCC ok" in r.stdout and b"001234.567" in r.stdout


def test_not_a_capture_exits_2_with_the_offset(tmp_path):
    r = _cli(sys.executable)  # a binary program
    assert r.returncode == 2 and r.stdout == b""
    assert r.stderr.startswith(b"irprobe decode: not a capture: ") and b"gave up at byte 0" \
        in r.stderr and r.stderr.count(b"\n") == 1
    f = tmp_path / "notes.txt"
    f.write_text("> /?!\nhello, this is my shopping list\n")
    r = _cli(str(f))
    assert r.returncode == 2 and b"gave up at byte 6)" in r.stderr, r.stderr
    try:
        parse(b"milk\neggs\n")
    except NotACapture as e:
        assert e.offset == 0
    else:
        raise AssertionError("text is no capture")


def test_no_control_byte_reaches_the_terminal(tmp_path):
    f = tmp_path / "evil.txt"
    f.write_text("< /ISk5\\x1b[31mEVIL\\x07\n< <STX>1.8.0(00\\x1b]8;;x\\x07*kWh)<CR><LF>!<CR><LF>"
                 "<ETX>\\x00\n")
    r = _cli(str(f))
    assert b"\x1b" not in r.stdout and b"\x07" not in r.stdout and b"Traceback" not in r.stderr
    r = _cli(sys.executable)
    assert b"\x1b" not in r.stderr + r.stdout


def test_help_documents_the_capture_format():
    r = _cli("--help")
    out = r.stdout.decode()
    assert r.returncode == 0 and "capture formats" in out and "TX: 7E A0" in out
    assert "hexdump -C" in out and "not a capture" in out


def test_any_input_is_decoded_or_refused_in_one_line(tmp_path):
    # Property: whatever the file holds, decode prints no control byte and ends with exit
    # 0/1 (decoded) or 2 with one line on stderr; never a traceback.
    import contextlib
    import io

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from irprobe import cli

    pieces = st.sampled_from([b"> ", b"< ", b"TX: ", b"RX: ", b"7E A0 07 ", b"<STX>", b"<ETX>",
                              b"/?!", b"/LGZ5\\2ZMD", b"1.8.0(0001*kWh)", b"\r\n", b"\n",
                              b"\x1b[31m", b"\x02", b"\x03", b"\x7e", b"12:00:01 ", b"#"])
    blobs = st.one_of(st.binary(max_size=300),
                      st.lists(st.one_of(pieces, st.binary(max_size=8)), max_size=40)
                      .map(b"".join))
    f = tmp_path / "cap"

    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(blobs)
    def check(data):
        f.write_bytes(data)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["decode", str(f), "--json"] if len(data) % 2 else
                            ["decode", str(f)])
        text = out.getvalue() + err.getvalue()
        assert code in (0, 1, 2)
        if code == 2:
            assert err.getvalue().count("\n") == 1 and out.getvalue() == ""
        for ch in text:
            assert ch in "\n" or not (ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0), repr(ch)

    check()

# irprobe decode explains: frame names, checksum status and the classic first-contact
# mistakes, on the seed's two frames and on every vector in tests/vectors/{iec,hdlc}.
import json
import os
import subprocess
import sys

import pytest

from irprobe.explain import explain
from meterproto.compat import unhexlify
from meterproto.line import even_parity_bit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VECTORS = os.path.join(ROOT, "tests", "vectors")
SEED_SENT = "7E A0 07 03 21 93 0F 01 7E"
SEED_GOT = "7E A0 87 03 21 93 0F 81 7E"


def _cli(*args):
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "irprobe", *args], capture_output=True,
                          text=True, env=env, timeout=60)


def _codes(r):
    return [f["code"] for f in r["findings"]]


def test_seed_frames_are_explained_as_echo_on_the_command_line():
    r = _cli("decode", "--sent", SEED_SENT, "--hex", SEED_GOT, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert "echo" in _codes(d)
    echo = [f for f in d["findings"] if f["code"] == "echo"][0]["text"]
    assert "SNRM we sent" in echo and "bit 7" in echo and "not a meter answer" in echo
    assert d["frames"][0]["name"] == "SNRM" and d["frames"][0]["check"] == "ok"
    assert d["frames"][1]["protocol"] == "echo"
    r = _cli("decode", "--sent", SEED_SENT, "--hex", SEED_GOT)
    assert "echo" in r.stdout and "not a meter answer" in r.stdout


def test_capture_file_with_directions_gives_the_same_finding(tmp_path):
    f = tmp_path / "seed.txt"
    f.write_text("> %s\n< %s\n" % (SEED_SENT, SEED_GOT))
    d = json.loads(_cli("decode", str(f), "--json").stdout)
    assert "echo" in _codes(d) and "snrm-no-answer" in _codes(d)


def test_a_real_answer_after_the_echo_is_kept():
    ua = unhexlify("7E A0 07 21 03 73 01 40 7E")  # UA from server 1 to client 16
    r = explain([(">", unhexlify(SEED_SENT)), ("<", unhexlify(SEED_SENT) + ua)])
    assert "echo" in _codes(r) and "snrm-no-answer" not in _codes(r)
    ua_f = [f for f in r["frames"] if f["kind"] == "UA"]
    assert ua_f and ua_f[0]["check"] == "ok" and "server 1 -> client 16" in ua_f[0]["text"]


def test_parity_in_bit7_and_bad_checksums_and_truncation():
    ident = b"/ISk5MT174-0001\r\n"
    p7 = bytes([b | (even_parity_bit(b) << 7) for b in ident])
    assert "parity-in-bit-7" in _codes(explain([(">", b"/?!\r\n"), ("<", p7)]))
    bad = bytearray(unhexlify("7E A0 07 21 03 73 01 40 7E"))
    bad[6] ^= 0x01
    r = explain([("<", bytes(bad))])
    assert r["frames"][0]["check"] == "bad" and "bad-checksum" in _codes(r)
    block = b"\x021.8.0(001234.5*kWh)\r\n!\r\n\x03"
    from meterproto.bcc import bcc
    r = explain([("<", block + bytes((bcc(block, 1) ^ 4,)))])
    assert r["frames"][0]["check"] == "bad" and "bad-checksum" in _codes(r)
    r = explain([("<", unhexlify("7E A0 1F 21 02 23 73 E6 C7 81 80"))])
    assert "truncated" in _codes(r)


def test_mode_e_offered_but_not_used_and_swapped_addresses():
    r = explain([(">", b"/?!\r\n"), ("<", b"/LGZ5\\2ZMD3104407.B32\r\n"),
                 (">", b"\x06050\r\n")])
    assert "mode-e-unused" in _codes(r)
    r = explain([(">", b"/?!\r\n"), ("<", b"/LGZ5\\2ZMD3104407.B32\r\n"),
                 (">", b"\x06252\r\n")])
    assert "mode-e-unused" not in _codes(r)
    from meterproto.hdlc.frame import encode_frame
    swapped = encode_frame(b"\x21", b"\x03", 0x93)  # to "client 16" from "server 1"
    r = explain([(">", swapped)])
    assert "swapped-addresses" in _codes(r)
    assert "swapped-addresses" not in _codes(explain([(">", unhexlify(SEED_SENT))]))


def test_garbage_is_named():
    r = explain([("<", bytes([0x13, 0x99, 0x11, 0xF3, 0x55, 0x01, 0xFE, 0x33]))])
    assert "garbage" in _codes(r)


# -- every vector file -----------------------------------------------------------------------
def _is_hex_field(t):
    parts = t.split()
    return len(parts) >= 2 and all(len(p) == 2 and all(c in "0123456789abcdefABCDEF"
                                                       for c in p) for p in parts)


def _vectors():
    """(file, line, bytes, expected check or None) from every vector file."""
    out = []
    for sub in ("iec", "hdlc"):
        folder = os.path.join(VECTORS, sub)
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            with open(path) as f:
                for n, line in enumerate(f, 1):
                    s = line.rstrip("\n")
                    if not s.strip() or s.lstrip().startswith("#") or s.startswith("="):
                        continue
                    if s.startswith("> "):
                        out.append((sub + "/" + name, n, s[2:].encode() + b"\r\n"))
                        continue
                    fields = [x.strip() for x in s.split("|")]
                    got = None
                    for fd in fields:
                        if _is_hex_field(fd):
                            got = unhexlify(fd)
                            break
                        if fd.startswith("/") and len(fd) > 4:
                            got = fd.encode() + b"\r\n"
                            break
                    if got is not None:
                        out.append((sub + "/" + name, n, got))
    return out


def test_vector_files_are_found():
    files = set(v[0] for v in _vectors())
    assert any(f.startswith("hdlc/") for f in files) and any(f.startswith("iec/") for f in files)


@pytest.mark.parametrize("vec", _vectors(), ids=lambda v: "%s:%d" % (v[0], v[1]))
def test_every_vector_frame_is_named_with_its_checksum_status(vec):
    where, n, data = vec
    r = explain([("<", data)])
    frames = [f for f in r["frames"] if f["kind"] not in ("nul",)]
    assert frames, (where, n)
    for f in frames:
        assert f["name"] and f["kind"] not in ("garbage", "truncated", "damaged"), (where, n, f)
        assert f["check"] in ("ok", "none"), (where, n, f)  # the vectors are all intact
        if f["protocol"] == "hdlc":
            assert f["hcs"] == "ok" and f["fcs"] == "ok"
        if f["kind"] in ("data", "command"):
            assert f["check"] == "ok"
    # and a damaged copy is reported as damaged
    if data[:1] == b"\x7e" or data[:1] in (b"\x01", b"\x02"):
        broken = bytearray(data)
        broken[len(broken) // 2] ^= 0x04
        r = explain([("<", bytes(broken))])
        assert any(f["check"] == "bad" or f["kind"] in ("damaged", "truncated", "garbage")
                   for f in r["frames"]) or "garbage" in _codes(r), (where, n, r)


def test_seed_reply_alone_is_recognised_as_our_snrm_through_7e1():
    r = explain([("<", unhexlify(SEED_GOT))])
    codes = _codes(r)
    assert "parity-in-bit-7" in codes and "echo" in codes, codes
    f = r["frames"][0]
    assert f["kind"] == "SNRM" and f["check"] == "ok" and f["hex"] == SEED_GOT
    assert SEED_SENT in [x for x in r["findings"] if x["code"] == "parity-in-bit-7"][0]["text"]
    # an intact frame whose bit 7 happens to match parity everywhere is not "repaired"
    r = explain([("<", unhexlify("7E A0 07 21 03 73 01 40 7E"))])
    assert "parity-in-bit-7" not in _codes(r) and r["frames"][0]["kind"] == "UA"


def test_iec_echo_then_identification():
    r = explain([(">", b"/?!\r\n"), ("<", b"/?!\r\n/ISk5MT174-0001\r\n")])
    assert "echo" in _codes(r)
    echo = [x for x in r["findings"] if x["code"] == "echo"][0]["text"]
    assert "sign-on" in echo and "meter's" in echo
    kinds = [f["kind"] for f in r["frames"]]
    assert kinds == ["sign-on", "echo", "identification"], kinds


def test_get_request_and_response_name_the_apdu():
    get = unhexlify("7E A0 19 03 21 32 6F D8 E6 E6 00 C0 01 C1 00 03 01 00 01 08 00 FF 02 00 "
                    "32 68 7E")
    resp = unhexlify("7E A0 15 21 03 52 5D 8A E6 E7 00 C4 01 C1 00 06 00 00 13 91 84 22 7E")
    r = explain([(">", get), ("<", resp)])
    names = [f["name"] for f in r["frames"]]
    assert names[0] == "I GET-request normal" and names[1] == "I GET-response normal, data"
    assert "control 0x32" in r["frames"][0]["text"]
    assert "no-answer" not in _codes(r) and "snrm-no-answer" not in _codes(r)


def test_snrm_straight_after_an_iec_identification_is_named():
    snrm = unhexlify(SEED_SENT)
    r = explain([(">", b"/?!\r\n"), ("<", b"/ISk5MT174-0001\r\n"), (">", snrm)])
    assert "snrm-to-iec" in _codes(r) and "snrm-no-answer" not in _codes(r)
    assert "ACK 2 Z 2" in [x for x in r["findings"] if x["code"] == "snrm-to-iec"][0]["text"]
    # after a proper mode E switch an unanswered SNRM is the generic case
    r = explain([(">", b"/?!\r\n"), ("<", b"/LGZ5\\2ZMD3104407.B32\r\n"),
                 (">", b"\x06252\r\n"), (">", snrm)])
    assert "snrm-to-iec" not in _codes(r)


def _session_chunks(session, meter, faults=None):
    from irprobe.sim.vline import VirtualLine
    from meterproto.driver import run
    from meterproto.echo import EchoFilter

    trace = []
    run(session, VirtualLine(meter, faults=faults), echo=EchoFilter(), trace=trace)
    return [(t[1], t[2]) for t in trace if t[1] in "<>"]


def test_a_whole_clean_mode_e_session_has_no_false_findings():
    from irprobe.sim import dlms_profiles as dp
    from meterproto.session.auto import AutoSession

    p = dp.PROFILES["dlms-mode-e"]
    s = AutoSession(mode="auto", server_lower=p["server_lower"])
    r = explain(_session_chunks(s, dp.make_meter(p)))
    assert _codes(r) == [], r["findings"]
    kinds = [f["kind"] for f in r["frames"]]
    assert kinds[:4] == ["sign-on", "identification", "option", "SNRM"], kinds
    assert "UA" in kinds and "DISC" in kinds
    assert all(f["check"] in ("ok", "none") for f in r["frames"])
    assert any("AARE (association answer), accepted" in f["name"] for f in r["frames"])


def test_a_mode_c_session_with_crosstalk_shows_each_echo():
    from irprobe.sim.profiles import make_meter
    from irprobe.sim.vline import Faults
    from meterproto.iec.client import IecClient

    r = explain(_session_chunks(IecClient(max_baud=9600), make_meter("iskra-mt174"),
                                Faults(echo=True)))
    assert "echo" in _codes(r) and "bad-checksum" not in _codes(r)
    data = [f for f in r["frames"] if f["kind"] == "data"]
    assert data and data[0]["check"] == "ok" and data[0]["dir"] == "<"

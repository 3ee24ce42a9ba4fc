# Recovery from line faults (issue 5): retries from the sign-on, the quiet pause, our reaction
# time, the parity and content checks that catch damage the IEC BCC misses, HDLC polls for a
# live meter, and the DLMS simulator's sign-on restart and reaction time (both runtimes).
from irprobe.sim import profiles
from irprobe.sim.dlms_meter import DlmsMeter
from irprobe.sim.dlms_profiles import PROFILES
from irprobe.sim.vline import Faults, VirtualLine
from meterproto.hdlc import frame as hf
from meterproto.iec import data as dat
from meterproto.iec import msg as m
from meterproto.bcc import bcc
from meterproto.dlms.client import DlmsClient
from meterproto.driver import run
from meterproto.errors import NoAnswer
from meterproto.hdlc.link import EV_CONNECTED, EV_FAILED, HdlcClientLink
from meterproto.iec.client import IecClient
from meterproto.line import FMT_8N1, even_parity_bit
from meterproto.machine import A_SEND

IDENT = b"/LGZ5ZMD120\r\n"
BLOCK = "1.8.0(001234.567*kWh)\r\n2.8.0(000001.000*kWh)\r\n!\r\n"
_MS = 1000000


def _with_parity(data):
    """What a port reading a 7E1 line as 8N1 hands over: the parity bit as bit 7."""
    return bytes([b | (even_parity_bit(b) << 7) for b in data])


def _sent(c):
    out = []
    a = c.next_action()
    while a is not None:
        if a[0] == A_SEND:
            out.append(a[1])
        a = c.next_action()
    return out


def _to_readout(c, parity=False):
    """Sign on, feed the identification, let our reaction pass: the client waits for data."""
    c.start(0)
    assert _sent(c) == [b"/?!\r\n"]
    c.receive(_with_parity(IDENT) if parity else IDENT, 500)
    c.timeout(c.deadline_ms())
    assert _sent(c) == [b"\x06050\r\n"]
    return c.deadline_ms() - 1000


def _values(reading):
    return [{"obis": v.obis, "value": v.value, "unit": v.unit} for v in reading.values]


def _copy(name, **changes):
    p = dict(profiles.get_profile(name))
    p.update(changes)
    return p


# -- 1. a readout that stays damaged is read again from the sign-on --------------------------
def test_four_bad_bccs_retry_from_the_sign_on():
    p = _copy("iskra-mt174", corrupt_bcc=4)  # the readout and its 3 repeats all damaged
    line = VirtualLine(profiles.make_meter(p))
    c = IecClient(**profiles.client_options(p))
    r = run(c, line)
    assert _values(r) == p["expected"]
    assert c.retries_used == 1 and "4 times in a row (wrong BCC)" in " ".join(c.notes)
    assert len([n for n in c.notes if "(NAK)" in n]) == 3


# -- 2. the pause before a retry lasts until the line is quiet ------------------------------
def test_pause_before_retry_waits_for_silence_with_a_cap():
    c = IecClient()
    c.start(0)
    _sent(c)
    c.timeout(c.deadline_ms())  # no identification: retry after a pause
    t = c.deadline_ms()
    start = t - 2000
    assert c.retries_used == 1 and _sent(c) == []
    c.receive(b"\x021.8.0(0", start + 1500)  # the meter is still sending
    assert c.deadline_ms() == start + 3500
    c.receive(b"01234", start + 3000)
    assert c.deadline_ms() == start + 5000
    for k in range(100):  # a meter that never stops: the wait ends after 30 s all the same
        c.receive(b"0", start + 5000 + 500 * k)
    assert c.deadline_ms() == start + 30000
    c.timeout(c.deadline_ms())
    assert _sent(c) == [b"/?!\r\n"]


# -- 3. we answer no sooner than tr = 200 ms after the meter's last character ----------------
def test_our_reaction_is_never_shorter_than_200_ms_on_the_exact_clock():
    line = VirtualLine(profiles.make_meter("lgz-zmd"))
    run(IecClient(**profiles.client_options(profiles.get_profile("lgz-zmd"))), line)
    last_meter_end = None
    gaps = []
    for who, t0, end, n, baud in line.log:
        if who == "m":
            last_meter_end = end
        elif last_meter_end is not None:
            gaps.append(t0 - last_meter_end)
    assert gaps and min(gaps) >= 200 * _MS, gaps  # exact ns, not the ms-floored clock
    assert min(gaps) < 202 * _MS, gaps


# -- 4a. parity checked in software on a port that reads 7E1 as 8N1 ------------------------
def test_framer_detects_parity_in_bit7_and_flags_damaged_characters():
    f = m.Framer()
    good = _with_parity(IDENT + m.data_message(BLOCK))
    msgs = f.feed(good)
    assert f.parity == m.PARITY_CHECK and [x.parity_ok for x in msgs] == [True, True]
    assert not msgs[1].damaged()
    bad = bytearray(_with_parity(m.data_message(BLOCK)))
    bad[5] ^= 0x04  # one flipped bit: the BCC catches it too, parity on its own
    x = f.feed(bytes(bad))[0]
    assert x.parity_ok is False and x.damaged() and f.parity_errors == 1
    # A lone ACK with a parity error means nothing: dropped.
    assert f.feed(bytes((0x86,))) == [] and f.feed(bytes((0x06,)))[0].kind == m.M_ACK
    # A port that strips parity: bit 7 is never taken as parity, even after a stray high byte.
    f = m.Framer()
    f.feed(IDENT)
    f.feed(b"\xb1\xb2\xb4\xb7")
    assert f.parity == m.PARITY_OFF
    assert f.feed(m.data_message(BLOCK))[0].parity_ok is None
    f = m.Framer(parity=m.PARITY_OFF)
    assert f.feed(good)[1].parity_ok is None and f.parity == m.PARITY_OFF


def test_two_equal_flips_pass_the_bcc_but_not_parity():
    block = m.data_message(BLOCK)
    coded = bytearray(_with_parity(block))
    i, j = block.find(b"4"), block.find(b"5")  # '4' -> '6' and '5' -> '7': bit 1 twice
    coded[i] ^= 0x02
    coded[j] ^= 0x02
    seven = bytes([b & 0x7F for b in coded])
    assert bcc(seven[:-1], 1) == seven[-1]  # the XOR check cannot see it
    c = IecClient()
    t = _to_readout(c, True)
    assert c.framer.parity == m.PARITY_CHECK
    c.receive(bytes(coded), t)
    assert not c.done
    c.timeout(c.deadline_ms())
    assert _sent(c) == [b"\x15"] and "parity error" in c.notes[-1]
    c.receive(_with_parity(block), c.deadline_ms() - 1000)
    assert c.done and c.error is None
    assert c.result.get("1.8.0").value == "001234.567"


def test_virtual_line_hands_parity_over_and_no_corrupt_value_is_stored():
    for seed in (1, 2, 3):
        line = VirtualLine(profiles.make_meter("lgz-zmd"), parity_bit7=True)
        c = IecClient(**profiles.client_options(profiles.get_profile("lgz-zmd")))
        r = run(c, line)
        assert c.framer.parity == m.PARITY_CHECK and c.framer.parity_errors == 0
        assert _values(r) == profiles.get_profile("lgz-zmd")["expected"]
    caught = 0
    done = 0
    for seed in range(1, 7):
        line = VirtualLine(profiles.make_meter("lgz-zmd"),
                           faults=Faults(byte_error_ppm=2000, seed=seed), parity_bit7=True)
        c = IecClient(**profiles.client_options(profiles.get_profile("lgz-zmd")))
        try:
            r = run(c, line)
        except NoAnswer:
            continue
        done += 1
        assert _values(r) == profiles.get_profile("lgz-zmd")["expected"], seed
        caught += c.framer.parity_errors
    assert done >= 4 and caught >= 1, (done, caught)


# -- 4b/c. text no meter sends: NAK, unless the meter sends it twice the same ----------------
def test_address_and_block_faults():
    for a in ("1.8.0", "1-0:1.8.0*255", "F.F", "C.1.0", "1.6.1&02", "P.01", "0.0"):
        assert dat.address_fault(a) is None, a
    for a in ("15.8.", "1..8", ".8.0", "1.8.p", "C.1.p", "1.8 0", "1-0:1.8.0*"):
        assert dat.address_fault(a) is not None, a
    assert dat.block_fault(BLOCK) is None
    assert "address '15.8.'" in dat.block_fault("15.8.(0005599.1*kWh)\r\n!\r\n")
    assert "0x10" in dat.block_fault("1.8.0(00\x1034.5*kWh)\r\n!\r\n")
    assert dat.block_fault("(ERROR)\r\n") is None  # an answer without address is fine


def test_malformed_address_is_naked_and_accepted_when_repeated_the_same():
    odd = m.data_message("1.8.0(001234.567*kWh)\r\n2.8.(000001.000*kWh)\r\n!\r\n")
    c = IecClient()
    t = _to_readout(c)
    c.receive(odd, t)
    c.timeout(c.deadline_ms())
    assert _sent(c) == [b"\x15"] and "empty group" in c.notes[-1]
    c.receive(m.data_message(BLOCK), c.deadline_ms() - 1000)  # the repeat came through whole
    assert c.done and c.result.get("2.8.0").value == "000001.000"
    c = IecClient()
    t = _to_readout(c)
    c.receive(odd, t)
    c.timeout(c.deadline_ms())
    _sent(c)
    c.receive(odd, c.deadline_ms() - 1000)  # sent twice the same: this meter writes it so
    assert c.done and c.error is None and "twice the same" in c.notes[-1]
    assert c.result.get("1.8.0").value == "001234.567"


# -- 5. HDLC: a live meter whose frames arrive damaged gets more polls ---------------------
def _connected_link():
    cli = HdlcClientLink()
    cli.connect(0)
    cli.pop_output()
    cli.receive(hf.encode_frame(b"\x21", b"\x03", hf.ctl_u(hf.K_UA)), 50)
    assert cli.next_event()[0] == EV_CONNECTED
    cli.send_apdu(b"\xc0\x01\xc1\x00\x03\x01\x00\x01\x08\x00\xff\x02\x00", 100)
    cli.pop_output()
    return cli


def _polls_until_failure(cli, damaged):
    frame = bytearray(hf.encode_frame(b"\x21", b"\x03", hf.ctl_i(0, 1, True),
                                      hf.LLC_RESPONSE + b"\xc4\x01\xc1\x00" + b"\x11" * 40))
    frame[20] ^= 0x01  # the FCS no longer matches
    polls = 0
    while True:
        t = cli.deadline_ms()
        if damaged:
            cli.receive(bytes(frame), t - 1000)
        cli.timeout(t)
        ev = cli.next_event()
        if ev is not None:
            assert ev[0] == EV_FAILED
            return polls, str(ev[1])
        while cli.pop_output() is not None:
            polls += 1
        assert polls < 50


def test_live_meter_with_damaged_frames_gets_eight_tries_a_silent_one_three():
    polls, why = _polls_until_failure(_connected_link(), True)
    assert polls == 8 and "9 tries" in why and "damaged" in why, (polls, why)
    polls, why = _polls_until_failure(_connected_link(), False)
    assert polls == 3 and "4 tries" in why, (polls, why)


# -- 6. the DLMS simulator: sign-on again in mode E, and its reaction time -----------------
def test_mode_e_meter_answers_a_new_sign_on_instead_of_the_option_select():
    meter = DlmsMeter(PROFILES["dlms-mode-e"])
    meter.start(0)
    meter.receive(b"/?!\r\n", 10)
    meter.timeout(meter.deadline_ms())
    first = _sent(meter)
    assert first and first[0].startswith(b"/")
    meter.receive(b"/?!\r\n", 2000)  # the HHU missed the identification and starts again
    assert meter.deadline_ms() == 2200
    meter.timeout(2200)
    assert _sent(meter) == first and "sign-on again" in meter.log[-1]


def test_dlms_meter_waits_its_reaction_time_on_the_line():
    p = PROFILES["dlms-direct"]
    gaps = {}
    for reply in (0, 40):
        line = VirtualLine(DlmsMeter(p, reply_ms=reply), baud=9600, fmt=FMT_8N1)
        c = DlmsClient(client_sap=p["client_sap"], server_upper=p["server_upper"],
                       server_lower=p["server_lower"], auth=p["auth"], password=p["password"])
        r = run(c, line)
        assert r.values
        last_client_end = None
        g = []
        for who, t0, end, n, baud in line.log:
            if who == "c":
                last_client_end = end
            elif last_client_end is not None:
                g.append(t0 - last_client_end)
                last_client_end = None
        gaps[reply] = min(g)
    assert gaps[0] < 39 * _MS < gaps[40], gaps  # the meter's clock is floored to the ms

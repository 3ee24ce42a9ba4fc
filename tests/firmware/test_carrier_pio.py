# The 38 kHz carrier PIO program, checked without hardware: a cycle-by-cycle model of the
# two PIO instructions it uses runs the assembled words against a UART TX waveform.

from probe import carrier
from fw_helpers import load_fake as _load_fake


fake_rp2 = _load_fake("rp2")


class _Machine:
    """What Carrier needs from `machine`: the system clock and Pin."""

    def __init__(self, hz):
        self.hz = hz

    def freq(self):
        return self.hz

    def Pin(self, n):
        return ("Pin", n)


def simulate(words, tx, cycles):
    """Run PIO words for `cycles` SM cycles; tx(c) is the jmp pin level at cycle c.

    Returns the LED (set pin) level during each cycle. Model (RP2040 datasheet 3.4): each
    instruction takes 1 cycle plus its delay; `jmp pin` tests the pin in its own cycle;
    `set pins` drives the pin from its own cycle on; after the last word execution wraps to 0.
    """
    led = []
    level = 0
    pc = 0
    c = 0
    while c < cycles:
        w = words[pc]
        op = w >> 13
        delay = (w >> 8) & 31
        nxt = (pc + 1) % len(words)
        if op == 0:  # JMP
            cond = (w >> 5) & 7
            assert cond == 6, "only `jmp pin` is modelled"
            if tx(c):
                nxt = w & 31
        elif op == 7:  # SET
            assert (w >> 5) & 7 == 0, "only `set pins` is modelled"
            level = w & 1
        else:
            raise AssertionError("instruction 0x%04X is not modelled" % w)
        for _ in range(1 + delay):
            if c < cycles:
                led.append(level)
            c += 1
        pc = nxt
    return led


def _edges(led):
    return [i for i in range(1, len(led)) if led[i] and not led[i - 1]]


def test_assembled_words():
    # jmp pin 0 ; set pins 1 [11] ; set pins 0 [10]
    assert carrier.assemble() == [0x00C0, 0xEB01, 0xEA00]


def test_bad_delay_is_refused_in_plain_words():
    try:
        carrier.assemble((("top", "set_pins", 1, 32),))
    except ValueError as e:
        assert "outside 0-31" in str(e)
    else:
        raise AssertionError("delay 32 accepted")


def test_divider_arithmetic_for_several_sys_clocks():
    # sys clock -> (integer divider, carrier in mHz)
    expect = {
        125000000: (137, 38017031),
        133000000: (146, 37956621),
        150000000: (164, 38109756),
        200000000: (219, 38051750),
    }
    for hz, (div, mhz) in expect.items():
        assert carrier.divider_for(hz) == div, hz
        assert carrier.carrier_hz_x1000(hz, div) == mhz, hz
        assert hz * 1000 // (div * 24) == mhz
        # The nearest integer divider: its neighbours are both further from 38 kHz.
        for d in (div - 1, div + 1):
            assert abs(hz / (d * 24) - 38000) > abs(hz / (div * 24) - 38000)
        # MicroPython turns freq= into floor(sys*256/freq)/256: must land exactly on div.
        f = carrier.sm_freq_for(hz, div)
        assert (hz * 256) // f == div * 256, hz


def test_rp2_asm_pio_build_gives_the_same_words():
    prog = carrier._build_asm(fake_rp2)
    assert prog["words"] == carrier.assemble()
    assert prog["kw"] == {"set_init": fake_rp2.PIO.OUT_LOW}
    # The module's own globals are back after the assembler borrowed them.
    assert carrier.assemble is not None and carrier.PROGRAM[0][0] == "top"


def test_carrier_object_uses_exact_divider():
    c = carrier.Carrier(led_pin=2, tx_pin=0, rp2=fake_rp2, machine=_Machine(125000000))
    assert c.div == 137 and c.hz_x1000 == 38017031
    assert c.sm.freq == 125000000 // 137
    assert c.sm.set_base == ("Pin", 2) and c.sm.jmp_pin == ("Pin", 0)
    c.start()
    assert c.sm.active() == 1
    c.stop()
    assert c.sm.active() == 0 and c.sm.execed == ["set(pins, 0)"]


def test_steady_space_gives_38khz_50_percent():
    words = carrier.assemble()
    led = simulate(words, lambda c: 0, 24 * 200)
    edges = _edges(led)
    periods = set(edges[i + 1] - edges[i] for i in range(len(edges) - 1))
    assert periods == {24}, periods
    window = led[edges[0]:edges[-1]]
    assert sum(window) * 2 == len(window)  # exactly 50 % duty
    # Frequency at 125 MHz, div 137: sys / (div * period).
    assert 125000000 * 1000 // (137 * periods.pop()) == 38017031


def test_idle_mark_keeps_led_dark():
    led = simulate(carrier.assemble(), lambda c: 1, 10000)
    assert sum(led) == 0


def _uart_wave(byte, baud, sm_hz, idle_bits=3):
    """TX level per SM cycle for one 7E1 character framed by idle time."""
    bits = [1] * idle_bits + [0]
    data = byte & 0x7F
    parity = 0
    for i in range(7):
        b = (data >> i) & 1
        parity ^= b
        bits.append(b)
    bits += [parity, 1] + [1] * idle_bits
    per_bit = sm_hz / baud
    n = int(len(bits) * per_bit)
    return [bits[int(c / per_bit)] for c in range(n)], per_bit


def test_gated_by_uart_tx_waveform():
    sm_hz = 125000000 / 137
    for baud in (2400, 9600):
        wave, per_bit = _uart_wave(0x55, baud, sm_hz)
        led = simulate(carrier.assemble(), lambda c: wave[c], len(wave))
        period = 24
        lit_during_mark = 0
        for c in range(len(wave)):
            # How long TX has been high (MARK) at cycle c.
            k = c
            while k >= 0 and wave[k]:
                k -= 1
            mark_for = c - k
            if mark_for > period:
                assert led[c] == 0, (baud, c)  # dark once MARK is older than one period
            if wave[c] and led[c]:
                lit_during_mark += 1
        # A SPACE run starts a carrier within two SM cycles of the falling edge.
        for c in range(1, len(wave)):
            if wave[c - 1] and not wave[c]:
                assert 1 in led[c:c + 3], (baud, c)
        # Light spills into MARK by less than one period per SPACE run.
        runs = sum(1 for c in range(1, len(wave)) if wave[c - 1] == 0 and wave[c] == 1)
        assert lit_during_mark < runs * period
        # During SPACE the LED is on about half the time (50 % duty carrier).
        space = [led[c] for c in range(len(wave)) if not wave[c]]
        assert abs(sum(space) * 2 - len(space)) <= runs * period
        # Gating granularity relative to a bit: 6 % at 2400 Bd, 25 % at 9600 Bd.
        frac = round(100 * period / per_bit)
        assert frac == {2400: 6, 9600: 25}[baud]

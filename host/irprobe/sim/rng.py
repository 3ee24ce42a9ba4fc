# irprobe.sim.rng: a tiny seeded generator (xorshift32) that gives the same sequence on
# CPython and MicroPython, so fault-injection runs are reproducible on both.


class Rng:
    def __init__(self, seed=1):
        self.s = (seed & 0xFFFFFFFF) or 0x9E3779B9

    def next32(self):
        x = self.s
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.s = x
        return x

    def below(self, n):
        """Uniform-ish integer in [0, n)."""
        return self.next32() % n

    def chance(self, per_million):
        """True with probability per_million / 1e6."""
        return self.below(1000000) < per_million

# irprobe.sim: the meter simulator and the simulated-time virtual line (host side).
# Written in the core's Python subset so the back-to-back tests also run on MicroPython.

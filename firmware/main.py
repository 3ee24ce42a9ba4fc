# Boot entry of the probe: start the handheld reader app (probe.app; board from /board.json).
from probe.app import main

main()

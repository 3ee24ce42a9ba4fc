# Boot entry of the probe: start the handheld reader app (probe.app; board from /board.json).
# Ctrl-C (mpremote sends it first) ends the app cleanly and gives the REPL back.
from probe.app import main

main()

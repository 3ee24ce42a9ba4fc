# Boot entry of the probe: start the handheld reader app (probe.main; board from /board.json).
# Ctrl-C (mpremote sends it first) ends the app cleanly and gives the REPL back.
from probe.main import main

main()

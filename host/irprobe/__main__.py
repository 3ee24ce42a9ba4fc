import sys

from irprobe.cli import main

sys.exit(main())

import sys

from mailproc.cli import main

sys.exit(main())

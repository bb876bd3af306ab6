import sys

from linetrace.cli import main

sys.exit(main())

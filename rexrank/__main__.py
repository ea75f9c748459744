import sys

from rexrank.cli import main

sys.exit(main())

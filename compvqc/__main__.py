import sys

from compvqc.cli import run

sys.exit(run())

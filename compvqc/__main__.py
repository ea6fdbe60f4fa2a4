import sys

from compvqc.cli.main import main

sys.exit(main())

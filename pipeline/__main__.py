"""`python -m pipeline` is `sam-study`."""

import sys

from pipeline.cli import main

sys.exit(main())

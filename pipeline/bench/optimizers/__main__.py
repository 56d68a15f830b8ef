"""``python -m pipeline.bench.optimizers``."""

import sys

from pipeline.bench.optimizers import main

sys.exit(main())

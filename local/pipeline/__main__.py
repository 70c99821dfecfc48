"""``python -m local.pipeline``: see ``local/pipeline/run.py``."""

import sys

from local.pipeline.run import main

sys.exit(main())

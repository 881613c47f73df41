"""`python -m retrain_assets.cli`: the retrain-assets console script without the script."""

import sys

from retrain_assets.cli import main

sys.exit(main())

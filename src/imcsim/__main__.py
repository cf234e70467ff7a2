"""``python -m imcsim`` runs the CLI."""

import sys

from imcsim.cli.app import main

sys.exit(main())

"""``python -m wsclient``: the ``wsclient`` command."""

import sys

from .cli import main

sys.exit(main())

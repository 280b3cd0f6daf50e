"""``python -m bench``: see :mod:`bench.cli` (``--help`` for the options)."""

from .cli import main

raise SystemExit(main())

"""``python -m xpgrad`` runs the ``xpgrad`` command."""

from xpgrad.cli import main

raise SystemExit(main())

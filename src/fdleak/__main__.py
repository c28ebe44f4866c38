"""Entry point for ``python -m fdleak``."""

from fdleak.cli.main import main

raise SystemExit(main())

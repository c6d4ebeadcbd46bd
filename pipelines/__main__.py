"""``python -m pipelines`` is the ``reverse-o1`` command."""

from pipelines.cli import main

raise SystemExit(main())

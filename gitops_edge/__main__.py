"""Allow ``python -m gitops_edge`` where the console script is not on PATH."""

from gitops_edge.cli import main

raise SystemExit(main())

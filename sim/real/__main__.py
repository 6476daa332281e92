"""``python -m sim.real [program ...]``: build the pinned upstream programs into the cache."""

from ._binaries import main

raise SystemExit(main())

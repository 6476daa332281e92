"""The simulator raises its open-file limit for large fleets (sim/_limits.py)."""

from __future__ import annotations

import resource

from sim._limits import ensure_open_files


def test_soft_limit_is_raised_to_what_the_fleet_needs_within_the_hard_limit() -> None:
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        soft, hard = before
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, soft), hard))
        needed = 512 if hard == resource.RLIM_INFINITY else min(512, hard)
        now = ensure_open_files(needed)
        assert now == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        assert now == resource.RLIM_INFINITY or now >= needed
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)

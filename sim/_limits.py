"""Open-file limit of the simulator process: every member cluster is a listening socket, and each client
of a member holds connections (requests, one watch per resource), so thousands of members need tens of
thousands of descriptors. Go programs (kube-apiserver among them) raise their soft limit to the hard one
at start; the simulator does the same, and raises the hard limit too when it may (root)."""

from __future__ import annotations

import contextlib
import resource
import sys

__all__ = ["DESCRIPTORS_PER_MEMBER", "ensure_open_files"]

# a listening socket, and per client: a request pool and one watch per watched resource (the propagator
# watches the types its decisions target, the benchmark's observer one more)
DESCRIPTORS_PER_MEMBER = 12


def ensure_open_files(needed: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit to at least ``needed`` (at least to the hard limit), raising the
    hard limit too when permitted; returns the soft limit now in force. Warns on stderr when it stays
    below ``needed``: clients then see connections refused once the process runs out."""
    infinity = resource.RLIM_INFINITY
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != infinity and hard < needed:
        with contextlib.suppress(ValueError, OSError):  # only a privileged process may raise it
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(soft, needed) if hard == infinity else hard
    if soft != infinity and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft < needed:
        print(
            f"sim: open-file limit {soft} is below the {needed} this fleet may need; raise it "
            "(ulimit -n) or split the members over several simulator processes",
            file=sys.stderr,
        )
    return soft

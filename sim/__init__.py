"""A Kubernetes-API-compatible simulator serving many clusters from one process (``kubefed sim``).

Public surface: :func:`run_fleet` (async context manager), :class:`Fleet`, :class:`ClusterServer`,
:class:`Store` (the pure store, for direct tests) and :class:`ApiError`. See docs/simulator.md.
"""

from ._cluster import ClusterServer
from ._errors import ApiError
from ._fleet import Fleet, default_node_labels, run_fleet
from ._store import Store

__all__ = ["ApiError", "ClusterServer", "Fleet", "Store", "default_node_labels", "run_fleet"]

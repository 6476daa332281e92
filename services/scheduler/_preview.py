"""Placement preview, the pure part: rendered member objects and their diffs (``kubefedctl preview``).

The scheduler computes a preview with the same functions as a real decision (:func:`decide`, the RSP
planner) and stores nothing. "What each member has now" is what the *current decision* renders for that
cluster: propagators keep every member at that rendering (drift is corrected), so the diff says what the
change would make them write. Fields a member adds itself (status, defaults) are outside both sides;
retention of cluster-owned fields is the propagator's and is left out (as the decision leaves it out).
"""

from __future__ import annotations

import difflib
from typing import Any

import yaml

from shared.messages import PlacementDecision
from shared.planning import OverridesError, render_for_cluster

__all__ = ["diff_objects", "render_decision"]


def render_decision(decision: PlacementDecision, cluster: str) -> dict[str, Any] | None:
    """The member object ``decision`` asks for in ``cluster`` (None: not placed there or deleting)."""
    if decision.deleting or cluster not in decision.clusters or cluster in decision.cluster_errors:
        return None
    target = decision.target
    try:
        return render_for_cluster(
            decision.template,
            decision.overrides.get(cluster, []),
            api_version=target.api_version,
            kind=target.kind,
            name=decision.key.name,
            namespace=decision.key.namespace if target.namespaced else None,
            live=None,
            retain_replicas=decision.retain_replicas,
        )
    except OverridesError:
        return None


def _lines(obj: dict[str, Any] | None) -> list[str]:
    if obj is None:
        return []
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False).splitlines(keepends=True)


def diff_objects(cluster: str, now: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """A unified diff from the current rendering to the previewed one ("" when equal)."""
    if now == after:
        return ""
    return "".join(
        difflib.unified_diff(
            _lines(now),
            _lines(after),
            fromfile=f"{cluster}/now" if now is not None else "/dev/null",
            tofile=f"{cluster}/preview" if after is not None else "/dev/null",
        )
    )

"""KubeFed's mapping of a failed member write to a reported outcome and a retry (pure).

The table, for the action that failed (create, update, delete, unlabel):

==========================  ===========================  ========  =========================
error                       status                       op        retry
==========================  ===========================  ========  =========================
ConflictError (409)         "" (nothing to report yet)   pending   0.05 s (GET, re-plan)
InvalidError (422, 400)     <Action>Failed               failed    none: the input must change
NotFoundError on update     UpdateFailed                 failed    0.1 s (the cache is stale)
NotFoundError otherwise     <Action>Failed               failed    2 s (e.g. the type is absent)
TemporaryError              <Action>Failed               failed    the error's delay, >= 0.5 s
any other KubefedError      <Action>Failed               failed    5 s
==========================  ===========================  ========  =========================

``<Action>Failed`` is CreationFailed, UpdateFailed, DeletionFailed or LabelRemovalFailed.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import ConflictError, InvalidError, KubefedError, NotFoundError, TemporaryError
from shared.planning import CREATION_FAILED, DELETION_FAILED, LABEL_REMOVAL_FAILED, UPDATE_FAILED

__all__ = ["FailureOutcome", "failed_status", "failure_outcome"]


@dataclass(frozen=True)
class FailureOutcome:
    """What to report for a failed write, when to retry (None: not until the input changes), and
    whether the cached copy is stale (dropped so the next attempt plans from the server's state)."""

    status: str
    op: str
    message: str
    retry: float | None
    drop_cached: bool = False
    # the cached copy is older than the server's (409): read it again before the retry plans, instead
    # of waiting for the watch; a member whose status keeps changing (pods starting) would otherwise
    # conflict again and again while the per-key backoff doubles
    reread: bool = False


def failed_status(action_kind: str) -> str:
    """KubeFed's per-cluster status for a failed action."""
    return {
        "create": CREATION_FAILED,
        "update": UPDATE_FAILED,
        "delete": DELETION_FAILED,
        "unlabel": LABEL_REMOVAL_FAILED,
    }.get(action_kind, UPDATE_FAILED)


def failure_outcome(action_kind: str, error: KubefedError) -> FailureOutcome:
    """The table of the module docstring."""
    message = str(error)
    if isinstance(error, ConflictError):
        return FailureOutcome("", "pending", "", 0.05, reread=True)
    failed = failed_status(action_kind)
    if isinstance(error, InvalidError):
        return FailureOutcome(failed, "failed", message, None)
    if isinstance(error, NotFoundError):
        if action_kind == "update":
            return FailureOutcome(failed, "failed", message, 0.1, drop_cached=True)
        return FailureOutcome(failed, "failed", message, 2.0)
    if isinstance(error, TemporaryError):
        return FailureOutcome(failed, "failed", message, max(error.delay, 0.5))
    return FailureOutcome(failed, "failed", message, 5.0)

"""The last copy of each federated object this scheduler replica read or wrote.

The status writer starts from it instead of reading the object again before every status write: a
write with a stale copy fails the API server's resourceVersion precondition (409), and the writer then
reads the object and retries. One copy per federated object the replica handled: O(objects), like the
informer cache KubeFed's controllers kept.
"""

from __future__ import annotations

from typing import Any

from services.scheduler._decide import newer_or_equal
from shared.messages import ObjectKey

__all__ = ["FederatedObjects"]


class FederatedObjects:
    """ObjectKey → the object as last seen on the host (never mutated)."""

    def __init__(self) -> None:
        self._objects: dict[ObjectKey, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._objects)

    def get(self, key: ObjectKey) -> dict[str, Any] | None:
        return self._objects.get(key)

    def remember(self, key: ObjectKey, obj: dict[str, Any] | None) -> None:
        """Keep ``obj`` unless an equal-or-newer copy is known; None forgets the key."""
        if obj is None:
            self._objects.pop(key, None)
            return
        known = self._objects.get(key)
        if known is not None and not newer_or_equal(_rv(obj), _rv(known)):
            return
        self._objects[key] = obj

    def forget(self, key: ObjectKey) -> None:
        self._objects.pop(key, None)


def _rv(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")

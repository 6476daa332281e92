"""The last copy of each federated object this scheduler replica read or wrote.

The status writer starts from it instead of reading the object again before every status write: a
write with a stale copy fails the API server's resourceVersion precondition (409), and the writer then
reads the object and retries. One copy per federated object the replica handled: O(objects), like the
informer cache KubeFed's controllers kept.

The last copy remembered wins. Copies are not ordered by resourceVersion: resourceVersions are opaque
(an object recreated under the same name, or a host restored from a backup, may go "back"), and a
copy that is older than the server's only costs the 409 and the re-read above.
"""

from __future__ import annotations

from typing import Any

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
        """Keep ``obj`` as the copy of ``key``; None forgets the key."""
        if obj is None:
            self._objects.pop(key, None)
            return
        self._objects[key] = obj

    def forget(self, key: ObjectKey) -> None:
        self._objects.pop(key, None)

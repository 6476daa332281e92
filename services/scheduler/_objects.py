"""The last copy of each federated object this scheduler replica read or wrote.

The status writer starts from it instead of reading the object again before every status write: a
write with a stale copy fails the API server's resourceVersion precondition (409), and the writer then
reads the object and retries. One copy per federated object the replica handled: O(objects), like the
informer cache KubeFed's controllers kept.

Each copy is kept packed (:func:`shared.k8s.pack_object`) and decoded when read: a federated object
carries a status entry per placed cluster, so its decoded form grows with the fleet (at 10 members a
FederatedConfigMap with its status takes about 4x more memory decoded than packed).

The last copy remembered wins. Copies are not ordered by resourceVersion: resourceVersions are opaque
(an object recreated under the same name, or a host restored from a backup, may go "back"), and a
copy that is older than the server's only costs the 409 and the re-read above.
"""

from __future__ import annotations

from typing import Any

from shared.k8s import pack_object, unpack_object
from shared.messages import ObjectKey

__all__ = ["FederatedObjects"]


class FederatedObjects:
    """ObjectKey → the object as last seen on the host; each read is a fresh copy."""

    def __init__(self) -> None:
        self._objects: dict[ObjectKey, bytes] = {}

    def __len__(self) -> int:
        return len(self._objects)

    def get(self, key: ObjectKey) -> dict[str, Any] | None:
        raw = self._objects.get(key)
        if raw is None:
            return None
        return unpack_object(raw)

    def remember(self, key: ObjectKey, obj: dict[str, Any] | None) -> None:
        """Keep ``obj`` as the copy of ``key``; None forgets the key."""
        if obj is None:
            self._objects.pop(key, None)
            return
        self._objects[key] = pack_object(obj)

    def forget(self, key: ObjectKey) -> None:
        self._objects.pop(key, None)

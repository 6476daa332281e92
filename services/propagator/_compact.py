"""The propagator's member caches, kept compact: each object packed, its content shared by the fleet.

A propagator holds one copy of every managed object per member cluster (10,000 objects × 10 members:
100,000). The members of a fleet hold the same rendered object: only a few metadata fields that each
API server sets for itself differ (:data:`OWN_FIELDS`: uid, resourceVersion, creationTimestamp, ...).
So each cached object is kept in two packed parts (MessagePack, :func:`shared.k8s.pack_object`):

- its **content**, everything but those fields, held once per distinct value for the whole process
  (:class:`SharedContents`; an entry lives while some cache refers to it);
- its **own** fields and its ``status`` (written by the member's controllers), held per member (about
  0.1 KB for the uid, resourceVersion and creationTimestamp of an object without status).

Reading joins them into a fresh decoded copy that equals the object as it was cached (without
``metadata.managedFields``, which no decision reads, :func:`compact`), so every reader (the dispatch
decision and its field retention, the observer, status collection, the echo check, orphan and
host-namespace checks) sees what it saw before. Content that differs between members (a Service's
clusterIP, a Deployment's status) is simply not shared: correctness never depends on sharing.

Measured with tracemalloc, 10 members and a ConfigMap of 200 bytes of data: 0.80 KB per member object
before (one packed copy per member), 0.35 KB with the content shared (and packed bytes of their exact
size, :func:`shared.k8s.pack_object`). A cache with nothing to share stays at about 0.78 KB per object.

The current decision per federated object is kept packed too (:class:`PackedDecisions`): a decoded
:class:`~shared.messages.PlacementDecision` of such a ConfigMap is about 2.7 KB of Python objects,
packed about 0.7 KB; the few hundred decisions used last stay decoded, so that the members'
reconciles of a new decision share one decoded copy, and a reconcile of an older one decodes it
again (about 3 µs).
"""

from __future__ import annotations

import sys
import weakref
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from typing import Any

import msgspec

from shared.k8s import pack_object, unpack_object
from shared.messages import ObjectKey, PlacementDecision

__all__ = [
    "OWN_FIELDS",
    "CompactObjects",
    "Content",
    "PackedDecisions",
    "SharedContents",
    "compact",
    "interned_key",
    "own_object",
]

# metadata fields each member's API server sets for its own copy of an object
OWN_FIELDS = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)

ObjectName = tuple[str, str]  # (namespace, name)


def compact(obj: dict[str, Any]) -> dict[str, Any]:
    """The member object as the cache keeps it: without ``metadata.managedFields``, which no decision
    reads and which is about half of a small object a real API server returns (a ConfigMap with 200
    bytes of data: 4.0 → 1.8 KB in memory). Mutates and returns ``obj`` (a freshly decoded response)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


class Content:
    """One packed content, referred to by every cached object that has it (weakly by the table).

    ``verified`` is what the propagator found this content to be up to date with (the fingerprint of a
    decision as rendered for a cluster, ``services.propagator._apply``): the members of a fleet that
    hold the same content are then verified once, not once each. A content never changes: another
    value is another :class:`Content`.
    """

    __slots__ = ("__weakref__", "raw", "verified")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.verified: tuple[str, bytes] | None = None


class SharedContents:
    """Packed contents, one copy per distinct value, each kept while a cached object refers to it."""

    def __init__(self) -> None:
        self._by_raw: weakref.WeakValueDictionary[bytes, Content] = weakref.WeakValueDictionary()

    def share(self, raw: bytes) -> Content:
        """The one held copy of ``raw`` (held from now on if it was not)."""
        content = self._by_raw.get(raw)
        if content is None:
            content = self._by_raw[raw] = Content(raw)
        return content

    def __len__(self) -> int:
        return len(self._by_raw)


FLEET_CONTENTS = SharedContents()  # one table for every member cache of this process


def split(obj: dict[str, Any]) -> tuple[bytes, bytes]:
    """``(content, own)``: ``obj`` packed without its :data:`OWN_FIELDS` and ``status``, and those packed
    as ``{"m": {own metadata fields}, "s": status}`` (each key only when there is something to keep;
    ``b""`` when there is nothing). ``obj`` is left as it is."""
    meta = obj.get("metadata")
    own: dict[str, Any] = {}
    content = obj
    if isinstance(meta, dict):
        own_meta = {f: meta[f] for f in OWN_FIELDS if f in meta}
        if own_meta:
            own["m"] = own_meta
            content = {**obj, "metadata": {k: v for k, v in meta.items() if k not in own_meta}}
    if "status" in obj:
        own["s"] = obj["status"]
        content = {k: v for k, v in content.items() if k != "status"}
    return pack_object(content), pack_object(own) if own else b""


def own_object(own: bytes) -> dict[str, Any]:
    """The own part :func:`split` packed, as ``{"metadata": {own fields}, "status": ...}`` (no status
    key when there was none)."""
    parts = unpack_object(own) if own else {}
    obj: dict[str, Any] = {"metadata": parts.get("m") or {}}
    if "s" in parts:
        obj["status"] = parts["s"]
    return obj


def join(content: bytes, own: bytes) -> dict[str, Any]:
    """The object :func:`split` took apart, freshly decoded."""
    obj = unpack_object(content)
    if own:
        parts = own_object(own)
        if parts["metadata"]:
            obj["metadata"].update(parts["metadata"])
        if "status" in parts:
            obj["status"] = parts["status"]
    return obj


class CompactObjects(MutableMapping[ObjectName, dict[str, Any]]):
    """``(namespace, name) → object``, each object split into shared content and its own fields.

    The key's strings are interned, so the members of a fleet share one copy of each object's name.
    Reading decodes a fresh copy (a caller may change it without touching the cache); writing drops
    ``metadata.managedFields`` from the given object (:func:`compact`) and changes nothing else in it.
    """

    __slots__ = ("_contents", "_entries")

    def __init__(
        self,
        items: dict[ObjectName, dict[str, Any]] | None = None,
        *,
        contents: SharedContents = FLEET_CONTENTS,
    ) -> None:
        self._contents = contents
        self._entries: dict[ObjectName, tuple[Content, bytes]] = {}
        for k, v in (items or {}).items():
            self[k] = v

    def __getitem__(self, key: ObjectName) -> dict[str, Any]:
        content, own = self._entries[key]
        return join(content.raw, own)

    def own_fields(self, key: ObjectName) -> dict[str, Any] | None:
        """Only what the member's API server set for its copy (uid, resourceVersion, generation,
        deletionTimestamp, …) and its ``status``, as ``{"metadata": {...}, "status": ...}``, without
        decoding the shared content: enough for a member whose content is verified (None: not cached)."""
        entry = self._entries.get(key)
        return own_object(entry[1]) if entry is not None else None

    def content(self, key: ObjectName) -> Content | None:
        """The shared content of the object cached under ``key`` (None when there is none)."""
        entry = self._entries.get(key)
        return entry[0] if entry is not None else None

    def __setitem__(self, key: ObjectName, obj: dict[str, Any]) -> None:
        content, own = split(compact(obj))
        self._entries[(sys.intern(key[0]), sys.intern(key[1]))] = (self._contents.share(content), own)

    def __delitem__(self, key: ObjectName) -> None:
        del self._entries[key]

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[ObjectName]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def encoded_size(self) -> int:
        """Bytes of the packed objects as if each were held alone (for tests and profiles)."""
        return sum(len(content.raw) + len(own) for content, own in self._entries.values())


def interned_key(key: ObjectKey) -> ObjectKey:
    """``key`` with its strings interned: the decisions, their index and every member cache's keys then
    share one copy of each object's name (each decoded message has its own)."""
    return ObjectKey(
        resource=sys.intern(key.resource), namespace=sys.intern(key.namespace), name=sys.intern(key.name)
    )


_decision_encoder = msgspec.msgpack.Encoder()
_decision_decoder = msgspec.msgpack.Decoder(PlacementDecision)


class PackedDecisions(MutableMapping[ObjectKey, PlacementDecision]):
    """``key → decision``, each decision kept packed (MessagePack), the most recently used ones also
    decoded.

    Every member's controller reconciles a new decision soon after it arrives, each reading it once:
    the ``recent`` decisions last read or written are kept decoded and handed out as they are (as
    before, when every decision was kept decoded: a decision is frozen and no reader changes it), so
    a fleet of N members decodes a decision about once instead of N times (at 1,000 members a decision
    names 1,000 clusters). The others are decoded when read.
    """

    __slots__ = ("_raw", "_recent", "_recent_size")

    def __init__(self, *, recent: int = 256) -> None:
        self._raw: dict[ObjectKey, bytes] = {}
        self._recent: OrderedDict[ObjectKey, PlacementDecision] = OrderedDict()
        self._recent_size = recent

    def _remember(self, key: ObjectKey, decision: PlacementDecision) -> None:
        self._recent[key] = decision
        self._recent.move_to_end(key)
        if len(self._recent) > self._recent_size:
            self._recent.popitem(last=False)

    def __getitem__(self, key: ObjectKey) -> PlacementDecision:
        decision = self._recent.get(key)
        if decision is None:
            decision = _decision_decoder.decode(self._raw[key])
        self._remember(key, decision)
        return decision

    def __setitem__(self, key: ObjectKey, decision: PlacementDecision) -> None:
        # msgspec hands back the buffer it grew (about 1.5 times the size): keep an exact-size copy
        self._raw[key] = bytes(memoryview(_decision_encoder.encode(decision)))
        self._remember(key, decision)

    def __delitem__(self, key: ObjectKey) -> None:
        del self._raw[key]
        self._recent.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def __iter__(self) -> Iterator[ObjectKey]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

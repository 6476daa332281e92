"""The pure, synchronous object store of one simulated cluster.

All API semantics live here (spec 4.6 to 4.12) so that pytest can drive them without HTTP:
resourceVersions from one counter per cluster, uid/generation/timestamps, optimistic concurrency,
no-op writes that change nothing, finalizers, and a bounded event history for watches.

Watches: a :class:`Watcher` is registered and the history (or the current state) is queued into it
in the same synchronous call, so no event can slip between replay and live delivery. Controllers
subscribe with a synchronous listener and must only enqueue work from it (no re-entrant writes).

Stored objects are never mutated in place: every write builds a new dict, so readers (and the HTTP
layer, which serialises straight from the store) can hold references without copying.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import builtins
import copy
import json
import random
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from . import _errors as err
from ._admission import Admission, validate_name
from ._ownership import Manager, Path, builtin_schema, leaves, manager_string, path_string, remove
from ._patching import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    json_patch,
    merge_patch,
    not_an_object,
    strategic_merge,
)
from ._registry import CRDS, NAMESPACES, Registry, ResourceType
from ._schema import builtin_definition, prune_builtin
from ._schema import validate as validate_schema
from ._selectors import Predicate
from ._validation import object_meta

Obj = dict[str, Any]
GP = tuple[str, str]
_encode = msgspec.json.encode
_GEN_CHARS = "bcdfghjklmnpqrstvwxz2456789"
PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _decode_continue(token: str) -> dict[str, Any]:
    """Our continue token, or the 400 kube-apiserver gives for one it cannot decode (Go's decoder wording)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError as exc:
        raise err.bad_request(
            "invalid continue token: continue key is not valid: illegal base64 data at input byte 0"
        ) from exc
    try:
        data = json.loads(raw)
        if isinstance(data, dict) and {"ns", "name", "rv"} <= set(data):
            return data
        detail = "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
    except (ValueError, UnicodeDecodeError):
        first = raw[:1].decode("latin-1")
        shown = "'\\''" if first == "'" else f"'{first}'" if first.isprintable() else f"'\\u{ord(first):04x}'"
        detail = (
            "continue key is not valid: unexpected end of JSON input"
            if not raw
            else f"continue key is not valid: invalid character {shown} looking for beginning of value"
        )
    raise err.bad_request(f"invalid continue token: {detail}")


class Event:
    """One committed change; ``obj`` is the stored state after it (the final state for DELETED)."""

    __slots__ = ("_enc", "gp", "obj", "old", "rv", "type")

    def __init__(self, rv: int, gp: GP, etype: str, obj: Obj, old: Obj | None) -> None:
        self.rv, self.gp, self.type, self.obj, self.old = rv, gp, etype, obj, old
        self._enc: dict[tuple[str, str], bytes] | None = None

    def encode(self, etype: str, api_version: str) -> bytes:
        """The watch frame for this event, cached per (type, apiVersion) across watchers."""
        key = (etype, api_version)
        if self._enc is None:
            self._enc = {}
        data = self._enc.get(key)
        if data is None:
            obj = (
                self.obj
                if self.obj.get("apiVersion") == api_version
                else {**self.obj, "apiVersion": api_version}
            )
            data = _encode({"type": etype, "object": obj}) + b"\n"
            self._enc[key] = data
        return data


class Watcher:
    """A registered watch: filters events and queues ``(type, Event)``; ``None`` means closed."""

    __slots__ = ("field", "gp", "label", "namespace", "queue")

    def __init__(
        self, gp: GP, namespace: str | None, label: Predicate | None, field: Predicate | None
    ) -> None:
        self.gp, self.namespace, self.label, self.field = gp, namespace, label, field
        self.queue: asyncio.Queue[tuple[str, Event] | None] = asyncio.Queue()

    def matches(self, obj: Obj) -> bool:
        return (self.label is None or self.label(obj)) and (self.field is None or self.field(obj))

    def offer(self, ev: Event) -> None:
        if self.namespace and ev.obj["metadata"].get("namespace") != self.namespace:
            return
        etype = ev.type
        new_match = self.matches(ev.obj)
        if etype == "MODIFIED" and ev.old is not None and (self.label or self.field):
            old_match = self.matches(ev.old)
            if new_match and not old_match:
                etype = "ADDED"
            elif old_match and not new_match:
                # the apiserver's cacher sends the object as it was, at the event's resourceVersion
                old = {**ev.old, "metadata": {**ev.old["metadata"], "resourceVersion": str(ev.rv)}}
                self.queue.put_nowait(("DELETED", Event(ev.rv, ev.gp, "DELETED", old, None)))
                return
            elif not new_match:
                return
        elif not new_match:
            return
        self.queue.put_nowait((etype, ev))

    def close(self) -> None:
        self.queue.put_nowait(None)


class Store:
    """Objects of one cluster keyed by ``(group, plural) -> namespace -> name``."""

    def __init__(self, registry: Registry | None = None, rv_start: int = 1, history: int = 1000) -> None:
        self.registry = registry or Registry()
        self.rv = rv_start
        self.compacted_rv = rv_start
        self.history: deque[Event] = deque(maxlen=history)
        self.admission = Admission()
        self._data: dict[GP, dict[str, dict[str, Obj]]] = {}
        self._watchers: dict[GP, set[Watcher]] = {}
        # sorted snapshots of recent paginated lists: (gp, resourceVersion, namespace) -> (objects, keys)
        self._snapshots: OrderedDict[
            tuple[GP, int, str | None], tuple[dict[tuple[str, str], Obj], builtins.list[tuple[str, str]]]
        ] = OrderedDict()
        self._listeners: list[Callable[[Event], None]] = []
        self._uids: dict[str, tuple[GP, str, str]] = {}
        self._dependents: dict[str, set[tuple[GP, str, str]]] = {}
        # fieldValidation=Warn findings of the current request (read and cleared by the HTTP layer)
        self.warnings: list[str] = []
        # server-side apply: uid -> manager -> owned fields, for objects applied at least once; before
        # that, an object's fields belong to its last writer (uid -> manager name)
        self._owners: dict[str, dict[Manager, set[Path]]] = {}
        self._last_writer: dict[str, str] = {}
        for ns in INITIAL_NAMESPACES:
            self.create(NAMESPACES, "", {"metadata": {"name": ns}})

    # ---- reading -------------------------------------------------------------------------------
    def get(self, rt: ResourceType, ns: str, name: str) -> Obj:
        obj = self.peek(rt.gp, ns if rt.namespaced else "", name)
        if obj is None:
            raise err.not_found(rt.plural, rt.group, name)
        return obj

    def peek(self, gp: GP, ns: str, name: str) -> Obj | None:
        """The stored object or None (no copy: do not mutate)."""
        by_ns = self._data.get(gp)
        if by_ns is None:
            return None
        names = by_ns.get(ns)
        return names.get(name) if names else None

    def by_uid(self, uid: str) -> Obj | None:
        key = self._uids.get(uid)
        return self.peek(*key) if key else None

    def iter_objects(self, gp: GP, ns: str | None = None) -> Iterator[Obj]:
        """Stored objects of a resource (unsorted, no copies)."""
        by_ns = self._data.get(gp)
        if not by_ns:
            return
        if ns is not None:
            yield from list((by_ns.get(ns) or {}).values())
        else:
            for names in list(by_ns.values()):
                yield from list(names.values())

    def dependents(self, owner_uid: str) -> list[tuple[GP, str, str]]:
        return list(self._dependents.get(owner_uid, ()))

    def count(self, gp: GP) -> int:
        return sum(len(n) for n in (self._data.get(gp) or {}).values())

    def list(
        self,
        rt: ResourceType,
        ns: str | None,
        label: Predicate | None = None,
        field: Predicate | None = None,
        limit: int | None = None,
        cont: str | None = None,
        at: int | None = None,
    ) -> tuple[list[Obj], str, str | None, int | None]:
        """Items sorted by namespace then name, the list resourceVersion, a continue token and, for a
        chunk of an unfiltered list, how many items remain.

        Like etcd, every chunk of a paginated list (and a list at an exact ``at`` resourceVersion) is
        served from the same snapshot: later writes are rolled back through the event history; a
        snapshot older than the history is 410 Expired."""
        list_rv = str(self.rv)
        if cont:
            token = _decode_continue(cont)
            start: tuple[str, str] | None = (token["ns"], token["name"])
            list_rv, at = str(token["rv"]), int(token["rv"])
        else:
            start = None
            if at is not None:
                list_rv = str(at)
        if at is not None and at < self.rv and at < self.compacted_rv:
            if cont:
                raise err.expired(
                    "The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter, or use the continue token "
                    "in this response to retrieve the remainder of the results. Continuing with the "
                    "provided token results in an inconsistent list - objects that were created, "
                    "modified, or deleted between the time the first chunk was returned and now may "
                    "show up in the list."
                )
            raise err.expired("The resourceVersion for the provided list is too old.")
        snapshot_rv = at if at is not None and at < self.rv else self.rv
        objects, keys = self._sorted_snapshot(rt.gp, snapshot_rv, ns if ns and rt.namespaced else None, limit)
        first = 0 if start is None else bisect.bisect_right(keys, start)  # no copy of the snapshot's keys
        items: list[Obj] = []
        next_token = None
        remaining: int | None = None
        for i in range(first, len(keys)):
            obj = objects[keys[i]]
            if (label is None or label(obj)) and (field is None or field(obj)):
                if limit and len(items) >= limit:
                    prev = items[-1]["metadata"]
                    next_token = base64.urlsafe_b64encode(
                        json.dumps(
                            {"ns": prev.get("namespace", ""), "name": prev["name"], "rv": int(list_rv)}
                        ).encode()
                    ).decode()
                    if label is None and field is None:
                        remaining = len(keys) - i
                    break
                items.append(obj)
        return items, list_rv, next_token, remaining

    def _sorted_snapshot(
        self, gp: GP, rv: int, ns: str | None, limit: int | None
    ) -> tuple[dict[tuple[str, str], Obj], builtins.list[tuple[str, str]]]:
        """The objects of ``gp`` at ``rv`` (in namespace ``ns``) and their keys sorted. The chunks of a
        paginated list share one snapshot (kept for the last few lists; every write moves ``self.rv``,
        so a kept one is never stale): sorting N objects per chunk made a full list cost N²/limit, where
        etcd reads each chunk as a range."""
        cache_key = (gp, rv, ns)
        kept = self._snapshots.get(cache_key)
        if kept is not None:
            self._snapshots.move_to_end(cache_key)
            return kept
        if rv < self.rv:
            objects = self._state_at(gp, rv)
        else:
            objects = {
                (kns, n): o for kns, names in (self._data.get(gp) or {}).items() for n, o in names.items()
            }
        keys = sorted(k for k in objects if k[0] == ns) if ns is not None else sorted(objects)
        if limit:
            self._snapshots[cache_key] = (objects, keys)
            while len(self._snapshots) > 4:
                self._snapshots.popitem(last=False)
        return objects, keys

    def _state_at(self, gp: GP, rv: int) -> dict[tuple[str, str], Obj]:
        """The objects of ``gp`` as they were at ``rv`` (the history must reach back that far)."""
        objects = {(kns, n): o for kns, names in (self._data.get(gp) or {}).items() for n, o in names.items()}
        for ev in reversed(self.history):
            if ev.rv <= rv:
                break
            if ev.gp != gp:
                continue
            meta = ev.obj["metadata"]
            key = (meta.get("namespace", ""), meta["name"])
            if ev.type == "ADDED":
                objects.pop(key, None)
            elif ev.old is not None:
                objects[key] = ev.old
        return objects

    # ---- writing -------------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Call ``listener(event)`` synchronously after every committed change."""
        self._listeners.append(listener)

    def _check_namespace(self, rt: ResourceType, ns: str, name: str = "") -> None:
        nsobj = self.peek(NAMESPACES.gp, "", ns)
        if nsobj is None:
            raise err.namespace_not_found(ns)
        if nsobj["metadata"].get("deletionTimestamp"):
            raise err.ApiError(
                403,
                "Forbidden",
                f'{err.qualified(rt.plural, rt.group)} "{name}" is forbidden: unable to create new '
                f"content in namespace {ns} because it is being terminated",
                {
                    **err.details(name, rt.group, rt.plural),
                    "causes": [
                        {
                            "reason": "NamespaceTerminating",
                            "message": f"namespace {ns} is being terminated",
                            "field": "metadata.namespace",
                        }
                    ],
                },
            )

    def _schema_check(
        self, rt: ResourceType, obj: Obj, validation: str | None, version: str | None
    ) -> tuple[Obj, builtins.list[dict[str, str]]]:
        """Prune and validate a custom resource against its version's schema: (pruned object, 422 causes).

        Unknown fields are warned about (``fieldValidation`` unset or ``Warn``, the server's default),
        refused (``Strict``, 400) or dropped silently (``Ignore``), sorted as the apiserver lists them."""
        if rt.builtin:
            definition = builtin_definition(rt.group, version or rt.storage_version, rt.kind)
            pruned, unknown = prune_builtin(obj, definition) if definition else (obj, [])
            causes: list[dict[str, str]] = []
        else:
            schema = rt.schemas.get(version or rt.storage_version)
            pruned, causes, unknown = validate_schema(obj, schema)
            unknown = sorted(unknown)
        if unknown and validation == "Strict":
            kind, ver = rt.kind, version or rt.storage_version
            raise err.bad_request(
                f'{kind} in version "{ver}" cannot be handled as a {kind}: strict decoding error: '
                + ", ".join(f'unknown field "{u}"' for u in unknown)
            )
        if unknown and validation in (None, "", "Warn"):
            self.warnings.extend(f'unknown field "{u}"' for u in unknown)
        return pruned, causes

    def create(
        self,
        rt: ResourceType,
        ns: str,
        body: Any,
        *,
        dry_run: bool = False,
        validation: str | None = None,
        version: str | None = None,
        field_manager: str | None = None,
    ) -> Obj:
        """POST: 201 semantics; raises ApiError."""
        if not isinstance(body, dict):
            raise err.bad_request("the body of the request was in an unknown format")
        meta = body.get("metadata") or {}
        if not isinstance(meta, dict):
            raise err.bad_request("metadata must be an object")
        if rt.namespaced:
            bns = meta.get("namespace")
            if bns and ns and bns != ns:
                raise err.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            ns = ns or bns or ""
            if not ns:
                raise err.bad_request("the namespace of the object is missing")
        else:
            ns = ""
        name = meta.get("name") or ""
        if not isinstance(name, str) or not isinstance(meta.get("generateName") or "", str):
            raise err.bad_request(
                f'{rt.kind} in version "{version or rt.storage_version}" cannot be handled as a '
                f"{rt.kind}: json: cannot unmarshal {type(name).__name__} into Go struct field "
                "ObjectMeta.metadata.name of type string"
            )
        if not name:
            prefix = meta.get("generateName")
            if prefix:
                for _ in range(50):
                    name = prefix + "".join(random.choices(_GEN_CHARS, k=5))
                    if self.peek(rt.gp, ns, name) is None:
                        break
        if meta.get("resourceVersion"):
            raise err.internal("resourceVersion should not be set on objects to be created")
        if rt.namespaced:
            self._check_namespace(rt, ns, name)
        causes: list[dict[str, str]] = []
        try:
            if name:
                validate_name(rt, name)
        except err.ApiError as e:
            causes += (e.details or {}).get("causes") or []
        causes += [
            c for c in object_meta({**meta, "name": name}, lambda _: [], create=True, builtin=rt.builtin)
        ]
        obj = dict(body)
        obj["apiVersion"] = rt.api_version(version)
        obj["kind"] = rt.kind
        newmeta = {
            k: v
            for k, v in meta.items()
            if k
            not in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "resourceVersion",
                "selfLink",
                "managedFields",
            )
        }
        newmeta["name"] = name
        if ns:
            newmeta["namespace"] = ns
        newmeta["uid"] = str(uuid.uuid4())
        newmeta["creationTimestamp"] = now_rfc3339()
        if rt.generation:
            newmeta["generation"] = 1
        obj["metadata"] = newmeta
        if rt.status:
            obj.pop("status", None)
        obj, schema_causes = self._schema_check(rt, obj, validation, version)
        causes += schema_causes
        try:
            causes += self.admission.on_create(rt, obj)
        except (AttributeError, TypeError, KeyError) as exc:  # a body no Go type would decode
            raise err.bad_request(
                f'{rt.kind} in version "{version or rt.storage_version}" cannot be handled as a '
                f"{rt.kind}: {exc}"
            ) from exc
        if causes:
            raise err.invalid(rt.kind, rt.group, name, causes)
        if self.peek(rt.gp, ns, name) is not None:
            raise err.already_exists(rt.plural, rt.group, name)
        if dry_run:
            obj["metadata"]["resourceVersion"] = str(self.rv)
            return obj
        created = self._commit(rt.gp, "ADDED", obj, None)
        if field_manager:
            self._last_writer[newmeta["uid"]] = field_manager
        return created

    def update(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        validation: str | None = None,
        version: str | None = None,
        field_manager: str | None = None,
    ) -> Obj:
        """PUT (main resource or ``status``): 409 on a stale resourceVersion, no-op writes are free."""
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise err.bad_request("the body of the request was in an unknown format")
        old = self.get(rt, ns, name)
        meta = body.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise err.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        if rt.namespaced and meta.get("namespace") and meta["namespace"] != ns:
            raise err.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        rv = meta.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise err.conflict(rt.plural, rt.group, name)
        new = self._prepare_update(rt, old, body, subresource, validation, version)
        written = self._write(rt, old, new, dry_run)
        if not dry_run and subresource is None:
            self._updated(rt, version, old, written, field_manager or "")
        return written

    def _prepare_update(
        self,
        rt: ResourceType,
        old: Obj,
        body: Obj,
        subresource: str | None,
        validation: str | None,
        version: str | None,
    ) -> Obj:
        if subresource == "status":
            new = dict(old)
            new["metadata"] = dict(old["metadata"])
            if body.get("status") is None:
                new.pop("status", None)
            else:
                new["status"] = body["status"]
            causes: list[dict[str, str]] = []
            if not rt.builtin:
                new, causes = self._schema_check(rt, new, validation, version)
            causes += self.admission.on_update(rt, old, new, "status")
            if causes:
                raise err.invalid(rt.kind, rt.group, old["metadata"]["name"], causes)
            return new
        new = dict(body)
        new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
        meta = dict(body.get("metadata") or {})
        ometa = old["metadata"]
        for f in (
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        ):
            if f in ometa:
                meta[f] = ometa[f]
            else:
                meta.pop(f, None)
        meta.pop("managedFields", None)
        new["metadata"] = meta
        if rt.status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        new, causes = self._schema_check(rt, new, validation, version)
        causes += object_meta(meta, lambda _: [], create=False, builtin=rt.builtin)
        if ometa.get("deletionTimestamp"):
            added = sorted(set(meta.get("finalizers") or ()) - set(ometa.get("finalizers") or ()))
            if added:
                shown = ", ".join(f'"{f}"' for f in added)
                causes.append(
                    {
                        "reason": "FieldValueForbidden",
                        "field": "metadata.finalizers",
                        "message": "Forbidden: no new finalizers can be added if the object is being "
                        f"deleted, found new finalizers []string{{{shown}}}",
                    }
                )
        causes += self.admission.on_update(rt, old, new)
        if causes:
            raise err.invalid(rt.kind, rt.group, ometa["name"], causes)
        if rt.generation and self._spec_changed(rt, old, new):
            meta["generation"] = ometa.get("generation", 1) + 1
        return new

    @staticmethod
    def _spec_changed(rt: ResourceType, old: Obj, new: Obj) -> bool:
        if rt.builtin:
            return old.get("spec") != new.get("spec")
        skip = ("metadata", "status") if rt.status else ("metadata",)
        keys = (set(old) | set(new)) - set(skip) - {"apiVersion", "kind"}
        return any(old.get(k) != new.get(k) for k in keys)

    def _write(self, rt: ResourceType, old: Obj, new: Obj, dry_run: bool = False) -> Obj:
        """Commit ``new`` over ``old``: nothing if equal; removal if the last finalizer went."""
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:
            return old
        if dry_run:
            return new
        if (
            new["metadata"].get("deletionTimestamp")
            and not new["metadata"].get("finalizers")
            and not (rt.gp == NAMESPACES.gp and (new.get("spec") or {}).get("finalizers"))
        ):
            return self._commit(rt.gp, "DELETED", new, old)
        return self._commit(rt.gp, "MODIFIED", new, old)

    def patch(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        content_type: str,
        patch: Any,
        *,
        subresource: str | None = None,
        field_manager: str | None = None,
        dry_run: bool = False,
        validation: str | None = None,
        version: str | None = None,
        force: bool = False,
    ) -> tuple[Obj, bool]:
        """PATCH of any supported type; returns (object, created) (apply-patch may create)."""
        if content_type == STRATEGIC_PATCH and not rt.builtin:
            raise err.unsupported_media_type(STRATEGIC_PATCH, [JSON_PATCH, MERGE_PATCH, APPLY_PATCH])
        if content_type == APPLY_PATCH:
            if not field_manager:
                raise err.invalid_options(
                    "PatchOptions",
                    [
                        {
                            "reason": "FieldValueRequired",
                            "field": "fieldManager",
                            "message": "Required value: is required for apply patch",
                        }
                    ],
                )
            if not isinstance(patch, dict):
                raise err.bad_request("error decoding YAML: the apply patch must be an object")
            kind, api_version = patch.get("kind") or "", patch.get("apiVersion") or ""
            if kind != rt.kind or api_version != rt.api_version(version):
                group, _, ver = api_version.rpartition("/")
                raise err.bad_request(f"invalid object type: {group}/{ver}, Kind={kind}")
        old = self.peek(rt.gp, ns if rt.namespaced else "", name)
        if old is None:
            if content_type == APPLY_PATCH and subresource is None:
                body = copy.deepcopy(patch)  # defaults must not leak into the remembered configuration
                meta = dict(body.get("metadata") or {})
                if meta.get("name") and meta["name"] != name:
                    raise err.bad_request(
                        f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
                    )
                meta["name"] = name
                meta.pop("resourceVersion", None)
                body["metadata"] = meta
                created = self.create(rt, ns, body, dry_run=dry_run, validation=validation, version=version)
                if not dry_run:
                    self._owners[created["metadata"]["uid"]] = {
                        (field_manager or "", "Apply"): set(
                            leaves(patch, self._ownership_schema(rt, version))
                        )
                    }
                return created, True
            raise err.not_found(rt.plural, rt.group, name)
        patched: Any
        if content_type == JSON_PATCH:
            patched = json_patch(old, patch)
        elif not isinstance(patch, dict):
            raise not_an_object(patch)
        elif content_type == APPLY_PATCH:
            patched, owners = self._apply(rt, old, patch, field_manager or "", force, version)
        elif content_type == MERGE_PATCH:
            patched = merge_patch(old, patch)
        else:
            patched = strategic_merge(old, patch, rt.kind)
        if not isinstance(patched, dict):
            raise err.bad_request("the patch produced an invalid object")
        pmeta = patched.get("metadata")
        if not isinstance(pmeta, dict):
            raise err.bad_request("metadata must be an object")
        meta = pmeta
        if meta.get("name", name) != name:
            raise err.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        rv = meta.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise err.conflict(rt.plural, rt.group, name)
        new = self._prepare_update(rt, old, patched, subresource, validation, version)
        written = self._write(rt, old, new, dry_run)
        if not dry_run:
            if content_type == APPLY_PATCH:
                self._owners[old["metadata"]["uid"]] = owners
            elif subresource is None:
                self._updated(rt, version, old, written, field_manager or "")
        return written, False

    def _ownership_schema(self, rt: ResourceType, version: str | None) -> dict[str, Any] | None:
        if rt.builtin:
            return builtin_schema(builtin_definition(rt.group, version or rt.storage_version, rt.kind))
        return rt.schemas.get(version or rt.storage_version)

    def _apply(
        self, rt: ResourceType, old: Obj, config: Obj, manager: str, force: bool, version: str | None
    ) -> tuple[Obj, dict[Manager, set[Path]]]:
        """Server-side apply onto ``old``: the merged object and the owner sets it leaves (409 on conflicts).

        A field this manager applies with a value different from the live one, and that another manager
        owns, is a conflict (``force`` takes it over); a field it applied before and no longer does is
        removed unless another manager owns it too."""
        uid = old["metadata"]["uid"]
        schema = self._ownership_schema(rt, version)
        live = leaves(old, schema)
        owners = {m: set(s) for m, s in (self._owners.get(uid) or {}).items()}
        if not owners:  # first apply: everything there belongs to whoever wrote it last
            owners = {(self._last_writer.get(uid, "before-first-apply"), "Update"): set(live)}
        me: Manager = (manager, "Apply")
        applied = leaves(config, schema)
        conflicts = sorted(
            (
                (m, p)
                for p, v in applied.items()
                if p in live and live[p] != v
                for m, owned in owners.items()
                if m != me and p in owned
            ),
            key=lambda c: (c[0], path_string(c[1])),
        )
        if conflicts and not force:
            av = rt.api_version(version)
            causes = [
                {
                    "reason": "FieldManagerConflict",
                    "message": f"conflict with {manager_string(m, av)}",
                    "field": path_string(p),
                }
                for m, p in conflicts
            ]
            if len(conflicts) == 1:
                message = f"Apply failed with 1 conflict: {causes[0]['message']}: {causes[0]['field']}"
            else:
                lines: list[str] = []
                for m in sorted({m for m, _ in conflicts}):
                    lines.append(f"conflicts with {manager_string(m, av)}:")
                    lines += [f"- {path_string(p)}" for n, p in conflicts if n == m]
                message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
            raise err.ApiError(409, "Conflict", message, {"causes": causes})
        for m, p in conflicts:
            owners[m].discard(p)
        merged = copy.deepcopy(
            strategic_merge(old, config, rt.kind) if rt.builtin else merge_patch(old, config)
        )
        others = [p for m, owned in owners.items() if m != me for p in owned]
        # whole list items first (found by their keys, which the field removals would take away), then fields
        for p in sorted(owners.get(me, set()) - set(applied), key=lambda p: (p[-1] != ("item",), len(p))):
            prefix = p[:-1] if p[-1] == ("item",) else p
            if not any(q[: len(prefix)] == prefix for q in others):
                remove(merged, p)
        owners[me] = set(applied)
        return merged, {m: s for m, s in owners.items() if s}

    def _updated(self, rt: ResourceType, version: str | None, old: Obj, new: Obj, manager: str) -> None:
        """An update (not an apply) takes the fields it changed from their previous owners."""
        uid = new["metadata"]["uid"]
        owners = self._owners.get(uid)
        if owners is None:
            self._last_writer[uid] = manager
            return
        if new is old:
            return
        schema = self._ownership_schema(rt, version)
        before, after = leaves(old, schema), leaves(new, schema)
        changed = {p for p, v in after.items() if p not in before or before[p] != v}
        gone = set(before) - set(after)
        for owned in owners.values():
            owned -= changed
            owned -= gone
        owners.setdefault((manager, "Update"), set()).update(changed)

    def delete(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        *,
        propagation: str | None = None,
        preconditions: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """DELETE: returns (object or Status, removed-now)."""
        old = self.get(rt, ns, name)
        ometa = old["metadata"]
        if preconditions:
            uid, rv = preconditions.get("uid"), preconditions.get("resourceVersion")
            # rest.BeforeDelete names the kind, not the resource, in these two
            if uid and uid != ometa["uid"]:
                raise err.conflict(
                    rt.kind,
                    rt.group,
                    name,
                    f"the UID in the precondition ({uid}) does not match the UID in record "
                    f"({ometa['uid']}). The object might have been deleted and then recreated",
                )
            if rv and rv != ometa["resourceVersion"]:
                raise err.conflict(
                    rt.kind,
                    rt.group,
                    name,
                    f"the ResourceVersion in the precondition ({rv}) does not match the "
                    f"ResourceVersion in record ({ometa['resourceVersion']}). The object might have "
                    "been modified",
                )
        if rt.gp == NAMESPACES.gp:
            if name in PROTECTED_NAMESPACES:
                raise err.ApiError(
                    403,
                    "Forbidden",
                    f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                    err.details(name, "", "namespaces"),
                )
            if ometa.get("deletionTimestamp"):
                return old, False
            new = self._mark_deleting(old, [])
            new["status"] = {**(old.get("status") or {}), "phase": "Terminating"}
            return (new if dry_run else self._commit(rt.gp, "MODIFIED", new, old)), False
        finalizers = list(ometa.get("finalizers") or [])
        extra = []
        if rt.gp == CRDS.gp:
            extra.append("customresourcecleanup.apiextensions.k8s.io")
        if propagation == "Foreground":
            extra.append("foregroundDeletion")
        elif propagation == "Orphan":
            extra.append("orphan")
        if ometa.get("deletionTimestamp"):
            return old, False
        for f in extra:
            if f not in finalizers:
                finalizers.append(f)
        if finalizers:
            new = self._mark_deleting(old, finalizers)
            if rt.generation and "generation" in ometa:
                new["metadata"]["generation"] = ometa["generation"] + 1
            return (new if dry_run else self._commit(rt.gp, "MODIFIED", new, old)), False
        if not dry_run:
            self._commit(rt.gp, "DELETED", dict(old), old)
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {**err.details(name, rt.group, rt.plural), "uid": ometa["uid"]},
        }
        return status, True

    @staticmethod
    def _mark_deleting(old: Obj, finalizers: builtins.list[str]) -> Obj:
        new = dict(old)
        meta = dict(old["metadata"])
        meta["deletionTimestamp"] = now_rfc3339()
        meta["deletionGracePeriodSeconds"] = 0
        if finalizers:
            meta["finalizers"] = finalizers
        new["metadata"] = meta
        return new

    def remove(self, gp: GP, ns: str, name: str) -> None:
        """Remove an object right away (controllers: namespace finalization, CRD cleanup)."""
        old = self.peek(gp, ns, name)
        if old is not None:
            self._commit(gp, "DELETED", dict(old), old)

    def _commit(self, gp: GP, etype: str, obj: Obj, old: Obj | None) -> Obj:
        self.rv += 1
        meta = dict(obj["metadata"])
        meta["resourceVersion"] = str(self.rv)
        obj["metadata"] = meta
        ns, name = meta.get("namespace", ""), meta["name"]
        key = (gp, ns, name)
        if etype == "DELETED":
            by_ns = self._data[gp]
            del by_ns[ns][name]
            if not by_ns[ns]:
                del by_ns[ns]
            self._uids.pop(meta["uid"], None)
            self._owners.pop(meta["uid"], None)
            self._last_writer.pop(meta["uid"], None)
            self._index_owners(key, old, None)
        else:
            self._data.setdefault(gp, {}).setdefault(ns, {})[name] = obj
            if old is None:
                self._uids[meta["uid"]] = key
            self._index_owners(key, old, obj)
        ev = Event(self.rv, gp, etype, obj, old)
        history = self.history
        if history.maxlen is not None and len(history) == history.maxlen and history:
            self.compacted_rv = history[0].rv
        history.append(ev)
        watchers = self._watchers.get(gp)
        if watchers:
            for w in list(watchers):
                w.offer(ev)
        for listener in self._listeners:
            listener(ev)
        return obj

    def _index_owners(self, key: tuple[GP, str, str], old: Obj | None, new: Obj | None) -> None:
        before = {r.get("uid") for r in (old or {}).get("metadata", {}).get("ownerReferences") or ()}
        after = {r.get("uid") for r in (new or {}).get("metadata", {}).get("ownerReferences") or ()}
        if before == after:
            return
        for uid in before - after:
            deps = self._dependents.get(uid)
            if deps:
                deps.discard(key)
                if not deps:
                    del self._dependents[uid]
        for uid in after - before:
            if uid:
                self._dependents.setdefault(uid, set()).add(key)

    # ---- watching ------------------------------------------------------------------------------
    def watch(
        self,
        rt: ResourceType,
        ns: str | None,
        label: Predicate | None = None,
        field: Predicate | None = None,
        resource_version: str | None = None,
        send_initial_events: bool = False,
    ) -> Watcher:
        """Register a watcher and queue its initial events; 410 ApiError if the RV is compacted.

        With ``send_initial_events`` the queue gets a ``("BOOKMARK", <Event>)`` marker after the
        synthetic ADDED events (the ``k8s.io/initial-events-end`` bookmark).
        """
        start: int | None = None
        if resource_version not in (None, "", "0") and not send_initial_events:
            try:
                start = int(str(resource_version))
            except ValueError as exc:
                raise err.bad_request(f"invalid resource version: {resource_version}") from exc
            if start < self.compacted_rv:
                raise err.expired(f"too old resource version: {start} ({self.compacted_rv})")
        w = Watcher(rt.gp, ns if rt.namespaced and ns else None, label, field)
        self._watchers.setdefault(rt.gp, set()).add(w)
        if start is None:
            for obj in self.iter_objects(rt.gp, w.namespace):
                if w.matches(obj):
                    w.queue.put_nowait(
                        ("ADDED", Event(int(obj["metadata"]["resourceVersion"]), rt.gp, "ADDED", obj, None))
                    )
            if send_initial_events:
                mark = {
                    "kind": rt.kind,
                    "apiVersion": rt.api_version(),
                    "metadata": {
                        "resourceVersion": str(self.rv),
                        "annotations": {"k8s.io/initial-events-end": "true"},
                    },
                }
                w.queue.put_nowait(("BOOKMARK", Event(self.rv, rt.gp, "BOOKMARK", mark, None)))
        else:
            for ev in self.history:
                if ev.rv > start and ev.gp == rt.gp:
                    w.offer(ev)
        return w

    def unwatch(self, w: Watcher) -> None:
        ws = self._watchers.get(w.gp)
        if ws is not None:
            ws.discard(w)
            if not ws:
                del self._watchers[w.gp]

    def drop_watches(self) -> int:
        """Close every open watch (clients see the stream end and re-watch)."""
        n = 0
        for ws in list(self._watchers.values()):
            for w in list(ws):
                w.close()
                n += 1
        self._watchers.clear()
        return n

    def close_watchers(self, gp: GP) -> None:
        """End the watches of one resource (its CRD was deleted)."""
        for w in self._watchers.pop(gp, set()):
            w.close()

    def compact(self) -> None:
        """Forget the whole event history: a watch from any earlier RV now gets 410."""
        self.history.clear()
        self.compacted_rv = self.rv

    @property
    def watch_count(self) -> int:
        return sum(len(ws) for ws in self._watchers.values())

"""RBAC authorization (opt-in per fleet): who may do what, from the stored RBAC objects.

A pure function of the request attributes and the cluster's Roles, ClusterRoles, RoleBindings and
ClusterRoleBindings, following kube-apiserver's RBAC authorizer (``plugin/pkg/auth/authorizer/rbac``):

* a ClusterRoleBinding grants its ClusterRole's rules everywhere; a RoleBinding grants its Role's (or
  ClusterRole's) rules in the binding's namespace only;
* subjects match by ``User`` name, ``Group`` name, or ``ServiceAccount`` namespace/name (an empty
  service-account namespace in a RoleBinding means the binding's namespace);
* rules match with ``*`` wildcards on verbs, API groups and resources, ``*/<subresource>``,
  ``resourceNames`` (a request without a name, list or create, never matches a rule that names
  objects), and ``nonResourceURLs`` (exact, ``*`` or a ``prefix*``).

Aggregated ClusterRoles are not evaluated. The bootstrap roles every authenticated user has
(``system:discovery``, ``system:public-info-viewer``, ``system:basic-user``) are built in, so that
discovery, ``/version``, ``/healthz`` and self access reviews stay open without stored objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from . import _errors as err
from ._protobuf import MAGIC, ProtobufError, fields

RBAC = "rbac.authorization.k8s.io"
ROLES, CLUSTERROLES = (RBAC, "roles"), (RBAC, "clusterroles")
ROLEBINDINGS, CLUSTERROLEBINDINGS = (RBAC, "rolebindings"), (RBAC, "clusterrolebindings")
SA_PREFIX = "system:serviceaccount:"
AUTHENTICATED = "system:authenticated"

# What kube-apiserver's bootstrap policy binds to system:authenticated.
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    # system:discovery + system:public-info-viewer
    {
        "verbs": ["get"],
        "nonResourceURLs": [
            "/api",
            "/api/*",
            "/apis",
            "/apis/*",
            "/healthz",
            "/livez",
            "/openapi",
            "/openapi/*",
            "/readyz",
            "/version",
            "/version/",
        ],
    },
    # system:service-account-issuer-discovery (bound to system:serviceaccounts, which every token under RBAC
    # is)
    {
        "verbs": ["get"],
        "nonResourceURLs": [
            "/.well-known/openid-configuration",
            "/.well-known/openid-configuration/",
            "/openid/v1/jwks",
            "/openid/v1/jwks/",
        ],
    },
    # system:basic-user
    {
        "verbs": ["create"],
        "apiGroups": ["authorization.k8s.io"],
        "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
    },
)

_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


class ObjectSource(Protocol):
    """What the authorizer reads: the store's ``iter_objects`` and ``peek`` (or a test double)."""

    def iter_objects(self, gp: tuple[str, str], ns: str | None = None) -> Iterable[dict[str, Any]]: ...

    def peek(self, gp: tuple[str, str], ns: str, name: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Attributes:
    """One request as the authorizer sees it (``path`` set = non-resource request)."""

    user: str
    groups: tuple[str, ...]
    verb: str
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str | None = None


class Access(NamedTuple):
    """One request as RBAC judged it (``ClusterServer.denied`` and ``ClusterServer.granted``)."""

    user: str
    verb: str
    resource: str  # "<resource>[/<subresource>]", or the path of a non-resource request
    namespace: str
    name: str
    group: str


def service_account_user(namespace: str, name: str) -> tuple[str, tuple[str, ...]]:
    """User name and groups a service-account token authenticates as."""
    return (
        f"{SA_PREFIX}{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED),
    )


def request_verb(method: str, has_name: bool, watch: bool) -> str:
    """kube-apiserver's verb for a resource request."""
    if method in ("GET", "HEAD"):
        if watch:
            return "watch"
        return "get" if has_name else "list"
    if method == "DELETE":
        return "delete" if has_name else "deletecollection"
    return _METHOD_VERBS.get(method, method.lower())


# ---- matching ----------------------------------------------------------------------------------
def _has(values: Iterable[str] | None, wanted: str) -> bool:
    values = values or ()
    return "*" in values or wanted in values


def _resource_matches(rule: dict[str, Any], resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for r in rule.get("resources") or ():
        if r == "*" or r == combined:
            return True
        if subresource and r == f"*/{subresource}":
            return True
    return False


def _url_matches(rule: dict[str, Any], path: str) -> bool:
    for u in rule.get("nonResourceURLs") or ():
        if u == "*" or u == path or (u.endswith("*") and path.startswith(u[:-1])):
            return True
    return False


def rule_allows(rule: dict[str, Any], a: Attributes) -> bool:
    """Does one PolicyRule allow the request?"""
    if not _has(rule.get("verbs"), a.verb):
        return False
    if a.path is not None:
        return _url_matches(rule, a.path)
    if not _has(rule.get("apiGroups"), a.api_group) or not _resource_matches(rule, a.resource, a.subresource):
        return False
    names = rule.get("resourceNames") or ()
    return not names or a.name in names


def _subject_matches(subject: dict[str, Any], a: Attributes, binding_ns: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == a.user
    if kind == "Group":
        return name in a.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return a.user == f"{SA_PREFIX}{ns}:{name}"
    return False


def _role_rules(source: ObjectSource, ref: dict[str, Any], binding_ns: str) -> list[dict[str, Any]]:
    kind, name = ref.get("kind"), ref.get("name") or ""
    if kind == "ClusterRole":
        role = source.peek(CLUSTERROLES, "", name)
    elif kind == "Role" and binding_ns:
        role = source.peek(ROLES, binding_ns, name)
    else:
        role = None
    return list((role or {}).get("rules") or ())


def applicable_rules(source: ObjectSource, a: Attributes) -> Iterator[dict[str, Any]]:
    """Every rule granted to the requester that applies to the request's namespace."""
    if AUTHENTICATED in a.groups:
        yield from DEFAULT_RULES
    for crb in source.iter_objects(CLUSTERROLEBINDINGS):
        if any(_subject_matches(s, a, "") for s in crb.get("subjects") or ()):
            yield from _role_rules(source, crb.get("roleRef") or {}, "")
    if a.namespace and a.path is None:
        for rb in source.iter_objects(ROLEBINDINGS, a.namespace):
            if any(_subject_matches(s, a, a.namespace) for s in rb.get("subjects") or ()):
                yield from _role_rules(source, rb.get("roleRef") or {}, a.namespace)


def authorize(source: ObjectSource, a: Attributes) -> bool:
    """Allowed by some rule (RBAC has no deny rules)."""
    return any(rule_allows(rule, a) for rule in applicable_rules(source, a))


# ---- the 403 ----------------------------------------------------------------------------------
def forbidden_reason(a: Attributes) -> str:
    """The authorizer's sentence, as kube-apiserver words it."""
    if a.path is not None:
        return f'User "{a.user}" cannot {a.verb} path "{a.path}"'
    resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    where = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
    return f'User "{a.user}" cannot {a.verb} resource "{resource}" in API group "{a.api_group}" {where}'


def forbidden(a: Attributes) -> err.ApiError:
    """The 403 ``Forbidden`` Status of a denied request."""
    reason = forbidden_reason(a)
    if a.path is not None:
        return err.ApiError(403, "Forbidden", f"forbidden: {reason}", {})
    what = err.qualified(a.resource, a.api_group)
    message = f'{what} "{a.name}" is forbidden: {reason}' if a.name else f"{what} is forbidden: {reason}"
    return err.ApiError(403, "Forbidden", message, err.details(a.name, a.api_group, a.resource))


def access(a: Attributes) -> Access:
    if a.path is not None:
        return Access(a.user, a.verb, a.path, "", "", "")
    resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    return Access(a.user, a.verb, resource, a.namespace, a.name, a.api_group)


def identify_bound(source: Any, bound_uid: str) -> tuple[str, tuple[str, ...]] | None:
    """The service account behind a token bound to ``bound_uid`` (a token Secret or the ServiceAccount)."""
    obj = source.by_uid(bound_uid)
    if obj is None:
        return None
    meta = obj["metadata"]
    if obj.get("kind") == "Secret" or "type" in obj:
        sa = (meta.get("annotations") or {}).get("kubernetes.io/service-account.name")
        if not sa:
            return None
        return service_account_user(meta.get("namespace", ""), sa)
    return service_account_user(meta.get("namespace", ""), meta["name"])


_RESOURCE_ATTRS = {
    1: "namespace",
    2: "verb",
    3: "group",
    4: "version",
    5: "resource",
    6: "subresource",
    7: "name",
}


def decode_review_spec(body: bytes) -> dict[str, Any] | None:
    """The spec of a protobuf (Self)SubjectAccessReview (what ``kubectl auth can-i`` sends), or None.

    Field numbers from k8s.io/api/authorization/v1/generated.proto: review {metadata=1, spec=2};
    spec {resourceAttributes=1, nonResourceAttributes=2, user=3, groups=4}; ResourceAttributes
    {namespace=1, verb=2, group=3, version=4, resource=5, subresource=6, name=7};
    NonResourceAttributes {path=1, verb=2}. A SelfSubjectAccessReviewSpec has only the first two.
    """
    try:
        if not body.startswith(MAGIC):
            return None
        envelope = dict(fields(body[len(MAGIC) :]))
        review = dict(fields(envelope.get(2, b"")))
        spec_fields = fields(review.get(2, b""))
        spec: dict[str, Any] = {}
        for num, val in spec_fields:
            if num == 1:
                spec["resourceAttributes"] = {
                    _RESOURCE_ATTRS[n]: v.decode() for n, v in fields(val) if n in _RESOURCE_ATTRS
                }
            elif num == 2:
                spec["nonResourceAttributes"] = {
                    {1: "path", 2: "verb"}[n]: v.decode() for n, v in fields(val) if n in (1, 2)
                }
            elif num == 3:
                spec["user"] = val.decode()
            elif num == 4:
                spec.setdefault("groups", []).append(val.decode())
        return spec
    except (ProtobufError, UnicodeDecodeError, AttributeError):
        return None

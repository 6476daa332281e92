"""Which host cluster the state on the bus describes.

Watch checkpoints and placement decisions are facts about one host cluster: resourceVersions of its
storage, objects known by name. NATS outlives clusters (``kubefed up`` run again against a recreated
kind cluster, a control plane pointed at a rebuilt host), and against another host that state is
wrong: its resourceVersions come from another history and cannot be compared with the new ones, and
its decisions name objects the new host may not have. So every piece of such state carries the
identity of the host it was derived from, the UID of the host's ``kube-system`` namespace (created
once per cluster, never deleted, the usual cluster id of Kubernetes tools), and a service that meets
state of another host does not act on it: it logs one line, discards or re-derives the state from the
host it serves, and carries on.

A host whose ``kube-system`` namespace cannot be read (RBAC not updated yet) leaves the binding off:
the identity is ``""`` and all state is accepted. State that names no host (written before the binding
existed, or by a service with the binding off) cannot be judged and is accepted too, so services whose
RBAC was updated at different times still work together; only state that names *another* host is
refused.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.errors import NotFoundError, UnauthorizedError
from shared.k8s import NAMESPACES, KubeClient
from shared.telemetry import get_logger

__all__ = ["HostBinding", "read_host_identity"]

log = get_logger(__name__)

HOST_IDENTITY_NAMESPACE = "kube-system"


async def read_host_identity(host: KubeClient) -> str:
    """The UID of the host's ``kube-system`` namespace, ``""`` when it cannot be read.

    Raises :class:`~shared.errors.KubefedError` when the host is unreachable (callers retry: an
    unknown identity must not be mistaken for a missing one).
    """
    try:
        namespace = await host.get_or_none(NAMESPACES, HOST_IDENTITY_NAMESPACE)
    except (UnauthorizedError, NotFoundError) as exc:
        log.warning("Reading host identity failed, bus state is not bound to the host", err=str(exc))
        return ""
    uid = str(((namespace or {}).get("metadata") or {}).get("uid") or "")
    if not uid:
        log.warning("Host has no kube-system namespace UID, bus state is not bound to the host")
    return uid


class HostBinding:
    """This process' host identity and the check of recorded identities against it.

    ``on_foreign`` is called once per foreign identity (after the log line), for example to record an
    Event; ``action`` says in that log line what the service does with the foreign state.
    """

    def __init__(
        self, uid: str = "", *, state: str, action: str, on_foreign: Callable[[str], None] | None = None
    ) -> None:
        self.uid = uid
        self.state = state
        self.action = action
        self.on_foreign = on_foreign
        self._reported: set[str] = set()

    def foreign(self, recorded: str) -> bool:
        """Whether state recorded for host ``recorded`` describes another host than ours."""
        if not self.uid or not recorded or recorded == self.uid:
            return False
        if recorded not in self._reported:
            self._reported.add(recorded)
            log.warning(
                "Found bus state of another host cluster",
                state=self.state,
                action=self.action,
                recordedHost=recorded,
                host=self.uid,
            )
            if self.on_foreign is not None:
                self.on_foreign(recorded)
        return True

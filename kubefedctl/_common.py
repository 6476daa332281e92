"""What every subcommand shares: the global options, cluster clients, and the error contract.

kubefedctl's contract (reference §3): every failure ends with one line ``Error: ...`` on stderr that
names the object and the cause, and a non-zero exit code, never a traceback. Commands raise
:class:`CommandError` (or let :mod:`shared.errors` exceptions through); :func:`run` runs the command's
coroutine with ``asyncio.run`` and turns any exception into a ``click.ClickException``, so the same
handling applies under ``CliRunner`` in tests and in the console script.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from shared.errors import ApiUnavailableError, KubefedError, NotFoundError
from shared.k8s import (
    FEDERATED_TYPE_CONFIGS,
    KubeClient,
    Resource,
    client_from_kubeconfig,
    kubeconfig_contexts,
    kubeconfig_details,
)
from shared.kubefed_api import DEFAULT_KUBEFED_NAMESPACE

__all__ = [
    "DEFAULT_KUBEFED_NAMESPACE",
    "CommandError",
    "Options",
    "connect",
    "dig",
    "echo",
    "list_type_configs",
    "run",
    "terminating",
    "wait_deleted",
    "warn",
]

T = TypeVar("T")


class CommandError(KubefedError):
    """A failure the user must act on; the message is shown as is."""


@dataclass(frozen=True)
class Options:
    """The flags every subcommand accepts (``pkg/kubefedctl/options/options.go``)."""

    kubeconfig: str | None = None
    host_cluster_context: str | None = None
    kubefed_namespace: str = DEFAULT_KUBEFED_NAMESPACE
    dry_run: bool = False

    def host_context(self) -> str:
        """The host context: the flag, else the kubeconfig's current context."""
        if self.host_cluster_context:
            return self.host_cluster_context
        _, current = kubeconfig_contexts(self.kubeconfig)
        if not current:
            raise CommandError("no --host-cluster-context given and the kubeconfig has no current context")
        return current

    def context_namespace(self, context: str | None = None) -> str:
        """The namespace of a kubeconfig context (``default`` when unset)."""
        return str(
            kubeconfig_details(self.kubeconfig, context or self.host_context()).get("namespace") or "default"
        )


@contextlib.asynccontextmanager
async def connect(
    opts: Options, context: str | None = None, *, role: str = "host", check: bool = True
) -> AsyncIterator[KubeClient]:
    """A client for a kubeconfig context (the host's by default), checked to be reachable."""
    ctx = context or opts.host_context()
    names, _ = kubeconfig_contexts(opts.kubeconfig)
    if ctx not in names:
        raise CommandError(f'context "{ctx}" not found in the kubeconfig')
    client = await client_from_kubeconfig(opts.kubeconfig, ctx, name=ctx)
    try:
        if check:
            try:
                await client.version(timeout=5.0)
            except ApiUnavailableError as exc:
                raise CommandError(
                    f'{role} cluster "{ctx}" is not reachable at {client.server}: '
                    f"{exc.reason or 'unavailable'}"
                ) from exc
        yield client
    finally:
        await client.close()


async def list_type_configs(host: KubeClient, ns: str) -> list[dict[str, Any]]:
    """The FederatedTypeConfigs in the system namespace; a clear error when KubeFed is not installed."""
    try:
        items, _ = await host.list(FEDERATED_TYPE_CONFIGS, ns)
    except NotFoundError as exc:
        raise CommandError(
            f'FederatedTypeConfigs are not served by host cluster "{host.name}": install the CRDs first '
            "(kubectl apply -f deploy/crds/)"
        ) from exc
    return items


def terminating(obj: dict[str, Any] | None) -> bool:
    """The object exists and its deletion has been requested (it lingers until finalizers are done)."""
    return obj is not None and bool(dig(obj, "metadata", "deletionTimestamp"))


async def wait_deleted(
    client: KubeClient,
    res: Resource,
    name: str,
    ns: str | None,
    *,
    what: str,
    timeout: float,
    hint: str,
    conditions: tuple[str, ...] = (),
) -> None:
    """Wait until a terminating object is gone (or replaced by one that is not terminating).

    On a real cluster a namespace or CRD deletion only starts the work (the namespace controller
    empties the namespace, apiextensions deletes the CRD's objects) and the object lingers with a
    ``deletionTimestamp`` until it is done. One progress line on stdout when the object is still
    there; on timeout an error naming what is holding it up: the ``conditions`` of these types that
    are True, else its finalizers.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    announced = False
    while True:
        obj = await client.get_or_none(res, name, ns)
        if not terminating(obj):
            return
        if loop.time() >= deadline:
            raise CommandError(
                f"{what} is still being deleted after {timeout:.0f}s{_held_by(obj, conditions)}; {hint}"
            )
        if not announced:
            echo(f"Waiting up to {timeout:.0f}s for {what} to finish deleting")
            announced = True
        await asyncio.sleep(0.2)


def _held_by(obj: Any, conditions: tuple[str, ...]) -> str:
    reasons = [
        f"{c.get('type')}: {c.get('message') or c.get('reason') or 'True'}"
        for c in dig(obj, "status", "conditions", default=None) or ()
        if c.get("type") in conditions and c.get("status") == "True"
    ]
    if not reasons and dig(obj, "metadata", "finalizers"):
        reasons = [f"finalizers: {', '.join(dig(obj, 'metadata', 'finalizers'))}"]
    return f" ({'; '.join(reasons)})" if reasons else ""


def echo(message: str) -> None:
    """A line of normal output on stdout."""
    click.echo(message)


def warn(message: str) -> None:
    """A warning on stderr (never mixed into -o output)."""
    click.echo(f"Warning: {message}", err=True)


def run(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a command coroutine; every failure becomes ``Error: <one line>`` and exit code 1."""
    try:
        return asyncio.run(_as_coro(factory))
    except click.ClickException:
        raise
    except KubefedError as exc:
        raise click.ClickException(_one_line(str(exc))) from None
    except KeyboardInterrupt:
        raise click.Abort() from None
    except Exception as exc:  # pragma: no cover - last resort, still no traceback
        raise click.ClickException(_one_line(f"unexpected {type(exc).__name__}: {exc}")) from None


async def _as_coro(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def is_tty() -> bool:
    return sys.stdout.isatty()


def dig(obj: Any, *keys: str, default: Any = None) -> Any:
    """``obj[k1][k2]...`` or ``default`` when any level is missing."""
    for key in keys:
        if not isinstance(obj, dict) or key not in obj:
            return default
        obj = obj[key]
    return obj

"""Click wiring of kubefedctl (also installed as the kubectl plugin ``kubectl-kubefed``).

Verbs, arguments and flags are KubeFed's (``pkg/kubefedctl``); boolean flags accept both ``--flag``
and Go's ``--flag=false`` spelling, and every flag may stand before or after the verb as with cobra
(:class:`kubefedctl._flagorder.FlagsAnywhereGroup`). Each command only parses flags and hands a
coroutine to :func:`kubefedctl._common.run`, which owns the event loop and the ``Error: ...`` contract.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable
from typing import Any

import click

from kubefedctl import _enable, _federate, _join, _migrate, _orphaning, _queries, _status
from kubefedctl._common import DEFAULT_KUBEFED_NAMESPACE, Options, echo, run
from kubefedctl._fedtypes import DEFAULT_FEDERATED_GROUP, DEFAULT_FEDERATED_VERSION
from kubefedctl._flagorder import FlagsAnywhereGroup
from shared.bus import BusSettings
from shared.version import version as project_version

__all__ = ["VERSION", "cli", "main"]

VERSION = f"v{project_version()}"


def _bool_flag(name: str, default: bool, help: str, *aliases: str) -> Callable[[Any], Any]:
    return click.option(
        name,
        *aliases,
        type=click.BOOL,
        default=default,
        is_flag=False,
        flag_value=True,
        show_default=True,
        help=help,
    )


def common_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The flags every KubeFed subcommand accepts."""
    for decorator in reversed(
        [
            click.option(
                "--kubeconfig", envvar="KUBECONFIG", default=None, help="Path to the kubeconfig file."
            ),
            click.option(
                "--host-cluster-context",
                default=None,
                help="Host cluster context (default: the kubeconfig's current context).",
            ),
            click.option(
                "--kubefed-namespace",
                default=DEFAULT_KUBEFED_NAMESPACE,
                show_default=True,
                help="Namespace of the KubeFed control plane.",
            ),
            _bool_flag("--dry-run", False, "Only print what would be done."),
        ]
    ):
        func = decorator(func)
    return func


def nats_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """How to reach the control plane's NATS (the same variables as the services)."""
    for decorator in reversed(
        [
            click.option(
                "--nats",
                "nats_url",
                envvar="KUBEFED_NATS_URL",
                default="nats://127.0.0.1:4222",
                show_default=True,
                help="NATS server URL(s) of the control plane.",
            ),
            click.option("--nats-user", envvar="KUBEFED_NATS_USER", default=None),
            click.option("--nats-password", envvar="KUBEFED_NATS_PASSWORD", default=None),
            click.option("--nats-creds", envvar="KUBEFED_NATS_CREDS", default=None, help="NATS .creds file."),
            click.option("--nats-tls-ca", envvar="KUBEFED_NATS_TLS_CA", default=None),
            click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait."),
        ]
    ):
        func = decorator(func)
    return func


def _bus(kw: dict[str, Any]) -> BusSettings:
    return BusSettings(
        url=kw.pop("nats_url"),
        name="kubefedctl",
        user=kw.pop("nats_user"),
        password=kw.pop("nats_password"),
        creds_file=kw.pop("nats_creds"),
        tls_ca_file=kw.pop("nats_tls_ca"),
    )


def _opts(kw: dict[str, Any]) -> Options:
    kubeconfig = kw.pop("kubeconfig")
    if kubeconfig and ":" in kubeconfig:
        kubeconfig = kubeconfig.split(":")[0]
    return Options(
        kubeconfig=kubeconfig,
        host_cluster_context=kw.pop("host_cluster_context"),
        kubefed_namespace=kw.pop("kubefed_namespace"),
        dry_run=kw.pop("dry_run"),
    )


@click.group(cls=FlagsAnywhereGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-v",
    "--v",
    "verbosity",
    type=int,
    default=0,
    hidden=True,
    help="Log level (accepted for klog compatibility).",
)
def cli(verbosity: int) -> None:
    """kubefedctl controls a KubeFed-compatible federation control plane."""


@cli.command()
@click.argument("cluster_name")
@click.option("--cluster-context", default=None, help="Member cluster context (default: CLUSTER_NAME).")
@click.option(
    "--host-cluster-name",
    default=None,
    help="Name of the host cluster (required if its context has ':' or '/').",
)
@click.option(
    "--secret-name", default=None, help="Name of the token Secret on the host (default: generated)."
)
@_bool_flag("--error-on-existing", True, "Fail if any object join would create already exists.")
@_bool_flag("--least-privilege", False, "Grant only what the enabled types need instead of cluster-admin.")
@common_options
def join(
    cluster_name: str,
    cluster_context: str | None,
    host_cluster_name: str | None,
    secret_name: str | None,
    error_on_existing: bool,
    least_privilege: bool,
    **kw: Any,
) -> None:
    """Register a member cluster with the control plane."""
    opts = _opts(kw)
    req = _join.JoinRequest(
        cluster_name, cluster_context, host_cluster_name, secret_name, error_on_existing, least_privilege
    )
    run(lambda: _join.join(opts, req))


@cli.command()
@click.argument("cluster_name")
@click.option("--cluster-context", default=None, help="Member cluster context (default: CLUSTER_NAME).")
@click.option("--host-cluster-name", default=None, help="Name of the host cluster.")
@_bool_flag("--force", False, "Continue past member-side errors (e.g. the member is unreachable).")
@common_options
def unjoin(
    cluster_name: str, cluster_context: str | None, host_cluster_name: str | None, force: bool, **kw: Any
) -> None:
    """Remove a member cluster from the control plane."""
    opts = _opts(kw)
    run(
        lambda: _join.unjoin(
            opts, cluster_name, cluster_context=cluster_context, host_name_flag=host_cluster_name, force=force
        )
    )


@cli.command()
@click.argument("name", required=False)
@click.option("-f", "--filename", default=None, help="EnableTypeDirective YAML file.")
@click.option("--federated-group", default=DEFAULT_FEDERATED_GROUP, show_default=True)
@click.option("--version", "target_version", default=None, help="Version of the target type.")
@click.option("--federated-version", default=DEFAULT_FEDERATED_VERSION, show_default=True)
@click.option(
    "-o", "--output", type=click.Choice(["yaml"]), default=None, help="Print FTC and CRD instead of applying."
)
@common_options
def enable(
    name: str | None,
    filename: str | None,
    federated_group: str,
    target_version: str | None,
    federated_version: str,
    output: str | None,
    **kw: Any,
) -> None:
    """Enable propagation of a Kubernetes type (NAME or -f FILE)."""
    opts = _opts(kw)
    if bool(name) == bool(filename):
        raise click.UsageError("exactly one of NAME or -f/--filename must be given")

    async def go() -> None:
        if filename:
            directives = _enable.read_directives(filename)
        else:
            directives = [_enable.Directive(str(name), target_version, federated_group, federated_version)]
        await _enable.enable(opts, directives, output=output)

    run(go)


@cli.command()
@click.argument("name")
@_bool_flag("--delete-crd", False, "Also delete the Federated CRD (refused while federated objects exist).")
@click.option("--federated-group", default=None, help="Federated group (only with --delete-crd).")
@click.option("--version", "target_version", default=None, help="Version (only with --delete-crd).")
@common_options
def disable(
    name: str, delete_crd: bool, federated_group: str | None, target_version: str | None, **kw: Any
) -> None:
    """Disable propagation of a type (member objects are left in place)."""
    opts = _opts(kw)
    if not delete_crd and (federated_group or target_version):
        raise click.UsageError("--federated-group and --version can only be used with --delete-crd")
    run(
        lambda: _enable.disable(
            opts, name, delete_crd=delete_crd, federated_group=federated_group, version=target_version
        )
    )


@cli.command()
@click.argument("args", nargs=-1)
@click.option("-n", "--namespace", default=None, help="Namespace of the object (default: the context's).")
@click.option(
    "-o", "--output", type=click.Choice(["yaml"]), default=None, help="Print the federated objects."
)
@_bool_flag("--enable-type", False, "Enable the type first if needed.", "-t")
@_bool_flag("--contents", False, "Also federate every resource in the namespace.", "-c")
@click.option(
    "-s", "--skip-api-resources", default="", help="Comma list of types or groups to skip with --contents."
)
@click.option("-f", "--filename", default=None, help="Convert a YAML file ('-' = stdin) offline.")
@common_options
def federate(
    args: tuple[str, ...],
    namespace: str | None,
    output: str | None,
    enable_type: bool,
    contents: bool,
    skip_api_resources: str,
    filename: str | None,
    **kw: Any,
) -> None:
    """Federate an object: TYPE-NAME RESOURCE-NAME (or -f FILE)."""
    opts = _opts(kw)
    if filename:
        if args:
            raise click.UsageError("no positional arguments are allowed with -f/--filename")
        run(lambda: _federate_offline(filename, namespace))
        return
    if len(args) != 2:
        raise click.UsageError("expected TYPE-NAME and RESOURCE-NAME")
    skips = [s.strip() for s in skip_api_resources.split(",") if s.strip()]
    run(
        lambda: _federate.federate(
            opts,
            args[0],
            args[1],
            namespace=namespace,
            output=output == "yaml",
            enable_type=enable_type,
            contents=contents,
            skip=skips,
        )
    )


async def _federate_offline(filename: str, namespace: str | None) -> None:
    echo(_federate.federate_files(filename, namespace))


@cli.command("orphaning-deletion")
@click.argument("action", type=click.Choice(["enable", "disable", "status"]))
@click.argument("type_name")
@click.argument("name")
@click.option("-n", "--namespace", default=None, help="Namespace of the federated object.")
@common_options
def orphaning_deletion(action: str, type_name: str, name: str, namespace: str | None, **kw: Any) -> None:
    """Keep (enable) or delete (disable) member objects when the federated object is deleted."""
    opts = _opts(kw)
    run(lambda: _orphaning.orphaning(opts, action, type_name, name, namespace))


@cli.command()
@click.argument("type_name", required=False)
@click.argument("name", required=False)
@click.option("-n", "--namespace", default=None, help="Only objects in this namespace (default: all).")
@click.option("-o", "--output", type=click.Choice(["json", "yaml"]), default=None)
@click.option("-w", "--watch", is_flag=True, help="Keep watching and re-print on change.")
@click.option("--interval", type=float, default=2.0, hidden=True)
@click.option("--max-rounds", type=int, default=None, hidden=True)
@common_options
def status(
    type_name: str | None,
    name: str | None,
    namespace: str | None,
    output: str | None,
    watch: bool,
    interval: float,
    max_rounds: int | None,
    **kw: Any,
) -> None:
    """Show federated objects per cluster and member cluster health."""
    opts = _opts(kw)
    run(
        lambda: _status.status(
            opts,
            type_name,
            name,
            namespace,
            output=output,
            watch=watch,
            interval=interval,
            max_rounds=max_rounds,
        )
    )


@cli.command()
@click.option("-f", "--filename", required=True, help="Objects to preview ('-' = stdin).")
@click.option(
    "-n", "--namespace", default=None, help="Namespace of objects that name none (default: default)."
)
@click.option("-o", "--output", type=click.Choice(["json", "yaml"]), default=None)
@nats_options
@common_options
def preview(filename: str, namespace: str | None, output: str | None, timeout: float, **kw: Any) -> None:
    """Show what applying a Federated<Kind>, an RSP or an override change would do; stores nothing."""
    bus = _bus(kw)
    opts = _opts(kw)
    run(lambda: _queries.preview(opts, filename, namespace, bus, output=output, timeout=timeout))


@cli.command()
@click.argument("target", metavar="KIND/NAME")
@click.option("-n", "--namespace", default=None, help="Namespace of the object (default: default).")
@click.option("--cluster", default="", help="Only this member cluster.")
@click.option("--history", is_flag=True, help="Also print the last decisions (--last of them).")
@click.option(
    "--last", type=click.IntRange(min=1), default=10, show_default=True, help="Decisions --history prints."
)
@click.option("-o", "--output", type=click.Choice(["json", "yaml"]), default=None)
@nats_options
@common_options
def explain(
    target: str,
    namespace: str | None,
    cluster: str,
    history: bool,
    last: int,
    output: str | None,
    timeout: float,
    **kw: Any,
) -> None:
    """Why a federated object is (not) in each cluster, and with --history how that came to be."""
    bus = _bus(kw)
    _opts(kw)
    run(
        lambda: _queries.explain(
            target,
            namespace,
            bus,
            cluster=cluster,
            history=last if history else 0,
            output=output,
            timeout=timeout,
        )
    )


@cli.command()
@click.option("-n", "--namespace", default=None, help="Migrate the federated objects of this namespace.")
@click.option("--all", "all_namespaces", is_flag=True, help="Migrate every federated object of the fleet.")
@click.option(
    "--timeout",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds to wait for each Federated<Kind> to be gone after its orphaning deletion.",
)
@common_options
def migrate(namespace: str | None, all_namespaces: bool, timeout: float, **kw: Any) -> None:
    """Replace Federated<Kind> objects by native objects and Karmada policies in place."""
    opts = _opts(kw)
    run(lambda: _migrate.migrate(opts, namespace=namespace, all_namespaces=all_namespaces, timeout=timeout))


@cli.command()
@common_options
def version(**kw: Any) -> None:
    """Print the version."""
    py = platform.python_version()
    info = (
        f'version.Info{{Version:"{VERSION}", GitCommit:"", GitTreeState:"", BuildDate:"", '
        f'GoVersion:"python{py}", Compiler:"{platform.python_implementation().lower()}", '
        f'Platform:"{sys.platform}/{platform.machine()}"}}'
    )
    echo(f"kubefedctl version: {info}")


def main() -> None:
    """Console-script entry point (``kubefedctl`` and ``kubectl-kubefed``)."""
    cli(prog_name="kubefedctl")

"""Least privilege on the bus, proven against a real nats-server running the shipped configuration.

Covers (``deploy/kustomize/components/nats-auth``: ``auth.conf`` + ``permissions.conf``, generated from
``shared/bus/_permissions.py``; docs/security.md):

- the pipeline (watcher, scheduler, propagator, dns) propagates a FederatedSecret and a
  FederatedConfigMap with one user per service and not one permission violation; only the scheduler
  declares streams, the others wait for them;
- the DNS user and a ``--no-secrets`` propagator cannot read ``KUBEFED_SECRETS`` by any path: consumer
  create (ephemeral, durable, and through a stream they may use), fetching from an existing consumer,
  stream message get, direct get, stream info with subjects, a mirror or source into a stream of their
  own (create, or update of one they publish to), a core subscription on ``kubefed.secret.>``, and
  another service's inbox; the scheduler can read the same message (the message is there to be read);
- the watcher cannot publish decisions, a propagator cannot publish host changes or decisions, the DNS
  user cannot publish at all; each denied publish leaves the stream unchanged;
- ``kubefedctl`` may only ask ``kubefed.query.preview``/``explain`` and gets the scheduler's answer
  (``allow_responses``); other services may not ask; only the scheduler writes and reads the history;
- a client without credentials, or with a wrong password, cannot connect (and the service's
  connection fails at once instead of retrying);
- the same permissions work with nkey seed files, with ``.creds`` files (operator mode, the
  permissions in the user JWT) and with mutual TLS (client certificates mapped to users), and a
  client certificate from another CA is refused.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubefed.natsd import NatsServer
from shared import subjects
from shared.bus import Bus, BusSettings, PermissionDeniedError, Publisher, ask, serve_queries
from shared.bus._permissions import USERS as PERMISSION_USERS
from shared.errors import BusError
from shared.messages import HostChange, ObjectKey
from tests.bus_cluster._credentials import Operator, Pki, new_nkey, write_seed
from tests.support.bus_plane import AUTH_DIR, connect_as, federate, make_bus_plane, start_all
from tests.support.plane import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]  # every test starts nats-servers

SERVICES = {"watcher": "watcher", "scheduler": "scheduler", "propagator": "propagator", "dns": "dns"}
USERS = {
    "watcher": "kubefed-watcher",
    "scheduler": "kubefed-scheduler",
    "propagator": "kubefed-propagator",
    "dns": "kubefed-dns",
}
SECRET_SUBJECT = subjects.SECRET_PREFIX + ".secrets.fed.s"
SECRET = b"TOP-SECRET-PAYLOAD"
NO_SECRETS = ("kubefed-dns", "kubefed-propagator-nosecrets")


async def test_pipeline_runs_with_one_least_privilege_user_per_service(
    auth_nats: NatsServer, fleet: Any, tmp_path: Path
) -> None:
    cp = await make_bus_plane(fleet, auth_nats.url, tmp_path, users=USERS)
    try:
        # the others start first: they wait for the scheduler to declare the streams
        for name in ("watcher", "propagator", "dns"):
            cp.start(name, name)

        def asking_users() -> set[str]:
            """Users whose connection has sent the server more than one message (stream lookups)."""
            connections = auth_nats.monitor("/connz?auth=true")["connections"] or []
            return {c.get("authorized_user", "") for c in connections if c.get("in_msgs", 0) >= 2}

        # the sign that they are up and waiting: each has asked JetStream more than once
        waiting = {USERS["watcher"], USERS["propagator"], USERS["dns"]}
        await eventually(lambda: waiting <= asking_users(), timeout=30)
        assert not any(cp.service_ready(n) for n in ("watcher", "propagator", "dns"))
        services = {"scheduler": "scheduler"}
        await start_all(cp, services)
        await eventually(lambda: all(cp.service_ready(n) for n in SERVICES), timeout=30)
        await federate(cp)
        await cp.akubectl(
            "apply",
            "-f",
            "-",
            input=yaml.safe_dump_all(
                [
                    {
                        "apiVersion": "types.kubefed.io/v1beta1",
                        "kind": "FederatedSecret",
                        "metadata": {"name": "s", "namespace": "fed"},
                        "spec": {"template": {"data": {"k": "dg=="}}, "placement": {"clusterSelector": {}}},
                    },
                    {
                        "apiVersion": "types.kubefed.io/v1beta1",
                        "kind": "FederatedConfigMap",
                        "metadata": {"name": "c", "namespace": "fed"},
                        "spec": {"template": {"data": {"k": "v"}}, "placement": {"clusterSelector": {}}},
                    },
                ]
            ),
        )
        await eventually(
            lambda: all(
                cp.member_object(c, "", kind, "fed", n)
                for c in ("cluster1", "cluster2")
                for kind, n in (("secrets", "s"), ("configmaps", "c"))
            ),
            timeout=30,
        )
        # a native Deployment under a Karmada policy, divided by available replicas (from the health
        # reports), with its decision history: nothing the shipped users may not do
        await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all(_native_by_available_replicas()))

        def divided() -> int:
            copies = [
                cp.member_object(c, "apps", "deployments", "fed", "native") for c in ("cluster1", "cluster2")
            ]
            return sum(int(c["spec"]["replicas"]) for c in copies if c is not None)

        await eventually(lambda: divided() == 4, timeout=30)
        assert {name: ctx.bus.denials.unexpected for name, ctx in cp.contexts.items()} == {
            name: [] for name in SERVICES
        }
    finally:
        await cp.stop_all()


def _native_by_available_replicas() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "policy.karmada.io/v1alpha1",
            "kind": "PropagationPolicy",
            "metadata": {"name": "native", "namespace": "fed"},
            "spec": {
                "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "native"}],
                "placement": {
                    "clusterAffinity": {"clusterNames": ["cluster1", "cluster2"]},
                    "replicaScheduling": {
                        "replicaSchedulingType": "Divided",
                        "weightPreference": {"dynamicWeight": "AvailableReplicas"},
                    },
                },
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "native", "namespace": "fed"},
            "spec": {
                "replicas": 4,
                "selector": {"matchLabels": {"app": "native"}},
                "template": {
                    "metadata": {"labels": {"app": "native"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]},
                },
            },
        },
    ]


@pytest.fixture
async def secret_on_bus(auth_nats: NatsServer) -> Any:
    """The streams declared by the scheduler user and one message on ``KUBEFED_SECRETS``."""
    scheduler = await connect_as(auth_nats.url, "kubefed-scheduler")
    await scheduler.ensure_topology()
    await scheduler.js.publish(SECRET_SUBJECT, SECRET)
    yield scheduler
    await scheduler.close()


async def _request(bus: Bus, subject: str, body: Any = None) -> bytes:
    payload = json.dumps(body).encode() if body is not None else b""
    reply = await bus.guard(subject, bus.nc.request(subject, payload, timeout=5))
    return reply.data or b""


async def _denied(bus: Bus, subject: str, body: Any = None) -> bool:
    try:
        await _request(bus, subject, body)
    except PermissionDeniedError:
        return True
    return False


async def _subscription_denied(bus: Bus, subject: str) -> bool:
    """Subscribe and wait for the server's verdict: a violation, or nothing after a round trip."""
    verdict = asyncio.ensure_future(bus.guard(subject, asyncio.sleep(3600)))
    await asyncio.sleep(0)
    sub = await bus.nc.subscribe(subject)
    await bus.nc.flush()
    try:
        await asyncio.wait_for(verdict, 5)
    except PermissionDeniedError:
        return True
    except TimeoutError:
        return False
    finally:
        verdict.cancel()
        await sub.unsubscribe()
    return False


async def test_scheduler_reads_the_secret_message(secret_on_bus: Bus) -> None:
    """The positive control of the next test: the message is there, and readable with permission."""
    raw = await secret_on_bus.js.get_last_msg(subjects.STREAM_SECRETS, SECRET_SUBJECT)
    assert raw.data == SECRET


@pytest.mark.parametrize("user", NO_SECRETS)
async def test_no_path_to_the_secrets_stream(auth_nats: NatsServer, secret_on_bus: Bus, user: str) -> None:
    bus = await connect_as(auth_nats.url, user)
    stream = subjects.STREAM_SECRETS
    try:
        inbox = bus.nc.new_inbox()
        received: list[bytes] = []

        async def collect(msg: Any) -> None:
            received.append(msg.data)

        await bus.nc.subscribe(inbox, cb=collect)
        consumer = {
            "stream_name": stream,
            "config": {"deliver_subject": inbox, "ack_policy": "none", "deliver_policy": "all"},
        }
        # consumer create: ephemeral, named, legacy durable, with a filter subject
        assert await _denied(bus, f"$JS.API.CONSUMER.CREATE.{stream}", consumer)
        assert await _denied(bus, f"$JS.API.CONSUMER.CREATE.{stream}.evil", consumer)
        assert await _denied(bus, f"$JS.API.CONSUMER.CREATE.{stream}.evil.{SECRET_SUBJECT}", consumer)
        assert await _denied(bus, f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.evil", consumer)
        # fetching from a consumer someone else made (the secrets propagator's replay, any name)
        assert await _denied(bus, f"$JS.API.CONSUMER.MSG.NEXT.{stream}.propagator", {"batch": 1})
        assert await _denied(bus, f"$JS.API.CONSUMER.INFO.{stream}.propagator")
        # message get, direct get (both forms), stream info with subjects, stream list
        assert await _denied(bus, f"$JS.API.STREAM.MSG.GET.{stream}", {"last_by_subj": SECRET_SUBJECT})
        assert await _denied(bus, f"$JS.API.DIRECT.GET.{stream}", {"last_by_subj": SECRET_SUBJECT})
        assert await _denied(bus, f"$JS.API.DIRECT.GET.{stream}.{SECRET_SUBJECT}")
        assert await _denied(bus, f"$JS.API.STREAM.INFO.{stream}", {"subjects_filter": ">"})
        assert await _denied(bus, "$JS.API.STREAM.LIST")
        # a stream of its own that mirrors or sources the secrets, or republishes them
        assert await _denied(bus, "$JS.API.STREAM.CREATE.EVIL", {"name": "EVIL", "mirror": {"name": stream}})
        assert await _denied(
            bus, "$JS.API.STREAM.CREATE.EVIL", {"name": "EVIL", "sources": [{"name": stream}]}
        )
        member = (await secret_on_bus.js.stream_info(subjects.STREAM_MEMBER)).config.as_dict()
        assert await _denied(
            bus, f"$JS.API.STREAM.UPDATE.{subjects.STREAM_MEMBER}", {**member, "sources": [{"name": stream}]}
        )
        assert await _denied(
            bus,
            f"$JS.API.STREAM.UPDATE.{stream}",
            {
                "name": stream,
                "subjects": [f"{subjects.SECRET_PREFIX}.>"],
                "republish": {"src": ">", "dest": inbox},
            },
        )
        # a consumer on a stream it may use, aimed at the secrets: rejected, or it can only ever see its own
        # stream
        if user == "kubefed-propagator-nosecrets":
            reply = json.loads(
                await _request(bus, f"$JS.API.CONSUMER.CREATE.{subjects.STREAM_DESIRED}", consumer)
            )
            assert reply["error"]["err_code"] == 10056  # stream name in subject does not match request
            filtered = {
                "stream_name": subjects.STREAM_DESIRED,
                "config": {**consumer["config"], "filter_subject": f"{subjects.SECRET_PREFIX}.>"},
            }
            reply = json.loads(
                await _request(bus, f"$JS.API.CONSUMER.CREATE.{subjects.STREAM_DESIRED}", filtered)
            )
            assert reply.get("error") or reply["num_pending"] == 0
        # core subscriptions: the subjects themselves, every inbox, another service's inbox
        assert await _subscription_denied(bus, f"{subjects.SECRET_PREFIX}.>")
        assert await _subscription_denied(bus, ">")
        assert await _subscription_denied(bus, "_INBOX.>")
        assert await _subscription_denied(bus, "_INBOX.kubefed-propagator.>")
        # a new secret published now (stored: the scheduler got the ack) reaches none of the above
        await secret_on_bus.js.publish(SECRET_SUBJECT, SECRET + b"-2")
        await bus.nc.flush()
        await asyncio.sleep(0.2)
        assert received == []
    finally:
        await bus.close()


async def test_writers_publish_only_their_own_subjects(auth_nats: NatsServer, secret_on_bus: Bus) -> None:
    change = HostChange(
        key=ObjectKey(resource="federatedconfigmaps.types.kubefed.io", namespace="fed", name="x"),
        resource_version="1",
    )
    desired = subjects.desired_subject("federatedconfigmaps.types.kubefed.io", "fed", "x")
    host = subjects.host_subject("federatedconfigmaps.types.kubefed.io", "fed", "x")
    attempts = {
        "kubefed-watcher": [desired, SECRET_SUBJECT, subjects.status_subject("c1")],
        "kubefed-propagator": [host, desired, SECRET_SUBJECT],
        "kubefed-propagator-nosecrets": [host, desired, SECRET_SUBJECT],
        "kubefed-dns": [
            host,
            desired,
            subjects.member_subject("c1", "Service", "fed", "x"),
            subjects.status_subject("c1"),
        ],
    }
    for user, targets in attempts.items():
        bus = await connect_as(auth_nats.url, user)
        try:
            for subject in targets:
                with pytest.raises(PermissionDeniedError):
                    await Publisher(bus).publish(subject, change)
        finally:
            await bus.close()
    # the control: what the watcher may publish is stored; nothing denied was
    watcher = await connect_as(auth_nats.url, "kubefed-watcher")
    try:
        await Publisher(watcher).publish(host, change)
    finally:
        await watcher.close()
    for stream in (subjects.STREAM_DESIRED, subjects.STREAM_STATUS, subjects.STREAM_MEMBER):
        assert (await secret_on_bus.js.stream_info(stream)).state.messages == 0
    assert (await secret_on_bus.js.stream_info(subjects.STREAM_HOST)).state.messages == 1
    secrets = await secret_on_bus.js.stream_info(subjects.STREAM_SECRETS)
    assert (
        secrets.state.messages == 1
        and (await secret_on_bus.js.get_last_msg(subjects.STREAM_SECRETS, SECRET_SUBJECT)).data == SECRET
    )


async def test_no_credentials_no_connection(auth_nats: NatsServer) -> None:
    for settings in (
        BusSettings(url=auth_nats.url),
        BusSettings(url=auth_nats.url, user="kubefed-dns", password="wrong"),
        BusSettings(url=auth_nats.url, user="nobody", password="pw-nobody"),
    ):
        with pytest.raises(BusError, match="refused the credentials"):
            await asyncio.wait_for(Bus.connect(settings), 10)
    bus = await connect_as(auth_nats.url, "kubefed-dns")  # the control
    assert bus.connected
    await bus.close()


def _users_block(entries: list[str]) -> str:
    return (
        "include permissions.conf\nauthorization {\n  users = [\n"
        + "".join(f"    {e}\n" for e in entries)
        + "  ]\n}\n"
    )


async def _can_and_cannot(bus: Bus, scheduler_like: bool) -> None:
    """One allowed and one denied JetStream call of a user (scheduler or dns)."""
    if scheduler_like:
        await bus.ensure_topology()
        await bus.js.publish(SECRET_SUBJECT, SECRET)
        assert (await bus.js.get_last_msg(subjects.STREAM_SECRETS, SECRET_SUBJECT)).data == SECRET
    else:
        assert (await bus.js.stream_info(subjects.STREAM_HOST)).config.name == subjects.STREAM_HOST
        assert await _denied(
            bus, f"$JS.API.STREAM.MSG.GET.{subjects.STREAM_SECRETS}", {"last_by_subj": SECRET_SUBJECT}
        )
        assert await _denied(bus, f"$JS.API.STREAM.INFO.{subjects.STREAM_SECRETS}")


async def test_nkey_seed_files(tmp_path: Path) -> None:
    seeds: dict[str, Path] = {}
    entries = []
    for user in PERMISSION_USERS:  # nats-server refuses a configuration with an unused variable
        seed, public = new_nkey()
        seeds[user] = write_seed(tmp_path, user, seed)
        entries.append(f"{{ nkey: {public}, permissions: ${user.upper().replace('-', '_')}_PERMISSIONS }}")
    server = NatsServer(config=_users_block(entries))
    (Path(server.store_dir) / "permissions.conf").write_text((AUTH_DIR / "permissions.conf").read_text())
    server.start()
    try:
        # without a user name the inbox prefix is the connection name, as `kubefed <service>` sets it
        scheduler = await Bus.connect(
            BusSettings(
                url=server.url, name="kubefed-scheduler", nkey_seed_file=str(seeds["kubefed-scheduler"])
            )
        )
        dns = await Bus.connect(
            BusSettings(url=server.url, name="kubefed-dns", nkey_seed_file=str(seeds["kubefed-dns"]))
        )
        await _can_and_cannot(scheduler, True)
        await _can_and_cannot(dns, False)
        other, _ = new_nkey()
        with pytest.raises(BusError, match="refused"):
            await Bus.connect(
                BusSettings(url=server.url, nkey_seed_file=str(write_seed(tmp_path, "other", other)))
            )
        await scheduler.close()
        await dns.close()
    finally:
        server.close()


async def test_creds_files_in_operator_mode(tmp_path: Path) -> None:
    op = Operator(tmp_path / "op")
    server = NatsServer(config=op.server_config()).start()
    try:
        scheduler = await Bus.connect(
            BusSettings(
                url=server.url, name="kubefed-scheduler", creds_file=str(op.creds("kubefed-scheduler"))
            )
        )
        dns = await Bus.connect(
            BusSettings(url=server.url, name="kubefed-dns", creds_file=str(op.creds("kubefed-dns")))
        )
        await _can_and_cannot(scheduler, True)
        await _can_and_cannot(dns, False)
        await scheduler.close()
        await dns.close()
        stranger = Operator(tmp_path / "stranger")
        with pytest.raises(BusError, match="refused"):
            await Bus.connect(BusSettings(url=server.url, creds_file=str(stranger.creds("kubefed-dns"))))
    finally:
        server.close()


def _handshake_errors(server: NatsServer) -> int:
    return Path(server.log_file).read_text().count("TLS handshake error")


async def test_mutual_tls_maps_client_certificates_to_users(tmp_path: Path) -> None:
    pki = Pki(tmp_path / "pki")
    cert, key = pki.issue("nats-server", server=True)
    tls = (
        f'tls {{\n  cert_file: "{cert}"\n  key_file: "{key}"\n  ca_file: "{pki.ca}"\n'
        "  verify_and_map: true\n  timeout: 5\n}\n"
    )
    entries = [
        f'{{ user: "CN={u}", permissions: ${u.upper().replace("-", "_")}_PERMISSIONS }}'
        for u in PERMISSION_USERS
    ]
    server = NatsServer(config=tls + _users_block(entries), scheme="tls")
    (Path(server.store_dir) / "permissions.conf").write_text((AUTH_DIR / "permissions.conf").read_text())
    server.start()

    def settings(name: str, issuer: Pki) -> BusSettings:
        c, k = issuer.issue(name)
        return BusSettings(
            url=server.url, name=name, tls_ca_file=str(pki.ca), tls_cert_file=str(c), tls_key_file=str(k)
        )

    try:
        scheduler = await Bus.connect(settings("kubefed-scheduler", pki))
        dns = await Bus.connect(settings("kubefed-dns", pki))
        await _can_and_cannot(scheduler, True)
        await _can_and_cannot(dns, False)
        await scheduler.close()
        await dns.close()
        # a certificate of this CA for a name that is no user is refused at once
        with pytest.raises(BusError, match="refused"):
            await asyncio.wait_for(Bus.connect(settings("intruder", pki)), 10)
        # a certificate of another CA, or none: the TLS handshake fails (the client keeps retrying)
        for bad in (
            settings("kubefed-scheduler", Pki(tmp_path / "other")),
            BusSettings(url=server.url, tls_ca_file=str(pki.ca)),
        ):
            failures = _handshake_errors(server)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(Bus.connect(bad, connect_timeout=2), 3)
            assert _handshake_errors(server) > failures
    finally:
        server.close()


async def test_only_kubefedctl_asks_and_only_the_scheduler_answers_queries(auth_nats: NatsServer) -> None:
    """kubefedctl's user gets the scheduler's answer on both query subjects; it can publish nothing else
    nor listen to other users' queries; the other services may not ask; the scheduler may answer (it is
    the only user with ``allow_responses``), and reads and writes the decision history."""
    scheduler = await connect_as(auth_nats.url, "kubefed-scheduler")
    stop = asyncio.Event()

    async def answer(data: bytes) -> bytes:
        return b"answer:" + data

    serving = asyncio.create_task(
        serve_queries(scheduler, f"{subjects.QUERY_PREFIX}.*", "scheduler", answer, stop)
    )
    ctl = await connect_as(auth_nats.url, "kubefedctl")
    try:
        await scheduler.ensure_topology()
        for subject in (subjects.QUERY_PREVIEW, subjects.QUERY_EXPLAIN):
            reply = await eventually(lambda s=subject: _ask_or_none(ctl, s), timeout=10)
            assert reply == b"answer:q"
        assert await _subscription_denied(ctl, f"{subjects.QUERY_PREFIX}.>")
        change = HostChange(key=ObjectKey(resource="configmaps", namespace="n", name="c"))
        for subject in (
            subjects.host_subject("configmaps", "n", "c"),
            subjects.history_subject("r", "n", "c"),
        ):
            with pytest.raises(PermissionDeniedError):
                await Publisher(ctl).publish(subject, change)
        assert await _denied(ctl, f"$JS.API.STREAM.MSG.GET.{subjects.STREAM_HISTORY}", {"seq": 1})
        for user in ("kubefed-watcher", "kubefed-propagator", "kubefed-dns"):
            other = await connect_as(auth_nats.url, user)
            try:
                assert await _denied(other, subjects.QUERY_PREVIEW, {})
            finally:
                await other.close()
        # the scheduler writes and reads the history stream
        seq = await Publisher(scheduler).publish(subjects.history_subject("r", "n", "c"), change)
        assert (await scheduler.get_last(subjects.STREAM_HISTORY, subjects.history_subject("r", "n", "c")))[
            2
        ] == seq
    finally:
        stop.set()
        await serving
        await ctl.close()
        await scheduler.close()


async def _ask_or_none(bus: Bus, subject: str) -> bytes | None:
    try:
        return await ask(bus, subject, b"q", timeout=2)
    except BusError:
        return None

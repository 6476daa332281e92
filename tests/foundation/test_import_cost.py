"""What a service process imports: nothing it does not use (issue #18, idle memory).

Each check runs in a fresh interpreter, since this test process has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from kubefed.cli import main


def _fresh(code: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


_SERVICE_IMPORTS = """
import json, sys
import kubefed.cli, services.watcher, services.scheduler, services.propagator, services.dns
print(json.dumps({"modules": sorted(sys.modules)}))
"""


def test_services_do_not_import_generated_kubernetes_apis_or_the_simulator() -> None:
    modules = _fresh(_SERVICE_IMPORTS)["modules"]
    assert isinstance(modules, list)
    assert "shared.k8s" in modules and "kubernetes_asyncio.client.api_client" in modules
    unwanted = ("kubernetes_asyncio.client.api.", "kubernetes_asyncio.client.models.", "sim.", "kubefedctl.")
    loaded = [m for m in modules if m.startswith(unwanted) or m in ("sim", "kubefedctl")]
    assert loaded == []


def test_generated_kubernetes_apis_still_load_on_first_use() -> None:
    got = _fresh(
        """
import json, shared.k8s
from kubernetes_asyncio import client
from kubernetes_asyncio.client.models import V1ConfigMap
print(json.dumps({"api": client.CoreV1Api.__name__, "model": V1ConfigMap.__name__,
                  "same": client.V1ConfigMap is V1ConfigMap, "version": client.__version__}))
"""
    )
    assert got == {"api": "CoreV1Api", "model": "V1ConfigMap", "same": True, "version": got["version"]}
    assert str(got["version"]).startswith("36.")


def test_lazy_commands_are_listed_and_run() -> None:
    runner = CliRunner()
    listed = runner.invoke(main, ["--help"])
    assert listed.exit_code == 0
    for name in ("sim", "up", "demo", "watcher", "propagator"):
        assert f"  {name} " in listed.output
    sim_help = runner.invoke(main, ["sim", "--help"])
    assert sim_help.exit_code == 0 and "--clusters" in sim_help.output
    assert runner.invoke(main, ["no-such-command"]).exit_code != 0


def test_tls_connections_get_a_32_kib_read_buffer() -> None:
    got = _fresh(
        """
import json, asyncio.sslproto
before = asyncio.sslproto.SSLProtocol.max_size
import shared.k8s
print(json.dumps({"before": before, "after": asyncio.sslproto.SSLProtocol.max_size}))
"""
    )
    assert got == {"before": 256 * 1024, "after": 32 * 1024}

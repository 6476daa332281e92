"""KubeFed's own e2e suite (its ``e2e.test`` binary, unmanaged mode) against a control plane.

Every spec runs alone (``-ginkgo.focus`` on its full text) so each gets its own verdict and log; specs
that test KubeFed's own binaries rather than user-visible behaviour are listed with the reason and not
run. The result is written as ``{"passed": [...], "failed": {spec: reason}, "not_applicable": {spec:
reason}}`` and summed up in one closing line ``N passed, M failed``.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field

from sim.real import locate

from ._planes import NS, Plane

# Specs that exercise KubeFed's own components, not behaviour a user of the API sees.
NOT_APPLICABLE: dict[str, str] = {
    "Leader Elector should chose secondary instance, primary goes down": "starts two KubeFed "
    "controller-manager binaries and watches their leader election; ours elects its watcher leader through "
    "a NATS KV lease (tests/foundation/test_leases.py)",
    "Default KubeFedConfig is created by mutating admissing webhook and preserves values set by "
    "user": "tests KubeFed's mutating admission webhook; we default the KubeFedConfig when services read it "
    "and serve no webhook (docs/compatibility.md)",
    "Default KubeFedConfig does not cause controller-manager to fail": "deletes the KubeFedConfig and "
    "expects KubeFed's controller-manager pod to keep running",
    "Simulated Scale should create a simulated federation": "creates simulated member clusters as "
    "namespaces of the host for KubeFed's in-memory controllers only",
}
# Specs KubeFed's own suite skips at run time against an unmanaged, cluster-scoped control plane (its
# Skipf messages, test/e2e/*.go), the configuration this harness runs.
SKIPPED_BY_SUITE: dict[str, str] = {
    "FTC controller should be refreshed if the target CRD version changed for a federated CRD": (
        "skipped by KubeFed's suite: "
        '"FTC controller can only be tested when controllers are running in-process"'
    ),
    "Scheduler Manager when federatedtypeconfig resources are changed related scheduler and plugin "
    "controllers should be dynamically disabled/enabled": (
        "skipped by KubeFed's suite: "
        '"The scheduler manager can only be tested when controllers are running in-process"'
    ),
    "[NOT_READY] Simulated not-ready nodes should simulate unhealthy clusters": (
        'skipped by KubeFed\'s suite: "Simulated scale testing requires in-process controllers"'
    ),
    "Placement should be computed from namespace and resource placement for a namespaced control plane": (
        "skipped by KubeFed's suite against a cluster-scoped control plane: "
        '"Considering namespace placement when determining resource placement is not supported for a '
        'cluster-scoped control plane" (our namespaced placement is tested in tests/pipeline/test_config.py)'
    ),
}
NOT_APPLICABLE_PREFIXES: dict[str, str] = {
    "VersionManager ": "unit tests of KubeFed's Go VersionManager run in the test process; they touch no "
    "control plane",
    "Core API Validation ": "tests KubeFed's validating admission webhook (ours validates in CRD schemas and "
    "services; docs/compatibility.md)",
}


def list_specs() -> list[str]:
    """The suite's specs, from a dry run."""
    out = subprocess.run(
        [
            str(locate("e2e.test")),
            "-ginkgo.dryRun",
            "-ginkgo.v",
            "-ginkgo.noColor",
            "-kubeconfig",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    specs: list[str] = []
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("  sigs.k8s.io/kubefed@") and i >= 2:
            specs.append(f"{lines[i - 2].strip()} {lines[i - 1].strip()}")
    return specs


def not_applicable(spec: str) -> str | None:
    if spec in NOT_APPLICABLE:
        return NOT_APPLICABLE[spec]
    return next(
        (reason for prefix, reason in NOT_APPLICABLE_PREFIXES.items() if spec.startswith(prefix)), None
    )


@dataclass
class Result:
    passed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    not_applicable: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        return f"{len(self.passed)} passed, {len(self.failed)} failed"


def _first_failure(log: str) -> str:
    for pattern in (r"\[Fail\][^\n]*\n?([^\n]*)", r"(?m)^\s*(.*(?:Timeout|Failed|Error|error)[^\n]*)$"):
        m = re.search(pattern, log)
        if m:
            return m.group(1).strip()[:400] or m.group(0).strip()[:400]
    return log.strip().splitlines()[-1][:400] if log.strip() else "no output"


def run_spec(plane: Plane, spec: str, timeout: float = 300.0) -> tuple[bool | None, str, float]:
    """(True, "", s) passed; (False, why, s) failed; (None, why, s) skipped by KubeFed's suite itself."""
    # ginkgo prefixes the suite's own text, and joins containers with spaces (an empty one doubles them)
    focus = re.escape(spec).replace("\\ ", "\\s+") + "$"
    started = time.monotonic()
    argv = [
        str(locate("e2e.test")),
        "-test.v",
        f"-kubeconfig={plane.kubeconfig}",
        f"-kubefed-namespace={NS}",
        "-single-call-timeout=90s",
        "-ginkgo.noColor",
        f"-ginkgo.focus={focus}",
        "-wait-for-finalization=false",
    ]  # the fleet is thrown away: no waiting for namespaces to go
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=plane.work)
    except subprocess.TimeoutExpired as exc:
        out = (
            (exc.stdout or b"").decode(errors="replace")
            if isinstance(exc.stdout, bytes)
            else (exc.stdout or "")
        )
        return False, f"timed out after {timeout:.0f} s: {_first_failure(out)}", time.monotonic() - started
    log = r.stdout + r.stderr
    (plane.work / "e2e-logs").mkdir(exist_ok=True)
    (plane.work / "e2e-logs" / (re.sub(r"[^A-Za-z0-9]+", "-", spec)[:120] + ".log")).write_text(log)
    if "S [SKIPPING]" in log and spec in SKIPPED_BY_SUITE:
        return None, SKIPPED_BY_SUITE[spec], time.monotonic() - started
    ran = re.search(r"Ran (\d+) of \d+ Specs", log)
    if not ran or ran.group(1) != "1":
        return (
            False,
            f"spec did not run (focus matched {ran.group(1) if ran else '?'}): {_first_failure(log)}",
            time.monotonic() - started,
        )
    passed = re.search(r"(\d+) Passed \| (\d+) Failed", log)
    if r.returncode == 0 and not (passed and passed.group(1) == "1"):  # skipped at run time is no pass
        return False, f"spec did not pass: {_first_failure(log)}", time.monotonic() - started
    return r.returncode == 0, "" if r.returncode == 0 else _first_failure(log), time.monotonic() - started


def run_suite(plane: Plane, specs: list[str], log=print) -> Result:  # type: ignore[no-untyped-def]
    result = Result()
    for i, spec in enumerate(specs, 1):
        reason = not_applicable(spec)
        if reason:
            result.not_applicable[spec] = reason
            log(f"[{i}/{len(specs)}] n/a    {spec}")
            continue
        ok, why, seconds = run_spec(plane, spec)
        result.seconds[spec] = round(seconds, 1)
        if ok is None:
            result.not_applicable[spec] = why
            log(f"[{i}/{len(specs)}] n/a    {spec} ({why})")
            continue
        if ok:
            result.passed.append(spec)
        else:
            result.failed[spec] = why
        log(
            f"[{i}/{len(specs)}] {'pass' if ok else 'FAIL'}   {spec} ({seconds:.0f} "
            f"s){'' if ok else ': ' + why}"
        )
    return result

"""Differential API conformance: the simulator and a real kube-apiserver v1.37 get the same requests.

Every probe of ``test_differential_probes.PROBES`` (a request sequence: CRUD and its errors,
selectors, pagination, watch, every patch type, server-side apply, deletion propagation with real
garbage collection, namespace termination, CRDs, discovery, Table output, authentication and RBAC,
OpenAPI and kubectl) runs in a fresh namespace of the same name on a simulated cluster and on a real
one (:class:`sim.real.RealFleet`). Each answer is normalised (status code, ``Status`` reason, message,
details and causes; the fields the probe projects out of objects; uids, resourceVersions, timestamps
and managedFields dropped) and the two are compared field by field.

A difference is either fixed in the simulator (``FIXED`` records the ones this suite found, and the
check that proves each fix stays compared and equal) or explained in ``ALLOWED`` with its reason;
docs/simulator.md carries the same table (a test below checks it is exactly the allow-list; run
``python -m tests.real.test_differential`` to rewrite it). The run writes ``build/conformance-diff.json``
(``$KUBEFED_CONFORMANCE_REPORT`` if set): probes and checks compared, differences fixed, allowed and
unexplained (which fail the test), each list in a stable order. ``make conformance-report`` runs it into
the committed ``bench/results/conformance-diff.json``; a test run leaves the checkout as it was.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.real.test_differential_probes import ALLOWED, FIXED, PROBES, Allowed, Run, Target

pytestmark = pytest.mark.timeout(240)

ROOT = Path(__file__).resolve().parents[2]
REPORT = Path(os.environ.get("KUBEFED_CONFORMANCE_REPORT") or ROOT / "build" / "conformance-diff.json")
DOC = ROOT / "docs" / "simulator.md"
DOC_BEGIN = "<!-- differential-allow-list: generated from tests/real/test_differential_probes.py ALLOWED -->"
DOC_END = "<!-- end differential-allow-list -->"


# ---- comparison --------------------------------------------------------------------------------------
@dataclass
class Difference:
    probe: str
    check: str
    path: str
    sim: Any
    real: Any
    allowed_by: Allowed | None = None

    def as_json(self) -> dict[str, Any]:
        out = {
            "probe": self.probe,
            "check": self.check,
            "path": self.path,
            "sim": self.sim,
            "real": self.real,
        }
        if self.allowed_by is not None:
            out["reason"] = self.allowed_by.reason
        return out


_MISSING = "<absent>"


def diff(a: Any, b: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Leaf differences between two normalised observations, as (path, a, b)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in a:
                yield sub, _MISSING, b[key]
            elif key not in b:
                yield sub, a[key], _MISSING
            else:
                yield from diff(a[key], b[key], sub)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from diff(x, y, f"{path}[{i}]")
    elif a != b:
        yield path, a, b


def leaves(obs: Any) -> int:
    """How many leaf fields an observation compares."""
    if isinstance(obs, dict):
        return sum(leaves(v) for v in obs.values()) or 1
    if isinstance(obs, list):
        return sum(leaves(v) for v in obs) or 1
    return 1


def glob(pattern: str, text: str) -> bool:
    """``*`` matches anything; every other character (brackets included) only itself."""
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), text) is not None


def explain(d: Difference) -> Allowed | None:
    for a in ALLOWED:
        if a.probe == d.probe and glob(a.check, d.check) and glob(a.path, d.path):
            return a
    return None


@dataclass
class Outcome:
    checks: int = 0
    fields: int = 0
    differences: list[Difference] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    compared: set[tuple[str, str]] = field(default_factory=set)


def compare(probe: str, sim: dict[str, Any], real: dict[str, Any], out: Outcome) -> None:
    for check in sorted(set(sim) | set(real)):
        out.checks += 1
        out.compared.add((probe, check))
        if check not in sim or check not in real:
            d = Difference(probe, check, "", sim.get(check, _MISSING), real.get(check, _MISSING))
            d.allowed_by = explain(d)
            out.differences.append(d)
            continue
        out.fields += leaves(real[check])
        for path, a, b in diff(sim[check], real[check]):
            d = Difference(probe, check, path, a, b)
            d.allowed_by = explain(d)
            out.differences.append(d)


# ---- running -------------------------------------------------------------------------------------
async def run_probes(sim: Target, real: Target, names: list[str] | None = None) -> Outcome:
    out = Outcome()
    probes = [p for p in PROBES if names is None or p.name in names]
    gate = asyncio.Semaphore(4)

    async def one(p: Any) -> None:
        async with gate:
            started = time.monotonic()
            runs = [Run(sim, p.name), Run(real, p.name)]

            async def side(r: Run) -> None:
                try:
                    await r.setup(p)
                    await asyncio.wait_for(p.fn(r), p.timeout)
                except Exception as exc:
                    out.errors.append(f"{p.name} on {r.target.name}: {type(exc).__name__}: {exc}")
                finally:
                    await r.teardown()

            await asyncio.gather(*(side(r) for r in runs))
            compare(p.name, runs[0].obs, runs[1].obs, out)
            out.seconds[p.name] = round(time.monotonic() - started, 2)

    await asyncio.gather(*(one(p) for p in probes))
    return out


def _stable(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Probes run concurrently and finish in any order: the report lists what they found sorted."""
    return sorted(items, key=lambda d: json.dumps(d, sort_keys=True, default=str))


def report(out: Outcome, seconds: float) -> dict[str, Any]:
    allowed = [d for d in out.differences if d.allowed_by is not None]
    unexplained = [d for d in out.differences if d.allowed_by is None]
    used = {id(d.allowed_by) for d in allowed}
    return {
        "probes": len(PROBES),
        "checks_compared": out.checks,
        "fields_compared": out.fields,
        # distinct differences: each fixed one, each allow-list entry that still matches, each unexplained
        # field
        "differences_found": {"fixed": len(FIXED), "allowed": len(used), "unexplained": len(unexplained)},
        "differences_fixed": [f.as_json() for f in FIXED],
        "differences_allowed": _stable([d.as_json() for d in allowed]),
        "differences_unexplained": _stable([d.as_json() for d in unexplained]),
        "allow_list_unused": [a.as_json() for a in ALLOWED if id(a) not in used],
        "errors": sorted(out.errors),
        "seconds": round(seconds, 1),
        "seconds_per_probe": dict(sorted(out.seconds.items())),
    }


def _write_report(rep: dict[str, Any]) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(rep, indent=1, default=str) + "\n")


def doc_table() -> str:
    """The allow-list as the Markdown table in docs/simulator.md."""
    rows = ["| probe | check | field | why the simulator differs |", "|---|---|---|---|"]
    for a in ALLOWED:
        rows.append(f"| `{a.probe}` | `{a.check}` | `{a.path}` | {a.reason} |")
    return "\n".join([DOC_BEGIN, *rows, DOC_END])


def write_doc() -> None:
    text = DOC.read_text()
    begin, end = text.index(DOC_BEGIN), text.index(DOC_END) + len(DOC_END)
    DOC.write_text(text[:begin] + doc_table() + text[end:])


# ---- tests ---------------------------------------------------------------------------------------
@pytest.fixture
async def targets(tmp_path: Path) -> Any:
    from sim import run_fleet
    from sim.real import RealFleet
    from tests.support.real import require_programs

    require_programs()
    real_fleet = RealFleet(["real"], kubeconfig_path=tmp_path / "real.kubeconfig", workdir=tmp_path / "fleet")
    starting = asyncio.create_task(asyncio.to_thread(real_fleet.start))
    try:
        async with run_fleet(
            ["sim"], tls=True, kubeconfig_path=tmp_path / "sim.kubeconfig", rbac=True, pod_ready_delay=0.05
        ) as sim_fleet:
            await starting
            sim = Target("sim", sim_fleet["sim"], sim_fleet.kubeconfig_path, tmp_path / "kubectl-sim")
            real = Target("real", real_fleet["real"], real_fleet.kubeconfig_path, tmp_path / "kubectl-real")
            async with sim, real:
                yield sim, real
    finally:
        if not starting.done():
            await asyncio.wait([starting])
        await asyncio.to_thread(real_fleet.close)


async def test_simulator_answers_as_kube_apiserver_does(targets: tuple[Target, Target]) -> None:
    sim, real = targets
    started = time.monotonic()
    out = await run_probes(sim, real)
    rep = report(out, time.monotonic() - started)
    await asyncio.to_thread(_write_report, rep)
    assert not out.errors, "\n".join(out.errors)
    assert not rep["differences_unexplained"], json.dumps(
        rep["differences_unexplained"], indent=1, default=str
    )
    assert not rep["allow_list_unused"], (
        f"allow-list entries that matched nothing: {rep['allow_list_unused']}"
    )
    # a fixed difference that came back is an unexplained one (above); its check must still run
    missing = [f.as_json() for f in FIXED if (f.probe, f.check) not in out.compared]
    assert not missing, f"fixed differences whose check no longer runs: {missing}"


def test_docs_list_exactly_the_allow_list() -> None:
    text = DOC.read_text()
    assert DOC_BEGIN in text and DOC_END in text, "docs/simulator.md lacks the differential allow-list table"
    begin, end = text.index(DOC_BEGIN), text.index(DOC_END) + len(DOC_END)
    assert text[begin:end] == doc_table(), (
        "run `python -m tests.real.test_differential` to regenerate the table"
    )


def test_normaliser_and_diff() -> None:
    from tests.real.test_differential_probes import normalise_status

    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "reason": "Invalid",
        "code": 422,
        "message": 'x "a" is invalid: [b: Required value, a: Invalid value]',
        "details": {
            "name": "a",
            "kind": "x",
            "uid": "3f1c0c8e-0d5e-4c9c-9f5e-1a2b3c4d5e6f",
            "causes": [
                {"reason": "FieldValueRequired", "field": "b", "message": "Required value"},
                {"reason": "FieldValueInvalid", "field": "a", "message": "Invalid value"},
            ],
        },
    }
    norm = normalise_status(status)
    assert [c["field"] for c in norm["details"]["causes"]] == ["a", "b"]
    assert "uid" not in norm["details"]
    assert list(diff({"a": [1, 2], "b": {"c": 1}}, {"a": [1, 3], "b": {}})) == [
        ("a[1]", 2, 3),
        ("b.c", 1, _MISSING),
    ]


if __name__ == "__main__":
    write_doc()
    print(f"rewrote the allow-list table in {DOC}")

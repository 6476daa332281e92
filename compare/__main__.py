"""``python -m compare e2e [--against ours|kubefed] [--focus REGEX] [--out FILE]``

Runs KubeFed v0.10.0's own e2e suite against a real fleet (host + cluster1, the host joined as a member
too) controlled by this project (default) or by KubeFed itself, writes the verdicts as JSON and ends
with one line ``N passed, M failed`` (plus the not-applicable count).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import tempfile
import time
from pathlib import Path

from sim.real import MissingProgram, all_built

from . import _e2e, _planes

ROOT = Path(__file__).resolve().parents[1]
E2E_PROGRAMS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "controller-manager",
    "kubefedctl",
    "e2e.test",
)


NOT_BUILT = "the KubeFed and Kubernetes programs are not built: run make real-k8s"
DIFF_PROGRAMS = tuple(p for p in E2E_PROGRAMS if p != "e2e.test")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compare")
    sub = parser.add_subparsers(dest="command", required=True)
    e2e = sub.add_parser("e2e", help="KubeFed's e2e suite against a control plane")
    e2e.add_argument(
        "--against",
        choices=("ours", "kubefed"),
        default="ours",
        help="the control plane the suite runs against: this project's services or KubeFed v0.10.0's "
        "controller-manager (the oracle)",
    )
    e2e.add_argument("--focus", default="", help="only specs matching this regular expression")
    e2e.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "kubefed-e2e.json")
    e2e.add_argument(
        "--work",
        type=Path,
        default=None,
        help="keep the fleet's files, service logs and one log per spec here (default: a temporary folder)",
    )
    diff = sub.add_parser("diff", help="the differential harness: the same scenarios on KubeFed and on ours")
    diff.add_argument("--fast", action="store_true", help="only the CI subset of scenarios")
    diff.add_argument("--only", default="", help="only scenarios whose name matches this regular expression")
    diff.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "compare-kubefed.json")
    diff.add_argument("--work", type=Path, default=None, help="keep the fleets' files and logs here")
    diff.add_argument(
        "--merge",
        action="store_true",
        help="keep the other scenarios of the report in --out and replace only the ones this run re-ran",
    )
    sub.add_parser(
        "doc", help="regenerate docs/compatibility.md's table from bench/results/compare-kubefed.json"
    )
    args = parser.parse_args(argv)
    if args.command == "diff":
        return _diff_command(args)
    if args.command == "doc":
        from . import _report
        from ._scenarios import EXPLAINED

        report = _report.reexplain(json.loads(_report.REPORT.read_text()), EXPLAINED)
        _report.REPORT.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
        _report.DOC.write_text(_report.splice(_report.DOC.read_text(), _report.render(report)))
        print(f"wrote {_report.DOC}")
        return 0

    if not all_built(E2E_PROGRAMS):
        print(
            "error: "
            + str(MissingProgram("the KubeFed and Kubernetes programs are not built: run make real-k8s")),
            file=sys.stderr,
        )
        return 2
    specs = sorted(_e2e.list_specs())
    if args.focus:
        specs = [s for s in specs if re.search(args.focus, s)]
    start = _planes.ours if args.against == "ours" else _planes.kubefed
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kubefed-e2e-")))
        plane = stack.enter_context(start(["host", "cluster1"], work))
        print(
            f"control plane ({args.against}) ready in {time.monotonic() - started:.0f} s; {len(specs)} specs"
        )
        result = _e2e.run_suite(plane, specs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "against": args.against,
                "passed": result.passed,
                "failed": result.failed,
                "not_applicable": result.not_applicable,
                "seconds": result.seconds,
                "wall_seconds": round(time.monotonic() - started),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}; {len(result.not_applicable)} not applicable")
    print(result.line())
    return 0 if not result.failed else 1


def _diff_command(args: argparse.Namespace) -> int:
    from . import _diff, _report
    from ._scenarios import EXPLAINED, NOT_COVERED, SCENARIOS

    if not all_built(DIFF_PROGRAMS):
        print(
            f"error: {MissingProgram(NOT_BUILT)}",
            file=sys.stderr,
        )
        return 2
    scenarios = [s for s in SCENARIOS if (s.fast or not args.fast) and re.search(args.only, s.name)]
    started = time.monotonic()
    results: list[dict[str, object]] = []
    report = _report.build(results, NOT_COVERED, wall_seconds=0)
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kubefed-compare-")))
        both = stack.enter_context(_diff.planes(work))
        print(f"both control planes ready in {time.monotonic() - started:.0f} s; {len(scenarios)} scenarios")
        for scenario in scenarios:
            result = _diff.run_scenario(scenario, both, EXPLAINED)
            results.append(result)
            print(_report.scenario_line(result), flush=True)
            # written after every scenario, so an interrupted run keeps what it found
            kept = []
            if args.merge and args.out.exists():
                rerun = {r["scenario"] for r in results}
                earlier = json.loads(args.out.read_text())["scenarios"]
                kept = [r for r in earlier if r["scenario"] not in rerun]
            order = {s.name: i for i, s in enumerate(SCENARIOS)}
            merged = sorted(kept + results, key=lambda r: order.get(r["scenario"], len(order)))
            report = _report.build(merged, NOT_COVERED, wall_seconds=time.monotonic() - started)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    problems = _diff.unexplained(report)
    for line in problems:
        print(f"UNEXPLAINED {line}")
    print(f"wrote {args.out}; {_report.summary_line(report)}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m bench.lead_table [latest.json]``: the goal table that leads docs/performance.md, as Markdown.

Only figures measured by the run that wrote the file appear as ours; a figure kept from an earlier run
(``kept_from_earlier_run``) or absent is "not measured". Peers' figures are their published ones. Each
row's commit is that of the scenario that measured it (``details.<scenario>.git_commit``): a run merged
with ``--merge`` holds scenarios of several commits.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# (figure, key path in latest.json, goal, peers' published figure)
ROWS: list[tuple[str, tuple[str, ...], str, str]] = [
    ("propagation p99, 100 clusters", ("propagation_p99_ms", "100"), "< 1,000 ms", "Karmada: 1.3 s"),
    ("propagation p99, 1,000 clusters", ("propagation_p99_ms", "1000"), "≥ 100 samples", ""),
    ("propagation p99, 5,000 clusters", ("propagation_p99_ms", "5000"), "≥ 100 samples", ""),
    ("largest fleet converged", ("max_clusters_converged",), "5,000", "KubeFleet 1,000; OCM/Maestro 3,000"),
    ("idle RSS, watcher", ("rss_mb_idle", "watcher"), "≤ 60 MB", "KubeFleet member agent: 33 MB"),
    ("idle RSS, scheduler", ("rss_mb_idle", "scheduler"), "≤ 60 MB", ""),
    ("idle RSS, propagator", ("rss_mb_idle", "propagator"), "≤ 60 MB", ""),
    ("idle RSS, dns", ("rss_mb_idle", "dns"), "≤ 60 MB", ""),
    ("propagator MB per member cluster", ("cost_mb_per_cluster", "propagator"), "≤ 0.25 MB", ""),
    ("scheduler MB per member cluster", ("cost_mb_per_cluster", "scheduler"), "≤ 0.2 MB", ""),
    ("watcher MB per member cluster", ("cost_mb_per_cluster", "watcher"), "", ""),
    ("propagator /metrics series per member cluster", ("metrics_series_per_cluster", "propagator"), "", ""),
    ("propagator MB per 1,000 objects (x 10 members)", ("cost_mb_per_1000_objects", "propagator"), "", ""),
    ("scheduler MB per 1,000 objects", ("cost_mb_per_1000_objects", "scheduler"), "", ""),
    ("watcher MB per 1,000 objects", ("cost_mb_per_1000_objects", "watcher"), "", ""),
    ("propagator RSS, 10,000 objects x 10 members", ("propagator_rss_mb_10k_x10",), "≤ 150 MB", ""),
    ("CPU ms per member write, pipeline", ("cpu_ms_per_member_write", "pipeline"), "≤ bare client", ""),
    ("CPU ms per member write, bare client", ("cpu_ms_per_member_write", "bare_client"), "", ""),
    ("CPU ms per member write, propagator", ("cpu_ms_per_member_write", "propagator"), "", ""),
    ("CPU ms per member write, scheduler", ("cpu_ms_per_member_write", "scheduler"), "", ""),
    ("CPU ms per member write, watcher", ("cpu_ms_per_member_write", "watcher"), "", ""),
    ("throughput / ceiling (burst, 10 clusters)", ("throughput_ratio",), "≥ 0.9", ""),
    (
        "restart resync, 100,000 objects x 10 members",
        ("resync_seconds_100k",),
        "≤ 60 s, 0 writes",
        "KubeFleet: 10–11 min",
    ),
]


# the scenarios a figure comes from, the first one present gives its commit
SCENARIOS: dict[str, tuple[str, ...]] = {
    "propagation_p99_ms/100": ("hundred",),
    "propagation_p99_ms/1000": ("clusters1000",),
    "propagation_p99_ms/5000": ("clusters5000",),
    "max_clusters_converged": ("clusters5000", "clusters3000", "clusters1000", "clusters300", "hundred"),
    "throughput_ratio": ("ten",),
    "resync_seconds_100k": ("objects",),
}
# figures of the object series: scenario ``objects`` (``costs`` in results written before the split)
OBJECT_SERIES = {
    "rss_mb_idle",
    "cost_mb_per_1000_objects",
    "propagator_rss_mb_10k_x10",
    "cpu_ms_per_member_write",
}


def commit_of(doc: dict[str, Any], path: tuple[str, ...]) -> str:
    """The commit of the scenario that measured the figure at ``path``."""
    details = doc.get("details") or {}
    if path[0] == "rss_mb_idle" and isinstance(doc.get("rss_mb_idle_run"), dict):
        return str(doc["rss_mb_idle_run"].get("git_commit") or "?")
    default = ("objects", "costs") if path[0] in OBJECT_SERIES else ("costs",)
    names = SCENARIOS.get("/".join(path)) or SCENARIOS.get(path[0]) or default
    for name in names:
        block = details.get(name) or {}
        if path[0] == "max_clusters_converged" and block.get("converged_clusters") != _get(doc, path):
            continue  # a larger fleet's scenario kept from an older run did not give this figure
        if block.get("git_commit"):
            return str(block["git_commit"])
    return str(doc.get("git_commit") or "?")


def _get(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    cur: Any = doc
    for p in path:
        if not isinstance(cur, dict) or p not in cur:
            return None
        cur = cur[p]
    return cur


def mark_key(path: tuple[str, ...]) -> str:
    """The ``goal_status`` key that judges the figure at ``path`` (absent: the figure has no goal)."""
    if path[0] == "propagation_p99_ms":
        return f"propagation_p99_{path[1]}"
    if path[0] in ("rss_mb_idle", "cost_mb_per_cluster"):
        return f"{path[0]}_{path[1]}"
    if path == ("cpu_ms_per_member_write", "pipeline"):
        return "cpu_pipeline_vs_bare_client"
    return path[0]


def render(doc: dict[str, Any]) -> str:
    kept = set((doc.get("kept_from_earlier_run") or {}).get("keys") or [])
    m = doc.get("machine") or {}
    machine = f"{m.get('cpu_model', '?')}, {m.get('cores', '?')} cores"
    lines = [
        "| figure | goal | peer (published) | ours | machine | commit |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for figure, path, goal, peer in ROWS:
        value = None if path[0] in kept else _get(doc, path)
        ours = "not measured" if value is None else str(value)
        if value is not None and path[0] == "propagation_p99_ms":
            n = _get(doc, ("propagation_samples", path[1]))
            ours = f"{value} ms ({n} samples)" if n else f"{value} ms (sample count not recorded)"
        if value is not None and path[0] == "resync_seconds_100k":
            ours = f"{value} s, {_get(doc, ('resync_member_writes_100k',))} member writes"
        status = (doc.get("goal_status") or {}).get(mark_key(path), "")
        if value is not None and status and goal:
            ours += " (met)" if status == "met" else " (**missed**)"
        lines.append(
            f"| {figure} | {goal} | {peer} | {ours} | {machine if value is not None else ''} | "
            f"{commit_of(doc, path) if value is not None else ''} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "results" / "latest.json"
    print(render(json.loads(path.read_text())))

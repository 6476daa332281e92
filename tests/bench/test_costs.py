"""The cost-curve arithmetic of the benchmark (bench/costs.py) and how its figures reach latest.json."""

from __future__ import annotations

from typing import Any

import pytest

from bench import costs
from bench.__main__ import GOALS, goal_marks, keep_unmeasured, summarize, table


def _fleet_point(members: int, prop_mb: float, sched_mb: float) -> dict[str, Any]:
    rss = {"watcher": 60.0, "scheduler": sched_mb, "propagator": prop_mb}
    return {
        "members": members,
        "rss_mb_ready": rss,
        "rss_mb_loaded": rss,
        "cpu_ms_per_member_write": {"propagator": 1.0, "pipeline": 2.0},
        "metrics_series": {"watcher": 400, "scheduler": 500 + members, "propagator": 600 + 25 * members},
    }


def _result() -> dict[str, Any]:
    fleet = [
        _fleet_point(10, 60.0 + 0.3 * 10, 60.0 + 0.1 * 10),
        _fleet_point(100, 60.0 + 0.3 * 100, 60.0 + 0.1 * 100),
        _fleet_point(300, 60.0 + 0.3 * 300, 60.0 + 0.1 * 300),
    ]
    objects = {
        "members": 10,
        "rss_mb_idle": {"watcher": 58.0, "scheduler": 57.0, "propagator": 54.0, "dns": 53.0, "sim": 70.0},
        "points": [
            {"objects": 0, "rss_mb": {"watcher": 58.0, "scheduler": 57.0, "propagator": 54.0}},
            {"objects": 1000, "rss_mb": {"watcher": 60.0, "scheduler": 67.0, "propagator": 94.0}},
            {"objects": 10000, "rss_mb": {"watcher": 78.0, "scheduler": 157.0, "propagator": 454.0}},
        ],
        "ceiling": {"cpu_ms_per_write": 1.5},
        "cpu_ms_per_member_write": {"watcher": 0.1, "scheduler": 0.4, "propagator": 1.2, "pipeline": 1.7},
    }
    return {"fleet": fleet, "objects": objects}


def test_slope_is_the_least_squares_fit_and_needs_two_distinct_points() -> None:
    assert costs.slope([(10, 13.0), (100, 40.0), (300, 100.0)]) == pytest.approx(0.3)
    assert costs.slope([(10, 1.0)]) is None
    assert costs.slope([(10, 1.0), (10, 2.0)]) is None


def test_summary_has_the_issue_keys_with_fitted_marginal_costs() -> None:
    s = costs.summarize(_result())
    assert s["cost_mb_per_cluster"] == {
        "watcher": pytest.approx(0.0),
        "scheduler": pytest.approx(0.1),
        "propagator": pytest.approx(0.3),
    }
    assert s["metrics_series_per_cluster"] == {
        "watcher": pytest.approx(0.0),
        "scheduler": pytest.approx(1.0),
        "propagator": pytest.approx(25.0),
    }
    assert s["cost_mb_per_1000_objects"]["propagator"] == pytest.approx(40.0)
    assert s["cpu_ms_per_member_write"] == {
        "watcher": 0.1,
        "scheduler": 0.4,
        "propagator": 1.2,
        "pipeline": 1.7,
        "bare_client": 1.5,
    }
    assert s["rss_mb_idle"] == {"watcher": 58.0, "scheduler": 57.0, "propagator": 54.0, "dns": 53.0}
    assert s["propagator_rss_mb_10k_x10"] == 454.0


def test_goal_marks_and_table_rows_for_the_cost_figures() -> None:
    res = {"mode": "quick", "machine": {}, "scenarios": {"costs": _result()}, "errors": {}}
    s = summarize(res)
    marks = goal_marks(s)
    assert marks["rss_mb_idle_dns"] == "met"
    assert marks["cost_mb_per_cluster_propagator"] == "MISSED"  # 0.3 > 0.25
    assert marks["cost_mb_per_cluster_scheduler"] == "met"  # 0.1 <= 0.2
    assert marks["propagator_rss_mb_10k_x10"] == "MISSED"  # 454 > 150
    assert marks["cpu_pipeline_vs_bare_client"] == "MISSED"  # 1.7 > 1.5
    text = table(s, marks, res)
    assert "RSS per member cluster, propagator" in text and "CPU per member write, bare_client" in text
    assert GOALS["rss_mb_idle"] == 60.0


def test_the_restart_resync_after_100000_objects_gives_the_issue_keys_and_goal_marks() -> None:
    result = _result()
    result["objects"]["points"].append(
        {"objects": 100_000, "rss_mb": {"watcher": 99.0, "scheduler": 400.0, "propagator": 900.0}}
    )
    result["objects"]["resync"] = {"objects": 100_000, "seconds": 75.5, "member_resource_version_delta": 0}
    # the object series is its own scenario (``--only objects``), the fleet series stays in ``costs``
    scenarios = {"costs": {"fleet": result["fleet"]}, "objects": {**result["objects"], "git_commit": "o1"}}
    s = summarize({"mode": "full", "machine": {}, "scenarios": scenarios, "errors": {}})
    assert s["cost_mb_per_cluster"]["propagator"] == pytest.approx(0.3)
    assert (s["resync_seconds_100k"], s["resync_member_writes_100k"]) == (75.5, 0)
    assert s["rss_mb_100k_x10"]["propagator"] == 900.0
    marks = goal_marks(s)
    assert (marks["resync_seconds_100k"], marks["resync_member_writes_100k"]) == ("MISSED", "met")
    assert "restart resync, 100,000 objects x 10 clusters" in table(s, marks, {"errors": {}})
    from bench.lead_table import render

    row = next(x for x in render({**s, "details": scenarios}).splitlines() if "restart resync" in x)
    assert "75.5 s, 0 member writes" in row and "| o1 |" in row
    # a resync after fewer objects is not the 100,000-object figure
    result["objects"]["resync"]["objects"] = 10_000
    assert "resync_seconds_100k" not in costs.summarize(result)


def test_a_run_of_another_mode_keeps_the_earlier_figures_it_did_not_measure() -> None:
    res = {"mode": "quick", "machine": {}, "scenarios": {"costs": _result()}, "errors": {}}
    s = summarize(res)
    assert s["max_clusters_converged"] is None  # no cluster scenario ran
    old = {
        "mode": "full",
        "machine": {"date": "earlier"},
        "max_clusters_converged": 1000,
        "throughput_ratio": 0.9,
        "rss_mb_idle": {"watcher": 105.0},
        "rss_mb_idle_run": {"method": "bench.idle"},
        "goal_status": {},
    }
    kept = keep_unmeasured(s, old, "quick")
    assert kept == {"max_clusters_converged": 1000, "throughput_ratio": 0.9}
    assert s["rss_mb_idle"]["watcher"] == 58.0  # measured now: not replaced
    assert keep_unmeasured(summarize(res), {**old, "mode": "quick"}, "quick") == {}


def test_lead_table_shows_only_figures_of_the_run_that_wrote_the_file() -> None:
    from bench.lead_table import render

    doc = {
        "machine": {"cpu_model": "CPU X", "cores": 2},
        "details": {"costs": {"git_commit": "abc1234"}, "hundred": {"git_commit": "0ld0ld0"}},
        "rss_mb_idle": {"watcher": 54.3},
        "propagation_p99_ms": {"100": 321.5},
        "propagation_samples": {"100": 15},
        "throughput_ratio": 0.995,
        "kept_from_earlier_run": {"keys": ["throughput_ratio"]},
    }
    rows = {line.split(" | ")[0].lstrip("| "): line for line in render(doc).splitlines()[2:]}
    assert "| 54.3 | CPU X, 2 cores | abc1234 |" in rows["idle RSS, watcher"]
    assert "321.5 ms (15 samples) | CPU X, 2 cores | 0ld0ld0 |" in rows["propagation p99, 100 clusters"]
    assert "| not measured |" in rows["throughput / ceiling (burst, 10 clusters)"]  # from an earlier run
    assert "| not measured |" in rows["idle RSS, dns"]


def test_lead_table_says_which_goals_were_met_and_which_missed() -> None:
    from bench.lead_table import render

    doc = {
        "machine": {"cpu_model": "CPU X", "cores": 2},
        "propagation_p99_ms": {"100": 321.5, "5000": 7000.0},
        "propagation_samples": {"100": 15, "5000": 100},
        "rss_mb_idle": {"watcher": 54.3, "scheduler": 61.0},
        "cpu_ms_per_member_write": {"pipeline": 1.1, "bare_client": 0.9},
        "goal_status": {
            "propagation_p99_100": "met",
            "rss_mb_idle_watcher": "met",
            "rss_mb_idle_scheduler": "MISSED",
            "cpu_pipeline_vs_bare_client": "MISSED",
        },
    }
    rows = {line.split(" | ")[0].lstrip("| "): line for line in render(doc).splitlines()[2:]}
    assert "| 321.5 ms (15 samples) (met) |" in rows["propagation p99, 100 clusters"]
    assert "| 7000.0 ms (100 samples) |" in rows["propagation p99, 5,000 clusters"]  # no goal of its own
    assert "| 54.3 (met) |" in rows["idle RSS, watcher"]
    assert "| 61.0 (**missed**) |" in rows["idle RSS, scheduler"]
    assert "| 1.1 (**missed**) |" in rows["CPU ms per member write, pipeline"]
    assert "| 0.9 |" in rows["CPU ms per member write, bare client"]


def test_idle_figure_is_merged_into_results_keeping_every_other_key(tmp_path: Any) -> None:
    import json

    from bench.idle import merge_into

    path = tmp_path / "latest.json"
    path.write_text(json.dumps({"throughput_ratio": 0.995, "rss_mb": {"0": {"watcher": 100.0}}}))
    merge_into(path, {"watcher": 54.2, "scheduler": 54.4, "sim": 70.0, "nats-server": 20.0}, "abc", "now")
    doc = json.loads(path.read_text())
    assert doc["throughput_ratio"] == 0.995 and doc["rss_mb"] == {"0": {"watcher": 100.0}}
    assert doc["rss_mb_idle"] == {"watcher": 54.2, "scheduler": 54.4}
    assert doc["rss_mb_idle_run"]["git_commit"] == "abc"


def test_sizes_given_on_the_command_line_override_the_mode() -> None:
    import argparse

    from bench.__main__ import size_overrides

    args = argparse.Namespace(
        cost_fleet="10,100,300,1000",
        cost_objects="1000,10000",
        max_clusters="1000",
        cluster_samples="120@0.5",
    )
    large = {"from": 3000, "regions": 2, "health_period": "30s"}
    mode = {"clusters_latency": {"samples": 100, "member_writes_per_s": 400, "large_fleet": large}}
    assert size_overrides(args, mode) == {
        "cost_fleet": [10, 100, 300, 1000],
        "cost_objects": [1000, 10000],
        "max_clusters": [1000],
        # the mode's sharding of large fleets stays; a fixed rate replaces the per-size one
        "clusters_latency": {"samples": 120, "rate": 0.5, "member_writes_per_s": 400, "large_fleet": large},
    }
    none = argparse.Namespace(cost_fleet=None, cost_objects=None, max_clusters=None, cluster_samples=None)
    assert size_overrides(none, mode) == {}


def test_a_same_mode_merge_keeps_the_earlier_figures_and_not_the_scenarios_it_only_carried() -> None:
    from bench.__main__ import results_document

    hundred = {"p50_ms": 75.5, "p99_ms": 160.1, "samples": 15, "converged_clusters": 100, "git_commit": "q1"}
    old_full_fleet = {"p50_ms": 1655.2, "p99_ms": 3312.0, "samples": 3, "converged_clusters": 1000}
    machine = {"cpu_model": "CPU X", "cores": 2, "memory_gb": 1.0, "python": "3", "date": "earlier"}
    old = {
        "mode": "quick",
        "machine": machine,
        "sizes": {"max_clusters": [], "cost_fleet": [10, 100, 300], "latency100": {"samples": 15}},
        "details": {"hundred": hundred, "clusters1000": {**old_full_fleet, "git_commit": "f1"}},
        "errors": {},
        "wall_seconds": 100.0,
        "kept_from_earlier_run": {"mode": "full", "date": "long ago", "keys": []},
    }
    res = {
        "mode": "quick",
        "machine": {**machine, "date": "now"},
        "sizes": {"max_clusters": [], "cost_fleet": [10, 100, 300, 1000], "latency100": {"samples": 99}},
        "scenarios": {"costs": {**_result(), "git_commit": "new1"}},
        "errors": {},
        "wall_seconds": 50.0,
    }
    out = results_document(res, old, {"costs"})
    assert out["propagation_p99_ms"] == {"100": 160.1}  # the earlier run's own figure, kept
    assert out["max_clusters_converged"] == 100  # not the full run's 1,000 it only carried
    assert out["cost_mb_per_cluster"]["scheduler"] == pytest.approx(0.1)  # the new figure
    assert set(out["details"]) == {"hundred", "clusters1000", "costs"}  # the carried one still there
    assert out["sizes"]["cost_fleet"] == [10, 100, 300, 1000]  # re-run: its sizes
    assert out["sizes"]["latency100"] == {"samples": 15}  # not re-run: the earlier sizes
    assert out["kept_from_earlier_run"] == old["kept_from_earlier_run"]
    assert out["merged_into_run_of"] == "earlier" and out["wall_seconds"] == 150.0


async def test_a_run_checkpoints_each_scenario_and_a_resumed_run_keeps_them(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After each scenario the results so far are in the checkpoint; ``--resume`` keeps the scenarios of
    the stopped run as measured and does not run them again."""
    import json

    from bench import scaling as scaling_scenario
    from bench.__main__ import run

    runs: list[int] = []

    async def scenario(objects: int, members: int) -> dict[str, Any]:
        runs.append(objects)
        return {"writes_per_s": {"1": 900.0}}

    monkeypatch.setattr(scaling_scenario, "run", scenario)
    checkpoint = tmp_path / "latest.partial.json"
    first = await run("smoke", {"scaling"}, checkpoint)
    assert runs == [10]
    saved = json.loads(checkpoint.read_text())
    assert saved["scenarios"]["scaling"] == first["scenarios"]["scaling"]
    assert saved["scenarios"]["scaling"]["writes_per_s"] == {"1": 900.0}

    resumed = await run("smoke", {"scaling"}, checkpoint, saved)
    assert runs == [10]  # not run again
    assert resumed["scenarios"] == saved["scenarios"] and resumed["errors"] == {}

"""The cold-start runner (bench/cold_start.py) on a tiny module: fresh processes, medians, ratios."""

from __future__ import annotations

import math
import os
import random
from pathlib import Path

from bench import cold_start
from bench.cold_start import Measure, Target


def test_tiny_modules_are_measured_in_fresh_processes(tmp_path: Path) -> None:
    (tmp_path / "tiny_bench_module.py").write_text("import json\nVALUE = json.dumps({'a': 1})\n")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(tmp_path)}
    targets = [Target("base", "pass"), Target.module("tiny_bench_module"), Target.module("no_such_module_here")]
    measures = cold_start.measure(targets, runs=2, workers=2, env=env)
    tiny = measures["tiny_bench_module"]
    assert len(tiny.seconds) == 2 and all(s > 0 for s in tiny.seconds) and tiny.error is None
    assert tiny.peak_rss_mb > 1
    missing = measures["no_such_module_here"]
    assert missing.seconds == [] and "No module named" in (missing.error or "")


def test_rows_compare_medians_with_the_baseline_and_flag_above_the_target() -> None:
    measures = {
        "base": Measure("base", [0.1, 0.2, 0.1], [30, 30, 30]),
        "slow": Measure("slow", [0.3, 0.3, 0.9], [60, 61, 62]),
        "fine": Measure("fine", [0.12, 0.1, 0.14], [31, 31, 31]),
        "broken": Measure("broken", error="ImportError"),
    }
    base, rows = cold_start.compare(measures, baseline="base")
    assert base is measures["base"]
    assert [r.label for r in rows] == ["slow", "fine", "broken"]
    slow, fine, broken = rows
    assert math.isclose(slow.ratio, 3.0) and slow.flagged and slow.min_s == 0.3 and slow.peak_rss_mb == 61
    assert math.isclose(fine.ratio, 1.2) and not fine.flagged
    assert math.isnan(broken.ratio) and not broken.flagged and broken.error == "ImportError"


def test_the_child_environment_is_a_lambda_s() -> None:
    env = cold_start.lambda_env("dev")
    assert env["STAGE"] == "dev" and env["AWS_REGION"] == "us-east-1" and env["LAMBDA_TASK_ROOT"]
    assert "AWS_ENDPOINT_URL" not in env
    targets = cold_start.route_targets()
    assert {t.label for t in targets} >= {"functions.api.get_health", *cold_start.AUTHORIZER_MODULES}


def test_a_round_visits_every_target_once_and_interleaves_the_baseline() -> None:
    targets = [Target("base", "pass"), *(Target(f"m{i}", "pass") for i in range(cold_start.BASELINE_EVERY + 5))]
    order = cold_start.schedule(targets, random.Random(1), baseline="base")
    labels = [t.label for t in order]
    assert sorted(label for label in labels if label != "base") == sorted(t.label for t in targets[1:])
    assert labels[0] == "base" and labels[cold_start.BASELINE_EVERY + 1] == "base" and labels.count("base") == 2
    other = [t.label for t in cold_start.schedule(targets, random.Random(2), baseline="base")]
    assert other != labels  # each round has its own order


def test_cpu_time_is_recorded_and_compared_beside_wall_time() -> None:
    env = {"PATH": os.environ.get("PATH", "")}
    measures = cold_start.measure([Target("base", "pass"), Target.module("json")], runs=2, env=env, baseline="base")
    assert len(measures["base"].seconds) == 2 and len(measures["json"].cpu_seconds) == 2
    _, rows = cold_start.compare(measures, baseline="base")
    assert rows[0].cpu_ratio > 0 and "median_cpu_s" in measures["json"].to_dict()

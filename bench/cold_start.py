"""Cold start per function: whole-process import time and peak RSS, median over fresh processes.

Each sample is a new ``python -c`` process that times ``import <module>`` with ``time.perf_counter`` (and
its CPU time with ``time.process_time``) and reports its peak RSS (``VmHWM`` from ``/proc/self/status``;
``resource.getrusage`` elsewhere), which is what a Lambda cold start pays before the first event (INIT).
Imports a handler defers to its first invocation are not in the figure. The environment is the one a
deployed function has (``driveway_hub.config.env_for(stage)``, dummy credentials, ``LAMBDA_TASK_ROOT`` so
Powertools' Tracer behaves as on Lambda, i.e. loads the X-Ray SDK), never the parent's.

The baseline is the smallest useful handler: ``import boto3`` and ``from aws_lambda_powertools import
Logger``. A ratio above ``TARGET_RATIO`` (issue #8: 1.5x) is flagged.

Fairness on a small, shared machine (2 cores):

- one child at a time by default (``WORKERS``): two children on two cores compete with each other and with
  the parent, and a module's sample then depends on what its neighbour happened to import;
- ``RUNS`` (7) rounds; each round samples every module once in its own shuffled (seeded, reproducible)
  order, so a noisy moment or a position effect does not always hit the same modules;
- the baseline is interleaved: sampled at the start of every round and again after every
  ``BASELINE_EVERY`` modules, so its median is taken over the same moments as the modules' (a
  baseline measured only at the start of each round would see different load than the modules);
- the ratio is of medians (best samples are reported beside them); each child's CPU time is recorded
  too (``cpu_s``): it is far less sensitive to other load on the machine than wall time;
- one untimed warm-up process imports everything first, so no sample pays for writing ``.pyc`` files.

Caveats, printed with the figures: the interpreter is the local 3.11 and packages come from ``.venv`` (Lambda
runs 3.12 with the dependency layer); ``.pyc`` files exist locally while CDK's assets exclude them, so on
Lambda the first import also compiles our code (and the dependency layer is built ``--no-compile``).
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.5
RUNS = 7
WORKERS = 1
BASELINE_EVERY = 16  # modules between two baseline samples within a round
BASELINE = "baseline (boto3 + Logger)"
BASELINE_CODE = "import boto3\nfrom aws_lambda_powertools import Logger"
AUTHORIZER_MODULES = ("functions.auth.authorizer", "functions.auth.ws_authorizer")

# The child: time the imports, then report seconds and peak RSS as one JSON line. Peak RSS is the
# process's VmHWM (Linux), which exec resets: getrusage's ru_maxrss also keeps the high-water mark of the
# forked parent's image from before exec (a big bench process would show as every child's peak).
_CHILD = """
import json, resource, sys, time
started, cpu_started = time.perf_counter(), time.process_time()
exec(compile(sys.argv[1], "<cold-start>", "exec"))
seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    with open("/proc/self/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration, ValueError):
    pass
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "max_rss_kb": peak_kb}))
"""


@dataclass(frozen=True)
class Target:
    """What one child imports: ``label`` names it in the table, ``code`` is the import statements."""

    label: str
    code: str

    @classmethod
    def module(cls, module: str, label: str | None = None) -> Target:
        return cls(label or module, f"import {module}")


@dataclass
class Measure:
    label: str
    seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    error: str | None = None
    cpu_seconds: list[float] = field(default_factory=list)

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds) if self.seconds else math.nan

    @property
    def min_s(self) -> float:
        """Best of the samples: the least disturbed by other load on the machine."""
        return min(self.seconds) if self.seconds else math.nan

    @property
    def median_cpu_s(self) -> float:
        """Median CPU time (user + system) of the samples: what other load on the machine disturbs least."""
        return statistics.median(self.cpu_seconds) if self.cpu_seconds else math.nan

    @property
    def peak_rss_mb(self) -> float:
        """Median over the samples of each process's peak RSS."""
        return statistics.median(self.rss_mb) if self.rss_mb else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {"median_s": round(self.median_s, 4), "min_s": round(self.min_s, 4),
                "median_cpu_s": round(self.median_cpu_s, 4), "peak_rss_mb": round(self.peak_rss_mb, 1),
                "samples_s": [round(s, 4) for s in self.seconds],
                "samples_cpu_s": [round(s, 4) for s in self.cpu_seconds], "error": self.error}


def lambda_env(stage: str = "dev", function_name: str = "cold-start") -> dict[str, str]:
    """The environment a deployed function starts with (plus dummy credentials), and nothing else."""
    from driveway_hub.config import env_for

    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
    env.update(env_for(stage))
    env.update({
        "AWS_DEFAULT_REGION": env["AWS_REGION"],
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": f"driveway-hub-{stage}-{function_name}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "LAMBDA_TASK_ROOT": str(REPO_ROOT),
        "POWERTOOLS_SERVICE_NAME": "driveway-hub",
        "POWERTOOLS_METRICS_NAMESPACE": "DrivewayHub",
    })
    return env


def route_targets() -> list[Target]:
    """Every function CDK deploys from the route table, plus the two authorizers."""
    from driveway_hub.routes import ROUTES

    modules = [route.module for route in ROUTES] + list(AUTHORIZER_MODULES)
    return [Target.module(module) for module in dict.fromkeys(modules)]


def sample(target: Target, env: Mapping[str, str], python: str = sys.executable,
           timeout_s: float = 60) -> dict[str, Any]:
    """One fresh process importing ``target``: ``{"seconds", "cpu_seconds", "max_rss_kb"}`` or ``{"error"}``."""
    try:
        done = subprocess.run(
            [python, "-c", _CHILD, target.code], env=dict(env), cwd=REPO_ROOT, capture_output=True, text=True,
            timeout=timeout_s, check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:g} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["exit status " + str(done.returncode)])[-1]
        return {"error": last[:160]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(targets: Sequence[Target], *, runs: int = RUNS, workers: int = WORKERS,
            env: Mapping[str, str] | None = None, python: str = sys.executable, warm: bool = True,
            progress: Callable[[str], None] | None = None, baseline: str | None = None,
            seed: int = 8) -> dict[str, Measure]:
    """Median import time and peak RSS of each target over ``runs`` rounds of fresh processes, ``workers``
    at a time. Each round visits the targets in its own shuffled order; the target labelled ``baseline``
    (if any) is sampled at the start of each round and again after every ``BASELINE_EVERY`` targets."""
    env = dict(env) if env is not None else lambda_env()
    measures = {t.label: Measure(t.label) for t in targets}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        if warm:  # untimed: no measured sample pays for writing .pyc files
            sample(_warm_up(targets), env, python, timeout_s=300)
        for round_number in range(runs):
            order = schedule(targets, random.Random(seed + round_number), baseline)
            for target, answer in zip(order, pool.map(lambda t: sample(t, env, python), order), strict=True):
                m = measures[target.label]
                if "error" in answer:
                    m.error = str(answer["error"])
                    continue
                m.seconds.append(float(answer["seconds"]))
                m.cpu_seconds.append(float(answer.get("cpu_seconds", math.nan)))
                m.rss_mb.append(float(answer["max_rss_kb"]) / 1024)
            if progress:
                progress(f"cold start: round {round_number + 1}/{runs} done")
    return measures


def schedule(targets: Sequence[Target], rng: random.Random, baseline: str | None = None) -> list[Target]:
    """One round: every target once in a shuffled order, with the baseline first and after every
    ``BASELINE_EVERY`` other targets."""
    base = [t for t in targets if t.label == baseline]
    others = [t for t in targets if t.label != baseline]
    rng.shuffle(others)
    order: list[Target] = []
    for start in range(0, max(len(others), 1), BASELINE_EVERY):
        order += base + others[start:start + BASELINE_EVERY]
    return order


def _warm_up(targets: Sequence[Target]) -> Target:
    """One process that runs every target's imports, each on its own (a failure does not stop the rest)."""
    code = "\n".join(f"try:\n    exec({t.code!r})\nexcept Exception:\n    pass" for t in targets)
    return Target("warm-up", code)


@dataclass(frozen=True)
class Row:
    label: str
    median_s: float
    min_s: float
    peak_rss_mb: float
    ratio: float
    best_ratio: float
    flagged: bool
    error: str | None
    cpu_ratio: float = math.nan  # ratio of median CPU times: the least disturbed by other load


def compare(measures: Mapping[str, Measure], baseline: str = BASELINE,
            target_ratio: float = TARGET_RATIO) -> tuple[Measure | None, list[Row]]:
    """Rows for every measured function (slowest first) with its ratio to the baseline."""
    base = measures.get(baseline)
    base_s = base.median_s if base is not None and base.seconds else math.nan
    base_best = base.min_s if base is not None and base.seconds else math.nan
    base_cpu = base.median_cpu_s if base is not None and base.cpu_seconds else math.nan
    rows = []
    for label, m in measures.items():
        if label == baseline:
            continue
        ratio = m.median_s / base_s if m.seconds and base_s > 0 else math.nan
        best_ratio = m.min_s / base_best if m.seconds and base_best > 0 else math.nan
        cpu_ratio = m.median_cpu_s / base_cpu if m.cpu_seconds and base_cpu > 0 else math.nan
        rows.append(Row(label, m.median_s, m.min_s, m.peak_rss_mb, ratio, best_ratio, ratio > target_ratio, m.error,
                        cpu_ratio))
    rows.sort(key=lambda r: (math.isnan(r.median_s), 0.0 if math.isnan(r.median_s) else -r.median_s))
    return base, rows


def run(runs: int = RUNS, workers: int = WORKERS,
        progress: Callable[[str], None] | None = None) -> dict[str, Measure]:
    """The bench's cold-start figures: the baseline (interleaved) and every function of the route table."""
    targets = [Target(BASELINE, BASELINE_CODE), *route_targets()]
    return measure(targets, runs=runs, workers=workers, progress=progress, baseline=BASELINE)

"""The cost benchmark's fixed monthly resources are the ones the prod template really has."""

from __future__ import annotations

import json
from pathlib import Path

from tests.infra.synth import Synthesized

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_cost_benchmark_counts_the_alarms_and_keys_prod_deploys(prod: Synthesized) -> None:
    from bench.__main__ import fixed_resources

    env_config = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]["environments"]["prod"]
    fixed, _why = fixed_resources(env_config)
    assert fixed.alarms == len(prod.resources("AWS::CloudWatch::Alarm"))
    assert fixed.kms_keys == len(prod.resources("AWS::KMS::Key"))

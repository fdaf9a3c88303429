"""Every ASL file is valid for asl-validator (the linter `make test` also runs), and the validator is
really able to fail: a `Next` to a missing state is caught."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT / "node_modules" / ".bin" / "asl-validator"
STATE_MACHINES = sorted((ROOT / "statemachines").glob("*.json"))

pytestmark = [
    pytest.mark.infra,
    pytest.mark.skipif(not VALIDATOR.exists() and shutil.which("npx") is None, reason="npm tools not installed"),
]


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VALIDATOR), "--json-path", str(path)], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("path", STATE_MACHINES, ids=lambda p: p.name)
def test_state_machine_is_valid_asl(path: Path) -> None:
    result = _validate(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_next_to_a_missing_state_is_caught(tmp_path: Path) -> None:
    broken = {
        "StartAt": "First",
        "States": {"First": {"Type": "Pass", "Next": "DoesNotExist"}, "Done": {"Type": "Succeed"}},
    }
    path = tmp_path / "broken.asl.json"
    path.write_text(json.dumps(broken))
    result = _validate(path)
    assert result.returncode != 0

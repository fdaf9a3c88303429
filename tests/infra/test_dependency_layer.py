"""layers/build_dependency_layer.py rebuilds only when requirements change (no pip run here)."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest

from stacks import constants as c

pytestmark = pytest.mark.infra

SCRIPT = c.REPO_ROOT / "layers" / "build_dependency_layer.py"


@pytest.fixture(scope="module")
def layer() -> dict[str, Any]:
    # layers/ is not a package: load the script's functions the way a caller without sys.path tricks would.
    return runpy.run_path(str(SCRIPT), run_name="build_dependency_layer")


def _built(tmp_path: Path, layer: dict[str, Any], requirements: Path) -> Path:
    out = tmp_path / "layer"
    (out / "python").mkdir(parents=True)
    (out / layer["FINGERPRINT_FILE"]).write_text(layer["fingerprint"](requirements) + "\n")
    return out


def test_an_unchanged_layer_is_not_rebuilt(tmp_path: Path, layer: dict[str, Any]) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pydantic==2.14.3\n")
    out = _built(tmp_path, layer, requirements)
    assert layer["is_current"](out, requirements)
    assert layer["build"](out, requirements) is False  # would raise if it ran pip against a bad target


def test_a_changed_requirement_makes_the_layer_stale(tmp_path: Path, layer: dict[str, Any]) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pydantic==2.14.3\n")
    out = _built(tmp_path, layer, requirements)
    requirements.write_text("pydantic==2.14.4\n")
    assert not layer["is_current"](out, requirements)


def test_a_layer_without_its_fingerprint_is_stale(tmp_path: Path, layer: dict[str, Any]) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pydantic==2.14.3\n")
    out = _built(tmp_path, layer, requirements)
    (out / layer["FINGERPRINT_FILE"]).unlink()
    assert not layer["is_current"](out, requirements)


def test_the_built_layer_leaves_out_what_the_lambda_runtime_provides() -> None:
    site = c.DEPENDENCY_LAYER_DIR / "python"
    if not site.is_dir():
        pytest.fail("run `python layers/build_dependency_layer.py` first (make test does)", pytrace=False)
    assert (site / "pydantic_core").is_dir()
    assert list(site.glob("pydantic_core/*.cpython-312-x86_64-linux-gnu.so"))
    for provided in ("boto3", "botocore", "s3transfer"):
        assert not (site / provided).exists()

"""Session fixtures: each cloud assembly is synthesized once (about 5 s each) and shared by every test."""

from __future__ import annotations

import pytest

from stacks import constants as c
from tests.infra.synth import FUTURE_ASL, FUTURE_ROUTES, Synthesized, synthesize


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-prod"), env="prod")


@pytest.fixture(scope="session")
def future(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    machines = tmp_path_factory.mktemp("statemachines")
    (machines / f"{c.BOOKING_LIFECYCLE}{c.ASL_SUFFIX}").write_text(FUTURE_ASL)
    return synthesize(
        tmp_path_factory.mktemp("cdk-future"), env="dev", routes=FUTURE_ROUTES, state_machines_dir=machines
    )

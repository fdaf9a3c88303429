"""cdk.json describes every environment completely, and prod keeps its data."""

from __future__ import annotations

import pytest

from stacks import constants as c
from stacks.application import new_app
from stacks.environment import load_environment, selected_environment

pytestmark = pytest.mark.infra


@pytest.mark.parametrize("env", c.ENVIRONMENTS)
def test_every_environment_in_cdk_json_is_valid(env: str) -> None:
    config = load_environment(new_app(), env)
    assert config.name == env
    assert config.alarms.api_5xx_rate_percent == 5
    assert config.alarms.api_p95_latency_ms == 2000


def test_only_prod_retains_data_and_hides_execution_data() -> None:
    app = new_app()
    configs = {env: load_environment(app, env) for env in c.ENVIRONMENTS}
    assert [env for env, cfg in configs.items() if cfg.retain] == ["prod"]
    assert configs["prod"].state_machine_log_execution_data is False
    assert "*" not in configs["prod"].cors_allow_origins


def test_the_environment_is_chosen_with_context_and_defaults_to_dev() -> None:
    assert selected_environment(new_app()) == "dev"
    assert selected_environment(new_app(context={"env": "prod"})) == "prod"
    with pytest.raises(ValueError, match="choose one of dev, staging, prod"):
        selected_environment(new_app(context={"env": "qa"}))


def test_a_mistyped_setting_fails_with_its_name() -> None:
    app = new_app()
    environments = app.node.try_get_context(c.CONTEXT_ENVIRONMENTS)
    broken = {**environments["dev"], "log_retention_days": 15}
    with pytest.raises(ValueError, match="log_retention_days"):
        load_environment(new_app(context={c.CONTEXT_ENVIRONMENTS: {"dev": broken}}), "dev")

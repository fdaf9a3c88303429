from __future__ import annotations

import pytest

from driveway_hub.config import ConfigurationError, env_for, settings_from_env


def test_settings_read_table_names_and_endpoints() -> None:
    env = env_for("dev", AWS_ENDPOINT_URL="http://127.0.0.1:5000")
    settings = settings_from_env(env)
    assert settings.stage == "dev"
    assert settings.tables.bookings == "driveway-hub-dev-bookings"
    assert settings.aws_endpoint_url == "http://127.0.0.1:5000"
    assert settings.stripe_api_base is None


def test_missing_values_are_all_named_in_one_error() -> None:
    env = env_for("dev")
    del env["TABLE_BOOKINGS"]
    del env["STAGE"]
    with pytest.raises(ConfigurationError) as excinfo:
        settings_from_env(env)
    assert "TABLE_BOOKINGS" in str(excinfo.value)
    assert "STAGE" in str(excinfo.value)


def test_unknown_stage_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="STAGE"):
        settings_from_env(env_for("qa"))


def test_integer_settings_are_validated_and_name_the_variable() -> None:
    assert settings_from_env(env_for("dev", PAYMENT_TIMEOUT_S="600")).payment_timeout_s == 600
    with pytest.raises(ConfigurationError, match="payment_timeout_s"):
        settings_from_env(env_for("dev", PAYMENT_TIMEOUT_S="soon"))

from __future__ import annotations

from driveway_hub.domain.health import check_health


def _boom() -> str:
    raise ConnectionError("secret-endpoint.internal:443 refused")


def test_all_probes_ok_is_healthy() -> None:
    report = check_health({"dynamodb": lambda: "ok", "stripe": lambda: "configured"}, version="1.2.3")
    assert report == {"status": "healthy", "checks": {"dynamodb": "ok", "stripe": "configured"}, "version": "1.2.3"}


def test_critical_probe_failure_degrades_without_leaking_the_message() -> None:
    report = check_health({"dynamodb": _boom}, version="1")
    assert report["status"] == "degraded"
    assert report["checks"]["dynamodb"] == "error:ConnectionError"
    assert "secret-endpoint" not in str(report)


def test_non_critical_probe_failure_stays_healthy() -> None:
    report = check_health({"dynamodb": lambda: "ok", "tesla": _boom}, version="1")
    assert report["status"] == "healthy"
    assert report["checks"]["tesla"] == "error:ConnectionError"

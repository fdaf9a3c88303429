"""Logger, Tracer and Metrics: one instance each per process, shared by every handler module.

Powertools reads POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE from the environment (CDK sets
them); the defaults here keep the local cloud and tests quiet and consistent.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "driveway-hub"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace="DrivewayHub")

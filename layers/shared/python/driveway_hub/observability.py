"""Logger, Tracer and Metrics: one instance each per process, shared by every handler module.

Powertools reads POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE from the environment (CDK sets
them); the defaults here keep the local cloud and tests quiet and consistent.

X-Ray instruments the client libraries our code calls over the network (``TRACED_LIBRARIES``), each
patched when it is first imported (issue #8). Powertools' default, ``patch_all()``, imports and patches
every library the X-Ray SDK supports (sqlite3, requests, pynamodb, httpx, ...) at cold start, which cost
a handler that never touches most of them ~60 ms of INIT. PynamoDB needs no patch of its own: since
PynamoDB 5 every DynamoDB call goes through a botocore client, which the botocore patch traces.
"""

from __future__ import annotations

import sys
from types import ModuleType

import wrapt
from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "driveway-hub"
# X-Ray's name for the patch -> the module whose import triggers it (the one the patch wraps).
TRACED_LIBRARIES = {"botocore": "botocore.client", "requests": "requests"}

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE, auto_patch=False)
metrics = Metrics(service=SERVICE, namespace="DrivewayHub")


def _patch_on_import(library: str) -> None:
    def patch(module: ModuleType) -> None:
        # The hook runs before the import system binds a submodule to its package (``botocore.client``),
        # and X-Ray's patch reaches the submodule as an attribute of the package: bind it first.
        package, _, name = module.__name__.rpartition(".")
        if package:
            setattr(sys.modules[package], name, module)
        tracer.patch([library])  # a no-op when tracing is disabled (tests, the local cloud)

    # Runs at once when the module is already imported, else right after its first import.
    wrapt.register_post_import_hook(patch, TRACED_LIBRARIES[library])


for _library in TRACED_LIBRARIES:
    _patch_on_import(_library)

"""cdk-nag acknowledgements: every one names a full finding id and says why it is acceptable.

The ids are the ones cdk-nag 3 prints ("Acknowledge with '...'"): ``<pack>::<rule>[<finding>]``, e.g.
``AwsSolutions::AwsSolutions-IAM5[Resource::*]``. An acknowledgement applies to the construct given and
everything under it, so callers pass the narrowest construct that owns the finding.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct

PACK_PREFIX = "AwsSolutions::AwsSolutions-"
_MIN_REASON = 20


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``scope`` (and its children) with a real reason."""
    if not finding.startswith(PACK_PREFIX):
        raise ValueError(f"use the full finding id (e.g. {PACK_PREFIX}IAM5[Resource::*]), got {finding!r}")
    if len(reason.strip()) < _MIN_REASON:
        raise ValueError(f"acknowledgement of {finding} needs a real reason, got {reason!r}")
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=finding, reason=reason))

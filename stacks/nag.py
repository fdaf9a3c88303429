"""cdk-nag acknowledgements: every one names a full finding id and says why it is acceptable.

The ids are the ones cdk-nag 3 prints ("Acknowledge with '...'"): ``<pack>::<rule>[<finding>]``, e.g.
``AwsSolutions::AwsSolutions-IAM5[Resource::*]``. An acknowledgement applies to the construct given and
everything under it, so callers pass the narrowest construct that owns the finding.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from constructs import IConstruct

PACK_PREFIX = "AwsSolutions::AwsSolutions-"
_MIN_REASON = 40


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``scope`` (and its children) with a real reason."""
    if not finding.startswith(PACK_PREFIX):
        raise ValueError(f"use the full finding id (e.g. {PACK_PREFIX}IAM5[Resource::*]), got {finding!r}")
    if len(reason.strip()) < _MIN_REASON:
        raise ValueError(f"acknowledgement of {finding} needs a real reason, got {reason!r}")
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=finding, reason=reason))


def acknowledge_wildcard_resource(scope: IConstruct, resource: str, reason: str) -> None:
    """Acknowledge ``AwsSolutions-IAM5[Resource::<resource>]`` for a resource ARN built in ``scope``'s stack.

    The finding id embeds the ARN the way cdk-nag prints it (references flattened to ``<LogicalId>``,
    ``<AWS::AccountId>``...), so it is derived from the ARN itself rather than retyped by hand.
    """
    stack = cdk.Stack.of(scope)
    resolved = stack.resolve(resource)
    _require_local(stack, resolved)
    acknowledge(scope, f"{PACK_PREFIX}IAM5[Resource::{flatten_reference(resolved)}]", reason)


def flatten_reference(node: Any) -> str:
    """Python port of cdk-nag's ``flattenCfnReference`` (utils/flatten-cfn-reference)."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return str(delimiter).join(flatten_reference(item) for item in items)
        if "Fn::Sub" in node:
            return flatten_reference(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{flatten_reference(resource)}.{flatten_reference(attribute)}>"
        if "Fn::ImportValue" in node:
            return flatten_reference(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{flatten_reference(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))


def _require_local(stack: cdk.Stack, resolved: Any) -> None:
    # A reference to another stack's resource becomes an import only during synthesis, so its
    # final rendering cannot be known here: such ARNs must not carry wildcards.
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("Ref"), str):
                refs.append(node["Ref"])
            if "Fn::GetAtt" in node:
                refs.append(node["Fn::GetAtt"][0])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(resolved)
    foreign = [r for r in refs if not r.startswith("AWS::") and not _defines(stack, r)]
    if foreign:
        raise ValueError(f"wildcard ARN refers to resources outside stack {stack.stack_name}: {foreign}")


def _defines(stack: cdk.Stack, logical_id: str) -> bool:
    return any(
        isinstance(child, cdk.CfnElement) and stack.resolve(child.logical_id) == logical_id
        for child in stack.node.find_all()
    )

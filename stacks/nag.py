"""cdk-nag acknowledgements: every one names a full finding id and says why it is acceptable.

The ids are the ones cdk-nag 3 prints ("Acknowledge with '...'"): ``<pack>::<rule>[<finding>]``, e.g.
``AwsSolutions::AwsSolutions-IAM5[Resource::*]``. An acknowledgement applies to the construct given and
everything under it, so callers pass the narrowest construct that owns the finding.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import jsii
from constructs import IConstruct, IValidation

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
    """Acknowledge ``AwsSolutions-IAM5[Resource::<resource>]`` for a resource ARN granted in ``scope``'s stack.

    The finding id embeds the ARN the way cdk-nag prints it (references flattened to ``<LogicalId>``,
    ``<AWS::AccountId>``...), so it is derived from the ARN itself rather than retyped by hand.

    An ARN built only from this stack's resources and pseudo parameters is acknowledged at once. In a
    nested stack, an ARN may also refer to resources of its parent stack: CDK turns those references
    into parameters of the nested stack (``<referenceto...>``) only when the app is prepared for
    synthesis, so the id is derived then, from the same resolved template cdk-nag reads (construct
    validations run after references are resolved and before the validation plugins). References to
    other top-level stacks become imports (``Fn::GetStackOutput``) whose rendering is not an ARN, so
    such ARNs must not carry wildcards: build them in the stack that owns the resource.
    """
    stack = cdk.Stack.of(scope)
    resolved = stack.resolve(resource)
    foreign = _foreign_references(stack, resolved)
    if not foreign:
        acknowledge(scope, wildcard_finding(resolved), reason)
    elif stack.nested:
        scope.node.add_validation(_AcknowledgeWhenResolved(scope, resource, reason))
    else:
        raise ValueError(f"wildcard ARN refers to resources outside stack {stack.stack_name}: {foreign}")


def wildcard_finding(resolved_resource: Any) -> str:
    """The full IAM5 finding id cdk-nag reports for a wildcard resource (already resolved)."""
    return f"{PACK_PREFIX}IAM5[Resource::{flatten_reference(resolved_resource)}]"


@jsii.implements(IValidation)
class _AcknowledgeWhenResolved:
    """Acknowledges a wildcard ARN of a nested stack once its cross-stack references are parameters."""

    def __init__(self, scope: IConstruct, resource: str, reason: str) -> None:
        self._scope = scope
        self._resource = resource
        self._reason = reason

    def validate(self) -> list[str]:
        stack = cdk.Stack.of(self._scope)
        resolved = stack.resolve(self._resource)
        foreign = _foreign_references(stack, resolved)
        if foreign:
            return [f"wildcard ARN still refers to resources outside nested stack {stack.node.path}: {foreign}"]
        acknowledge(self._scope, wildcard_finding(resolved), self._reason)
        return []


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


def _foreign_references(stack: cdk.Stack, resolved: Any) -> list[str]:
    """Logical ids that ``resolved`` refers to but ``stack`` does not define (pseudo parameters aside),
    and any import of another stack's output."""
    refs: list[str] = []
    imports: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for function in ("Fn::GetStackOutput", "Fn::ImportValue"):
                if function in node:
                    imports.append(f"{function} {json.dumps(node[function], sort_keys=True)}")
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
    refs = [r for r in refs if not r.startswith("AWS::")]
    if imports:
        return [*refs, *imports]
    if not refs:
        return []
    # Resources and parameters (a nested stack's references to its parent are parameters).
    local = {
        stack.resolve(child.logical_id)
        for child in stack.node.find_all()
        if isinstance(child, cdk.CfnElement) and cdk.Stack.of(child) is stack
    }
    return [r for r in refs if r not in local]

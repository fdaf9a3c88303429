"""cdk-nag is active and satisfied, and cfn-lint finds no errors in what we synthesize."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from cfnlint.api import lint_file

from stacks.application import enable_nag
from stacks.nag import PACK_PREFIX, acknowledge_wildcard_resource, flatten_reference, wildcard_finding
from tests.infra.synth import Synthesized, as_list, statements

pytestmark = pytest.mark.infra


def test_a_deliberate_nag_finding_fails_synthesis(tmp_path: Path) -> None:
    # Given an app checked like ours, with a bucket that accepts plain HTTP (AwsSolutions-S10)
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Deliberate")
    s3.Bucket(
        stack, "InsecureBucket",
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
    )
    enable_nag(app)
    # When it is synthesized, then synthesis fails and names the finding
    with pytest.raises(RuntimeError, match=r"AwsSolutions::AwsSolutions-S10"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    [nag] = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "failure"


@pytest.mark.parametrize("assembly", ["prod", "future"])
def test_every_nag_acknowledgement_names_a_full_finding_id_and_a_reason(
    assembly: str, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(assembly)
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    [nag] = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success"
    assert nag["violations"] == []
    for acknowledged in nag["suppressedViolations"]:
        assert acknowledged["acknowledgedId"].startswith(PACK_PREFIX)
        assert len(acknowledged["reason"]) >= 40, acknowledged["acknowledgedId"]
        # acknowledged on the resource's own construct (or its function/role), never on a stack or the app
        assert acknowledged["acknowledgedAt"].count("/") >= 1, acknowledged["acknowledgedAt"]


# W3005 (an explicit DependsOn next to a GetAtt) is how CDK orders every function after its role policy.
TOLERATED = {"W3005"}


@pytest.mark.parametrize("assembly", ["prod", "future"])
def test_cfn_lint_finds_no_errors_or_warnings(assembly: str, request: pytest.FixtureRequest) -> None:
    synth: Synthesized = request.getfixturevalue(assembly)
    templates = sorted(synth.outdir.glob("*.template.json"))  # nested ones too (*.nested.template.json)
    assert len(templates) == len(synth.templates) == len(synth.hub.stacks) + len(synth.hub.nested_stacks)
    assert len([t for t in templates if t.name.endswith(".nested.template.json")]) == len(synth.hub.nested_stacks)
    findings = [
        f"{template.name}: {match.rule.id} {match.message}"
        for template in templates
        for match in lint_file(template)
        if match.rule.id[0] in "EW" and match.rule.id not in TOLERATED
    ]
    assert findings == []


# --- Wildcard ARNs: acknowledged with the id cdk-nag derives from the synthesized template ----------
def _nag_report(outdir: Path) -> dict[str, Any]:
    report = json.loads((outdir / "validation-report.json").read_text())
    [nag] = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    return nag


@pytest.mark.parametrize("assembly", ["prod", "future"])
def test_every_wildcard_resource_is_acknowledged_by_exactly_the_id_cdk_nag_prints(
    assembly: str, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(assembly)
    acknowledged = {a["acknowledgedId"]: a for a in _nag_report(synth.outdir)["suppressedViolations"]}
    through_parameters = []
    for key, template in synth.templates.items():
        for resource in template["Resources"].values():
            if resource["Type"] != "AWS::IAM::Policy":
                continue
            for statement in statements(resource["Properties"]["PolicyDocument"]):
                for arn in as_list(statement["Resource"]):
                    flattened = flatten_reference(arn)
                    if "*" in flattened and flattened != "*":  # '*' alone: actions without resource ARNs
                        assert wildcard_finding(arn) in acknowledged, (key, flattened)
                        if key in synth.nested and "<referenceto" in flattened:
                            through_parameters.append(acknowledged[wildcard_finding(arn)])
    # WebSocket grants of nested function stacks reach the parent's API through a stack parameter
    assert through_parameters
    assert all("@connections/*" in a["acknowledgedId"] for a in through_parameters)
    assert all("Functions/" in a["acknowledgedAt"] for a in through_parameters)


def _tiny_app(tmp_path: Path) -> tuple[cdk.App, cdk.Stack, logs.LogGroup]:
    app = cdk.App(outdir=str(tmp_path))
    parent = cdk.Stack(app, "Parent", env=cdk.Environment(region="us-east-1"))
    return app, parent, logs.LogGroup(parent, "Logs", retention=logs.RetentionDays.ONE_WEEK)


def _role_granting(stack: cdk.Stack, arn: str) -> iam.Role:
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_principal_policy(iam.PolicyStatement(actions=["logs:PutLogEvents"], resources=[arn]))
    return role


REASON = "Log streams are created at run time; the grant covers this one log group's streams only."


def test_a_nested_stacks_wildcard_arn_naming_its_parent_is_acknowledged_as_cdk_nag_reports_it(
    tmp_path: Path,
) -> None:
    app, parent, log_group = _tiny_app(tmp_path)
    nested = cdk.NestedStack(parent, "Nested")
    arn = f"arn:aws:logs:us-east-1:{parent.account}:log-group:{log_group.log_group_name}:log-stream:*"
    acknowledge_wildcard_resource(_role_granting(nested, arn), arn, REASON)
    enable_nag(app)
    app.synth()  # raises if the acknowledged id is not the one cdk-nag reports
    # The log group's name reaches the nested template as a parameter CDK adds at synthesis.
    [parameter] = json.loads((tmp_path / nested.template_file).read_text())["Parameters"]
    assert parameter.startswith("referenceto")
    [acknowledged] = [a for a in _nag_report(tmp_path)["suppressedViolations"] if "IAM5" in a["ruleName"]]
    assert acknowledged["acknowledgedId"] == (
        f"{PACK_PREFIX}IAM5[Resource::arn:aws:logs:us-east-1:<AWS::AccountId>:log-group:<{parameter}>:log-stream:*]"
    )
    assert acknowledged["acknowledgedAt"] == "Parent/Nested/Role"


def test_a_top_level_stacks_wildcard_arn_naming_another_stack_is_refused(tmp_path: Path) -> None:
    app, _, log_group = _tiny_app(tmp_path)
    other = cdk.Stack(app, "Other", env=cdk.Environment(region="us-east-1"))
    arn = f"arn:aws:logs:us-east-1:{other.account}:log-group:{log_group.log_group_name}:log-stream:*"
    with pytest.raises(ValueError, match="outside stack Other"):
        acknowledge_wildcard_resource(_role_granting(other, arn), arn, REASON)



def test_a_nested_stacks_wildcard_arn_naming_another_top_level_stack_fails_synthesis(tmp_path: Path) -> None:
    app, _, log_group = _tiny_app(tmp_path)
    other = cdk.Stack(app, "Other", env=cdk.Environment(region="us-east-1"))
    nested = cdk.NestedStack(other, "Nested")
    arn = f"arn:aws:logs:us-east-1:{other.account}:log-group:{log_group.log_group_name}:log-stream:*"
    acknowledge_wildcard_resource(_role_granting(nested, arn), arn, REASON)
    # Such a reference becomes an import (Fn::ImportValue here, Fn::GetStackOutput with weak references),
    # not something cdk-nag renders as an ARN.
    with pytest.raises(RuntimeError, match=r"outside nested stack Other/Nested.*Fn::(ImportValue|GetStackOutput)"):
        app.synth()

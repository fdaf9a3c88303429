"""cdk-nag is active and satisfied, and cfn-lint finds no errors in what we synthesize."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from cfnlint.api import lint_file

from stacks.application import enable_nag
from stacks.nag import PACK_PREFIX
from tests.infra.synth import Synthesized

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
    templates = sorted(synth.outdir.glob("*.template.json"))
    assert len(templates) == len(synth.hub.stacks)
    findings = [
        f"{template.name}: {match.rule.id} {match.message}"
        for template in templates
        for match in lint_file(template)
        if match.rule.id[0] in "EW" and match.rule.id not in TOLERATED
    ]
    assert findings == []

"""The REST API's optional custom domain (context ``environments.<env>.api_domain``, docs/runbook.md).

Two base-path mappings to the one stage:

- ``v1`` → stage ``v1``: the documented API, ``https://<domain>/v1/...``, as on the execute-api URL;
- ``(none)`` → stage ``v1``: Tesla fetches the partner public key from the domain ROOT,
  ``https://<domain>/.well-known/appspecific/com.tesla.3p.public-key.pem`` (research/tesla.md), which
  this mapping routes to the ``tesla_public_key`` function. (The other routes answer there too, without
  the ``/v1`` prefix; clients use ``/v1``.)

The certificate (ACM, in the stack's region) and the DNS record are the operators': the record points
the domain at the regional target name this stack outputs. Both mappings reach the same stage, so the
stage's WAF web ACL and throttling apply whichever way a request comes in.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_certificatemanager as acm
from constructs import Construct

from driveway_hub.routes import API_STAGE
from stacks import constants as c
from stacks.environment import ApiDomain


class ApiCustomDomain(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, domain: ApiDomain, rest_api: apigw.RestApi):
        super().__init__(scope, construct_id)
        self.domain_name = apigw.DomainName(
            self,
            "DomainName",
            domain_name=domain.domain_name,
            certificate=acm.Certificate.from_certificate_arn(self, "Certificate", domain.certificate_arn),
            endpoint_type=apigw.EndpointType.REGIONAL,
            security_policy=apigw.SecurityPolicy.TLS_1_2,
        )
        stage = rest_api.deployment_stage
        self.domain_name.add_base_path_mapping(rest_api, base_path=API_STAGE, stage=stage)
        self.domain_name.add_base_path_mapping(rest_api, stage=stage)  # the root: /.well-known/...
        cdk.CfnOutput(
            self,
            c.API_DOMAIN_TARGET_OUTPUT,
            description=f"Point {domain.domain_name} here (CNAME, or a Route 53 alias to this name)",
            value=self.domain_name.domain_name_alias_domain_name,
        )

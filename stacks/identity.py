"""The Cognito user pool, configured from ``driveway_hub.auth.identity`` like the local cloud's pool.

Cognito holds identities and passwords; the pool's policy, token lifetimes, groups and each function's
Cognito actions are declared once in the shared code and read here.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from driveway_hub.auth.identity import (
    ACCESS_TOKEN_VALIDITY_MINUTES,
    COGNITO_ACTIONS_BY_ROUTE,
    ID_TOKEN_VALIDITY_MINUTES,
    PASSWORD_POLICY,
    REFRESH_TOKEN_VALIDITY_DAYS,
    USER_POOL_GROUPS,
)
from stacks import constants as c
from stacks.environment import EnvironmentConfig
from stacks.nag import acknowledge


class Identity(Construct):
    """User pool (email sign-in, V2 pre-token-generation trigger), public app client, one group per role.

    It lives in the API stack because its trigger is one of the stack's functions; in prod it is
    retained and protected against deletion like the tables.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, trigger: lambda_.IFunction
    ) -> None:
        super().__init__(scope, construct_id)
        policy = PASSWORD_POLICY
        self.user_pool = cognito.UserPool(
            self,
            c.USER_POOL,
            user_pool_name=c.resource_name(config.name, "users"),
            # Essentials: version 2 pre-token-generation events, which can add claims to access tokens.
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            self_sign_up_enabled=True,  # POST /v1/auth/register calls SignUp with the public client
            sign_in_aliases=cognito.SignInAliases(email=True),
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=policy.min_length,
                require_lowercase=policy.require_lowercase,
                require_uppercase=policy.require_uppercase,
                require_digits=policy.require_numbers,
                require_symbols=policy.require_symbols,
                temp_password_validity=cdk.Duration.days(policy.as_cognito_policy()["TemporaryPasswordValidityDays"]),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=config.retain,
            removal_policy=config.cdk_removal_policy,
        )
        self.user_pool.add_trigger(
            cognito.UserPoolOperation.PRE_TOKEN_GENERATION_CONFIG, trigger, cognito.LambdaVersion.V2_0
        )
        self.client = self.user_pool.add_client(
            c.USER_POOL_CLIENT,
            user_pool_client_name=c.resource_name(config.name, "app"),
            generate_secret=False,  # mobile apps cannot keep a secret
            auth_flows=cognito.AuthFlow(user_password=True),  # CDK adds the refresh-token flow
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            access_token_validity=cdk.Duration.minutes(ACCESS_TOKEN_VALIDITY_MINUTES),
            id_token_validity=cdk.Duration.minutes(ID_TOKEN_VALIDITY_MINUTES),
            refresh_token_validity=cdk.Duration.days(REFRESH_TOKEN_VALIDITY_DAYS),
            disable_o_auth=True,  # the API signs users in; there is no hosted UI
        )
        for group in USER_POOL_GROUPS:
            cognito.UserPoolGroup(
                self, f"{c.pascal(group)}Group", user_pool=self.user_pool, group_name=group,
                description=f"Driveway-Hub {group}s",
            )
        acknowledge(
            self.user_pool,
            "AwsSolutions::AwsSolutions-COG1",
            "Length over composition (NIST SP 800-63B): at least 12 characters with upper, lower and "
            "digits, no symbol rule (driveway_hub.auth.identity.PASSWORD_POLICY, shared with local).",
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions::AwsSolutions-COG2",
            "No MFA yet: the API's sign-in (USER_PASSWORD_AUTH) answers a challenge with "
            "challenge_required; MFA needs a client flow first (identity work).",
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions::AwsSolutions-COG8",
            "Essentials plan: Plus (threat protection) is a cost decision for later; Cognito's own "
            "sign-in lockout and stage throttling limit credential stuffing meanwhile.",
        )

    def configure(self, function: lambda_.Function) -> None:
        """The pool and client ids (identifiers, not secrets: the client id ships in the apps)."""
        function.add_environment("USER_POOL_ID", self.user_pool.user_pool_id)
        function.add_environment("USER_POOL_CLIENT_ID", self.client.user_pool_client_id)

    def grant_declared_actions(self, role: iam.IRole, function_name: str) -> None:
        """The Cognito actions driveway_hub.auth.identity declares for this function, on this pool only."""
        actions = COGNITO_ACTIONS_BY_ROUTE.get(function_name)
        if actions:
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=list(actions), resources=[self.user_pool.user_pool_arn])
            )

"""The local cloud's Cognito: the user pool, app client and groups in moto, configured like the CDK
pool, and moto made to honour our pre-token-generation trigger.

moto signs tokens RS256 with a fixed key, serves the JWKS at ``{endpoint}/{pool id}/.well-known/jwks.json``
and stamps the AWS issuer ``https://cognito-idp.{region}.amazonaws.com/{pool id}``; our verifier derives
that JWKS URL from ``AWS_ENDPOINT_URL`` (``driveway_hub.auth.tokens.TokenIssuer``). moto never invokes
Lambda triggers, so ``PreTokenGenerationTrigger`` wraps moto's token minting: when the pool's
``LambdaConfig`` names a pre-token-generation function, our handler gets the event Cognito would send
and the claims it returns are added to the token, as Cognito would add them::

    identity = create_identity(cloud.client("cognito-idp"), stage="local")
    env = resources.handler_env() | identity.env_overrides
    with PreTokenGenerationTrigger().installed():
        ...

Differences from Cognito, none of which our trigger relies on: the trigger runs once per token (moto mints
access and id tokens separately) rather than once per sign-in; ``triggerSource`` is always
``TokenGeneration_Authentication``; ``claimsToSuppress`` and group overrides are not applied. moto's
signing key is public (it ships with moto): tokens are only as secret as the laptop running it.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from driveway_hub.auth.identity import (
    ACCESS_TOKEN_VALIDITY_MINUTES,
    ID_TOKEN_VALIDITY_MINUTES,
    PASSWORD_POLICY,
    REFRESH_TOKEN_VALIDITY_DAYS,
    USER_POOL_GROUPS,
)
from local.clock import MotoInternalsChanged
from local.lambda_runtime import LocalLambdaContext

Handler = Callable[[dict[str, Any], Any], Any]

ACCOUNT_ID = "123456789012"
TRIGGER_MODULE = "functions.auth.pre_token_generation"
# Claims Cognito never lets a trigger change; moto would, so the wrapper drops them.
RESERVED_CLAIMS = frozenset({
    "acr", "amr", "aud", "auth_time", "azp", "at_hash", "c_hash", "client_id", "cognito:groups",
    "cognito:username", "event_id", "exp", "iat", "identities", "iss", "jti", "nbf", "nonce", "origin_jti",
    "scope", "sub", "token_use", "username",
})


def user_pool_name(stage: str) -> str:
    return f"driveway-hub-{stage}-users"


def pre_token_generation_function(stage: str) -> str:
    return f"driveway-hub-{stage}-pre-token-generation"


@dataclass(frozen=True)
class LocalIdentity:
    user_pool_id: str
    client_id: str

    @property
    def env_overrides(self) -> dict[str, str]:
        """For ``driveway_hub.config.env_for(stage, **overrides)``."""
        return {"USER_POOL_ID": self.user_pool_id, "USER_POOL_CLIENT_ID": self.client_id}


def create_identity(cognito: Any, stage: str = "local", region: str = "us-east-1") -> LocalIdentity:
    """The stage's user pool (email as username, our password policy, the V2 pre-token-generation
    trigger), its public app client (password and refresh-token flows, token revocation on) and one group
    per role."""
    trigger_arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{pre_token_generation_function(stage)}"
    pool = cognito.create_user_pool(
        PoolName=user_pool_name(stage),
        UsernameAttributes=["email"],
        UsernameConfiguration={"CaseSensitive": False},
        AutoVerifiedAttributes=["email"],
        Policies={"PasswordPolicy": PASSWORD_POLICY.as_cognito_policy()},
        AccountRecoverySetting={"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]},
        LambdaConfig={"PreTokenGenerationConfig": {"LambdaVersion": "V2_0", "LambdaArn": trigger_arn}},
    )["UserPool"]
    app_client = cognito.create_user_pool_client(
        UserPoolId=pool["Id"],
        ClientName=f"driveway-hub-{stage}-app",
        GenerateSecret=False,  # mobile apps cannot keep a secret
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        PreventUserExistenceErrors="ENABLED",
        EnableTokenRevocation=True,
        AccessTokenValidity=ACCESS_TOKEN_VALIDITY_MINUTES,
        IdTokenValidity=ID_TOKEN_VALIDITY_MINUTES,
        RefreshTokenValidity=REFRESH_TOKEN_VALIDITY_DAYS,
        TokenValidityUnits={"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"},
    )["UserPoolClient"]
    for group in USER_POOL_GROUPS:
        cognito.create_group(UserPoolId=pool["Id"], GroupName=group, Description=f"Driveway-Hub {group}s")
    return LocalIdentity(user_pool_id=pool["Id"], client_id=app_client["ClientId"])


# ------------------------------------------------------------------------------- the trigger wrapper

_install_lock = threading.Lock()


def _user_pool_class() -> Any:
    """moto's user pool class, after checking that ``create_jwt`` still has the shape we wrap."""
    try:
        models = importlib.import_module("moto.cognitoidp.models")
    except ImportError as exc:  # pragma: no cover - moto is a pinned dev dependency
        raise MotoInternalsChanged("moto.cognitoidp.models cannot be imported") from exc
    pool_class = getattr(models, "CognitoIdpUserPool", None)
    create_jwt = vars(pool_class).get("create_jwt") if pool_class is not None else None
    expected = ("self", "client_id", "username", "token_use", "expires_in", "extra_data")
    if create_jwt is None or tuple(inspect.signature(create_jwt).parameters) != expected:
        raise MotoInternalsChanged(
            "moto.cognitoidp.models:CognitoIdpUserPool.create_jwt is gone or changed shape "
            "(local/cognito.py was written for moto 5.2.5)"
        )
    return pool_class


def _trigger_version(pool: Any) -> str | None:
    """"1" or "2" if the pool names a pre-token-generation function, else None."""
    lambda_config = pool.extended_config.get("LambdaConfig") or {}
    config = lambda_config.get("PreTokenGenerationConfig")
    if config and config.get("LambdaArn"):
        return "2" if str(config.get("LambdaVersion", "V1_0")).upper().startswith(("V2", "V3")) else "1"
    return "1" if lambda_config.get("PreTokenGeneration") else None


def trigger_event(pool: Any, client_id: str, username: str, version: str) -> dict[str, Any]:
    """The event Cognito sends a pre-token-generation function, for the user moto is minting for."""
    user = pool._get_user(username)
    attributes = {a["Name"]: a["Value"] for a in user.attributes}
    attributes.setdefault("sub", user.id)
    attributes["cognito:user_status"] = str(getattr(user.status, "value", user.status))
    request: dict[str, Any] = {
        "userAttributes": attributes,
        "groupConfiguration": {
            "groupsToOverride": sorted(group.group_name for group in user.groups),
            "iamRolesToOverride": [],
            "preferredRole": None,
        },
    }
    if version == "2":
        request["scopes"] = ["aws.cognito.signin.user.admin"]
    return {
        "version": version,
        "triggerSource": "TokenGeneration_Authentication",
        "region": pool.region,
        "userPoolId": pool.id,
        "userName": user.username,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": client_id},
        "request": request,
        "response": {"claimsAndScopeOverrideDetails" if version == "2" else "claimsOverrideDetails": None},
    }


def claims_to_add(answer: Mapping[str, Any], kind: str, version: str) -> dict[str, Any]:
    """The claims the trigger's answer adds to this token (reserved claims dropped, as Cognito does)."""
    response = answer.get("response") or {}
    if version == "2":
        details = response.get("claimsAndScopeOverrideDetails") or {}
        generation = details.get("accessTokenGeneration" if kind == "access" else "idTokenGeneration")
    else:
        # Version 1 customises the id token only.
        generation = response.get("claimsOverrideDetails") if kind == "id" else None
    claims = (generation or {}).get("claimsToAddOrOverride") or {}
    return {name: value for name, value in claims.items() if name not in RESERVED_CLAIMS}


class PreTokenGenerationTrigger:
    """Wraps moto's ``CognitoIdpUserPool.create_jwt`` so pools with the trigger get its claims.

    ``handler`` defaults to ``functions.auth.pre_token_generation.handler`` (imported on first use, so
    the process environment is read then, as in Lambda).
    """

    def __init__(self, handler: Handler | None = None, stage: str = "local"):
        self._handler = handler
        self._stage = stage
        self._pool_class: Any = None
        self._original: Any = None

    @property
    def is_installed(self) -> bool:
        return self._original is not None

    def _invoke(self, event: dict[str, Any]) -> Any:
        handler = self._handler or importlib.import_module(TRIGGER_MODULE).handler
        return handler(event, LocalLambdaContext(function_name=pre_token_generation_function(self._stage)))

    def install(self) -> PreTokenGenerationTrigger:
        with _install_lock:
            if self.is_installed:
                return self
            pool_class = _user_pool_class()
            original = vars(pool_class)["create_jwt"]
            if getattr(original, "_driveway_hub_trigger", False):
                raise RuntimeError("another PreTokenGenerationTrigger is installed; uninstall it first")
            trigger = self

            def create_jwt(
                pool: Any, client_id: str, username: str, token_use: str, expires_in: int = 60 * 60,
                extra_data: dict[str, Any] | None = None,
            ) -> tuple[str, int]:
                extra = dict(extra_data or {})
                version = _trigger_version(pool)
                if version is not None and token_use in {"access", "id"}:
                    answer = trigger._invoke(trigger_event(pool, client_id, username, version))
                    extra.update(claims_to_add(answer or {}, token_use, version))
                result: tuple[str, int] = original(pool, client_id, username, token_use, expires_in, extra)
                return result

            create_jwt._driveway_hub_trigger = True  # type: ignore[attr-defined]
            pool_class.create_jwt = create_jwt
            self._pool_class, self._original = pool_class, original
        return self

    def uninstall(self) -> None:
        with _install_lock:
            if not self.is_installed:
                return
            self._pool_class.create_jwt = self._original
            self._pool_class, self._original = None, None

    @contextlib.contextmanager
    def installed(self) -> Iterator[PreTokenGenerationTrigger]:
        self.install()
        try:
            yield self
        finally:
            self.uninstall()

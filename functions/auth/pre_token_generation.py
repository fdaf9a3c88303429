"""Cognito pre-token-generation trigger: adds ``user_type``, ``permissions`` and ``tesla_linked`` claims.

Version 2 events (``LambdaVersion: V2_0``, Essentials plan) customise both access and id tokens and
accept lists and booleans; version 1 events customise the id token only and take strings, so there
``permissions`` is space-separated and ``tesla_linked`` is "true"/"false". The claims are for clients'
convenience: our authorizer recomputes permissions from the profile on every request.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.auth.permissions import custom_claims
from driveway_hub.auth.runtime import users
from driveway_hub.config import get_settings
from driveway_hub.observability import logger


def _as_strings(claims: dict[str, Any]) -> dict[str, str]:
    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return " ".join(str(v) for v in value)
        return str(value)

    return {name: text(value) for name, value in claims.items()}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event.get("request") or {}
    user_id = (request.get("userAttributes") or {}).get("sub")
    profile = users(get_settings()).get(user_id) if user_id else None
    if profile is not None:
        claims = custom_claims(profile.roles, profile.tesla_linked)
    else:
        # No profile (yet): fall back to Cognito's groups so the token is still useful to the client.
        groups = (request.get("groupConfiguration") or {}).get("groupsToOverride") or []
        claims = custom_claims(groups, tesla_linked=False)
        logger.warning("token generated without a profile", extra={"user_id": user_id})
    # Cognito sends "1", "2" or "3"; accept "V2_0" spellings too.
    if str(event.get("version", "1")).lstrip("Vv").startswith(("2", "3")):
        event["response"] = {
            "claimsAndScopeOverrideDetails": {
                "idTokenGeneration": {"claimsToAddOrOverride": claims},
                "accessTokenGeneration": {"claimsToAddOrOverride": claims},
            }
        }
    else:
        event["response"] = {"claimsOverrideDetails": {"claimsToAddOrOverride": _as_strings(claims)}}
    return event

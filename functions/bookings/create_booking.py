"""POST /v1/bookings — a driver books a driveway; answers the PaymentIntent's client secret.

Honours the ``Idempotency-Key`` header with Powertools idempotency: the same key (per caller) returns
the first answer and creates no second booking or PaymentIntent; the same key with another body is a
409. The booking id is derived from the key, so even a lost idempotency record cannot double-create.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from driveway_hub import booking_runtime as runtime
from driveway_hub.booking_views import booking_view
from driveway_hub.clock import utcnow
from driveway_hub.config import Settings, get_settings
from driveway_hub.domain.bookings import create_booking
from driveway_hub.errors import Conflict
from driveway_hub.http import make_resolver, principal_of
from driveway_hub.observability import logger, tracer

app = make_resolver("create_booking")


class CreateBookingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    driveway_id: str = Field(min_length=1, max_length=64)
    start: datetime
    end: datetime
    # min_length: an empty id is bad input (400), not a DynamoDB key (ValidationException, a 500).
    vehicle_id: str | None = Field(default=None, min_length=1, max_length=64)


def _create(settings: Settings, user_id: str, is_admin: bool, body: dict[str, Any], key: str | None) -> dict[str, Any]:
    request = CreateBookingRequest.model_validate(body)
    principal_caller = runtime.Caller(user_id, is_admin=is_admin)
    booking_id = None
    if key:
        booking_id = "bk_" + hashlib.sha256(f"{user_id}:{key}".encode()).hexdigest()[:32]
    created = create_booking(
        runtime.context(settings), catalog=runtime.catalog(settings), payouts=runtime.payouts(settings),
        payments=runtime.payments(settings), caller=principal_caller, driveway_id=request.driveway_id,
        start=request.start, end=request.end, vehicle_id=request.vehicle_id,
        vin=runtime.vin_for(settings, user_id, request.vehicle_id), now=utcnow(), booking_id=booking_id,
    )
    return {
        "booking": booking_view(created.booking),
        "payment": {"payment_intent_id": created.payment_intent_id, "client_secret": created.client_secret,
                    "publishable_key": created.publishable_key},
    }


@cache
def _idempotent_create(settings: Settings) -> Any:
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    store = DynamoDBPersistenceLayer(table_name=settings.tables.idempotency)
    config = IdempotencyConfig(event_key_jmespath="[user_id, key]", payload_validation_jmespath="body",
                               expires_after_seconds=24 * 3600, raise_on_no_idempotency_key=True)

    @idempotent_function(data_keyword_argument="request", persistence_store=store, config=config)
    def create_once(request: dict[str, Any]) -> dict[str, Any]:
        return _create(settings, request["user_id"], request["is_admin"], request["body"], request["key"])

    return create_once, config


@app.post("/bookings")
def post_booking(request: Annotated[CreateBookingRequest, Body()]) -> Response[dict[str, Any]]:
    principal = principal_of(app)
    settings = get_settings()
    key = app.current_event.headers.get("Idempotency-Key")  # case-insensitive in Powertools v3
    body = request.model_dump(mode="json")
    if not key:
        result = _create(settings, principal.user_id, principal.is_admin, body, None)
    else:
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyValidationError,
        )

        try:
            create_once, config = _idempotent_create(settings)
            # The in-progress record expires with this invocation, so a crashed attempt can be retried.
            config.register_lambda_context(app.lambda_context)
            result = create_once(request={"user_id": principal.user_id, "key": key, "body": body,
                                          "is_admin": principal.is_admin})
        except IdempotencyValidationError as exc:
            raise Conflict("This Idempotency-Key was used with a different request.",
                           code="idempotency_key_reused") from exc
        except IdempotencyAlreadyInProgressError as exc:
            raise Conflict("A request with this Idempotency-Key is in progress.", code="request_in_progress") from exc
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=result)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

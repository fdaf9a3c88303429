"""POST /v1/bookings/quote — what a booking of a driveway would cost, with the breakdown.

Public like search: the same price is already shown in search results. Prices come from
``pricing.quote`` with the configured platform fee, exactly as a booking will be charged.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from driveway_hub.config import get_settings
from driveway_hub.domain.driveways import quote_booking
from driveway_hub.http import make_resolver
from driveway_hub.observability import logger, tracer
from functions.driveways.models import QuoteRequest, fields_in
from functions.driveways.runtime import calendars, store

app = make_resolver("quote_booking")


@app.post("/bookings/quote")
def quote(request: QuoteRequest) -> dict[str, Any]:
    settings = get_settings()
    with fields_in("body"):
        return quote_booking(store(settings), calendars(settings), request.driveway_id, request.start,
                             request.end, platform_fee_bps=settings.platform_fee_bps)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

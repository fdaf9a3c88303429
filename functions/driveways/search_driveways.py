"""GET /v1/search/driveways — driveways near a point, free for a window, filtered, sorted, paginated.

Public (partners call it with an API key; no user token): it returns only listing fields.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime

from driveway_hub.config import get_settings
from driveway_hub.domain.driveways import DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT, SearchQuery, search_driveways
from driveway_hub.domain.geo import MAX_RADIUS_M
from driveway_hub.http import make_resolver
from driveway_hub.observability import logger, tracer
from functions.driveways.models import VehicleSizeIn, fields_in
from functions.driveways.runtime import calendars, store

app = make_resolver("search_driveways")


@app.get("/search/driveways")
def search(
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False)],
    lng: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False)],
    radius_m: Annotated[float, Query(gt=0, le=MAX_RADIUS_M, allow_inf_nan=False)],
    start: Annotated[AwareDatetime | None, Query()] = None,
    end: Annotated[AwareDatetime | None, Query()] = None,
    amenities: Annotated[str | None, Query(max_length=500, description="comma-separated")] = None,
    max_price_cents: Annotated[int | None, Query(gt=0)] = None,
    vehicle_size: Annotated[VehicleSizeIn | None, Query()] = None,
    sort: Annotated[Literal["distance", "price"], Query()] = "distance",
    limit: Annotated[int, Query(ge=1, le=MAX_SEARCH_LIMIT)] = DEFAULT_SEARCH_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> dict[str, Any]:
    settings = get_settings()
    with fields_in("query"):
        query = SearchQuery.parse(lat=lat, lng=lng, radius_m=radius_m, start=start, end=end, amenities=amenities,
                                  max_price_cents=max_price_cents, vehicle_size=vehicle_size, sort=sort, limit=limit,
                                  cursor=cursor)
        result = search_driveways(store(settings), calendars(settings), query,
                                  platform_fee_bps=settings.platform_fee_bps)
    # Read amplification in production: items read vs. within the radius, per search.
    logger.info("search", extra={"radius_m": radius_m, **vars(result.stats)})
    return result.to_dict()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

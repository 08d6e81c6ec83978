"""``GET /v1/monitor``: the need mix of the stored predictions per window and segment, as `needlens monitor` has it.

The query names what the command's flags name (``window``, ``baseline``, ``by``, ``since``);
the alerting rule (threshold, minimum volumes, cooldown) is the service's configuration
(``NEEDLENS_MONITOR__*``). Each parameter's OpenAPI pattern is exactly what is accepted, so a
client following the schema is never refused for a value; a fixed baseline period stays the
command's, because no pattern can say that a period ends after it starts. Stored predictions
that make too many windows or segments for one answer are a 409 (the data, not the query's
form, is in the way), with the command's message. Times carry the monitor's zone
(``NEEDLENS_MONITOR__TIMEZONE``), where the command's JSONL writes them local and naive.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from label_loop.store import LabelStoreError
from monitor.periods import TimeParser, parse_since
from monitor.pipeline import MonitorError
from monitor.records import MonitorResult
from monitor.settings import MonitorSettings
from monitor.stored import monitor_store
from serve.auth import require_key
from serve.dependencies import Service
from serve.errors import ApiError
from serve.json_body import JSONBodyRoute
from serve.schemas import error_responses

router = APIRouter(prefix="/v1", tags=["v1"], dependencies=[Depends(require_key)], route_class=JSONBodyRoute)

DURATION = r"^[1-9][0-9]{0,2}[hdw]$"
"""1 to 999 hours, days or weeks: the durations ``monitor.periods.parse_duration`` accepts, in one spelling."""
_DATE = (  # a calendar date from 1900 to 2199 (no 29 February: not every year has one)
    r"(?:19|20|21)[0-9]{2}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
SINCE = rf"^(?:[1-9][0-9]{{0,2}}[hdw]|{_DATE})$"
BY = r"^[^,]{1,100}(?:,[^,]{1,100}){0,4}$"
"""One to five metadata field names, comma-separated."""


@router.get("/monitor", response_model=MonitorResult, responses=error_responses(401, 409, 422, 503))
def monitor(
    request: Request,
    service: Service,
    window: Annotated[
        str | None,
        Query(pattern=DURATION, description="window length: 12h, 7d, 2w [default: NEEDLENS_MONITOR__WINDOW]"),
    ] = None,
    baseline: Annotated[
        str | None,
        Query(
            pattern=DURATION,
            description="rolling span before each window, e.g. 90d [default: NEEDLENS_MONITOR__BASELINE]",
        ),
    ] = None,
    by: Annotated[
        str | None,
        Query(pattern=BY, description="metadata fields to segment by, comma-separated (at most 5): channel,region"),
    ] = None,
    since: Annotated[
        str | None,
        Query(
            pattern=SINCE,
            description="list only alerts in windows ending after this: 7d back from the latest time, or a date",
        ),
    ] = None,
) -> MonitorResult:
    """Per window and segment of the stored predictions: volume, label shares with Wilson 95% intervals, mean
    probabilities, the fluctuation index against the baseline, and the alerts (JSON, as the command's JSONL)."""
    _refuse_unknown(request, ("window", "baseline", "by", "since"))
    given = {"window": window, "baseline": baseline, "by": by and list(dict.fromkeys(by.split(",")))}
    # the patterns admit only values these parse: a failure here is a bug (500), not the client's
    settings = MonitorSettings.model_validate(
        service.settings.monitor.model_dump() | {k: v for k, v in given.items() if v is not None}
    )
    since_value = parse_since(since, TimeParser(settings.zone)) if since else None
    store = service.prediction_store()
    try:
        result = monitor_store(store, settings, since_value)
    except MonitorError as exc:
        raise ApiError(409, "too_many_figures", str(exc)) from None
    except LabelStoreError as exc:  # damage that appeared after start-up
        raise ApiError(503, "store_unusable", str(exc)) from None
    return MonitorResult.model_validate(_zoned(result.model_dump(), settings.zone))


def _refuse_unknown(request: Request, known: tuple[str, ...]) -> None:
    """A misspelt parameter (``windw=1d``) is an error naming it, not a default silently used; so is a
    repeated one, whose earlier values would be dropped."""
    unknown = sorted(set(request.query_params) - set(known))
    if unknown:
        raise ApiError(
            422,
            "unknown_parameter",
            f"unknown query parameter {unknown[0]!r}; this route takes {', '.join(known)}",
            {"parameter": unknown[0]},
        )
    repeated = sorted(name for name in known if len(request.query_params.getlist(name)) > 1)
    if repeated:
        raise ApiError(
            422,
            "repeated_parameter",
            f"query parameter {repeated[0]!r} given more than once (several segment fields: by=a,b)",
            {"parameter": repeated[0]},
        )


def _zoned(value: Any, zone: tzinfo) -> Any:
    """The figures' times are local and naive (windows are local weeks); an answer's carry the zone they are in,
    as JSON's date-time must."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    if isinstance(value, dict):
        return {key: _zoned(item, zone) for key, item in value.items()}
    if isinstance(value, list):
        return [_zoned(item, zone) for item in value]
    return value

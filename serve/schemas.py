"""The API contract: request and response bodies, validated by pydantic, documented at /docs.

Request bodies refuse unknown fields: a misspelt ``"explian": true`` is an error naming the
field, not an option silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    field_validator,
    model_validator,
)

from classifier.labels import Labels
from classifier.people import NAME_PATTERN, person_name
from label_loop.feedback import FeedbackStatus


def _encodable(value: str) -> str:
    """Strings that are echoed back or stored must be valid Unicode; JSON lets a lone surrogate in.
    (Texts to classify are checked by ``validate_text``, which names the item.)"""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"lone surrogate (U+{ord(value[exc.start]):04X}) at character {exc.start}: not valid Unicode"
        ) from None
    return value


def _encodable_first(value: Any) -> Any:
    """``_encodable`` before pydantic's own string checks, which a length limit brings in: they
    refuse a lone surrogate without saying where it is."""
    return _encodable(value) if isinstance(value, str) else value


# Strings that are valid Unicode and bounded; the limit is a constraint on ``str``, so its message
# counts characters (``Field(max_length=…)`` on an optional string said "items").
ShortText = Annotated[str, StringConstraints(max_length=200), BeforeValidator(_encodable_first)]
LongText = Annotated[str, StringConstraints(max_length=2000), BeforeValidator(_encodable_first)]


def _named(value: str) -> str:
    """A person's name as recorded (``classifier.people``). Absent is another matter."""
    try:
        return person_name(value)
    except ValueError as exc:
        raise ValueError(f"{exc}; or leave the field out") from None


# the pattern documents the check for clients and the fuzzer (which then sends names it accepts)
AnnotatorName = Annotated[
    ShortText,
    AfterValidator(_named),
    Field(json_schema_extra={"pattern": NAME_PATTERN}),
]
MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=100)]
MetadataValue = (
    Annotated[StrictStr, StringConstraints(max_length=500)]
    | StrictInt
    | Annotated[StrictFloat, Field(allow_inf_nan=False)]
    | StrictBool
    | None
)
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=32)]


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # strict: an id of true would otherwise come back as 1, and "explain": "yes" pass as true
    id: StrictStr | StrictInt | None = Field(None, description="your id for the text, echoed back")
    text: str
    metadata: Metadata | None = Field(
        None,
        description="stored with the prediction when the request says store: 'time' (when the text was written: "
        "ISO 8601 or epoch seconds) and segment fields (channel, region, tier…) that monitoring groups by",
    )

    @field_validator("id")
    @classmethod
    def _echoable(cls, value: str | int | None) -> str | int | None:
        return _encodable(value) if isinstance(value, str) else value  # here, not on the union: a plain field path


class ClassifyRequest(BaseModel):
    """Either plain ``texts`` or ``items`` with ids, not both."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={  # what _exactly_one checks: one of the two is a list (null counts as absent)
            "oneOf": [{"required": [name], "properties": {name: {"type": "array"}}} for name in ("texts", "items")]
        },
    )

    texts: list[str] | None = None
    items: list[Item] | None = None
    explain: StrictBool = Field(False, description="add evidence spans for each predicted label (costs one more pass)")
    store: StrictBool = Field(
        False, description="also store each prediction, with the item's metadata, for monitoring and review"
    )
    store_text: StrictBool | None = Field(
        None,
        description="with store: keep the texts too, not only their hashes [default: NEEDLENS_PREDICTION_STORE_TEXT]",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ClassifyRequest:
        if (self.texts is None) == (self.items is None):
            raise ValueError("give exactly one of 'texts' or 'items'")
        return self

    def as_items(self) -> list[Item]:
        return self.items if self.items is not None else [Item(text=t) for t in self.texts or []]


class EvidenceSpan(BaseModel):
    start: int = Field(description="character offset into the text")
    end: int
    text: str
    score: float = Field(description="drop in the label's probability when the span is removed")


class SegmentResult(BaseModel):
    start: int
    end: int
    needs: list[str]
    need_probabilities: dict[str, float]
    cause: str
    cause_probabilities: dict[str, float]


class Classification(BaseModel):
    id: str | int | None
    needs: list[str] = Field(description="need levels above their thresholds (at least one)")
    need_probabilities: dict[str, float]
    cause: str
    cause_probabilities: dict[str, float]
    truncated: bool = Field(description="true when the text was cut to fit the encoder's window")
    needs_review: list[str] = Field(description="labels inside their uncertainty band ('cause' for the cause)")
    evidence: dict[str, list[EvidenceSpan]] | None = Field(None, description="with explain: spans per predicted label")
    segments: list[SegmentResult] | None = Field(None, description="per-sentence results of a long text")


class StorageResult(BaseModel):
    """What became of a request's predictions when it asked to store them: all stored, or none."""

    stored: bool = Field(description="false: the results stand, but were not stored (see error)")
    ids: list[int] = Field(description="the stored predictions' ids, in item order")
    text_stored: bool = Field(description="the texts were kept beside their hashes")
    error: str | None = Field(None, description="why nothing was stored")
    unreadable_times: list[int] = Field(
        [],
        description="indexes of the items stored with a metadata 'time' that is not a time (ISO 8601 or epoch "
        "seconds or milliseconds): monitoring skips them, so the caller hears of it now rather than never",
    )


class ClassifyResponse(BaseModel):
    model_version: str
    results: list[Classification]
    storage: StorageResult | None = Field(None, description="only when the request said store")


class FeedbackRequest(Labels):
    """An analyst's corrected labels for a text; needs/cause accept English or Chinese names."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1)
    annotator: AnnotatorName | None = None
    note: LongText | None = None
    model_version: ShortText | None = Field(None, description="the model whose output is being corrected")


class FeedbackResponse(BaseModel):
    """What became of a feedback label. It waits in its annotator's batch (out of training) until
    the batch is judged by the arrival checks, as a `labels import` is."""

    id: int = Field(description="the feedback's number: GET /v1/feedback/{id} says what became of it since")
    status: FeedbackStatus = Field(
        description="pending: waits in its batch; admitted: a training label now; held: in quarantine until an admin"
        " decides; rejected: by an admin, from quarantine; duplicate: the same label from the same annotator was"
        " already recorded"
    )
    reason: str = Field(description="one line: what it waits for, why its batch was held, or what it passed with")
    batch_id: int | None = Field(description="held: its quarantine batch (`needlens labels quarantine show`)")
    waiting: int | None = Field(description="pending: labels now waiting in its batch")
    annotator: str | None
    text_hash: str
    created_at: str
    supersedes: int | None = Field(description="the text's label event when the feedback arrived, kept as history")


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, to count or branch on: too_many_items, text_empty, overloaded, …")
    message: str = Field(description="one line for a person, naming the limit, item or field")
    details: Any = Field(None, description="the limit, index, id or position involved, when there is one")


class ErrorBody(BaseModel):
    """Every refusal and failure, whatever its status."""

    error: ErrorDetail


_ERRORS = {
    400: "body is not valid JSON (or not UTF-8)",
    401: "missing or wrong API key",
    404: "no such resource (an unknown feedback id)",
    408: "body not received in time",
    409: "the stored predictions make more windows or figures than one answer holds (a longer window helps)",
    413: "body, item count or explain budget over its limit",
    415: "body is not application/json",
    422: "a field or an item is invalid",
    500: "the reload failed; the previous model is still served",
    503: "model not loaded, at capacity, or past the request deadline (Retry-After)",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route that can answer these error statuses, all in ``ErrorBody``'s shape."""
    return {status: {"model": ErrorBody, "description": _ERRORS[status]} for status in statuses}

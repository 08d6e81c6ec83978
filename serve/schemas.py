"""The API contract: request and response bodies, validated by pydantic, documented at /docs."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from classifier.labels import Labels


class Item(BaseModel):
    id: str | int | None = Field(None, description="your id for the text, echoed back")
    text: str


class ClassifyRequest(BaseModel):
    """Either plain ``texts`` or ``items`` with ids, not both."""

    texts: list[str] | None = None
    items: list[Item] | None = None
    explain: bool = Field(False, description="add evidence spans for each predicted label (costs one more pass)")

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


class ClassifyResponse(BaseModel):
    model_version: str
    results: list[Classification]


class FeedbackRequest(Labels):
    """An analyst's corrected labels for a text; needs/cause accept English or Chinese names."""

    text: str = Field(min_length=1)
    annotator: str | None = Field(None, max_length=200)
    note: str | None = Field(None, max_length=2000)
    model_version: str | None = Field(None, description="the model whose output is being corrected")


class FeedbackResponse(BaseModel):
    id: int
    text_hash: str
    created_at: str
    supersedes: int | None = Field(description="the earlier label event for this text, kept as history")

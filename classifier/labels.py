"""The label contract (spec v1.2): the one place that spells the label names.

Every other module asks this one for names, Chinese names, order and validation, so a
change to the spec is a change here and nowhere else.
"""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator


def text_key(text: str) -> str:
    """One text, one key, whatever its Unicode form or surrounding whitespace: how the label store
    identifies a text, and how files are matched against each other."""
    return unicodedata.normalize("NFKC", text).strip()


SCHEMA_VERSION = "1.2"
COMPATIBLE_SCHEMA_VERSIONS = frozenset({"1.1", "1.2"})
"""Spec versions with the same label names: v1.2 only added rules for deciding hard cases."""


class Need(StrEnum):
    """Need levels (需求三阶), multi-label; the order is the model's output order."""

    SURFACE = "surface"
    EMOTIONAL = "emotional"
    GROWTH = "growth"


class Cause(StrEnum):
    """Complaint cause, exactly one; the order is the model's output order."""

    SYSTEM_ERROR = "system_error"
    PERCEPTION_MISMATCH = "perception_mismatch"
    NONE = "none"


NEEDS: tuple[Need, ...] = tuple(Need)
CAUSES: tuple[Cause, ...] = tuple(Cause)
Decision = StrEnum("Decision", {**{need.name: need.value for need in Need}, "CAUSE": "cause"})  # type: ignore[misc]
"""The model's four decisions on a text, each need and the cause, in output order: what a
text's uncertainty is measured on (`needlens suggest --about`)."""

CHINESE_NAMES: dict[str, str] = {
    Need.SURFACE: "表层需求",
    Need.EMOTIONAL: "情感需求",
    Need.GROWTH: "成长需求",
    Cause.SYSTEM_ERROR: "系统误差",
    Cause.PERCEPTION_MISMATCH: "认知错位",
    Cause.NONE: "非投诉",
}
_BY_CHINESE = {zh: en for en, zh in CHINESE_NAMES.items()}


def canonical_label(value: str) -> str:
    """Accept a label by its English or Chinese name (analysts write both)."""
    value = value.strip()
    return str(_BY_CHINESE.get(value, value))


def _split_needs(value: Any) -> Any:
    """Needs arrive as a list, a JSON list, or ``a|b`` / ``a,b`` text (spreadsheets)."""
    if isinstance(value, str) and value.strip().startswith("["):
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(value)
    if isinstance(value, str):
        value = [
            part for part in value.replace("|", ",").replace("，", ",").replace("、", ",").split(",") if part.strip()
        ]
    if isinstance(value, list | tuple):
        return [canonical_label(v) if isinstance(v, str) else v for v in value]
    return value


def _canonical_cause(value: Any) -> Any:
    return canonical_label(value) if isinstance(value, str) else value


class Labels(BaseModel):
    """One judgement: the need levels and the cause of a text."""

    model_config = ConfigDict(frozen=True)

    needs: Annotated[list[Need], BeforeValidator(_split_needs), Field(min_length=1)]
    cause: Annotated[Cause, BeforeValidator(_canonical_cause)]

    @field_validator("needs")
    @classmethod
    def _unique_in_schema_order(cls, needs: list[Need]) -> list[Need]:
        return [n for n in NEEDS if n in needs]


LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
"""JSON's "\\ud800" and Python's surrogateescape both produce these; no tokenizer can encode them."""
UNDECODABLE_BYTE = re.compile(r"[\udc80-\udcff]")
"""What decoding with ``surrogateescape`` makes of a byte the encoding cannot read."""
VISIBLE_CHARACTER = re.compile(r"[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff0-\uffff]")
"""A text needs one character that is not white space, a control character (Cc), an invisible
format character or a specials-block code point: "\\x00\\x00" or a row of zero-width spaces says nothing."""


class LabeledRecord(Labels):
    """A record in the spec's JSONL format; extra fields (genre, hard, …) are kept."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    source: str | None = None
    domain: str | None = None

    @field_validator("text")
    @classmethod
    def _readable(cls, text: str) -> str:
        """The texts inference refuses as empty are refused here too, so no labeled set holds one
        (pydantic already refuses lone surrogates)."""
        if not VISIBLE_CHARACTER.search(text):
            raise ValueError("text is blank (only white space, NUL or other control characters)")
        return text

    @model_validator(mode="after")
    def _valid_unicode(self) -> LabeledRecord:
        """pydantic refuses a lone surrogate in ``text`` but let one through in ``domain`` or an
        extra field (genre, …), and the report writer then failed on it after the scoring."""
        for name, value in self:
            if surrogate := _first_lone_surrogate(value):
                raise ValueError(f"{name} has a lone surrogate (U+{ord(surrogate):04X}): not valid Unicode")
        return self


def _first_lone_surrogate(value: Any) -> str | None:
    """The first lone surrogate in a string, or in the keys and values of a JSON list or object."""
    if isinstance(value, str):
        found = LONE_SURROGATE.search(value)
        return found.group() if found else None
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list):
        return next((s for item in value if (s := _first_lone_surrogate(item))), None)
    return None


class RecordError(ValueError):
    """A record that breaks the spec, with where it is so the user can fix it."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


def parse_record(raw: Any, where: str) -> LabeledRecord:
    """Validate one raw record, turning pydantic's report into one readable line."""
    if not isinstance(raw, dict):
        raise RecordError(where, f"expected a JSON object, got {type(raw).__name__}")
    try:
        return LabeledRecord.model_validate(raw)
    except ValidationError as exc:
        raise RecordError(where, "; ".join(map(field_error_line, exc.errors()))) from None


def field_error_line(error: Any) -> str:
    """One pydantic error after its field; a record-wide check names its field itself, so only a
    field's error is prefixed with it. Data files and label imports read alike."""
    message = validation_message(error)
    field = ".".join(str(part) for part in error["loc"])
    return f"{field}: {message}" if field else message


def validation_message(error: Any) -> str:
    """pydantic's line for one error, as data files and the API both show it: without the
    "Value error, " prefix, and a wrong label name answered with the Chinese names beside the
    English ones, since both are accepted and analysts write either."""
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    if error["type"] == "enum":
        names = re.findall(r"'([^']*)'", str(error["ctx"]["expected"]))
        if names and all(name in CHINESE_NAMES for name in names):
            accepted = ", ".join(f"{name} ({CHINESE_NAMES[name]})" for name in names)
            given = repr(error["input"])
            given = given if len(given) <= 40 else f"{given[:37]}..."
            return f"{given} is not a label name; use one of {accepted}"
    return str(error["msg"])

"""What one classify request may ask for: refused up front, naming the limit and the item."""

from __future__ import annotations

from collections.abc import Sequence

from classifier.inference import TextProblem, validate_text
from classifier.settings import Settings
from serve.errors import ApiError
from serve.schemas import Item


def request_texts(items: Sequence[Item], settings: Settings) -> list[str]:
    """The texts to classify, or a 413 (too many items) / 422 (the first bad item, by index and id)."""
    if len(items) > settings.max_items:
        raise ApiError(
            413,
            "too_many_items",
            f"{len(items)} items in one request; the limit is {settings.max_items}",
            {"limit": settings.max_items, "count": len(items)},
        )
    texts = []
    for index, item in enumerate(items):
        try:
            texts.append(validate_text(item.text, settings.api_max_chars))
        except TextProblem as problem:
            raise ApiError(
                422,
                f"text_{problem.code}",
                f"item {index}{'' if item.id is None else f' (id {item.id!r})'}: {problem}",
                {"index": index, "id": item.id}
                | ({"limit": settings.api_max_chars} if problem.code == "too_long" else {}),
            ) from None
    return texts


def check_explain_budget(texts: Sequence[str], settings: Settings) -> None:
    """Explaining costs a model pass per word of every text: a request gets a small budget of it."""
    chars = sum(map(len, texts))
    for count, limit, unit, variable in (
        (len(texts), settings.explain_max_texts, "texts", "NEEDLENS_EXPLAIN_MAX_TEXTS"),
        (chars, settings.explain_max_chars, "characters", "NEEDLENS_EXPLAIN_MAX_CHARS"),
    ):
        if count > limit:
            raise ApiError(
                413,
                "explain_too_large",
                f"explain takes at most {limit} {unit} per request ({variable}); this one has {count}: "
                "split it, or classify without explain",
                {"limit": limit, "count": count, "setting": variable},
            )

"""What every path (batch rows, API items, imports) refuses before a text reaches the tokenizer."""

import pytest

from classifier.inference import TextProblem, validate_text


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, "missing"),
        (float("nan"), "missing"),
        (12, "not_text"),
        ("", "empty"),
        ("  \t\n", "empty"),
        ("\x00\x00\x00", "empty"),
        ("\x01\x7f\x9f", "empty"),
        ("\u200b\ufeff\u2060", "empty"),
        ("\ud800abc", "invalid_unicode"),
        ("好评\udfff", "invalid_unicode"),
        ("x" * 11, "too_long"),
    ],
)
def test_a_text_that_cannot_be_classified_gets_its_own_problem_code(value: object, code: str) -> None:
    with pytest.raises(TextProblem) as caught:
        validate_text(value, 10)
    assert caught.value.code == code


def test_the_lone_surrogate_message_names_the_character_and_position() -> None:
    with pytest.raises(TextProblem, match=r"\(U\+D83D\) at character 2"):
        validate_text("ab\ud83d", 10)


@pytest.mark.parametrize("value", ["好", "退款\x00太慢", " 差评 ", "😀", "ｆｕｌｌｗｉｄｔｈ"])
def test_a_text_with_something_visible_is_kept_as_given(value: str) -> None:
    assert validate_text(value, 20) == value

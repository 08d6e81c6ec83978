import pytest

from classifier.labels import CAUSES, CHINESE_NAMES, NEEDS, Labels, RecordError, parse_record


def test_label_names_are_the_specs():
    assert [str(n) for n in NEEDS] == ["surface", "emotional", "growth"]
    assert [str(c) for c in CAUSES] == ["system_error", "perception_mismatch", "none"]
    assert CHINESE_NAMES["perception_mismatch"] == "认知错位"


def test_valid_record_keeps_extra_fields_and_orders_needs():
    record = parse_record(
        {
            "id": "r1",
            "text": "理赔金额少了",
            "needs": ["emotional", "surface", "surface"],
            "cause": "perception_mismatch",
            "genre": "complaint",
        },
        "line 1",
    )
    assert record.needs == ["surface", "emotional"]
    assert record.model_extra == {"genre": "complaint"}


def test_chinese_label_names_and_joined_strings_are_accepted():
    labels = Labels.model_validate({"needs": "表层需求|成长需求", "cause": "系统误差"})
    assert labels.needs == ["surface", "growth"]
    assert labels.cause == "system_error"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"id": "a", "text": "x", "needs": [], "cause": "none"}, "needs"),
        ({"id": "a", "text": "x", "needs": ["anger"], "cause": "none"}, "needs.0"),
        ({"id": "a", "text": "x", "needs": ["surface"], "cause": "refund"}, "cause"),
        ({"id": "a", "text": "   ", "needs": ["surface"], "cause": "none"}, "text"),
        ({"text": "x", "needs": ["surface"], "cause": "none"}, "id"),
    ],
)
def test_invalid_records_name_the_field_and_place(raw, field):
    with pytest.raises(RecordError) as info:
        parse_record(raw, "data.jsonl:7")
    message = str(info.value)
    assert message.startswith("data.jsonl:7: ")
    assert f"{field}:" in message


def test_a_wrong_label_name_is_answered_with_every_accepted_name_in_both_languages():
    with pytest.raises(RecordError) as info:
        parse_record({"id": "a", "text": "x", "needs": ["表层"], "cause": "refund" * 20}, "data.jsonl:7")
    message = str(info.value)
    assert "needs.0: '表层' is not a label name; use one of surface (表层需求), emotional (情感需求)" in message
    assert "cause: 'refundrefund" in message and "..." in message and "none (非投诉)" in message
    assert "refund" * 10 not in message  # a long wrong value is cut, not echoed whole


def test_non_object_record_is_rejected():
    with pytest.raises(RecordError, match="expected a JSON object, got list"):
        parse_record(["surface"], "x:1")

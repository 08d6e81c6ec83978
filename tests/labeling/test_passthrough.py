"""Kept input columns: chosen by name, renamed away from the label columns, values made writable."""

import datetime

import pytest

from labeling.passthrough import column_list, keep_columns, writable
from labeling.tables import TableError, unique_names

LABELS = ["row", "id", "needs", "cause", "error"]


def test_no_flag_keeps_all_an_empty_flag_keeps_none():
    assert column_list(None) is None
    assert column_list("") == []
    assert column_list(" 门店 , time,") == ["门店", "time"]


def test_an_input_column_named_like_a_label_column_is_prefixed_not_overwritten():
    available = ["id", "text", "needs", "input_needs", "门店"]
    kept = keep_columns(available, None, dict.fromkeys(available, "string"), LABELS, skip=["id"])
    assert kept.names == {"text": "text", "needs": "input_input_needs", "input_needs": "input_needs", "门店": "门店"}
    assert kept.renamed == {"needs": "input_input_needs"}
    assert list(kept.kinds) == ["text", "input_input_needs", "input_needs", "门店"]


def test_chosen_columns_must_exist():
    available = ["id", "text", "门店"]
    kept = keep_columns(available, ["门店"], dict.fromkeys(available, "string"), LABELS)
    assert kept.names == {"门店": "门店"}
    with pytest.raises(TableError, match=r"--columns: no column '店名'.*columns: id, text, 门店"):
        keep_columns(available, ["店名"], dict.fromkeys(available, "string"), LABELS)


def test_values_become_writable_in_every_format():
    assert writable("a\ud800b\udcff") == "a\ufffdb\ufffd"
    assert writable(float("nan")) is None and writable(1.5) == 1.5 and writable(True) is True
    assert writable(datetime.datetime(2024, 5, 1, 8, 30)) == "2024-05-01T08:30:00"
    assert writable({"k\ud800": [datetime.date(2024, 5, 1), b"\xff"]}) == {"k\ufffd": ["2024-05-01", "\ufffd"]}


def test_blank_and_repeated_header_names_stay_distinct():
    assert unique_names(["a", None, "a", "", "a"]) == ["a", "column_2", "a.2", "column_4", "a.3"]

"""Where a command writes is checked before the work: a file, or a folder of someone else's files,
is refused in one line, and nothing is created or deleted by the check."""

import os
import re

import pytest

from classifier.errors import OutputPathError
from classifier.output_paths import check_replaceable_folder, check_writable_folder


def is_ours(path):
    return (path / "ours.txt").is_file()


def test_a_new_or_empty_folder_or_one_of_ours_may_be_replaced(tmp_path):
    check_replaceable_folder(tmp_path / "new" / "deeper", is_ours, "a thing")
    assert not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    check_replaceable_folder(tmp_path / "empty", is_ours, "a thing")
    (tmp_path / "ours").mkdir()
    (tmp_path / "ours" / "ours.txt").write_text("x")
    (tmp_path / "ours" / "more.bin").write_text("x")
    check_replaceable_folder(tmp_path / "ours", is_ours, "a thing")


def test_a_folder_of_other_files_is_refused_naming_a_few_of_them(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(7):
        (folder / f"p{index}.jpg").write_text("x")
    with pytest.raises(OutputPathError) as info:
        check_replaceable_folder(folder, is_ours, "a thing")
    message = str(info.value)
    assert f"{folder} already holds files that are not a thing (" in message and ", …)" in message
    assert len(re.findall(r"p\d\.jpg", message)) == 5 and "would delete them" in message
    assert len(list(folder.iterdir())) == 7


def test_a_file_is_refused_as_a_folder(tmp_path):
    taken = tmp_path / "notes.txt"
    taken.write_text("keep me")
    with pytest.raises(OutputPathError, match=r"notes\.txt is a file, not a folder to write a thing in"):
        check_replaceable_folder(taken, is_ours, "a thing")
    with pytest.raises(OutputPathError, match=r"notes\.txt is a file, not a folder"):
        check_writable_folder(taken)
    with pytest.raises(OutputPathError, match=r"cannot make or write .*notes\.txt/sub \(nothing can be written in"):
        check_writable_folder(taken / "sub")
    assert taken.read_text() == "keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_folder_under_a_read_only_one_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputPathError, match="nothing can be written in"):
            check_writable_folder(locked / "out")
    finally:
        locked.chmod(0o700)

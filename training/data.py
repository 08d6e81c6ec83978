"""Labeled data in the spec's JSONL format, validated, fingerprinted and split deterministically."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, concatenate_datasets
from datasets.utils.logging import disable_progress_bar

from classifier import json_text
from classifier.json_text import DuplicateKeyError, UnusableJsonError
from classifier.labels import CAUSES, NEEDS, UNDECODABLE_BYTE, LabeledRecord, RecordError, parse_record, text_key

disable_progress_bar()  # a few thousand rows cast in milliseconds; the bars were noise


WRITTEN_SOURCE = "needlens-team"
"""``source`` of the team-written seed records; every other record is real customer text."""


class DataError(ValueError):
    """Unusable training or evaluation data; lists the first offending rows by file and line."""


def data_files(path: Path) -> list[Path]:
    """A JSONL file, or every ``*.jsonl`` file under a directory (sorted, so order is stable)."""
    if path.is_dir():
        files = sorted(path.rglob("*.jsonl"))
        if not files:
            raise DataError(f"{path}: no .jsonl files in this directory")
        return files
    if not path.is_file():
        raise DataError(f"{path}: no such file or directory")
    return [path]


def describe_paths(paths: Path | Sequence[Path]) -> str:
    """Data paths as a reader writes them ("data/seed + data/real"), for logs and model cards;
    a list's Python repr reached both once."""
    return str(paths) if isinstance(paths, Path) else " + ".join(map(str, paths))


def read_records(
    paths: Path | Sequence[Path], max_chars: int | None = None, max_errors: int = 20
) -> list[LabeledRecord]:
    """Read and validate every record of one or more files or directories; all problems are
    reported together, not one per run. ``max_chars``: the longest text the commands that
    classify would take (``NEEDLENS_MAX_CHARS``); a longer one, which labeling refuses, is
    refused here too rather than scored (a megabyte without punctuation took gigabytes)."""
    paths = [paths] if isinstance(paths, Path) else list(paths)
    records: list[LabeledRecord] = []
    errors: list[str] = []
    seen_ids: dict[str, str] = {}
    for file in [file for path in paths for file in data_files(path)]:
        problems: list[str] = []  # this file's, in line order
        undecodable: list[str] = []
        not_json = not_objects = lines = 0
        with file.open(encoding="utf-8-sig", errors="surrogateescape") as handle:  # Notepad's BOM
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                lines += 1
                where = f"{file}:{line_no}"
                if bad := UNDECODABLE_BYTE.search(line):  # one GBK line must not hide the file's other problems
                    undecodable.append(f"{where}: not UTF-8 text (an undecodable byte at character {bad.start() + 1})")
                    continue
                try:
                    record = parse_record(json_text.loads(line), where)
                except json.JSONDecodeError as exc:
                    problems.append(f"{where}: not valid JSON ({exc.msg}, column {exc.colno})")
                    not_json += 1
                    not_objects += not line.lstrip().startswith("{")
                    continue
                except DuplicateKeyError as exc:
                    problems.append(f"{where}: {exc}")
                    continue
                except UnusableJsonError as exc:
                    problems.append(f"{where}: not usable JSON: {exc}")
                    continue
                except RecordError as exc:
                    problems.append(str(exc))
                    continue
                if max_chars is not None and len(record.text) > max_chars:
                    problems.append(
                        f"{where}: text has {len(record.text)} characters, over the limit of {max_chars} (NEEDLENS_MAX_CHARS)"
                    )
                    continue
                if record.id in seen_ids:
                    problems.append(f"{where}: id {record.id!r} already used at {seen_ids[record.id]}")
                    continue
                seen_ids[record.id] = where
                records.append(record)
        parsed_none = not_json and not_json + len(undecodable) == lines
        if parsed_none and (whole := _not_jsonl_error(file, not_objects == not_json)):
            errors.append(whole)  # instead of a "not valid JSON" line per line
        else:
            errors += [*problems, *_undecodable_errors(file, undecodable, lines)]
    if errors:
        shown = "\n  ".join(errors[:max_errors])
        more = f"\n  … and {len(errors) - max_errors} more" if len(errors) > max_errors else ""
        raise DataError(f"{len(errors)} problem(s) in the labeled data:\n  {shown}{more}")
    if not records:
        raise DataError(f"{', '.join(map(str, paths))}: no records")
    return records


def _not_jsonl_error(file: Path, no_line_opens_an_object: bool) -> str | None:
    """One line for a file none of whose lines parses, when it is not JSONL at all: UTF-16 text (a
    Windows "Unicode" save) or, when no line even opens a JSON object, a table given as labeled
    data. A JSONL file whose every record is broken keeps its line-by-line errors."""
    with file.open("rb") as handle:
        head = handle.read(2)
    if head in (b"\xff\xfe", b"\xfe\xff"):
        return f"{file}: UTF-16 text; labeled data is UTF-8 JSONL: save it as UTF-8"
    if no_line_opens_an_object:
        return (
            f"{file}: no line is a JSON record; labeled data is JSONL, one JSON object a line "
            "(a table of labels goes into the store with `needlens labels import`)"
        )
    return None


def _undecodable_errors(file: Path, undecodable: list[str], lines: int) -> list[str]:
    """A file not one of whose lines is UTF-8 was saved in another encoding (GBK, from Excel or
    WPS on Chinese Windows): one line saying so and how to fix it, not one per record."""
    if undecodable and len(undecodable) == lines:
        return [
            f"{file}: not UTF-8 text (labeled data is UTF-8 JSONL); save it as UTF-8, "
            f"e.g. iconv -f GB18030 -t UTF-8 {file} > {file.stem}.utf8.jsonl"
        ]
    return undecodable


def conflicting_duplicates(records: Iterable[LabeledRecord]) -> list[list[LabeledRecord]]:
    """Records of one text (by ``text_key``) under different labels: the data contradicts itself."""
    by_text: dict[str, list[LabeledRecord]] = defaultdict(list)
    for record in records:
        by_text[text_key(record.text)].append(record)
    return [group for group in by_text.values() if len({(tuple(r.needs), r.cause) for r in group}) > 1]


def conflict_notes(records: Iterable[LabeledRecord], shown: int = 5) -> list[str]:
    """Lines naming the contradicting records by id, for check-data and the training log."""
    groups = conflicting_duplicates(records)
    if not groups:
        return []
    lines = [
        f"warning: {len(groups)} text(s) appear more than once with different labels; "
        "a model cannot learn both readings: read them again by the spec and keep one label per text"
    ]
    for group in groups[:shown]:
        readings = ", ".join(f"{r.id} {'+'.join(map(str, r.needs))}/{r.cause}" for r in group)
        lines.append(f"  {group[0].text[:40]!r}: {readings}")
    if len(groups) > shown:
        lines.append(f"  … and {len(groups) - shown} more")
    return lines


def read_held_out(paths: Iterable[Path]) -> list[LabeledRecord]:
    """The labeled test texts no training may see (``TrainingSettings.held_out_data``); paths that
    do not exist are skipped, so a checkout without them still trains."""
    return [record for path in paths if path.exists() for record in read_records(path)]


def fingerprint(records: Iterable[LabeledRecord]) -> str:
    """Content hash of texts and labels, independent of file layout and record order."""
    lines = sorted(json.dumps([r.text, [str(n) for n in r.needs], str(r.cause)], ensure_ascii=False) for r in records)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def to_dataset(records: list[LabeledRecord]) -> Dataset:
    """Columns the trainer reads: text, multi-hot needs, cause index (a ClassLabel, so splits can
    stratify) and the same cause as a distribution (soft-labeled rows carry a teacher's)."""
    return Dataset.from_dict(
        {
            "id": [r.id for r in records],
            "text": [r.text for r in records],
            "domain": [r.domain or "" for r in records],
            "written": [r.source == WRITTEN_SOURCE for r in records],
            "soft": [False] * len(records),
            "needs": [[float(n in r.needs) for n in NEEDS] for r in records],
            "cause": [CAUSES.index(r.cause) for r in records],
            "cause_probs": [[float(c == r.cause) for c in CAUSES] for r in records],
        }
    ).cast_column("cause", ClassLabel(names=[str(c) for c in CAUSES]))


@dataclass(frozen=True)
class Split:
    train: Dataset
    validation: Dataset


MIN_REAL_VALIDATION = 60
"""Fewer real records than this validate on everything: too few to fit temperatures on."""


def split_dataset(dataset: Dataset, validation_fraction: float, seed: int) -> Split:
    """Same data and seed give the same split; stratified on cause so every class is validated.

    Validation (which picks the epoch and fits temperatures, thresholds and review bands) is
    drawn from real customer text whenever there is enough of it: written text is cleaner than
    traffic, and calibration fitted on it was over-confident on real texts. Written records then
    all go to training."""
    written = np.asarray(dataset["written"], dtype=bool)
    real_count = int((~written).sum())
    if not written.any() or real_count * validation_fraction < MIN_REAL_VALIDATION:
        parts = _stratified(dataset, validation_fraction, seed, "labeled records")
        return _without_trained_texts(parts["train"], parts["test"])
    real = dataset.select(np.flatnonzero(~written))
    parts = _stratified(real, validation_fraction, seed, "real (not team-written) records")
    train = concatenate_datasets([dataset.select(np.flatnonzero(written)), parts["train"]])
    return _without_trained_texts(train, parts["test"])


def _without_trained_texts(train: Dataset, validation: Dataset) -> Split:
    """Validation rows whose text is also a training row move to training: validation picks the
    epoch and fits calibration, and a text the model learned would flatter both."""
    trained = {text_key(text) for text in train["text"]}
    seen = np.array([text_key(text) in trained for text in validation["text"]], dtype=bool)
    if not seen.any():
        return Split(train=train, validation=validation)
    causes = np.asarray(validation["cause"], dtype=np.int64)
    emptied = sorted(set(causes.tolist()) - set(causes[~seen].tolist()))
    if emptied:
        raise DataError(
            f"every validation text of cause {' and '.join(str(CAUSES[i]) for i in emptied)} is also a training "
            "text: the data repeats its texts; keep one record per text"
        )
    return Split(
        train=concatenate_datasets([train, validation.select(np.flatnonzero(seen))]),
        validation=validation.select(np.flatnonzero(~seen)),
    )


def _stratified(dataset: Dataset, validation_fraction: float, seed: int, what: str) -> DatasetDict:
    """A cause held by a single record can be neither trained on and validated nor split by
    cause: a one-line refusal naming it, not the datasets library's traceback."""
    counts = np.bincount(np.asarray(dataset["cause"], dtype=np.int64), minlength=len(CAUSES))
    lonely = [str(CAUSES[i]) for i, n in enumerate(counts) if n == 1]
    if lonely:
        raise DataError(
            f"the {what} hold only one text of cause {' and '.join(lonely)}: a validation split by cause needs at "
            "least 2 of each cause present; label more texts of it (or none)"
        )
    try:
        return dataset.train_test_split(test_size=validation_fraction, seed=seed, stratify_by_column="cause")
    except ValueError as exc:  # e.g. a validation share smaller than the causes to validate
        raise DataError(
            f"the {what} ({len(dataset)}) are too few to hold {validation_fraction:.0%} out for validation with "
            f"every cause in it ({exc}); label more texts"
        ) from None


def label_arrays(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Multi-hot needs (n, 3) as int and cause indices (n,)."""
    return np.asarray(dataset["needs"], dtype=np.int64), np.asarray(dataset["cause"], dtype=np.int64)

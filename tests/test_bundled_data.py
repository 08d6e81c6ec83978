"""The data we ship meets its own card: size, coverage, balance, and no leak from the eval set."""

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from training.data import read_records

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "data" / "seed"
SHARED_DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"


@pytest.fixture(scope="module")
def records():
    return read_records(SEED)


def test_seed_data_is_large_and_covers_the_domains(records):
    assert len(records) >= 2000
    domains = Counter(r.domain for r in records)
    assert len(domains) >= 12
    assert min(domains.values()) >= 100


def test_every_label_is_on_at_least_a_fifth_of_records(records):
    needs = Counter(str(n) for r in records for n in r.needs)
    causes = Counter(str(r.cause) for r in records)
    for label, count in (needs | causes).items():
        assert count >= 0.2 * len(records), label


def test_texts_are_unique_and_genres_are_mixed(records):
    texts = Counter(r.text.strip() for r in records)
    assert texts.most_common(1)[0][1] == 1
    genres = Counter(getattr(r, "genre", None) for r in records)
    assert {"review", "complaint", "survey", "interview", "work_order"} <= set(genres)


@pytest.mark.skipif(not SHARED_DEV.is_file(), reason="shared eval set not present")
def test_no_evaluation_text_is_in_the_training_data(records):
    dev = {
        json.loads(line)["text"].strip() for line in SHARED_DEV.read_text(encoding="utf-8").splitlines() if line.strip()
    }
    assert not dev & {r.text.strip() for r in records}


def test_demo_sample_is_unlabeled_and_identified():
    with (ROOT / "data" / "sample_feedback.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert 40 <= len(rows) <= 60
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(r["text"].strip() for r in rows)
    assert not {"needs", "cause"} & set(rows[0])

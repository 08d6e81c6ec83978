"""Shared fixtures: a trivially separable toy data set and a model trained on it in seconds."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from classifier.inference import Predictor
from classifier.settings import TrainingSettings

# Three clearly different kinds of text, one per (need, cause) pair, so a working trainer fits them.
TOY_PHRASES = {
    ("surface", "system_error"): [
        "屏幕坏了要求换货",
        "金额算错了马上退款",
        "送错了东西赶紧补发",
        "空调不制冷快来修好",
        "重复扣款请退回",
    ],
    ("emotional", "perception_mismatch"): [
        "不知道为什么只赔这么少希望说清楚",
        "没人告诉我进度心里很焦虑",
        "规则从来没讲过希望解释一下",
        "怎么算的完全不透明希望告知",
        "一直没人理我希望被尊重",
    ],
    ("growth", "none"): [
        "想了解电池原理",
        "希望参加内测计划",
        "想学习进阶使用教程",
        "想参与新功能共创",
        "希望有会员成长路线",
    ],
}


def toy_records(n_per_class: int = 60, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    records = []
    for (need, cause), phrases in TOY_PHRASES.items():
        for i in range(n_per_class):
            text = f"{rng.choice(phrases)}{rng.choice(['。', '！', '～', '，谢谢'])}{i}"
            records.append({"id": f"{need}-{i}", "text": text, "needs": [need], "cause": cause, "domain": "toy"})
    rng.shuffle(records)
    return records


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list, header: tuple[str, ...] = ("id", "text"), encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("data") / "toy.jsonl", toy_records())


def quick_settings(**overrides: object) -> TrainingSettings:
    return TrainingSettings(**{"epochs": 3, "batch_size": 16, "patience": 3, **overrides})


@pytest.fixture(scope="session")
def toy_model(tmp_path_factory: pytest.TempPathFactory, toy_data: Path) -> tuple[Path, dict]:
    """A USE-m3 model fine-tuned on the toy set, with its validation report."""
    from training.pipeline import train_model

    out = tmp_path_factory.mktemp("models") / "toy"
    report = train_model(toy_data, out, quick_settings(), log=lambda _: None)
    return out, report


@pytest.fixture(scope="module")
def predictor(toy_model: tuple[Path, dict]):
    """The toy model loaded once per test module (its token cache stays per module)."""
    return Predictor.load(toy_model[0])


def claim_soft_labels(model_dir: Path, texts: list[str], soft_file: Path) -> None:
    """Make ``model_dir``'s training.json say it learned ``texts`` as a teacher's soft labels
    from ``soft_file`` (written here), as a distilled model's does."""
    from training.distill import meta_path

    rows = [
        {"id": f"p{i}", "text": text, "needs": [0.9, 0.2, 0.1], "cause": [0.1, 0.8, 0.1]}
        for i, text in enumerate(texts)
    ]
    soft_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    meta_path(soft_file).write_text(json.dumps({"teacher_version": "t", "complete": True}), encoding="utf-8")
    facts = json.loads((model_dir / "training.json").read_text(encoding="utf-8"))
    facts["soft_labels"] = {"path": str(soft_file), "teacher_version": "t", "ids": [r["id"] for r in rows]}
    (model_dir / "training.json").write_text(json.dumps(facts, ensure_ascii=False), encoding="utf-8")

"""The TF-IDF model as the lexical half of a model's document probabilities.

Calibration picks its weight on validation; a directory whose config gives it weight cannot be
loaded without it, and a broken one is refused with the file named.
"""

import json
import shutil
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

import training.baseline
from classifier.errors import ModelLoadError
from classifier.inference import Predictor
from classifier.lexical import FILE_NAME, TfidfBaseline, expand_soft_rows, mix_probabilities
from tests.conftest import TOY_PHRASES, quick_settings
from training.calibration import fit_lexical_weight
from training.pipeline import train_model

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def _labels(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    need_true = (rng.random((n, 3)) < 0.4).astype(np.int64)
    need_true[~need_true.any(axis=1), 0] = 1
    return need_true, rng.integers(0, 3, n)


def _knowing(need_true: np.ndarray, cause_true: np.ndarray, sure: float) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities that put ``sure`` on the truth."""
    need = np.where(need_true == 1, sure, 1 - sure).astype(np.float64)
    cause = np.full((len(cause_true), 3), (1 - sure) / 2)
    cause[np.arange(len(cause_true)), cause_true] = sure
    return need, cause


def _noise(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cause = rng.random((n, 3))
    return rng.random((n, 3)), cause / cause.sum(axis=1, keepdims=True)


def test_weight_stays_zero_when_the_tfidf_model_only_adds_noise():
    need_true, cause_true = _labels(400, 0)
    network = _knowing(need_true, cause_true, 0.7)
    assert fit_lexical_weight(network, _noise(400, 1), need_true, cause_true, WEIGHTS) == 0.0


def test_weight_grows_where_the_tfidf_model_knows_what_the_network_does_not():
    need_true, cause_true = _labels(400, 2)
    weight = fit_lexical_weight(_noise(400, 3), _knowing(need_true, cause_true, 0.7), need_true, cause_true, WEIGHTS)
    assert weight == 0.5


def test_a_tie_keeps_the_smaller_weight():
    need_true, cause_true = _labels(200, 4)
    same = _knowing(need_true, cause_true, 0.8)
    assert fit_lexical_weight(same, same, need_true, cause_true, (0.4, 0.2, 0.3)) == 0.2


def test_mixed_probabilities_stay_probabilities():
    need, cause = mix_probabilities(_noise(50, 5), _noise(50, 6), 0.3)
    assert ((need >= 0) & (need <= 1)).all()
    assert np.allclose(cause.sum(axis=1), 1.0)


def test_old_model_directories_still_load_their_jieba_word_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # baseline.joblib files written before the move pickled training.baseline's class and
    # tokenizer, and a one-vs-rest need model (before soft targets)
    texts = ["屏幕坏了要求换货", "服务态度很好，谢谢", "想学习怎么用新功能"]
    old = TfidfBaseline.__new__(TfidfBaseline)
    old.vectorizer = TfidfVectorizer(tokenizer=training.baseline.jieba_words, token_pattern=None)
    features = old.vectorizer.fit_transform(texts)
    # surface on every text and emotional on none: one-vs-rest kept constant predictors for them
    need_true = np.array([[1, 0, 0], [1, 0, 0], [1, 0, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        old.need_model = OneVsRestClassifier(LogisticRegression()).fit(features, need_true)
    old.cause_model = LogisticRegression().fit(features, np.array([0, 2, 2]))  # no perception_mismatch
    with monkeypatch.context() as patch:
        patch.setattr(TfidfBaseline, "__module__", "training.baseline")  # the class's old home
        joblib.dump(old, tmp_path / FILE_NAME)
    assert b"training.baseline" in (tmp_path / FILE_NAME).read_bytes()
    loaded = TfidfBaseline.load(tmp_path)
    assert loaded is not None
    needs, cause = loaded.probabilities(["屏幕坏了", "想学习"])
    assert needs.shape == (2, 3) and cause.shape == (2, 3)
    assert np.allclose(needs, old.need_model.predict_proba(old.vectorizer.transform(["屏幕坏了", "想学习"])))
    assert np.allclose(needs[:, :2], [[1, 0], [1, 0]]) and np.allclose(cause[:, 1], 0.0)


def test_soft_targets_teach_what_hard_labels_alone_do_not():
    # people labeled two texts, neither emotional nor perception_mismatch; a teacher's
    # probabilities say the pool's texts about unexplained charges are both
    people = ["屏幕坏了要求换货", "服务很好，谢谢"]
    pool = ["扣费看不懂怎么算的", "不知道怎么算的扣费", "扣费规则看不懂", "没人解释扣费怎么算"]
    needs = np.array([[1, 0, 0], [1, 0, 0], *[[0.7, 0.9, 0.05]] * len(pool)])
    causes = np.array([[1, 0, 0], [0, 0, 1], *[[0.1, 0.8, 0.1]] * len(pool)])
    hard = TfidfBaseline().fit(people, needs[:2], causes[:2])
    soft = TfidfBaseline().fit(people + pool, needs, causes)
    probe = ["扣费怎么算的看不懂"]
    assert np.allclose(hard.probabilities(probe)[0][:, 1:], 0.0)  # a label nobody carried: never predicted
    assert np.allclose(hard.probabilities(probe)[1][:, 1], 0.0)
    assert soft.probabilities(probe)[0][0, 1] > 0.5
    assert soft.probabilities(probe)[1][0].argmax() == 1


def test_soft_rows_enter_once_per_class_they_are_given():
    targets = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    rows, labels, weights = expand_soft_rows(targets)
    assert sorted(zip(rows.tolist(), labels.tolist(), np.round(weights, 3).tolist(), strict=True)) == [
        (0, 0, 1.0),
        (1, 2, 1.0),
        (2, 0, 0.5),
        (2, 1, 0.5),
        (3, 0, 0.2),
        (3, 1, 0.3),
        (3, 2, 0.5),
    ]


@pytest.fixture(scope="module")
def mixed_model(tmp_path_factory: pytest.TempPathFactory, toy_data: Path) -> Path:
    """The toy recipe with the TF-IDF weight fixed at 0.3 (a one-value grid)."""
    out = tmp_path_factory.mktemp("models") / "mixed"
    train_model(toy_data, out, quick_settings(lexical_weights=(0.3,)), log=lambda _: None)
    return out


def test_training_stores_the_weight_and_inference_mixes_the_whole_text(mixed_model: Path):
    assert json.loads((mixed_model / "config.json").read_text(encoding="utf-8"))["lexical_weight"] == 0.3
    assert "TF-IDF model in the document probabilities" in (mixed_model / "README.md").read_text(encoding="utf-8")
    predictor = Predictor.load(mixed_model)
    texts = [TOY_PHRASES[key][0] for key in sorted(TOY_PHRASES)]
    scores = predictor.score(texts)
    network_needs, network_cause, _ = predictor.probabilities(texts)
    lexical_needs, lexical_cause = predictor.lexical.probabilities(texts)
    assert np.allclose(scores.need_probs, 0.7 * network_needs + 0.3 * lexical_needs, atol=1e-6)
    assert np.allclose(scores.cause_probs, 0.7 * network_cause + 0.3 * lexical_cause, atol=1e-6)


def test_hostile_texts_pass_through_the_mix(mixed_model: Path):
    predictor = Predictor.load(mixed_model)
    texts = ["退款\x00退款", "屏幕坏了。" * 400, "\u200b好", "ＡＢＣ１２３", "😡😡😡"]
    predictions = predictor.predict(texts)
    assert len(predictions) == len(texts)
    assert all(np.isfinite(list(p.cause_probs.values())).all() for p in predictions)
    assert predictor.score([]).need_probs.shape == (0, 3)


def _copy(model_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    return copy


def test_a_weighted_model_without_its_tfidf_file_is_refused(mixed_model: Path, tmp_path: Path):
    copy = _copy(mixed_model, tmp_path)
    (copy / FILE_NAME).unlink()
    with pytest.raises(ModelLoadError, match=f"weight 0.3.*{FILE_NAME} missing"):
        Predictor.load(copy)


def test_a_damaged_tfidf_file_is_refused_with_its_path(mixed_model: Path, tmp_path: Path):
    copy = _copy(mixed_model, tmp_path)
    (copy / FILE_NAME).write_bytes(b"\x00\x01 not a pickle \xff")
    with pytest.raises(ModelLoadError, match=f"{FILE_NAME} is not a readable TF-IDF model"):
        Predictor.load(copy)
    joblib.dump({"vectorizer": None}, copy / FILE_NAME)
    with pytest.raises(ModelLoadError, match="holds a dict, not a TF-IDF model"):
        Predictor.load(copy)


def test_an_unweighted_model_loads_without_its_tfidf_file(toy_model: tuple[Path, dict], tmp_path: Path):
    copy = _copy(toy_model[0], tmp_path)
    config = json.loads((copy / "config.json").read_text(encoding="utf-8"))
    config["lexical_weight"] = 0.0
    (copy / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (copy / FILE_NAME).unlink()
    assert Predictor.load(copy).lexical is None


def test_the_cause_weight_power_moves_the_tfidf_prior_toward_the_training_mix():
    # nine texts of one cause, one of another: balanced weights lift the rare cause on an unseen
    # text, unweighted ones leave the training mix in place
    texts = [f"屏幕坏了第{i}次" for i in range(9)] + ["规则看不懂"]
    needs = np.array([[1, 0, 0]] * 10)
    causes = np.array([[1, 0, 0]] * 9 + [[0, 1, 0]])
    probe = ["完全陌生的一句话"]
    rare = {p: TfidfBaseline().fit(texts, needs, causes, p).probabilities(probe)[1][0, 1] for p in (1.0, 0.5, 0.0)}
    assert rare[1.0] > rare[0.5] > rare[0.0]


def test_at_power_one_every_tfidf_model_is_sklearns_balanced_regression_on_the_weighted_rows():
    # the class weights are computed by hand (to raise them to a power); at 1 they must be
    # exactly what class_weight="balanced" gives on the same soft-expanded rows
    rng = np.random.default_rng(0)
    words = ["屏幕坏了", "扣费看不懂", "服务很好", "想学教程", "没人理我", "送错了"]
    texts = ["".join(rng.choice(words, 3)) for _ in range(60)]
    needs = rng.integers(0, 2, (60, 3)).astype(float)
    needs[:10, 1] = 0.7  # soft rows
    causes = np.eye(3)[rng.integers(0, 3, 60)]
    causes[:10] = [0.2, 0.5, 0.3]
    fitted = TfidfBaseline().fit(texts, needs, causes)
    features = fitted.vectorizer.transform(texts)
    targets = [np.column_stack([1.0 - needs[:, j], needs[:, j]]) for j in range(3)] + [causes]
    for model, target in zip([*fitted.need_models, fitted.cause_model], targets, strict=True):
        rows, labels, weights = expand_soft_rows(target)
        reference = LogisticRegression(class_weight="balanced", max_iter=2000, C=16.0, random_state=13)
        reference.fit(features[rows], labels, sample_weight=weights)
        refit = LogisticRegression(class_weight=model.class_weight, max_iter=2000, C=16.0, random_state=13)
        refit.fit(features[rows], labels, sample_weight=weights)
        assert np.array_equal(refit.coef_, reference.coef_)

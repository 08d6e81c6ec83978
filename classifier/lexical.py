"""Character 1-2-grams, TF-IDF, logistic regression: the reference every report carries, and
the lexical half of a model's document probabilities.

It is trained on exactly what the network trained on (its training split, and the teacher's
soft labels where the recipe has them), so a report shows what fine-tuning adds over a
classical classifier given the same data. Where a short review's cue is one word the encoder's pooled
vector blurs, it is also right where the network is not; calibration mixes the two by a weight
fitted on validation (``NeedlensConfig.lexical_weight``, 0 leaves it out). Characters, not
jieba words: on the real validation split of round eight's default they scored higher (cause
macro-F1 0.765 against 0.744, emotional F1 0.708 against 0.665) and run 7,000-12,000 texts/s on
2 cores against ~2,000, which is what lets the mix keep batch labeling above 1,000 texts/s. Saved with joblib
(a pickle): load only model directories you trust, as with any pickle.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from scipy.sparse import spmatrix
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from classifier.decisions import decide_needs
from classifier.errors import ModelLoadError
from classifier.labels import CAUSES

FILE_NAME = "baseline.joblib"

Probabilities = tuple[np.ndarray, np.ndarray]
"""Need probabilities (n, 3) and cause probabilities (n, 3) of the same texts."""


class TfidfBaseline:
    def __init__(self, seed: int = 13) -> None:
        self.vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), lowercase=True, sublinear_tf=True)
        self.seed = seed
        self.need_models: list[LogisticRegression | DummyClassifier] = []
        self.cause_model: LogisticRegression | DummyClassifier | None = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        # directories written before soft targets pickled one-vs-rest need models
        if "need_model" in state:
            state["need_models"] = list(state.pop("need_model").estimators_)
        self.__dict__.update(state)

    def fit(
        self,
        texts: Sequence[str],
        need_targets: np.ndarray,
        cause_targets: np.ndarray,
        cause_weight_power: float = 1.0,
    ) -> TfidfBaseline:
        """Targets are probabilities: 0/1 needs and a one-hot cause for a person's label, anything
        between for a teacher's soft label (the pool texts the network is distilled on). A soft row
        enters once per class, weighted by that class's probability, which makes the regression's
        loss on it the cross-entropy against the soft target. Learning the teacher's readings of
        16,000 pool texts raised the TF-IDF model's emotional F1 on the default's validation split
        0.700 -> 0.727 (C=16; cause 0.761 -> 0.771), and the mix's 0.696 -> 0.720 (2-fold cross-fitted).
        Every model is class-balanced over its expanded rows (a soft row counts by its probabilities,
        where the network's weights count people's labels alone); the cause's balanced weights are
        raised to ``cause_weight_power`` as the network's are (``TrainingSettings.cause_weight_power``)."""
        features = self.vectorizer.fit_transform(texts)
        need_targets = np.asarray(need_targets, dtype=np.float64)
        self.need_models = [
            self._fit_one(features, np.column_stack([1.0 - need_targets[:, j], need_targets[:, j]]))
            for j in range(need_targets.shape[1])
        ]
        self.cause_model = self._fit_one(features, np.asarray(cause_targets, dtype=np.float64), cause_weight_power)
        return self

    def _fit_one(
        self, features: spmatrix, targets: np.ndarray, weight_power: float = 1.0
    ) -> LogisticRegression | DummyClassifier:
        rows, labels, weights = expand_soft_rows(targets)
        classes = np.unique(labels)
        if len(classes) < 2:  # a label nobody in a small training set carries
            return DummyClassifier(strategy="prior").fit(features[rows], labels)
        # sklearn's "balanced" over the weighted rows, computed here so it can be raised to a power
        counts = np.bincount(labels, weights=weights)[classes]
        balanced = counts.sum() / (len(classes) * counts)
        class_weight = dict(zip(classes.tolist(), (balanced**weight_power).tolist(), strict=True))
        model = LogisticRegression(class_weight=class_weight, max_iter=2000, C=16.0, random_state=self.seed)
        return model.fit(features[rows], labels, sample_weight=weights)

    def probabilities(self, texts: Sequence[str]) -> Probabilities:
        """Need probabilities (n, 3) and cause probabilities (n, 3)."""
        if self.cause_model is None:
            raise RuntimeError("the TF-IDF model is not fitted")
        features = self.vectorizer.transform(texts)
        needs = np.column_stack([class_probabilities(m, features, 2)[:, 1] for m in self.need_models])
        return needs, class_probabilities(self.cause_model, features, len(CAUSES))

    def predict(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Need probabilities, cause probabilities, need decisions (0.5, at least one), cause decisions."""
        need_probs, cause_probs = self.probabilities(texts)
        need_pred = decide_needs(need_probs, [0.5] * need_probs.shape[1]).astype(np.int64)
        return need_probs, cause_probs, need_pred, cause_probs.argmax(axis=1)

    def save(self, model_dir: Path) -> None:
        joblib.dump(self, model_dir / FILE_NAME, compress=3)

    @staticmethod
    def load(model_dir: Path) -> TfidfBaseline | None:
        """The directory's TF-IDF model, or None where it has none."""
        path = model_dir / FILE_NAME
        if not path.is_file():
            return None
        try:
            model = joblib.load(path)
        except Exception as exc:  # a truncated or foreign pickle fails in many ways
            raise ModelLoadError(f"{path} is not a readable TF-IDF model: {exc}") from exc
        if not isinstance(model, TfidfBaseline):
            raise ModelLoadError(f"{path} holds a {type(model).__name__}, not a TF-IDF model")
        return model


def expand_soft_rows(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row indices, class labels, weights): a row with all its mass on one class once, with
    weight 1; any other row once per class it gives probability, weighted by that probability."""
    hard = np.isclose(targets.max(axis=1), 1.0)
    soft = np.flatnonzero(~hard)
    rows, labels, weights = [np.flatnonzero(hard)], [targets[hard].argmax(axis=1)], [np.ones(int(hard.sum()))]
    for k in range(targets.shape[1]):
        given = soft[targets[soft, k] > 0]
        rows.append(given)
        labels.append(np.full(len(given), k))
        weights.append(targets[given, k])
    return np.concatenate(rows), np.concatenate(labels), np.concatenate(weights)


def class_probabilities(model: LogisticRegression | DummyClassifier, features: spmatrix, n_classes: int) -> np.ndarray:
    """(n, n_classes) probabilities, zero for a class the training data lacked. (An old pickle's
    one-vs-rest constant predictor has no ``classes_`` and gives both columns.)"""
    out = np.zeros((features.shape[0], n_classes))
    out[:, np.asarray(getattr(model, "classes_", np.arange(n_classes))).astype(np.int64)] = model.predict_proba(
        features
    )
    return out


def mix_probabilities(network: Probabilities, lexical: Probabilities, weight: float) -> Probabilities:
    """A weighted mean of the two models' probabilities: needs stay in [0, 1] and a cause row
    still sums to 1, so thresholds and review bands are fitted on the mix as on either alone."""
    return (
        (1.0 - weight) * network[0] + weight * lexical[0],
        (1.0 - weight) * network[1] + weight * lexical[1],
    )

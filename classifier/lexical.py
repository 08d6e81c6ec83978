"""Character 1-2-grams, TF-IDF, logistic regression: the reference every report carries, and
the lexical half of a model's document probabilities.

It is trained on exactly the model's training split, so a report shows what fine-tuning
adds over a classical classifier. Where a short review's cue is one word the encoder's pooled
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

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from classifier.decisions import decide_needs
from classifier.errors import ModelLoadError

FILE_NAME = "baseline.joblib"

Probabilities = tuple[np.ndarray, np.ndarray]
"""Need probabilities (n, 3) and cause probabilities (n, 3) of the same texts."""


class TfidfBaseline:
    def __init__(self, seed: int = 13) -> None:
        self.vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), lowercase=True, sublinear_tf=True)
        self.need_model = OneVsRestClassifier(
            LogisticRegression(class_weight="balanced", max_iter=2000, C=4.0, random_state=seed)
        )
        self.cause_model = LogisticRegression(class_weight="balanced", max_iter=2000, C=4.0, random_state=seed)

    def fit(self, texts: Sequence[str], need_true: np.ndarray, cause_true: np.ndarray) -> TfidfBaseline:
        features = self.vectorizer.fit_transform(texts)
        self.need_model.fit(features, need_true)
        self.cause_model.fit(features, cause_true)
        return self

    def probabilities(self, texts: Sequence[str]) -> Probabilities:
        """Need probabilities (n, 3) and cause probabilities (n, 3)."""
        features = self.vectorizer.transform(texts)
        return self.need_model.predict_proba(features), self.cause_model.predict_proba(features)

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


def mix_probabilities(network: Probabilities, lexical: Probabilities, weight: float) -> Probabilities:
    """A weighted mean of the two models' probabilities: needs stay in [0, 1] and a cause row
    still sums to 1, so thresholds and review bands are fitted on the mix as on either alone."""
    return (
        (1.0 - weight) * network[0] + weight * lexical[0],
        (1.0 - weight) * network[1] + weight * lexical[1],
    )

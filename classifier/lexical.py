"""The reference every report carries: jieba words, TF-IDF, logistic regression.

It is trained on exactly the model's training split, so a report shows what fine-tuning
adds over a classical classifier. Saved with joblib (a pickle): load only model
directories you trust, as with any pickle.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import jieba
import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from classifier.inference import decide_needs

jieba.setLogLevel(logging.WARNING)

FILE_NAME = "baseline.joblib"


def jieba_words(text: str) -> list[str]:
    """Module-level (not a lambda) so the fitted vectorizer can be pickled."""
    return [w for w in jieba.lcut(text) if w.strip()]


class TfidfBaseline:
    def __init__(self, seed: int = 13) -> None:
        self.vectorizer = TfidfVectorizer(
            tokenizer=jieba_words, token_pattern=None, lowercase=True, ngram_range=(1, 2), sublinear_tf=True, min_df=1
        )
        self.need_model = OneVsRestClassifier(
            LogisticRegression(class_weight="balanced", max_iter=2000, C=4.0, random_state=seed)
        )
        self.cause_model = LogisticRegression(class_weight="balanced", max_iter=2000, C=4.0, random_state=seed)

    def fit(self, texts: Sequence[str], need_true: np.ndarray, cause_true: np.ndarray) -> TfidfBaseline:
        features = self.vectorizer.fit_transform(texts)
        self.need_model.fit(features, need_true)
        self.cause_model.fit(features, cause_true)
        return self

    def predict(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Need probabilities, cause probabilities, need decisions (0.5, at least one), cause decisions."""
        features = self.vectorizer.transform(texts)
        need_probs = self.need_model.predict_proba(features)
        cause_probs = self.cause_model.predict_proba(features)
        need_pred = decide_needs(need_probs, [0.5] * need_probs.shape[1]).astype(np.int64)
        return need_probs, cause_probs, need_pred, cause_probs.argmax(axis=1)

    def save(self, model_dir: Path) -> None:
        joblib.dump(self, model_dir / FILE_NAME, compress=3)

    @staticmethod
    def load(model_dir: Path) -> TfidfBaseline | None:
        path = model_dir / FILE_NAME
        return joblib.load(path) if path.is_file() else None

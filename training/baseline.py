"""Where the TF-IDF model lived while it split text into jieba words.

Model directories written then pickled ``training.baseline.TfidfBaseline`` and its tokenizer
``training.baseline.jieba_words`` into ``baseline.joblib``; these names keep them loadable.
"""

import logging

import jieba

from classifier.lexical import TfidfBaseline

jieba.setLogLevel(logging.WARNING)

__all__ = ["TfidfBaseline", "jieba_words"]


def jieba_words(text: str) -> list[str]:
    """The old vectorizer's tokenizer, by the name its pickles look up."""
    return [w for w in jieba.lcut(text) if w.strip()]

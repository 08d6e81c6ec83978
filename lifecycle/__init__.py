"""A model's life after training: versions in a registry, judged against the active one on gold
and new labels (`judging.py`, `gate.py`), promoted or refused by `retrain.py`, with a report."""

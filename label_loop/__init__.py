"""The label loop's data side: every human label in one store, and what decides which labels enter it.

Imports and feedback land in the store (`store.py`) after arrival checks (`arrival.py`,
`admission.py`: quarantine); `suggest`, `audit` and `agreement` tell people what to read next
and how far to trust what they read; `pool.py` splits the labels into training, gold and new.
The service stores feedback through this package, without importing `training`. Predictions
a caller asks to keep (`predictions.py`) share the store's file, for monitoring and review.
"""

"""Training side of needlens: data, fine-tuning, calibration, evaluation; writes models that classifier loads."""

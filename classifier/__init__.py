"""Inference side of needlens: the label schema, the model, and the predictor that loads it."""

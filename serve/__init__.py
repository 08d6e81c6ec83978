"""HTTP service: a thin FastAPI shell over classifier (inference) and the training label store."""

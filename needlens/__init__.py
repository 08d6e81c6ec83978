"""The `needlens` console command: a thin shell over classifier (inference) and training."""

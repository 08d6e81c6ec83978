"""Errors that carry a user-facing reason; the CLI and API turn them into one clear line."""


class ModelLoadError(RuntimeError):
    """A model directory that cannot be used, with the reason in words."""


class OutputPathError(ValueError):
    """A place to write that cannot be written, or whose writing would destroy what it holds."""

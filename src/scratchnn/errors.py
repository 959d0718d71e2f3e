"""Errors a user can cause, each carrying one message meant for a person.

The CLI prints ``str(error)`` for any :class:`ScratchnnError` and exits with
status 2, so every message must name the input and say what was expected.
"""


class ScratchnnError(Exception):
    """Base class for errors caused by the user's input, not by a bug."""


class DataError(ScratchnnError):
    """A dataset file is missing, corrupt, truncated or fails its checksum."""


class DownloadError(DataError):
    """No mirror delivered a dataset file with the expected checksum."""


class ModelFileError(ScratchnnError):
    """A saved model or checkpoint cannot be read or does not fit."""


class ConfigError(ScratchnnError):
    """A training option (flag or argument) has a value that cannot work."""


class DivergenceError(ScratchnnError):
    """Training produced a NaN or infinite loss."""


class ImageError(ScratchnnError):
    """An image file cannot be read, or holds nothing to classify (blank, empty)."""

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


class ConfigError(ScratchnnError, ValueError):
    """A training option (flag or argument) has a value that cannot work.

    Also a ``ValueError``: constructors (schedules, optimisers, layers) raise it
    for bad arguments, where Python code expects that type.
    """


class DivergenceError(ScratchnnError):
    """Training diverged: a non-finite loss or weight, a loss far above its
    starting value, or a hidden layer whose units all died (see the trainer)."""


class ImageError(ScratchnnError):
    """An image file cannot be read, or holds nothing to classify (blank, empty)."""


class RunFolderError(ScratchnnError):
    """A run folder cannot be used: outside the output folder, locked by another
    run, not writable, or not a run that can be resumed."""


class ShapeError(ScratchnnError, ValueError):
    """Layers that do not chain, or an input batch whose shape does not fit the model."""


class DeviceError(ScratchnnError, ValueError):
    """The device asked for cannot be used: an unknown name, or ``gpu`` without
    CuPy or without a CUDA GPU."""

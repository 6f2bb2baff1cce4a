"""Errors that the CLI reports on one line (exit status 2) instead of a traceback."""


class LayerwiseError(Exception):
    """Base of the errors a user can fix: bad config, bad data, a run that diverged."""


class ConfigError(LayerwiseError, ValueError):
    """A config file or override is invalid; the message names the file and key path."""


class DataError(LayerwiseError, ValueError):
    """A dataset file is missing, truncated, corrupt, or does not match what the config says."""


class MissingDataError(DataError):
    """A dataset's files are not there (not fetched yet): what ``layerwise time`` stands in random data for."""


class DownloadError(DataError):
    """No mirror delivered a file with the expected checksum."""


class MissingDownloadError(DownloadError, MissingDataError):
    """No mirror delivered a file that is not on disk either: the data is not here."""


class TrainingError(LayerwiseError, RuntimeError):
    """Training cannot go on (a NaN or Inf loss or gradient); the message names the step and module."""


class RunDirError(LayerwiseError):
    """A run directory is taken, mixes files of two runs, or cannot do what was asked (resume)."""


class LayerwiseWarning(UserWarning):
    """Something that runs but is likely a mistake (softmax before cross_entropy, a pandas index
    column); the CLI prints it on one line and goes on."""

"""Errors a user can cause. Every message names the input and says what to do."""
from __future__ import annotations


class SigkitError(Exception):
    """Base class of every error sigkit raises for a user's mistake (bad file, bad argument, ...)."""


class InputError(SigkitError, ValueError):
    """An argument or tensor is unusable: wrong shape, NaN/Inf values, out-of-range parameter."""


class AudioFileError(SigkitError, OSError):
    """An audio file is missing, unreadable, truncated, empty or holds NaN/Inf samples."""


class MediaFileError(SigkitError, OSError):
    """An image, video or event file is missing, unreadable, truncated or malformed."""


class SampleRateError(SigkitError, ValueError):
    """A sample rate that the operation cannot use or reach."""


class DatasetError(SigkitError, FileNotFoundError):
    """A dataset root is missing or does not have the official layout."""


class CheckpointError(SigkitError, ValueError):
    """A checkpoint is missing, of the wrong kind, or for another configuration."""


class ConfigError(SigkitError, ValueError):
    """A configuration or preset name that does not exist or does not fit together."""

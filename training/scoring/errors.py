"""The errors a user can cause, each with a message that says what to fix."""


class TrainingError(Exception):
    """A problem with the user's data, options or bundle; its message is shown as is."""


class DataError(TrainingError):
    """The input CSV cannot be used as it is."""


class OptionError(TrainingError):
    """A command-line option or configuration value is invalid."""


class BundleError(TrainingError):
    """A model bundle is missing, incomplete or inconsistent."""

"""The one error type of the command line: a message a user can act on, printed without a
traceback."""


class CliError(RuntimeError):
    """What went wrong, in one line a user can act on."""

"""CliError: the command line's one error, a message a user can act on (no traceback)."""


class CliError(RuntimeError):
    """What went wrong, in one line a user can act on."""
